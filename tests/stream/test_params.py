"""The API takes months and days in exactly one spelling; anything else is a 400, never a
figure for another month."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from consumers.engagement.routes import engagement_routes
from consumers.revenue.routes import revenue_routes
from stream.family import Request
from stream.params import parse_day, parse_month

REFUSED_MONTHS = [
    "２０２６-08",
    "2026-08\n",
    "2026-08%0A",
    " 2026-08",
    "2026-8",
    "2026-13",
    "2026-00",
    "",
    "2026-08-01",
]
REFUSED_DAYS = ["2026-W35-1", "２０２６-08-01", "2026-08-01\n", "2026-02-30", "20260801", "2026-08-01T00:00", ""]


@pytest.mark.parametrize("text", REFUSED_MONTHS)
def test_months_in_any_other_spelling_are_refused(text: str) -> None:
    assert parse_month(text) is None


@pytest.mark.parametrize("text", REFUSED_DAYS)
def test_days_in_any_other_spelling_are_refused(text: str) -> None:
    assert parse_day(text) is None


def test_the_one_spelling_is_taken() -> None:
    assert parse_month("2026-08") == "2026-08" and parse_day("2026-08-31") == date(2026, 8, 31)
    assert parse_month(None) is None and parse_day(None) is None


async def test_the_routes_answer_400_before_reading_any_figure() -> None:
    untouchable = SimpleNamespace()  # any attribute read would raise
    revenue = {r.path: r for r in revenue_routes(untouchable)}["/api/v1/revenue"]  # type: ignore[arg-type]
    daily = {r.path: r for r in engagement_routes(untouchable)}["/api/v1/engagement/daily"]  # type: ignore[arg-type]
    for text in REFUSED_MONTHS:
        assert (await revenue.handler(Request({"month": text}))).status == 400
    for text in REFUSED_DAYS:
        assert (await daily.handler(Request({"date": text}))).status == 400
