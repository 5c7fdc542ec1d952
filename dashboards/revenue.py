"""Revenue: MRR and ARR, where this month's MRR came from and went to, churn and retention,
lifetime value, trials, renewals, and MRR by plan and segment (the `subscriptions` family)."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import (
    Board,
    Target,
    barchart_panel,
    bars,
    gauge,
    label_variable,
    stat_panel,
    table_panel,
    timeseries_panel,
)

UID = "pulse-revenue"
USD = "currencyUSD"
RATIO = "percentunit"

#: signed movements of the month: what added MRR up, what removed it down, then the net
WATERFALL = (
    'max by (kind) (pulse_mrr_movement{window="month", kind=~"new|expansion|reactivation"})'
    ' or -1 * max by (kind) (pulse_mrr_movement{window="month", kind=~"contraction|churn"})'
    ' or max by (kind) (label_replace(pulse_net_new_mrr{window="month"}, "kind", "net new", "", ""))'
)


def build() -> dashboard_model.Dashboard:
    board = Board(
        UID,
        "Pulse / Revenue",
        "MRR, its movements, churn and retention, LTV, trials, renewals and MRR by plan and segment.",
        [
            label_variable("plan", "Plan", "pulse_mrr_by_plan", "plan"),
            label_variable("segment", "Segment attribute", "pulse_mrr_by_segment", "attribute"),
        ],
    )
    board.row("Now").add(
        stat_panel("MRR", USD, Target(gauge("pulse_mrr"), "{{currency}}")),
        stat_panel("ARR", USD, Target(gauge("pulse_arr"), "{{currency}}")),
        stat_panel("Active customers", "short", Target(gauge("pulse_customers_active"))),
        stat_panel("ARPA", USD, Target(gauge("pulse_arpa"), "{{currency}}")),
        stat_panel("Committed MRR", USD, Target(gauge("pulse_committed_mrr"), "{{currency}}")),
        stat_panel("Scheduled churn MRR", USD, Target(gauge("pulse_scheduled_churn_mrr"), "{{currency}}")),
    )
    board.row("MRR and its movements").add(
        timeseries_panel(
            "MRR and committed MRR",
            USD,
            Target(gauge("pulse_mrr", "currency"), "MRR"),
            Target(gauge("pulse_committed_mrr", "currency"), "committed MRR"),
        ),
        barchart_panel("MRR movements this month (waterfall)", USD, "kind", Target(WATERFALL, "{{kind}}")),
        timeseries_panel(
            "MRR movements this month by kind",
            USD,
            Target(gauge('pulse_mrr_movement{window="month"}', "kind"), "{{kind}}"),
            bars=True,
        ),
        timeseries_panel(
            "Net new MRR", USD, Target(gauge("pulse_net_new_mrr", "window"), "{{window}}"), threshold=(0, "red")
        ),
    )
    board.row("Churn and retention").add(
        timeseries_panel(
            "Customer churn and retention",
            RATIO,
            Target(gauge("pulse_customer_churn_ratio", "window"), "churn {{window}}"),
            Target(gauge("pulse_customer_retention_ratio", "window"), "retention {{window}}"),
            width=8,
        ),
        timeseries_panel(
            "NRR and GRR",
            RATIO,
            Target(gauge("pulse_nrr_ratio", "window"), "NRR {{window}}"),
            Target(gauge("pulse_grr_ratio", "window"), "GRR {{window}}"),
            width=8,
            threshold=(1, "red"),
        ),
        timeseries_panel(
            "Revenue churn (gross, net)",
            RATIO,
            Target(gauge("pulse_revenue_churn_ratio", "kind, window"), "{{kind}} {{window}}"),
            width=8,
        ),
        timeseries_panel(
            "MRR churn rate (movement-based)",
            RATIO,
            Target(gauge("pulse_mrr_churn_ratio", "window"), "{{window}}"),
        ),
        stat_panel(
            "Quick ratio",
            "none",
            Target(gauge("pulse_quick_ratio", "window"), "{{window}}"),
            width=12,
            decimals=2,
            steps=((None, "red"), (1, "orange"), (4, "green")),
        ),
    )
    board.row("Lifetime value").add(
        stat_panel("LTV", USD, Target(gauge("pulse_ltv"), "{{currency}}"), width=8),
        stat_panel(
            "LTV defined?",
            "none",
            Target(gauge("pulse_ltv_undefined")),
            width=8,
            mappings={"0": "defined", "1": "undefined (no churn last month)"},
        ),
        stat_panel(
            "Expected customer lifetime", "suffix: months", Target(gauge("pulse_customer_lifetime_months")), width=8
        ),
    )
    board.row("Trials and renewals").add(
        timeseries_panel(
            "Trials started", "short", Target(gauge("pulse_trials_started", "window"), "{{window}}"), width=8
        ),
        timeseries_panel(
            "Trial-to-paid conversion",
            RATIO,
            Target(gauge("pulse_trial_conversion_ratio", "window"), "{{window}}"),
            width=8,
        ),
        timeseries_panel(
            "Renewal rate", RATIO, Target(gauge("pulse_renewal_ratio", "by, window"), "by {{by}} {{window}}"), width=8
        ),
    )
    board.row("By plan and segment").add(
        bars("MRR by plan", USD, Target(gauge('pulse_mrr_by_plan{plan=~"$plan"}', "plan"), "{{plan}}")),
        bars(
            "Active customers by plan",
            "short",
            Target(gauge('pulse_customers_active_by_plan{plan=~"$plan"}', "plan"), "{{plan}}"),
        ),
        timeseries_panel(
            "MRR by plan",
            USD,
            Target(gauge('pulse_mrr_by_plan{plan=~"$plan"}', "plan"), "{{plan}}"),
            stacked=True,
            width=24,
        ),
        bars(
            "MRR by segment",
            USD,
            Target(gauge('pulse_mrr_by_segment{attribute=~"$segment"}', "attribute, value"), "{{attribute}}={{value}}"),
            height=12,
        ),
        table_panel(
            "Active customers by segment",
            "short",
            Target(gauge('pulse_customers_active_by_segment{attribute=~"$segment"}', "attribute, value")),
            height=12,
        ),
    )
    return board.build()
