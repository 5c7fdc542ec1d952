"""`pulse report monthly-acquisition`: the workers' acquisition code, joined with the revenue
family's replayed buckets, over a file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from consumers.acquisition.definitions import ACQ_CUSTOMERS, DAILY_COLUMNS, MONTHLY_COLUMNS
from consumers.acquisition.processor import TOPIC, SpendProcessor
from consumers.acquisition.view import REVENUE_TOPIC, Joined, merge_spend
from stream.family import Processor, Report

__all__ = ["MONTHLY_ACQUISITION", "DAILY_ACQUISITION"]


def _joined(processor: Processor, others: Mapping[str, Processor]) -> Joined:
    """The replayed spend and revenue buckets, joined as the view joins the snapshots."""
    from consumers.revenue.buckets import merge
    from consumers.revenue.processor import RevenueProcessor

    assert isinstance(processor, SpendProcessor)
    spend = merge_spend(lg.days for _, lg in sorted(processor.ledgers.items()))
    revenue = others.get(REVENUE_TOPIC)
    buckets: dict[str, dict[str, Decimal]] = {}
    gross_margin = Decimal(1)
    if revenue is not None:
        assert isinstance(revenue, RevenueProcessor)
        buckets = merge(lg.buckets for _, lg in sorted(revenue.ledgers.items()))
        gross_margin = revenue.config.gross_margin
    return Joined(spend, buckets, processor.config.retention_channels, gross_margin)


def _periods(joined: Joined, prefix: str) -> list[str]:
    """The days (``d:``) or months (``m:``) with spend or new customers, sorted."""
    width = 10 if prefix == "d:" else 7
    found = {d[:width] for d, s in joined.spend.items() if s} | {
        b[2:] for b, f in joined.buckets.items() if b.startswith(prefix) and any(k.startswith(ACQ_CUSTOMERS) for k in f)
    }
    return sorted(found)


def monthly_acquisition_rows(processor: Processor, others: Mapping[str, Processor]) -> list[dict[str, Any]]:
    """Per UTC calendar month from the first to the last with spend or new customers: a row
    per channel with either, then ``all``."""
    from consumers.revenue.definitions import months_between

    joined = _joined(processor, others)
    months = _periods(joined, "m:")
    if not months:
        return []
    return [row for month in months_between(months[0], months[-1]) for row in joined.month_rows(month)]


def daily_acquisition_rows(processor: Processor, others: Mapping[str, Processor]) -> list[dict[str, Any]]:
    """Per UTC day from the first to the last with spend or new customers: the 30 days ending
    with it, per channel with either, then ``all`` (the workers' history API, rebuilt)."""
    joined = _joined(processor, others)
    days = _periods(joined, "d:")
    if not days:
        return []
    return joined.daily_points(date.fromisoformat(days[0]), date.fromisoformat(days[-1]))


DAILY_ACQUISITION = Report(
    name="daily-acquisition",
    help="Each UTC day's rolling 30-day spend, new customers, CAC and ROI per channel, by the workers' code.",
    topic=TOPIC,
    columns=DAILY_COLUMNS,
    rows=lambda processor: daily_acquisition_rows(processor, {}),
    also=(REVENUE_TOPIC,),
    joined=daily_acquisition_rows,
)

MONTHLY_ACQUISITION = Report(
    name="monthly-acquisition",
    help="Spend, new customers, CAC, LTV:CAC and CAC payback per UTC calendar month and channel, by the workers' code.",
    topic=TOPIC,
    columns=MONTHLY_COLUMNS,
    rows=lambda processor: monthly_acquisition_rows(processor, {}),
    also=(REVENUE_TOPIC,),
    joined=monthly_acquisition_rows,
)
