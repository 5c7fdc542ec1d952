"""Acquisition: CAC by channel, LTV:CAC, payback, ROI, spend and new customers, the funnel,
lead velocity and the viral coefficient (the `marketing-spend` and `leads` family, joined with
revenue's new customers)."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import Board, Target, bars, gauge, label_variable, stat_panel, timeseries_panel

UID = "pulse-acquisition"
USD = "currencyUSD"
RATIO = "percentunit"
#: the channel variable selects on every channel-labelled gauge
CHANNEL = 'channel=~"$channel"'


def build() -> dashboard_model.Dashboard:
    board = Board(
        UID,
        "Pulse / Acquisition",
        "CAC, LTV:CAC, payback and ROI by channel, spend, new customers, the funnel and lead velocity.",
        [label_variable("channel", "Acquisition channel", "pulse_marketing_spend", "channel")],
    )
    board.row("Cost of a customer").add(
        bars(
            "CAC by channel (30 days)",
            USD,
            Target(gauge(f'pulse_cac{{window="30d", {CHANNEL}}}', "channel"), "{{channel}}"),
            width=8,
        ),
        bars(
            "LTV:CAC by channel (30 days)",
            "suffix:x",
            Target(gauge(f"pulse_ltv_to_cac_ratio{{{CHANNEL}}}", "channel"), "{{channel}}"),
            width=8,
        ),
        bars(
            "CAC payback by channel (30 days)",
            "suffix: months",
            Target(gauge(f"pulse_cac_payback_months{{{CHANNEL}}}", "channel"), "{{channel}}"),
            width=8,
        ),
        timeseries_panel(
            "CAC by channel (30 days)",
            USD,
            Target(gauge(f'pulse_cac{{window="30d", {CHANNEL}}}', "channel"), "{{channel}}"),
        ),
        timeseries_panel(
            "Channel ROI (30 days)",
            RATIO,
            Target(gauge(f'pulse_channel_roi_ratio{{window="30d", {CHANNEL}}}', "channel"), "{{channel}}"),
            threshold=(0, "red"),
        ),
    )
    board.row("Spend and new customers").add(
        timeseries_panel(
            "Marketing spend (30 days)",
            USD,
            Target(gauge(f'pulse_marketing_spend{{window="30d", {CHANNEL}}}', "channel"), "{{channel}}"),
        ),
        timeseries_panel(
            "New customers (30 days)",
            "short",
            Target(gauge(f'pulse_new_customers{{window="30d", {CHANNEL}}}', "channel"), "{{channel}}"),
        ),
    )
    board.row("Funnel and leads").add(
        bars(
            "Funnel conversion (30 days)",
            RATIO,
            Target(gauge('pulse_funnel_conversion_ratio{window="30d"}', "step"), "{{step}}"),
            width=8,
        ),
        bars(
            "Leads by stage (30 days)",
            "short",
            Target(gauge('pulse_leads{window="30d"}', "stage"), "{{stage}}"),
            width=8,
        ),
        timeseries_panel(
            "Lead velocity (MQLs against the period before)",
            RATIO,
            Target(gauge("pulse_lead_velocity_ratio", "window"), "{{window}}"),
            width=8,
        ),
        stat_panel(
            "Viral coefficient (30 days)", "none", Target(gauge("pulse_viral_coefficient")), width=8, decimals=2
        ),
    )
    return board.build()
