"""Deployment-wide engagement figures: every partition's sketches and counters from Redis."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from datasketches import hll_sketch
from prometheus_client.registry import Collector

from consumers.account_signals import KINDS, SUPPORT_KIND, merge_signals, window_signals
from consumers.engagement.definitions import (
    FEATURE_LG_K,
    LG_K,
    EngagementFigures,
    Partition,
    account_scores,
    split_account_day,
)
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
    ) -> None:
        self.snapshots = snapshots
        self.frt_target_seconds = frt_target_seconds
        #: account -> its support and survey signals, summed over kinds and partitions
        self.signals: dict[str, Any] = {}
        #: whether the support family reports on any account (else open tickets are unknown)
        self.support_reports = False
        self.keep_days = keep_days
        self.health_threshold = health_threshold
        self.accounts: dict[str, Any] = {}
        self.key_features = key_features
        self.top_n = top_n
        self.activation_days = activation_days
        self.lg_k = lg_k
        self.feature_lg_k = feature_lg_k
        self.figures = self._figures([])
        self._cache: dict[int, tuple[Any, Partition]] = {}
        self._sketches: dict[int, dict[str, hll_sketch]] = {}  # partition -> key -> sketch
        self._sketch_versions: dict[int, dict[str, str]] = {}

    async def refresh(self) -> None:
        await self.refresh_figures()
        self.accounts = await self.snapshots.entities("accounts")
        by_kind = {kind: await self.snapshots.entities(kind) for kind in KINDS}
        self.signals = merge_signals(by_kind)
        self.support_reports = bool(by_kind[SUPPORT_KIND])

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
        return EngagementFigures(partitions, self.lg_k, self.feature_lg_k, self.activation_days)

    def collectors(self) -> Iterable[Collector]:
        from consumers.engagement.collector import EngagementCollector

        return [EngagementCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.engagement.routes import engagement_routes

        return engagement_routes(self)

    def _by_account(self) -> dict[str, dict[int, Any]]:
        out: dict[str, dict[int, Any]] = {}
        for key, record in self.accounts.items():
            account, day = split_account_day(key)
            out.setdefault(account, {})[day] = record
        return out

    def account(self, account_id: str, days: dict[int, Any] | None = None) -> dict[str, Any] | None:
        today = self.figures.watermark_day
        days = days if days is not None else self._by_account().get(account_id)
        if not days or today is None:
            return None

        def active(span: int) -> int:
            return len({u for d, r in days.items() if today - span < d <= today for u, on in r["u"].items() if on})

        return {
            "account_id": account_id,
            "as_of": date.fromordinal(today).isoformat(),
            "dau": active(1),
            "wau": active(7),
            "mau": active(30),
            **account_scores(
                days,
                today,
                len(self.key_features),
                window_signals(self.signals.get(account_id), today, self.support_reports),
                self.frt_target_seconds,
            ),
        }

    def at_risk(self) -> list[dict[str, Any]]:
        scored = [self.account(a, days) for a, days in sorted(self._by_account().items())]
        risky = [s for s in scored if s is not None and s["health_score"] < self.health_threshold]
        return sorted(risky, key=lambda s: (s["health_score"], s["account_id"]))

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
