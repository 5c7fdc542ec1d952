"""Strict parsing of the API's query parameters: ASCII digits only, the whole value, nothing
after it. Python's ``\\d`` and ``date.fromisoformat`` take more (full-width digits, a trailing
newline, ``2026-W35-1``), and a figure served for a month the user did not ask for is a wrong
number."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from stream.family import Reply, Request, Route

__all__ = ["DAY_REQUIRED", "daily_route", "parse_day", "parse_month"]

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_month(text: str | None) -> str | None:
    """``YYYY-MM`` as given, or None."""
    return text if text is not None and _MONTH.fullmatch(text) else None


def parse_day(text: str | None) -> date | None:
    """A calendar day written ``YYYY-MM-DD``, or None (also for 2026-02-30)."""
    if text is None or not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


#: the 400 answer of a route whose ``date`` is missing or spelled otherwise
DAY_REQUIRED = "query parameter date=YYYY-MM-DD (ASCII digits, a calendar day) is required"


def daily_route(path: str, figures: Callable[[date], Any]) -> Route:
    """``GET path?date=YYYY-MM-DD`` answering ``figures(day)``; 400 for any other spelling."""

    async def handler(request: Request) -> Reply:
        day = parse_day(request.query.get("date"))
        if day is None:
            return Reply({"error": DAY_REQUIRED}, 400)
        return Reply(figures(day))

    return Route(path, handler)
