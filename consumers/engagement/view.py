"""Deployment-wide engagement figures: every partition's sketches and counters from Redis."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from datasketches import hll_sketch
from prometheus_client.registry import Collector

from consumers.engagement.definitions import (
    FEATURE_LG_K,
    LG_K,
    EngagementFigures,
    Partition,
    UnionCache,
    deployment_watermark_day,
)
from consumers.engagement.health import ACCOUNT_VERSIONS, ACCOUNTS, AccountHealth, account_record, window_keys
from consumers.engagement.processor import TOPIC
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore

__all__ = ["EngagementView"]


class EngagementView(FamilyView):
    def __init__(
        self,
        snapshots: SnapshotStore,
        key_features: tuple[str, ...],
        top_n: int,
        activation_days: int,
        health_threshold: float = 40.0,
        lg_k: int = LG_K,
        feature_lg_k: int = FEATURE_LG_K,
        keep_days: int = 35,
        frt_target_seconds: float = 14400.0,
        health_refresh_seconds: float = 60.0,
    ) -> None:
        self.snapshots = snapshots
        self.frt_target_seconds = frt_target_seconds
        self.keep_days = keep_days
        self.health_threshold = health_threshold
        #: every account's health, scored off the scrape (refresh_background)
        self.health = AccountHealth(snapshots, len(key_features), health_threshold, frt_target_seconds)
        self.background_interval = health_refresh_seconds
        self.key_features = key_features
        self.top_n = top_n
        self.activation_days = activation_days
        self.lg_k = lg_k
        self.feature_lg_k = feature_lg_k
        self._unions = UnionCache()
        self.figures = self._figures([])
        self._cache: dict[int, tuple[Any, Partition]] = {}
        self._sketches: dict[int, dict[str, hll_sketch]] = {}  # partition -> key -> sketch
        self._sketch_versions: dict[int, dict[bytes, bytes]] = {}

    async def refresh(self) -> None:
        await self.refresh_figures()

    async def refresh_background(self) -> None:
        """Re-score the accounts that changed, as of the deployment's watermark day now."""
        parts = await self.snapshots.partitions(TOPIC)
        await self.health.update(deployment_watermark_day(p.get("watermark") for p in parts.values()))

    async def refresh_figures(self) -> None:
        """Only the partitions' day counters and sketches (what another family's view reads)."""
        parts = await self.snapshots.partitions(TOPIC)
        partitions = []
        for p in sorted(parts):
            payload = parts[p]
            version = (payload.get("epoch"), payload.get("position"), payload.get("watermark"))
            cached = self._cache.get(p)
            if cached is not None and cached[0][0] != version[0]:
                # republished from scratch (Redis lost data, or another owner): read it all again
                self._sketches.pop(p, None)
                self._sketch_versions.pop(p, None)
            if cached is None or cached[0] != version:
                # Only the sketches this partition's owner changed since the last look: a busy
                # partition changes today's few sketches, not the 35 days of them.
                sketches = self._sketches.setdefault(p, {})
                blobs, versions, gone = await self.snapshots.changed_sketches(
                    TOPIC, p, self._sketch_versions.get(p, {})
                )
                for key in gone:
                    sketches.pop(key, None)
                for key, blob in blobs.items():
                    sketches[key] = hll_sketch.deserialize(blob)
                self._sketch_versions[p] = versions
                cached = self._cache[p] = (
                    version,
                    Partition(sketches, payload.get("days", {}), payload.get("watermark")),
                )
            partitions.append(cached[1])
        self.figures = self._figures(partitions)

    def _figures(self, partitions: list[Partition]) -> EngagementFigures:
        self._unions.evict()
        return EngagementFigures(partitions, self.lg_k, self.feature_lg_k, self.activation_days, self._unions)

    def collectors(self) -> Iterable[Collector]:
        from consumers.engagement.collector import EngagementCollector

        return [EngagementCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.engagement.routes import engagement_routes

        return engagement_routes(self)

    async def account(self, account_id: str) -> dict[str, Any] | None:
        """The account's active users and health as of the watermark day, read now (its
        signals as of the last health pass); None for an account the workers hold no day of."""
        today = self.figures.watermark_day
        if today is None:
            return None
        keys = window_keys(account_id, today)
        found = await self.snapshots.entities_at(ACCOUNTS, keys)
        if not found and await self.snapshots.entity(ACCOUNT_VERSIONS, account_id) is None:
            return None
        days = {today - len(keys) + 1 + i: found[k] for i, k in enumerate(keys) if k in found}
        h = self.health
        return account_record(
            account_id,
            days,
            today,
            len(self.key_features),
            h.signals.get(account_id),
            h.support_reports,
            self.frt_target_seconds,
        )

    def at_risk(self) -> list[dict[str, Any]]:
        return self.health.at_risk()

    def daily(self, day: date) -> dict[str, Any] | None:
        """The day's figures, or None when the workers no longer hold that day. ``complete``
        says whether they hold every day its 30-day window reads (MAU, else it counts less)."""
        ordinal = day.toordinal()
        f = self.figures
        oldest = f.oldest_kept_day(self.keep_days)
        if oldest is not None and ordinal < oldest:
            return None
        return {
            **f.daily_row(ordinal),
            "single_event_sessions": f.counter(ordinal, "single_event_sessions"),
            "activation": f.activation(ordinal),
            "complete": oldest is None or ordinal - 29 >= oldest,
        }

    def oldest_day(self) -> date | None:
        oldest = self.figures.oldest_kept_day(self.keep_days)
        return None if oldest is None else date.fromordinal(oldest)

    def latest_final_cohort(self) -> dict[str, Any] | None:
        mark = self.figures.watermark_day
        if mark is None:
            return None
        return self.figures.activation(mark - self.activation_days - 1)

    def features(self, day: int) -> list[str]:
        usage = self.figures.feature_events(range(day - 29, day + 1))
        extra = [f for f, _ in sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])) if f not in self.key_features]
        return list(self.key_features) + extra[: self.top_n]
