"""Deployment-wide support figures: every partition's daily counters from Redis, summed."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client.registry import Collector

from consumers.support.definitions import daily_row, merge_days, sum_counters
from consumers.support.processor import TOPIC
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore, changed_keys

__all__ = ["SupportView"]

#: the newest days of a window summed afresh on each read: nearly every batch changes the
#: watermark day; an earlier day that changes is a new object, which the kept sum checks
RECENT_DAYS = 1


class SupportView(FamilyView):
    def __init__(self, snapshots: SnapshotStore) -> None:
        self.snapshots = snapshots
        self.days: dict[int, dict[str, float]] = {}
        self.backlog_before: dict[str, float] = {}
        self.now: dict[str, float] = {}
        self.oldest_awaiting: float | None = None
        self.watermark: float | None = None
        #: each partition's days as last absorbed, in the order given (what the merge reused)
        self._part_days: list[dict[int, dict[str, float]]] = []
        #: (first, last day) -> (the day objects summed, their sum): see window_sum
        self._older_sums: dict[tuple[int, int], tuple[tuple[dict[str, float], ...], dict[str, float]]] = {}

    async def refresh(self) -> None:
        parts = await self.snapshots.partitions(TOPIC)
        self.absorb([parts[p] for p in sorted(parts)])

    def absorb(self, parts: list[dict[str, Any]]) -> None:
        """The sum of partitions' payloads (as SupportProcessor.publish writes them). A batch
        changes a few days of a partition's 120, so only the days some partition changed since
        the last call are summed again (comparing two days' counters is one C-level dict ==)."""
        new = [{int(d): c for d, c in p.get("days", {}).items()} for p in parts]
        if len(new) != len(self._part_days):
            self.days = merge_days(new)
        else:
            for d in changed_keys(self._part_days, new):
                merged = merge_days([{d: part[d]} for part in new if d in part]).get(d)
                if merged is None:
                    self.days.pop(d, None)
                else:
                    self.days[d] = merged
        self._part_days = new
        self.backlog_before = sum_counters(p.get("backlog_before", {}) for p in parts)
        self.now = sum_counters(p.get("now", {}) for p in parts)
        oldest = [p["oldest_awaiting"] for p in parts if p.get("oldest_awaiting") is not None]
        self.oldest_awaiting = min(oldest) if oldest else None
        marks = [p["watermark"] for p in parts if p.get("watermark") is not None]
        self.watermark = max(marks) if marks else None

    def window_sum(self, end: int, length: int) -> dict[str, float]:
        """``definitions.window_sum`` of the merged days, the same figures: the sum of the older
        days (all but the last ``RECENT_DAYS``) is kept while each of them is the very object
        summed (absorb replaces a day's object only when it changed), then the recent days are
        added in order, so every float is added in the order a fresh sum adds it."""
        first, split = end - length + 1, max(end - length + 1, end - RECENT_DAYS + 1)
        older = tuple(self.days[d] for d in range(first, split) if d in self.days)
        out: dict[str, float] = {}
        if older:
            cached = self._older_sums.get((first, split - 1))
            if cached is None or len(cached[0]) != len(older) or not all(map(operator.is_, cached[0], older)):
                cached = (older, sum_counters(older))
                self._older_sums[(first, split - 1)] = cached
            out = dict(cached[1])
        for d in range(split, end + 1):
            for field, n in self.days.get(d, {}).items():
                out[field] = out.get(field, 0) + n
        return out

    def forget_old_sums(self, end: int) -> None:
        """Drop the kept sums of older days that ended more than 40 days before ``end``."""
        for key in [k for k in self._older_sums if k[1] < end - 40]:
            del self._older_sums[key]

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
