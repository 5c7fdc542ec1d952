"""Deployment-wide survey figures: every partition's daily tallies from Redis, summed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client.registry import Collector

from consumers.surveys.definitions import Tallies, add_tallies
from consumers.surveys.processor import TOPIC
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore

__all__ = ["SurveysView", "merge_days"]


def merge_days(partitions: Iterable[Mapping[int, Tallies]]) -> dict[int, dict[str, list[int]]]:
    days: dict[int, dict[str, list[int]]] = {}
    for part in partitions:
        for day, tallies in part.items():
            add_tallies(days.setdefault(day, {}), tallies)
    return days


class SurveysView(FamilyView):
    def __init__(self, snapshots: SnapshotStore) -> None:
        self.snapshots = snapshots
        self.days: dict[int, dict[str, list[int]]] = {}
        self.watermark: float | None = None

    async def refresh(self) -> None:
        parts = await self.snapshots.partitions(TOPIC)
        self.days = merge_days({int(d): t for d, t in p.get("days", {}).items()} for p in parts.values())
        marks = [p["watermark"] for p in parts.values() if p.get("watermark") is not None]
        self.watermark = max(marks) if marks else None

    def watermark_day(self) -> int | None:
        return None if self.watermark is None else datetime.fromtimestamp(self.watermark, UTC).date().toordinal()

    def daily(self, day: date) -> dict[str, Any]:
        from consumers.surveys.definitions import daily_row

        return daily_row(self.days, day.toordinal())

    def collectors(self) -> Iterable[Collector]:
        from consumers.surveys.collector import SurveysCollector

        return [SurveysCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.surveys.routes import surveys_routes

        return surveys_routes(self)
