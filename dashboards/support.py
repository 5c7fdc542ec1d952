"""Support: first response times against the SLA, resolution, backlog, FCR and reopenings,
volume by category (the `support-tickets` family), and NPS, CSAT and CES (`surveys`)."""

from __future__ import annotations

import os

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import Board, Target, bars, gauge, label_variable, stat_panel, timeseries_panel

UID = "pulse-support"
RATIO = "percentunit"
#: the shipped frt_p90_sla rule's default (deploy/alerts/rules.yml, docs/alerts.md)
DEFAULT_FRT_SLA_SECONDS = 14400.0
#: every ticket, calendar seconds: the figure the SLA is about
ALL_TICKETS = 'channel="all", priority="all", clock="calendar"'


def frt_sla_seconds() -> float:
    """The first-response SLA the dashboard draws, ``PULSE_FRT_SLA_SECONDS`` as the shipped
    rule reads it, so the line and the alert agree (generate with it unset for the committed JSON)."""
    raw = os.environ.get("PULSE_FRT_SLA_SECONDS", "")
    if not raw:
        return DEFAULT_FRT_SLA_SECONDS
    value = float(raw)
    if not value > 0:
        raise ValueError(f"PULSE_FRT_SLA_SECONDS must be a positive number of seconds, got {raw!r}")
    return value


def build() -> dashboard_model.Dashboard:
    sla = frt_sla_seconds()
    board = Board(
        UID,
        "Pulse / Support",
        "First response and resolution times against the SLA, backlog, FCR, reopenings, volume, NPS, CSAT and CES.",
        [
            label_variable("channel", "Ticket channel", "pulse_first_response_seconds", "channel"),
            label_variable("priority", "Priority", "pulse_first_response_seconds", "priority"),
        ],
    )
    board.row("First response").add(
        timeseries_panel(
            f"First response time today vs the SLA ({sla:g} s)",
            "s",
            Target(gauge(f'pulse_first_response_seconds{{window="1d", {ALL_TICKETS}}}', "quantile"), "p{{quantile}}"),
            threshold=(sla, "red"),
        ),
        timeseries_panel(
            "Mean first response time",
            "s",
            Target(gauge(f"pulse_first_response_seconds_avg{{{ALL_TICKETS}}}", "window"), "{{window}}"),
            threshold=(sla, "red"),
        ),
        timeseries_panel(
            "p90 first response by channel (7 days)",
            "s",
            Target(
                gauge(
                    'pulse_first_response_seconds{quantile="0.9", window="7d", priority="all", clock="calendar", '
                    'channel=~"$channel"}',
                    "channel",
                ),
                "{{channel}}",
            ),
            threshold=(sla, "red"),
        ),
        timeseries_panel(
            "p90 first response by priority (7 days)",
            "s",
            Target(
                gauge(
                    'pulse_first_response_seconds{quantile="0.9", window="7d", channel="all", clock="calendar", '
                    'priority=~"$priority"}',
                    "priority",
                ),
                "{{priority}}",
            ),
            threshold=(sla, "red"),
        ),
    )
    board.row("Resolution").add(
        timeseries_panel(
            "Resolution time (7 days)",
            "s",
            Target(gauge(f'pulse_resolution_seconds{{window="7d", {ALL_TICKETS}}}', "quantile"), "p{{quantile}}"),
            width=8,
        ),
        timeseries_panel(
            "Mean resolution time",
            "s",
            Target(gauge(f"pulse_resolution_seconds_avg{{{ALL_TICKETS}}}", "window"), "{{window}}"),
            width=8,
        ),
        timeseries_panel(
            "Full resolution time, reopenings included (7 days)",
            "s",
            Target(gauge('pulse_full_resolution_seconds{window="7d"}', "quantile"), "p{{quantile}}"),
            Target(gauge('pulse_full_resolution_seconds_avg{window="7d"}', "window"), "mean"),
            width=8,
        ),
        timeseries_panel("First contact resolution", RATIO, Target(gauge("pulse_fcr_ratio", "window"), "{{window}}")),
        timeseries_panel("Reopen rate", RATIO, Target(gauge("pulse_reopen_ratio", "window"), "{{window}}")),
    )
    board.row("Backlog").add(
        timeseries_panel(
            "Open tickets by priority",
            "short",
            Target(gauge('pulse_tickets_open{priority=~"$priority"}', "priority"), "{{priority}}"),
            stacked=True,
        ),
        stat_panel(
            "Awaiting a first response",
            "short",
            Target(gauge("pulse_tickets_awaiting_first_response")),
            width=6,
            height=8,
        ),
        stat_panel(
            "Oldest unanswered ticket",
            "s",
            Target(gauge("pulse_oldest_unanswered_ticket_age_seconds")),
            width=6,
            height=8,
            steps=((None, "green"), (sla, "red")),
        ),
    )
    board.row("Volume").add(
        bars(
            "Tickets opened by category (7 days)",
            "short",
            Target(gauge('pulse_tickets_opened{window="7d"}', "category"), "{{category}}"),
        ),
        timeseries_panel(
            "Tickets opened today vs the 7-day daily mean",
            "short",
            Target(gauge('pulse_tickets_opened{window="1d"}', "category"), "{{category}} today"),
            Target(gauge("pulse_tickets_opened_trailing_mean", "category"), "{{category}} mean a day"),
        ),
    )
    board.row("Satisfaction").add(
        timeseries_panel("NPS", "none", Target(gauge('pulse_nps{touchpoint="all"}', "window"), "{{window}}"), width=8),
        timeseries_panel(
            "NPS answers by category (30 days)",
            "short",
            Target(gauge('pulse_nps_responses{window="30d"}', "category"), "{{category}}"),
            stacked=True,
            width=8,
        ),
        bars(
            "CSAT by touchpoint (30 days)",
            RATIO,
            Target(gauge('pulse_csat_ratio{window="30d"}', "touchpoint"), "{{touchpoint}}"),
            width=8,
        ),
        timeseries_panel("CES", RATIO, Target(gauge("pulse_ces_ratio", "window"), "{{window}}")),
        timeseries_panel(
            "Mean CES score (1 to 7)", "none", Target(gauge("pulse_ces_score_avg", "window"), "{{window}}")
        ),
    )
    return board.build()
