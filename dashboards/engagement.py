"""Engagement: DAU/WAU/MAU and stickiness, visitors and signups, feature adoption, sessions,
activation cohorts and accounts at risk (the `product-events` family)."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import Board, Target, bars, gauge, label_variable, stat_panel, timeseries_panel

UID = "pulse-engagement"
RATIO = "percentunit"
#: pulse_active_users' windows, by the names product people use
ACTIVE = (("1d", "DAU"), ("7d", "WAU"), ("30d", "MAU"))


def build() -> dashboard_model.Dashboard:
    board = Board(
        UID,
        "Pulse / Engagement",
        "Active users, stickiness, features, sessions, activation and accounts at risk.",
        [label_variable("feature", "Feature", "pulse_feature_active_users", "feature")],
    )
    board.row("Active users").add(
        *(
            stat_panel(name, "short", Target(gauge(f'pulse_active_users{{window="{window}"}}'), name))
            for window, name in ACTIVE
        ),
        stat_panel("Stickiness (DAU / MAU)", RATIO, Target(gauge("pulse_stickiness_ratio"))),
        stat_panel(
            "Accounts at risk", "short", Target(gauge("pulse_accounts_at_risk")), steps=((None, "green"), (1, "red"))
        ),
        stat_panel("Viral coefficient", "none", Target(gauge("pulse_viral_coefficient")), decimals=2),
        timeseries_panel("DAU, WAU, MAU", "short", Target(gauge("pulse_active_users", "window"), "{{window}}")),
        timeseries_panel("Stickiness (DAU / MAU)", RATIO, Target(gauge("pulse_stickiness_ratio"), "stickiness")),
    )
    board.row("Acquisition of users").add(
        timeseries_panel("Unique visitors", "short", Target(gauge("pulse_unique_visitors", "window"), "{{window}}")),
        timeseries_panel("Signups", "short", Target(gauge("pulse_signups", "window"), "{{window}}")),
    )
    board.row("Features").add(
        bars(
            "Feature adoption (30-day users / MAU)",
            RATIO,
            Target(gauge('pulse_feature_adoption_ratio{feature=~"$feature"}', "feature"), "{{feature}}"),
            width=8,
        ),
        bars(
            "Feature events today",
            "short",
            Target(gauge('pulse_feature_events{feature=~"$feature"}', "feature"), "{{feature}}"),
            width=8,
        ),
        timeseries_panel(
            "Feature active users (30 days)",
            "short",
            Target(gauge('pulse_feature_active_users{feature=~"$feature", window="30d"}', "feature"), "{{feature}}"),
            width=8,
        ),
    )
    board.row("Sessions").add(
        timeseries_panel("Sessions today", "short", Target(gauge("pulse_sessions"), "sessions"), width=8),
        timeseries_panel(
            "Average session duration today", "s", Target(gauge("pulse_session_duration_seconds_avg"), "mean"), width=8
        ),
        timeseries_panel(
            "Single-event sessions today",
            "short",
            Target(gauge("pulse_single_event_sessions"), "single-event"),
            width=8,
        ),
    )
    board.row("Activation and health").add(
        stat_panel(
            "Activation rate (latest final cohort)",
            RATIO,
            Target(gauge('pulse_activation_ratio{cohort="latest_final"}', "cohort"), "{{cohort}}"),
            width=12,
        ),
        timeseries_panel("Accounts at risk", "short", Target(gauge("pulse_accounts_at_risk"), "at risk")),
    )
    return board.build()
