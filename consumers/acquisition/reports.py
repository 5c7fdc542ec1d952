"""`pulse report monthly-acquisition`: the workers' acquisition code, joined with the revenue
family's replayed buckets, over a file."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from consumers.acquisition.definitions import ACQ_CUSTOMERS, MONTHLY_COLUMNS
from consumers.acquisition.processor import TOPIC, SpendProcessor
from consumers.acquisition.view import REVENUE_TOPIC, Joined, merge_spend
from stream.family import Processor, Report

__all__ = ["MONTHLY_ACQUISITION"]


def monthly_acquisition_rows(processor: Processor, others: Mapping[str, Processor]) -> list[dict[str, Any]]:
    """Per UTC calendar month from the first to the last with spend or new customers: a row
    per channel with either, then ``all``."""
    from consumers.revenue.buckets import merge
    from consumers.revenue.definitions import months_between
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
    months = {d[:7] for d, s in spend.items() if s} | {
        b[2:] for b, f in buckets.items() if b.startswith("m:") and any(k.startswith(ACQ_CUSTOMERS) for k in f)
    }
    if not months:
        return []
    joined = Joined(spend, buckets, processor.config.retention_channels, gross_margin)
    return [row for month in months_between(min(months), max(months)) for row in joined.month_rows(month)]


MONTHLY_ACQUISITION = Report(
    name="monthly-acquisition",
    help="Spend, new customers, CAC, LTV:CAC and CAC payback per UTC calendar month and channel, by the workers' code.",
    topic=TOPIC,
    columns=MONTHLY_COLUMNS,
    rows=lambda processor: monthly_acquisition_rows(processor, {}),
    also=(REVENUE_TOPIC,),
    joined=monthly_acquisition_rows,
)
