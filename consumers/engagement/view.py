"""Deployment-wide engagement figures: every partition's sketches and counters from Redis."""

from __future__ import annotations

from datetime import date
from typing import Any, Iterator

from datasketches import hll_sketch
from prometheus_client.core import GaugeMetricFamily

from consumers.engagement.figures import EngagementFigures, Partition
from consumers.engagement.health import account_scores
from stream.snapshots import SnapshotStore

__all__ = ["EngagementView", "EngagementCollector", "ENGAGEMENT_HELP"]

ENGAGEMENT_HELP = {
    "pulse_active_users": "Distinct active users (an event whose name is not inactive, with a user_id) in the UTC day of the event-time watermark (1d) or the 7 or 30 UTC days ending with it; HyperLogLog estimate.",
    "pulse_stickiness_ratio": "DAU / MAU of the UTC day of the event-time watermark.",
    "pulse_unique_visitors": "Distinct anonymous_id or user_id with a page_view in the window; HyperLogLog estimate.",
    "pulse_signups": "Distinct users with a signed_up event in the window; HyperLogLog estimate.",
    "pulse_feature_active_users": "Distinct users of the feature (feature_used) in the window; HyperLogLog estimate.",
    "pulse_feature_adoption_ratio": "Distinct users of the feature over the 30 UTC days ending with the watermark day / MAU.",
    "pulse_feature_events": "feature_used events of the feature in the UTC day of the event-time watermark.",
    "pulse_sessions": "Sessions whose last event is in the UTC day of the event-time watermark.",
    "pulse_session_duration_seconds_avg": "Average duration (first to last event) of the sessions ending in the UTC day of the watermark; single-event sessions count as 0 seconds.",
    "pulse_single_event_sessions": "Sessions of a single event ending in the UTC day of the event-time watermark.",
    "pulse_accounts_at_risk": "Accounts whose health score (docs/metrics.md) over the 30 UTC days ending with the watermark day is below the health threshold.",
    "pulse_activation_ratio": "Users who signed up in the cohort day and performed an activation event within the activation window / users who signed up that day; latest_final is the latest cohort whose window has closed.",
}


class EngagementView:
    def __init__(self, snapshots: SnapshotStore, key_features: tuple[str, ...], top_n: int, activation_days: int,
                 health_threshold: float = 40.0) -> None:
        self.snapshots = snapshots
        self.health_threshold = health_threshold
        self.accounts: dict[str, Any] = {}
        self.key_features = key_features
        self.top_n = top_n
        self.activation_days = activation_days
        self.figures = EngagementFigures([], activation_days=activation_days)
        self._cache: dict[int, tuple[Any, Partition]] = {}
        self._sketches: dict[int, dict[str, hll_sketch]] = {}  # partition -> key -> sketch
        self._sketch_versions: dict[int, dict[str, int]] = {}

    async def refresh(self) -> None:
        parts = await self.snapshots.partitions("product-events")
        partitions = []
        for p in sorted(parts):
            payload = parts[p]
            version = (payload.get("next_offset"), payload.get("watermark"))
            cached = self._cache.get(p)
            if cached is None or cached[0] != version:
                # Only the sketches this partition's owner changed since the last look: a busy
                # partition changes today's few sketches, not the 35 days of them.
                sketches = self._sketches.setdefault(p, {})
                blobs, versions, gone = await self.snapshots.changed_sketches(
                    "product-events", p, self._sketch_versions.get(p, {})
                )
                for key in gone:
                    sketches.pop(key, None)
                for key, blob in blobs.items():
                    sketches[key] = hll_sketch.deserialize(blob)
                self._sketch_versions[p] = versions
                cached = self._cache[p] = (version, Partition(sketches, payload.get("days", {}), payload.get("watermark")))
            partitions.append(cached[1])
        self.figures = EngagementFigures(partitions, activation_days=self.activation_days)
        self.accounts = await self.snapshots.entities("accounts")

    def _by_account(self) -> dict[str, dict[int, Any]]:
        out: dict[str, dict[int, Any]] = {}
        for key, record in self.accounts.items():
            account, _, day = key.rpartition("|")
            out.setdefault(account, {})[int(day)] = record
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
            **account_scores(days, today, len(self.key_features)),
        }

    def at_risk(self) -> list[dict[str, Any]]:
        scored = [self.account(a, days) for a, days in sorted(self._by_account().items())]
        risky = [s for s in scored if s is not None and s["health_score"] < self.health_threshold]
        return sorted(risky, key=lambda s: (s["health_score"], s["account_id"]))

    def daily(self, day: date) -> dict[str, Any]:
        ordinal = day.toordinal()
        f = self.figures
        return {
            **f.daily_row(ordinal),
            "single_event_sessions": f.counter(ordinal, "single_event_sessions"),
            "activation": f.activation(ordinal),
        }

    def latest_final_cohort(self) -> dict[str, Any] | None:
        mark = self.figures.watermark_day
        if mark is None:
            return None
        return self.figures.activation(mark - self.activation_days - 1)

    def features(self, day: int) -> list[str]:
        usage = self.figures.feature_events(range(day - 29, day + 1))
        extra = [f for f, _ in sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])) if f not in self.key_features]
        return list(self.key_features) + extra[: self.top_n]


class EngagementCollector:
    def __init__(self, view: EngagementView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        f = self.view.figures
        day = f.watermark_day
        g = {name: GaugeMetricFamily(name, text, labels=labels) for name, text, labels in (
            ("pulse_active_users", ENGAGEMENT_HELP["pulse_active_users"], ["window"]),
            ("pulse_stickiness_ratio", ENGAGEMENT_HELP["pulse_stickiness_ratio"], []),
            ("pulse_unique_visitors", ENGAGEMENT_HELP["pulse_unique_visitors"], ["window"]),
            ("pulse_signups", ENGAGEMENT_HELP["pulse_signups"], ["window"]),
            ("pulse_feature_active_users", ENGAGEMENT_HELP["pulse_feature_active_users"], ["feature", "window"]),
            ("pulse_feature_adoption_ratio", ENGAGEMENT_HELP["pulse_feature_adoption_ratio"], ["feature"]),
            ("pulse_feature_events", ENGAGEMENT_HELP["pulse_feature_events"], ["feature"]),
            ("pulse_sessions", ENGAGEMENT_HELP["pulse_sessions"], []),
            ("pulse_session_duration_seconds_avg", ENGAGEMENT_HELP["pulse_session_duration_seconds_avg"], []),
            ("pulse_single_event_sessions", ENGAGEMENT_HELP["pulse_single_event_sessions"], []),
            ("pulse_activation_ratio", ENGAGEMENT_HELP["pulse_activation_ratio"], ["cohort"]),
            ("pulse_accounts_at_risk", ENGAGEMENT_HELP["pulse_accounts_at_risk"], []),
        )}
        if day is not None:
            windows = {"1d": [day], "7d": range(day - 6, day + 1), "30d": range(day - 29, day + 1)}
            for window, days in windows.items():
                g["pulse_active_users"].add_metric([window], f.distinct("dau", days))
                g["pulse_unique_visitors"].add_metric([window], f.distinct("vis", days))
                g["pulse_signups"].add_metric([window], f.distinct("sig", days))
            row = f.daily_row(day)
            mau = f.distinct("dau", windows["30d"])
            g["pulse_stickiness_ratio"].add_metric([], f.distinct("dau", [day]) / mau if mau else 0.0)
            today = f.feature_events([day])
            for feature in self.view.features(day):
                for window, days in windows.items():
                    g["pulse_feature_active_users"].add_metric(
                        [feature, window], f.distinct(f"feat:{feature}", days, f.feature_lg_k))
                if mau:
                    users = f.distinct(f"feat:{feature}", windows["30d"], f.feature_lg_k)
                    g["pulse_feature_adoption_ratio"].add_metric([feature], users / mau)
                g["pulse_feature_events"].add_metric([feature], float(today.get(feature, 0)))
            g["pulse_sessions"].add_metric([], float(row["sessions"]))
            g["pulse_session_duration_seconds_avg"].add_metric([], float(row["avg_session_seconds"]))
            g["pulse_single_event_sessions"].add_metric([], float(f.counter(day, "single_event_sessions")))
            g["pulse_accounts_at_risk"].add_metric([], float(len(self.view.at_risk())))
            cohort = self.view.latest_final_cohort()
            if cohort is not None and cohort["ratio"] is not None:
                g["pulse_activation_ratio"].add_metric(["latest_final"], cohort["ratio"])
        yield from g.values()
