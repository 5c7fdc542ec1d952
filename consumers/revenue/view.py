"""Deployment-wide revenue figures: every partition's summary from Redis, summed.

Used by /metrics (as a Prometheus collector), by /api/v1/revenue and by tests. Whichever
worker answers, it answers for all partitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from prometheus_client.registry import Collector

from consumers.revenue.buckets import Buckets, MergedBuckets
from consumers.revenue.definitions import money, month_ratios, month_row, now_figures
from consumers.revenue.processor import TOPIC
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore

__all__ = ["RevenueView"]

ZERO = Decimal(0)


class RevenueView(FamilyView):
    def __init__(self, snapshots: SnapshotStore, currency: str, gross_margin: Decimal, top_n: int) -> None:
        self.snapshots = snapshots
        self.currency = currency
        self.gross_margin = gross_margin
        self.top_n = top_n
        self.buckets: Buckets = {}
        self._merged = MergedBuckets()
        self.watermark: str | None = None
        self.partitions: dict[int, int | None] = {}

    async def refresh(self) -> None:
        parts = await self.snapshots.partitions(TOPIC)
        self.buckets = self._merged.update([parts[p]["buckets"] for p in sorted(parts)])
        marks = [p["watermark"] for p in parts.values() if p.get("watermark")]
        self.watermark = max(marks) if marks else None
        self.partitions = {k: p.get("next_offset") for k, p in parts.items()}

    def collectors(self) -> Iterable[Collector]:
        from consumers.revenue.collector import RevenueCollector

        return [RevenueCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.revenue.routes import revenue_routes

        return revenue_routes(self)

    # --- figures ----------------------------------------------------------------------------

    def now(self) -> dict[str, Decimal]:
        return now_figures(self.buckets, self.watermark_day())

    def month(self, month: str) -> dict[str, Any]:
        return {
            "row": month_row(self.buckets, month, self.gross_margin),
            "ratios": api_figures(month_ratios(self.buckets, month, self.gross_margin), self.currency),
        }

    def watermark_day(self) -> date | None:
        return None if self.watermark is None else datetime.fromisoformat(self.watermark).date()


#: The figures of :func:`month_ratios` that are money (the rest are ratios, counts, months).
MONEY_FIGURES = frozenset({"mrr_start", "mrr_end", "arr", "arpa", "ltv"})


def api_figures(values: dict[str, Any], currency: str) -> dict[str, Any]:
    """Money as fixed-point strings in the currency's minor units; ratios as plain numbers."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Decimal):
            out[name] = money(value, currency) if name in MONEY_FIGURES else float(value)
        else:
            out[name] = value
    return out
