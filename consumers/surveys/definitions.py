"""Every survey figure of docs/metrics.md ("Surveys"), once, over summed daily tallies.

A *tally* counts the answers of one kind and touchpoint of one UTC day by score
(``tally[score]``); partitions' and days' tallies add up, so every figure is exact across
workers and any window. The collector, the API and ``pulse report daily-surveys`` call these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any

__all__ = [
    "Kind",
    "Tallies",
    "TOUCHPOINTS",
    "ALL",
    "LINKED",
    "WINDOWS",
    "DAILY_COLUMNS",
    "tally_key",
    "add_tallies",
    "window_tallies",
    "nps",
    "nps_counts",
    "satisfied_ratio",
    "mean_score",
    "daily_row",
]


class Kind(StrEnum):
    NPS = "nps"  # 0-10
    CSAT = "csat"  # 1-5
    CES = "ces"  # 1-7


#: touchpoint label values (the contract's, and ``unknown`` when an answer has none)
TOUCHPOINTS = ("onboarding", "support", "feature_launch", "other", "unknown")
#: every touchpoint together
ALL = "all"
#: CSAT answers linked to a ticket (``ticket_id`` given), whatever their touchpoint
LINKED = "ticket"
#: rolling windows in UTC days, ending with the watermark's day
WINDOWS = {"30d": 30, "90d": 90}
#: the scores that count as satisfied (CSAT) or low effort (CES)
SATISFIED = {Kind.CSAT: range(4, 6), Kind.CES: range(5, 8)}

Tallies = Mapping[str, Sequence[int]]

DAILY_COLUMNS = (
    "date",
    "nps_responses",
    "nps",
    "nps_30d",
    "csat_responses",
    "csat",
    "csat_30d",
    "ces_responses",
    "ces",
    "ces_avg",
)


def tally_key(kind: Kind, group: str) -> str:
    """``<kind>:<touchpoint>``, ``<kind>:all``, or ``csat:ticket``."""
    return f"{kind}:{group}"


def add_tallies(total: dict[str, list[int]], part: Tallies) -> None:
    for key, counts in part.items():
        into = total.setdefault(key, [0] * len(counts))
        if len(into) < len(counts):
            into.extend([0] * (len(counts) - len(into)))
        for score, n in enumerate(counts):
            into[score] += n


def window_tallies(days: Mapping[int, Tallies], end: int, length: int) -> dict[str, list[int]]:
    """The tallies of the ``length`` UTC days ending with day ordinal ``end``, summed."""
    total: dict[str, list[int]] = {}
    for day in range(end - length + 1, end + 1):
        if day in days:
            add_tallies(total, days[day])
    return total


def nps_counts(tally: Sequence[int]) -> dict[str, int]:
    """Promoters score 9-10, passives 7-8, detractors 0-6."""
    return {
        "promoters": sum(tally[9:11]),
        "passives": sum(tally[7:9]),
        "detractors": sum(tally[0:7]),
    }


def nps(tally: Sequence[int] | None) -> float | None:
    """% promoters - % detractors, -100..100; None without answers."""
    if not tally or not sum(tally):
        return None
    c = nps_counts(tally)
    return 100 * (c["promoters"] - c["detractors"]) / sum(tally)


def satisfied_ratio(kind: Kind, tally: Sequence[int] | None) -> float | None:
    """CSAT: answers 4-5 / all; CES: answers 5-7 / all (0..1); None without answers."""
    if not tally or not sum(tally):
        return None
    return sum(tally[score] for score in SATISFIED[kind] if score < len(tally)) / sum(tally)


def mean_score(tally: Sequence[int] | None) -> float | None:
    if not tally or not sum(tally):
        return None
    return sum(score * n for score, n in enumerate(tally)) / sum(tally)


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(100 * ratio, 4)


def _rounded(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def daily_row(days: Mapping[int, Tallies], day: int) -> dict[str, Any]:
    """One UTC day: its answers and scores, and the 30 days ending with it (percent)."""
    today = days.get(day, {})
    month = window_tallies(days, day, 30)

    def responses(kind: Kind) -> int:
        return sum(today.get(tally_key(kind, ALL), ()))

    return {
        "date": date.fromordinal(day).isoformat(),
        "nps_responses": responses(Kind.NPS),
        "nps": _rounded(nps(today.get(tally_key(Kind.NPS, ALL)))),
        "nps_30d": _rounded(nps(month.get(tally_key(Kind.NPS, ALL)))),
        "csat_responses": responses(Kind.CSAT),
        "csat": _percent(satisfied_ratio(Kind.CSAT, today.get(tally_key(Kind.CSAT, ALL)))),
        "csat_30d": _percent(satisfied_ratio(Kind.CSAT, month.get(tally_key(Kind.CSAT, ALL)))),
        "ces_responses": responses(Kind.CES),
        "ces": _percent(satisfied_ratio(Kind.CES, today.get(tally_key(Kind.CES, ALL)))),
        "ces_avg": _rounded(mean_score(today.get(tally_key(Kind.CES, ALL)))),
    }
