"""Prometheus gauges of the acquisition family (HELP text = docs/metrics.md, word for word)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from consumers.acquisition.definitions import (
    ALL,
    WINDOWS,
    ChannelFigures,
    days_ending,
    days_of_month,
    lead_velocity,
)
from consumers.acquisition.leads import STAGES
from consumers.acquisition.view import AcquisitionView

__all__ = ["AcquisitionCollector", "ACQUISITION_HELP"]

ACQUISITION_HELP = {
    "pulse_marketing_spend": "Sales and marketing spend recorded in the window (retention spend channels excluded), in the reporting currency, by channel (all: every channel).",
    "pulse_new_customers": "New customers (first paid start ever; not reactivations, not trials) in the window, by acquisition channel (unknown: none given; all: every channel).",
    "pulse_cac": "Customer acquisition cost: spend of the window / new customers of the window, in the reporting currency, by channel; absent when the window has no new customers.",
    "pulse_channel_roi_ratio": "Channel ROI: (new MRR of the window's new customers x 12 x gross margin - spend) / spend, by channel; absent without spend.",
    "pulse_ltv_to_cac_ratio": "LTV / CAC of the last 30 days, by channel (all: the revenue family's LTV; a channel: the same definition with its new customers' ARPA); absent when either is undefined or CAC is 0.",
    "pulse_cac_payback_months": "Months to pay back CAC of the last 30 days: CAC / (ARPA of the new customers x gross margin), by channel; absent when undefined.",
    "pulse_leads": "Leads created (stage created) and leads first qualified at each stage (mql, sql, pql) in the window.",
    "pulse_funnel_conversion_ratio": "Funnel step ratio of the window's counts: visitor_to_signup = signups / distinct visitors (HyperLogLog estimate), signup_to_trial = trials started / signups, lead_to_mql = MQLs / leads created, mql_to_sql = SQLs / MQLs, trial_to_paid = trials converted / trials ended; absent without a denominator or where the engagement family no longer holds the window's visitors and signups.",
    "pulse_lead_velocity_ratio": "Lead velocity: (MQLs of the window - MQLs of the window before it) / MQLs of the window before it; month: the watermark's calendar month so far against the whole month before; absent when the window before had none.",
    "pulse_customer_retention_cost": "Spend of the retention spend channels in the window / active customers now, in the reporting currency; absent without retention channels or active customers.",
}


class AcquisitionCollector:
    def __init__(self, view: AcquisitionView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        v = self.view

        def gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, ACQUISITION_HELP[name], labels=labels)

        spend, customers, cac, roi = (
            gauge(n, ["channel", "window"])
            for n in ("pulse_marketing_spend", "pulse_new_customers", "pulse_cac", "pulse_channel_roi_ratio")
        )
        ltv_cac, payback = gauge("pulse_ltv_to_cac_ratio", ["channel"]), gauge("pulse_cac_payback_months", ["channel"])
        retention = gauge("pulse_customer_retention_cost", ["window"])
        leads, steps = (
            gauge("pulse_leads", ["stage", "window"]),
            gauge("pulse_funnel_conversion_ratio", ["step", "window"]),
        )
        velocity = gauge("pulse_lead_velocity_ratio", ["window"])
        end = v.watermark_day()
        if end is not None:
            from consumers.revenue.buckets import month_of
            from consumers.revenue.definitions import now_figures, previous_month

            windows: dict[str, tuple[Any, list[ChannelFigures]]] = {
                w: v.joined.rolling(end, n) for w, n in WINDOWS.items()
            }
            month = month_of(end)
            windows["month"] = (v.joined.inputs(days_of_month(month), month), v.joined.month(month))
            kept = self._kept(windows["90d"][1])
            active = now_figures(v.joined.buckets, end)["customers"]
            for window, (inputs, rows) in windows.items():
                for f in rows:
                    if f.channel not in kept:
                        continue
                    spend.add_metric([f.channel, window], float(f.spend))
                    customers.add_metric([f.channel, window], f.new_customers)
                    for family, value in ((cac, f.cac), (roi, f.roi)):
                        if value is not None:
                            family.add_metric([f.channel, window], float(value))
                    if window == "30d":
                        for family, value in ((ltv_cac, f.ltv_to_cac), (payback, f.payback_months)):
                            if value is not None:
                                family.add_metric([f.channel], float(value))
                if v.retention_channels and active and window != "month":
                    retention.add_metric([window], float(inputs.retention_spend / active))
            spans: dict[str, tuple[list[date], str | None]] = {
                w: (days_ending(end, n), None) for w, n in WINDOWS.items()
            }
            spans["month"] = (days_of_month(month), month)
            for window, (days, in_month) in spans.items():
                counted = v.joined.funnel(days, in_month)
                for stage in STAGES:
                    leads.add_metric([stage, window], counted["counts"][stage])
                for step, ratio in counted["ratios"].items():
                    if ratio is not None:
                        steps.add_metric([step, window], ratio)
            before = {"month": days_of_month(previous_month(month)), "30d": days_ending(end - timedelta(days=30), 30)}
            for window, days in before.items():
                this = v.joined.lead_counts(spans[window][0]).get("mql", 0)
                ratio = lead_velocity(this, v.joined.lead_counts(days).get("mql", 0))
                if ratio is not None:
                    velocity.add_metric([window], ratio)
        yield from (spend, customers, cac, roi, ltv_cac, payback, retention, leads, steps, velocity)

    def _kept(self, rows: list[ChannelFigures]) -> set[str]:
        """The channels exported: ``all`` and the top N by 90-day spend, then new customers."""
        ranked = sorted((f for f in rows if f.channel != ALL), key=lambda f: (-f.spend, -f.new_customers, f.channel))
        return {ALL, *(f.channel for f in ranked[: self.view.top_n])}
