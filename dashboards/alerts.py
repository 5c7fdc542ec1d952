"""Alerts: what fires now, by rule and severity, and whether the notifications get through
(alerts/service.py, alerts/channels/dispatcher.py)."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import Board, Target, bars, counter_rate, gauge, label_variable, stat_panel, timeseries_panel

UID = "pulse-alerts"
#: the channel variable selects notification channels (rules.yml's `channels`)
CHANNEL = 'channel=~"$channel"'


def build() -> dashboard_model.Dashboard:
    board = Board(
        UID,
        "Pulse / Alerts",
        "Alerts firing by rule and severity, and notifications by channel and outcome.",
        [label_variable("channel", "Notification channel", "pulse_alert_notifications_total", "channel")],
    )
    board.row("Firing").add(
        stat_panel(
            "Alerts firing by severity",
            "short",
            Target(f"sum by (severity) ({gauge('pulse_alerts_firing')})", "{{severity}}"),
            width=8,
            height=6,
            steps=((None, "green"), (1, "red")),
        ),
        timeseries_panel(
            "Alerts firing by rule",
            "short",
            Target(gauge("pulse_alerts_firing", "rule, severity"), "{{rule}} ({{severity}})"),
            width=16,
            height=6,
            stacked=True,
        ),
    )
    board.row("Notifications").add(
        timeseries_panel(
            "Notifications by outcome",
            "mps",
            Target(counter_rate(f"pulse_alert_notifications_total{{{CHANNEL}}}", "outcome"), "{{outcome}}"),
        ),
        bars(
            "Notifications in the last hour by channel and outcome",
            "short",
            Target(
                f"sum by (channel, outcome) (increase(pulse_alert_notifications_total{{{CHANNEL}}}[1h]))",
                "{{channel}} {{outcome}}",
            ),
        ),
    )
    return board.build()
