"""Deployment-wide support figures: every partition's daily counters from Redis, summed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client.registry import Collector

from consumers.support.definitions import daily_row, merge_days, sum_counters
from consumers.support.processor import TOPIC
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore

__all__ = ["SupportView"]


class SupportView(FamilyView):
    def __init__(self, snapshots: SnapshotStore) -> None:
        self.snapshots = snapshots
        self.days: dict[int, dict[str, float]] = {}
        self.backlog_before: dict[str, float] = {}
        self.now: dict[str, float] = {}
        self.oldest_awaiting: float | None = None
        self.watermark: float | None = None

    async def refresh(self) -> None:
        parts = list((await self.snapshots.partitions(TOPIC)).values())
        self.absorb(parts)

    def absorb(self, parts: list[dict[str, Any]]) -> None:
        """The sum of partitions' payloads (as SupportProcessor.publish writes them)."""
        self.days = merge_days({int(d): c for d, c in p.get("days", {}).items()} for p in parts)
        self.backlog_before = sum_counters(p.get("backlog_before", {}) for p in parts)
        self.now = sum_counters(p.get("now", {}) for p in parts)
        oldest = [p["oldest_awaiting"] for p in parts if p.get("oldest_awaiting") is not None]
        self.oldest_awaiting = min(oldest) if oldest else None
        marks = [p["watermark"] for p in parts if p.get("watermark") is not None]
        self.watermark = max(marks) if marks else None

    def watermark_day(self) -> int | None:
        return None if self.watermark is None else datetime.fromtimestamp(self.watermark, UTC).date().toordinal()

    def daily(self, day: date) -> dict[str, Any]:
        row = daily_row(self.days, day.toordinal(), self.backlog_before, None, None)
        return {k: v for k, v in row.items() if k not in ("nps_30d", "csat_30d")}

    def collectors(self) -> Iterable[Collector]:
        from consumers.support.collector import SupportCollector

        return [SupportCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.support.routes import support_routes

        return support_routes(self)
