"""Every support figure of docs/metrics.md ("Support"), once, over summed daily counters.

A day's counters are additive over tickets and partitions (consumers/support/ledger.py); a
window's figures are computed from the sum of its days' counters, the backlog from the running
sum of every day's openings, reopenings and resolutions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from consumers.support.quantiles import BucketIndex

__all__ = [
    "WINDOWS",
    "QUANTILES",
    "PRIORITIES",
    "CATEGORIES",
    "DAILY_COLUMNS",
    "merge_days",
    "sum_counters",
    "window_sum",
    "window_figures",
    "timing_figures",
    "TIMINGS",
    "CHANNELS",
    "backlog_at",
    "daily_row",
]

WINDOWS = {"1d": 1, "7d": 7, "30d": 30}
QUANTILES = (0.5, 0.9, 0.99)
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "chat", "phone", "web", "other")
CATEGORIES = ("bug", "feature_request", "question", "suggestion", "complaint", "other")

Days = Mapping[int, Mapping[str, float]]

DAILY_COLUMNS = (
    "date",
    "tickets_opened",
    "tickets_resolved",
    "frt_avg_seconds",
    "frt_p50_seconds",
    "frt_p90_seconds",
    "resolution_avg_seconds",
    "fcr_rate",
    "backlog_end_of_day",
    "nps_30d",
    "csat_30d",
)


def merge_days(parts: Iterable[Days]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for part in parts:
        for day, counters in part.items():
            out[day] = sum_counters([out.get(day, {}), counters])
    return out


def window_sum(days: Days, end: int, length: int) -> dict[str, float]:
    """The counters of the ``length`` UTC days ending with day ordinal ``end``, summed."""
    return sum_counters(days[d] for d in range(end - length + 1, end + 1) if d in days)


def sum_counters(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Counters added field by field (days, partitions' "now", backlog bases)."""
    out: dict[str, float] = {}
    for counters in parts:
        for field, n in counters.items():
            out[field] = out.get(field, 0) + n
    return out


def _mean(total: float, n: float) -> float | None:
    return None if not n else total / n


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


#: the ticket timings counted per day (consumers/support/ledger.py): first response time,
#: resolution time (to the first resolution), full resolution time (to the last)
TIMINGS = ("frt", "res", "full")


def timing_figures(
    c: Mapping[str, float], prefix: str, index: BucketIndex | None = None
) -> tuple[float | None, dict[float, float | None]]:
    """Mean and quantiles of the timings counted under ``prefix``: one of ``TIMINGS``, with
    ``b`` for business seconds (``frtb``, ``resb``), optionally ``@channel:<c>`` or
    ``@priority:<p>``. ``index``: the buckets of ``c``, when many timings are read of it."""
    index = index if index is not None else BucketIndex(c)
    return _mean(c.get(f"{prefix}_sum", 0), c.get(f"{prefix}_n", 0)), {q: index.quantile(prefix, q) for q in QUANTILES}


def window_figures(c: Mapping[str, float], index: BucketIndex | None = None) -> dict[str, Any]:
    """FRT and resolution time (mean, quantiles), FCR and reopen ratios of summed counters."""
    index = index if index is not None else BucketIndex(c)
    return {
        "frt_avg": _mean(c.get("frt_sum", 0), c.get("frt_n", 0)),
        "frt_quantiles": {q: index.quantile("frt", q) for q in QUANTILES},
        "frt_business_avg": _mean(c.get("frtb_sum", 0), c.get("frtb_n", 0)),
        "frt_business_quantiles": {q: index.quantile("frtb", q) for q in QUANTILES},
        "resolution_avg": _mean(c.get("res_sum", 0), c.get("res_n", 0)),
        "resolution_quantiles": {q: index.quantile("res", q) for q in QUANTILES},
        "full_resolution_avg": _mean(c.get("full_sum", 0), c.get("full_n", 0)),
        "full_resolution_quantiles": {q: index.quantile("full", q) for q in QUANTILES},
        "fcr": _ratio(c.get("fcr", 0), c.get("res_n", 0)),
        "reopen": _ratio(c.get("reopened", 0), c.get("resolved", 0)),
    }


def backlog_at(days: Days, day: int, before: Mapping[str, float], field: str = "backlog") -> float:
    """Tickets open at the end of ``day``: every opening and reopening minus every resolution
    up to it (``before``: what days no longer held contributed)."""
    return before.get(field, 0) + sum(c.get(field, 0) for d, c in days.items() if d <= day)


def _rounded(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def daily_row(
    days: Days, day: int, before: Mapping[str, float], nps_30d: float | None, csat_30d: float | None
) -> dict[str, Any]:
    c = days.get(day, {})
    f = window_figures(c)
    return {
        "date": date.fromordinal(day).isoformat(),
        "tickets_opened": int(c.get("opened", 0)),
        "tickets_resolved": int(c.get("resolved", 0)),
        "frt_avg_seconds": _rounded(f["frt_avg"], 1),
        "frt_p50_seconds": _rounded(f["frt_quantiles"][0.5], 1),
        "frt_p90_seconds": _rounded(f["frt_quantiles"][0.9], 1),
        "resolution_avg_seconds": _rounded(f["resolution_avg"], 1),
        "fcr_rate": _rounded(f["fcr"]),
        "backlog_end_of_day": int(backlog_at(days, day, before)),
        "nps_30d": nps_30d,
        "csat_30d": csat_30d,
    }
