"""`pulse report monthly-mrr`: the workers' revenue code over a replayed file."""

from __future__ import annotations

from typing import Any

from consumers.revenue.buckets import merge
from consumers.revenue.definitions import MONTHLY_COLUMNS, monthly_rows
from consumers.revenue.processor import TOPIC, RevenueProcessor
from stream.family import Processor, Report

__all__ = ["MONTHLY_MRR"]


def monthly_mrr_rows(processor: Processor) -> list[dict[str, Any]]:
    """One row per UTC calendar month from the first to the last month with an event."""
    assert isinstance(processor, RevenueProcessor)
    ledgers = [processor.ledgers[p] for p in sorted(processor.ledgers)]
    spans = [span for lg in ledgers if (span := lg.months_spanned()) is not None]
    if not spans:
        return []
    buckets = merge(ledger.buckets for ledger in ledgers)
    return monthly_rows(buckets, min(s[0] for s in spans), max(s[1] for s in spans), processor.config.gross_margin)


MONTHLY_MRR = Report(
    name="monthly-mrr",
    help="MRR, active customers, movements and ratios per UTC calendar month, by the workers' code.",
    topic=TOPIC,
    columns=MONTHLY_COLUMNS,
    rows=monthly_mrr_rows,
)
