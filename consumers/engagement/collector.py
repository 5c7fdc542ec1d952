"""Prometheus gauges of the engagement family (HELP text = docs/metrics.md, word for word)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from consumers.engagement.definitions import average_session_seconds, stickiness, viral_coefficient
from consumers.engagement.view import EngagementView
from stream.exporter import bounded_label

__all__ = ["EngagementCollector", "ENGAGEMENT_HELP"]

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
    "pulse_viral_coefficient": "Viral coefficient over the 30 UTC days ending with the watermark day: invite_sent events per active user (MAU) x invite acceptance rate (invite_accepted / invite_sent events); absent without active users or invites sent.",
    "pulse_activation_ratio": "Users who signed up in the cohort day and performed an activation event within the activation window / users who signed up that day; latest_final is the latest cohort whose window has closed.",
}


class EngagementCollector:
    """The engagement gauges, computed from the view's last refresh."""

    def __init__(self, view: EngagementView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        f = self.view.figures
        day = f.watermark_day
        g = {
            name: GaugeMetricFamily(name, ENGAGEMENT_HELP[name], labels=labels)
            for name, labels in (
                ("pulse_active_users", ["window"]),
                ("pulse_stickiness_ratio", []),
                ("pulse_unique_visitors", ["window"]),
                ("pulse_signups", ["window"]),
                ("pulse_feature_active_users", ["feature", "window"]),
                ("pulse_feature_adoption_ratio", ["feature"]),
                ("pulse_feature_events", ["feature"]),
                ("pulse_sessions", []),
                ("pulse_session_duration_seconds_avg", []),
                ("pulse_single_event_sessions", []),
                ("pulse_activation_ratio", ["cohort"]),
                ("pulse_accounts_at_risk", []),
                ("pulse_viral_coefficient", []),
            )
        }
        if day is not None:
            windows = {"1d": [day], "7d": range(day - 6, day + 1), "30d": range(day - 29, day + 1)}
            for window, days in windows.items():
                g["pulse_active_users"].add_metric([window], f.distinct("dau", days))
                g["pulse_unique_visitors"].add_metric([window], f.distinct("vis", days))
                g["pulse_signups"].add_metric([window], f.distinct("sig", days))
            row = f.daily_row(day)
            mau = f.distinct("dau", windows["30d"])
            g["pulse_stickiness_ratio"].add_metric([], stickiness(f.distinct("dau", [day]), mau))
            sent, accepted = (
                sum(f.counter(d, name) for d in windows["30d"]) for name in ("invites_sent", "invites_accepted")
            )
            viral = viral_coefficient(sent, accepted, mau)
            if viral is not None:
                g["pulse_viral_coefficient"].add_metric([], viral)
            today = f.feature_events([day])
            for feature in self.view.features(day):
                label = bounded_label(feature)
                for window, days in windows.items():
                    g["pulse_feature_active_users"].add_metric(
                        [label, window], f.distinct(f"feat:{feature}", days, f.feature_lg_k)
                    )
                if mau:
                    users = f.distinct(f"feat:{feature}", windows["30d"], f.feature_lg_k)
                    g["pulse_feature_adoption_ratio"].add_metric([label], users / mau)
                g["pulse_feature_events"].add_metric([label], float(today.get(feature, 0)))
            g["pulse_sessions"].add_metric([], float(row["sessions"]))
            seconds = average_session_seconds(f.counter(day, "session_seconds"), row["sessions"])
            g["pulse_session_duration_seconds_avg"].add_metric([], seconds)
            g["pulse_single_event_sessions"].add_metric([], float(f.counter(day, "single_event_sessions")))
            risky = self.view.health.at_risk_count()
            if risky is not None:
                g["pulse_accounts_at_risk"].add_metric([], float(risky))
            cohort = self.view.latest_final_cohort()
            if cohort is not None and cohort["ratio"] is not None:
                g["pulse_activation_ratio"].add_metric(["latest_final"], cohort["ratio"])
        yield from g.values()
