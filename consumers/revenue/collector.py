"""Prometheus gauges of the revenue family (HELP text = docs/metrics.md, word for word)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from consumers.revenue.buckets import KINDS, BucketKind, day_key, kind_of, month_key, month_of, plan_of, segment_of
from consumers.revenue.definitions import (
    lifetime_months,
    month_ratios,
    pending_scheduled,
    previous_month,
    window_sums,
)
from consumers.revenue.definitions import ltv as customer_ltv
from consumers.revenue.view import RevenueView
from stream.exporter import bounded_label

__all__ = ["RevenueCollector", "REVENUE_HELP"]

ZERO = Decimal(0)

#: HELP text of every revenue gauge; docs/metrics.md says the same, word for word.
REVENUE_HELP = {
    "pulse_mrr": "Monthly recurring revenue now: the sum of the normalized MRR of all active subscriptions, in the reporting currency.",
    "pulse_arr": "Annual recurring revenue now: 12 x MRR, in the reporting currency.",
    "pulse_customers_active": "Customers whose MRR is greater than 0 now.",
    "pulse_committed_mrr": "MRR now plus the changes already scheduled to take effect after today (cancellations and plan changes announced with a later effective_at), in the reporting currency.",
    "pulse_scheduled_churn_mrr": "MRR of the subscriptions whose cancellation is scheduled to take effect after today (announced, not yet effective), in the reporting currency.",
    "pulse_arpa": "Average revenue per account now: MRR / active customers, in the reporting currency.",
    "pulse_mrr_movement": "MRR moved by kind in the window (day and month: the current UTC calendar day and month of the event-time watermark; 30d: the 30 UTC days ending with it), as a positive amount in the reporting currency.",
    "pulse_net_new_mrr": "New + expansion + reactivation - contraction - churn MRR in the window, in the reporting currency.",
    "pulse_customer_churn_ratio": "1 - customer retention: customers active at the start of the month and not at its end / customers active at the start of the month.",
    "pulse_customer_retention_ratio": "Customers active at the start of the month and still active at its end / customers active at the start of the month.",
    "pulse_revenue_churn_ratio": "Revenue churn of the customers active at the start of the month: gross = 1 - GRR, net = 1 - NRR (negative when they grew).",
    "pulse_nrr_ratio": "Net revenue retention: MRR at the end of the month of the customers active at its start / their MRR at the start.",
    "pulse_grr_ratio": "Gross revenue retention: sum over the customers active at the start of the month of min(MRR at the end, MRR at the start) / their MRR at the start.",
    "pulse_mrr_churn_ratio": "Movement-based MRR churn rate: churned + contraction MRR of every customer in the month (joiners included) / MRR at the start of the month; not a cohort ratio.",
    "pulse_quick_ratio": "(new + expansion + reactivation MRR) / (contraction + churn MRR) in the month.",
    "pulse_ltv": "Customer lifetime value: ARPA x gross margin / last month's customer churn ratio, in the reporting currency; absent when that churn is 0.",
    "pulse_ltv_undefined": "1 when pulse_ltv is not defined: last month's customer churn ratio is 0 or unknown, or no customer is active; else 0.",
    "pulse_customer_lifetime_months": "Expected customer lifetime: 1 / last month's customer churn ratio, in months; absent when that churn is 0.",
    "pulse_trials_started": "Trials started in the month.",
    "pulse_trial_conversion_ratio": "Trials converted to a paid subscription / trials that ended (converted, expired, or gone on free) in the month.",
    "pulse_renewal_ratio": "Renewals / (renewals + cancellations) of subscriptions at the end of a term in the month, by count or by MRR amount.",
    "pulse_mrr_by_plan": "MRR now by plan, in the reporting currency.",
    "pulse_customers_active_by_plan": "Active customers now with an active subscription on the plan.",
    "pulse_mrr_by_segment": "MRR now by customer attribute value (top values by MRR, the rest as other), in the reporting currency.",
    "pulse_customers_active_by_segment": "Active customers now by customer attribute value (top values by MRR, the rest as other).",
}


class RevenueCollector:
    """Prometheus collector computing the revenue gauges from the last refreshed view."""

    def __init__(self, view: RevenueView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        v = self.view
        cur = v.currency

        def gauge(name: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, REVENUE_HELP[name], labels=labels)

        now = v.now()
        mrr, customers = now.get("mrr", ZERO), now.get("customers", ZERO)
        arpa = mrr / customers if customers else None
        for name, value in (("pulse_mrr", mrr), ("pulse_arr", mrr * 12), ("pulse_arpa", arpa)):
            g = gauge(name, ["currency"])
            if value is not None:
                g.add_metric([cur], float(value))
            yield g
        g = gauge("pulse_customers_active")
        g.add_metric([], float(customers))
        yield g
        for name, key in (
            ("pulse_committed_mrr", "committed_mrr"),
            ("pulse_scheduled_churn_mrr", "scheduled_churn_mrr"),
        ):
            g = gauge(name, ["currency"])
            g.add_metric([cur], float(now.get(key, ZERO)))
            yield g

        day = v.watermark_day()
        movement = gauge("pulse_mrr_movement", ["kind", "window", "currency"])
        net = gauge("pulse_net_new_mrr", ["window", "currency"])
        if day is not None:
            month = month_of(day)
            # to date: the month's scheduled changes dated after today have not happened yet
            month_to_date = dict(v.buckets.get(month_key(month), {}))
            for name, value in pending_scheduled(v.buckets, day, month).items():
                month_to_date[name] = month_to_date.get(name, ZERO) - value
            windows = {
                "day": v.buckets.get(day_key(day), {}),
                "month": month_to_date,
                "30d": window_sums(v.buckets, day, 30),
            }
            for window, fields in windows.items():
                for kind in KINDS:
                    movement.add_metric([kind, window, cur], float(fields.get(f"{kind}_mrr", ZERO)))
                net.add_metric([window, cur], float(fields.get("net_mrr", ZERO)))
        yield movement
        yield net

        ratio_names = {
            "pulse_customer_churn_ratio": "customer_churn_ratio",
            "pulse_customer_retention_ratio": "customer_retention_ratio",
            "pulse_nrr_ratio": "nrr_ratio",
            "pulse_grr_ratio": "grr_ratio",
            "pulse_mrr_churn_ratio": "mrr_churn_ratio",
            "pulse_quick_ratio": "quick_ratio",
            "pulse_trial_conversion_ratio": "trial_conversion_ratio",
        }
        families = {n: gauge(n, ["window"]) for n in ratio_names}
        revenue_churn = gauge("pulse_revenue_churn_ratio", ["kind", "window"])
        renewal = gauge("pulse_renewal_ratio", ["by", "window"])
        trials = gauge("pulse_trials_started", ["window"])
        ltv = gauge("pulse_ltv", ["currency"])
        ltv_undefined = gauge("pulse_ltv_undefined")
        lifetime = gauge("pulse_customer_lifetime_months")
        if day is not None:
            this_month = month_of(day)
            months = {"month": this_month, "last_month": previous_month(this_month)}
            for window, month in months.items():
                r = month_ratios(v.buckets, month, v.gross_margin)
                for name, key in ratio_names.items():
                    if r[key] is not None:
                        families[name].add_metric([window], float(r[key]))
                for churn_kind in ("gross", "net"):
                    if r[f"{churn_kind}_revenue_churn_ratio"] is not None:
                        revenue_churn.add_metric([churn_kind, window], float(r[f"{churn_kind}_revenue_churn_ratio"]))
                for by in ("count", "amount"):
                    if r[f"renewal_ratio_{by}"] is not None:
                        renewal.add_metric([by, window], float(r[f"renewal_ratio_{by}"]))
                trials.add_metric([window], float(r["trials_started"]))
            last = month_ratios(v.buckets, months["last_month"], v.gross_margin)
            churn = last["customer_churn_ratio"]
            value = customer_ltv(arpa, churn, v.gross_margin)
            months_expected = lifetime_months(churn)
            if value is not None:
                ltv.add_metric([cur], float(value))
            if months_expected is not None:
                lifetime.add_metric([], float(months_expected))
            ltv_undefined.add_metric([], 0.0 if value is not None else 1.0)
        else:  # no event yet: last month's churn is unknown
            ltv_undefined.add_metric([], 1.0)
        yield from families.values()
        yield from (revenue_churn, renewal, trials, ltv, ltv_undefined, lifetime)

        by_plan = gauge("pulse_mrr_by_plan", ["plan", "currency"])
        by_plan_c = gauge("pulse_customers_active_by_plan", ["plan"])
        for plan, (mrr, customers) in self._plans().items():
            by_plan.add_metric([bounded_label(plan), cur], float(mrr))
            by_plan_c.add_metric([bounded_label(plan)], float(customers))
        yield by_plan
        yield by_plan_c

        seg = gauge("pulse_mrr_by_segment", ["attribute", "value", "currency"])
        seg_c = gauge("pulse_customers_active_by_segment", ["attribute", "value"])
        for attribute, values in sorted(self._segments().items()):
            for label, (m, c) in sorted(values.items()):
                seg.add_metric([bounded_label(attribute), bounded_label(label), cur], float(m))
                seg_c.add_metric([bounded_label(attribute), bounded_label(label)], float(c))
        yield seg
        yield seg_c

    def _segments(self) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
        """Top N values per attribute by MRR; the rest summed as `other` (bounded cardinality)."""
        raw: dict[str, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
        for bucket, fields in self.view.buckets.items():
            if kind_of(bucket) is BucketKind.SEGMENT:
                attribute, value = segment_of(bucket)
                raw[attribute][value] = (fields.get("mrr", ZERO), fields.get("customers", ZERO))
        return {attribute: self._top(values) for attribute, values in raw.items()}

    def _plans(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Top N plans by MRR, the rest summed as `other`, like segments."""
        plans = {
            plan_of(bucket): (fields.get("mrr", ZERO), fields.get("customers", ZERO))
            for bucket, fields in self.view.buckets.items()
            if kind_of(bucket) is BucketKind.PLAN
        }
        return dict(sorted(self._top(plans).items()))

    def _top(self, values: dict[str, tuple[Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
        ranked = sorted(values.items(), key=lambda kv: (-kv[1][0], kv[0]))
        kept = dict(ranked[: self.view.top_n])
        rest = ranked[self.view.top_n :]
        if rest:
            other = kept.get("other", (ZERO, ZERO))  # a real value named "other" shares the bucket
            kept["other"] = (
                other[0] + sum((m for _, (m, _) in rest), ZERO),
                other[1] + sum((c for _, (_, c) in rest), ZERO),
            )
        return kept
