"""Metric history for drift baselines: one point per metric, label set and UTC day.

Live evaluation and the backtest write and read it through the same interface (Redis in a
worker, memory in a backtest); a day's point is the value at its last evaluation that day.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from alerts.model import LabelSet, labels_key

__all__ = ["History", "MemoryHistory", "RedisHistory", "KEEP_DAYS"]

#: points older than this many days behind the newest are dropped
KEEP_DAYS = 400


class History:
    """Base: keeps nothing (a rule without drift needs no history)."""

    async def put(self, metric: str, labels: LabelSet, day: int, value: float) -> None:
        """Record ``value`` as the point of UTC day ordinal ``day`` (replacing that day's)."""

    async def points(self, metric: str, labels: LabelSet, before: int, n: int) -> list[tuple[int, float]]:
        """The last ``n`` (day, value) points of days before ``before``, oldest first."""
        return []

    async def put_many(self, points: Iterable[tuple[str, LabelSet, int, float]]) -> int:
        """Record many points (a backfill); how many."""
        count = 0
        for metric, labels, day, value in points:
            await self.put(metric, labels, day, value)
            count += 1
        return count


class MemoryHistory(History):
    def __init__(self) -> None:
        self.series: dict[tuple[str, LabelSet], dict[int, float]] = {}

    async def put(self, metric: str, labels: LabelSet, day: int, value: float) -> None:
        days = self.series.setdefault((metric, labels), {})
        days[day] = value
        if len(days) > KEEP_DAYS:
            newest = max(days)
            for old in [d for d in days if d <= newest - KEEP_DAYS]:
                del days[old]

    async def points(self, metric: str, labels: LabelSet, before: int, n: int) -> list[tuple[int, float]]:
        days = self.series.get((metric, labels), {})
        return [(d, days[d]) for d in sorted(d for d in days if d < before)[-n:]]


class RedisHistory(History):
    """One hash per series, ``<prefix>:alerts:history:<metric>:<labels>``: day ordinal -> value."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self._trimmed: dict[str, int] = {}  # series key -> the day it was last trimmed for

    def _key(self, metric: str, labels: LabelSet) -> str:
        return f"{self.prefix}:alerts:history:{metric}:{labels_key(labels)}"

    async def put(self, metric: str, labels: LabelSet, day: int, value: float) -> None:
        key = self._key(metric, labels)
        await self.client.hset(key, str(day), repr(float(value)))
        if self._trimmed.get(key) != day:  # once per series and day
            self._trimmed[key] = day
            old = [d for d in await self.client.hkeys(key) if int(d) <= day - KEEP_DAYS]
            if old:
                await self.client.hdel(key, *old)

    async def points(self, metric: str, labels: LabelSet, before: int, n: int) -> list[tuple[int, float]]:
        raw = await self.client.hgetall(self._key(metric, labels))
        return sorted((int(d), float(v)) for d, v in raw.items() if int(d) < before)[-n:]
