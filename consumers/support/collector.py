"""Prometheus gauges of the support family (HELP text = docs/metrics.md, word for word)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from consumers.support.definitions import (
    CATEGORIES,
    CHANNELS,
    PRIORITIES,
    QUANTILES,
    WINDOWS,
    timing_figures,
    window_figures,
)
from consumers.support.quantiles import BucketIndex
from consumers.support.view import SupportView

__all__ = ["SupportCollector", "SUPPORT_HELP"]

SUPPORT_HELP = {
    "pulse_first_response_seconds": "First response time (first agent_replied - ticket_opened) of the tickets first answered in the window, by quantile (within 1%), for every ticket (all) or by channel or by priority, in calendar seconds or in business seconds of the configured schedule.",
    "pulse_first_response_seconds_avg": "Mean first response time of the tickets first answered in the window, for every ticket (all) or by channel or by priority, in calendar or business seconds.",
    "pulse_resolution_seconds": "Resolution time (first ticket_resolved - ticket_opened) of the tickets first resolved in the window, by quantile (within 1%), for every ticket (all) or by channel or by priority, in calendar seconds or in business seconds of the configured schedule.",
    "pulse_resolution_seconds_avg": "Mean resolution time of the tickets first resolved in the window, for every ticket (all) or by channel or by priority, in calendar or business seconds.",
    "pulse_full_resolution_seconds": "Full resolution time (last ticket_resolved - ticket_opened, calendar seconds) of the tickets resolved now whose last resolution is in the window, by quantile (within 1%).",
    "pulse_full_resolution_seconds_avg": "Mean full resolution time (calendar seconds) of the tickets resolved now whose last resolution is in the window.",
    "pulse_fcr_ratio": "First contact resolution: tickets first resolved in the window with exactly one agent reply and never reopened / tickets first resolved in the window.",
    "pulse_reopen_ratio": "Reopenings in the window / resolutions in the window.",
    "pulse_tickets_open": "Tickets open now (opened or reopened, not resolved), by priority.",
    "pulse_tickets_opened": "Tickets opened in the window, by category.",
    "pulse_tickets_opened_trailing_mean": 'Mean tickets opened a day over the 7 UTC days before the watermark\'s day, by category (compare with pulse_tickets_opened{window="1d"} for a spike).',
    "pulse_tickets_awaiting_first_response": "Tickets opened and not yet answered by an agent, now.",
    "pulse_oldest_unanswered_ticket_age_seconds": "Event-time seconds since the oldest ticket still awaiting its first agent reply was opened; absent when none awaits.",
}


class SupportCollector:
    def __init__(self, view: SupportView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        v = self.view

        def gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, SUPPORT_HELP[name], labels=labels)

        frt, frt_avg = (
            gauge("pulse_first_response_seconds", ["quantile", "window", "channel", "priority", "clock"]),
            gauge("pulse_first_response_seconds_avg", ["window", "channel", "priority", "clock"]),
        )
        res, res_avg = (
            gauge("pulse_resolution_seconds", ["quantile", "window", "channel", "priority", "clock"]),
            gauge("pulse_resolution_seconds_avg", ["window", "channel", "priority", "clock"]),
        )
        full, full_avg = (
            gauge("pulse_full_resolution_seconds", ["quantile", "window"]),
            gauge("pulse_full_resolution_seconds_avg", ["window"]),
        )
        fcr, reopen = gauge("pulse_fcr_ratio", ["window"]), gauge("pulse_reopen_ratio", ["window"])
        opened = gauge("pulse_tickets_opened", ["category", "window"])
        trailing = gauge("pulse_tickets_opened_trailing_mean", ["category"])
        end = v.watermark_day()
        if end is not None:
            v.forget_old_sums(end)
            before = v.window_sum(end - 1, 7)
            for category in CATEGORIES:
                trailing.add_metric([category], before.get(f"opened:category:{category}", 0) / 7)
            for window, length in WINDOWS.items():
                counters = v.window_sum(end, length)
                index = BucketIndex(counters)  # one pass over the window's buckets for all 396 quantiles
                f = window_figures(counters, index)
                # every ticket, then by channel (all priorities) and by priority (all channels)
                groups = [("all", "all", ""), *((c, "all", f"@channel:{c}") for c in CHANNELS),
                          *(("all", p, f"@priority:{p}") for p in PRIORITIES)]  # fmt: skip
                for (quantiles_of, mean_of), timing in (((frt, frt_avg), "frt"), ((res, res_avg), "res")):
                    for clock, base in (("calendar", timing), ("business", f"{timing}b")):
                        for channel, priority, dim in groups:
                            mean, quantiles = timing_figures(counters, base + dim, index)
                            for q, value in quantiles.items():
                                if value is not None:
                                    quantiles_of.add_metric([str(q), window, channel, priority, clock], value)
                            if mean is not None:
                                mean_of.add_metric([window, channel, priority, clock], mean)
                for q in QUANTILES:
                    if f["full_resolution_quantiles"][q] is not None:
                        full.add_metric([str(q), window], f["full_resolution_quantiles"][q])
                for family, value in ((full_avg, f["full_resolution_avg"]), (fcr, f["fcr"]), (reopen, f["reopen"])):
                    if value is not None:
                        family.add_metric([window], value)
                for category in CATEGORIES:
                    opened.add_metric([category, window], counters.get(f"opened:category:{category}", 0))
        open_now = gauge("pulse_tickets_open", ["priority"])
        for priority in PRIORITIES:
            open_now.add_metric([priority], v.now.get(f"open:{priority}", 0))
        awaiting = gauge("pulse_tickets_awaiting_first_response", [])
        awaiting.add_metric([], v.now.get("awaiting", 0))
        oldest = gauge("pulse_oldest_unanswered_ticket_age_seconds", [])
        if v.oldest_awaiting is not None and v.watermark is not None:
            oldest.add_metric([], max(0.0, v.watermark - v.oldest_awaiting))
        yield from (
            frt,
            frt_avg,
            res,
            res_avg,
            full,
            full_avg,
            fcr,
            reopen,
            open_now,
            opened,
            trailing,
            awaiting,
            oldest,
        )
