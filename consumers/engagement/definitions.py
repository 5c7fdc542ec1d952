"""Every engagement formula of docs/metrics.md ("Engagement"), once: the collector, the HTTP
API and ``pulse report daily-engagement`` call these and nothing else.

Distinct counts merge partition sketches (partition order, then day order) for a day or a
rolling window; replay partitions its events exactly as Kafka does, so both sides merge the
same sketches in the same order and report the same estimates.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from datasketches import hll_sketch, hll_union, tgt_hll_type

from consumers.account_signals import AccountSignals

__all__ = [
    "UnionCache",
    "deployment_watermark_day",
    "Partition",
    "EngagementFigures",
    "DAILY_COLUMNS",
    "SKETCH_TYPE",
    "LG_K",
    "FEATURE_LG_K",
    "DEFAULT_WEIGHTS",
    "stickiness",
    "average_session_seconds",
    "sketch_key",
    "split_account_day",
    "day_of_sketch",
    "account_scores",
    "viral_coefficient",
    "HEALTH_WEIGHTS",
    "OPEN_TICKETS_CAP",
    "response_part",
]

SKETCH_TYPE = tgt_hll_type.HLL_4
#: HLL precision of user counts: relative standard error 1.04/sqrt(2^16) = 0.41%
LG_K = 16
#: feature-user counts: 1.6%, adoption ratios need less
FEATURE_LG_K = 12
#: event name -> weight of the engagement score
DEFAULT_WEIGHTS = {"login": 1, "feature_used": 2, "report_exported": 3, "invite_sent": 5, "invite_accepted": 5}

_EPOCH = date(1970, 1, 1).toordinal()
DAILY_COLUMNS = (
    "date",
    "dau",
    "wau",
    "mau",
    "stickiness",
    "unique_visitors",
    "signups",
    "sessions",
    "avg_session_seconds",
)


def sketch_key(metric: str, day: int) -> str:
    """Key of a partition's sketch: ``<metric>:<UTC day ordinal>`` (``dau``, ``vis``, ``sig``,
    ``feat:<feature>``); the kernel builds the same keys (native/src/ledger.rs)."""
    return f"{metric}:{day}"


def day_of_sketch(key: str) -> int:
    """The UTC day ordinal of a sketch key (see :func:`sketch_key`)."""
    return int(key.rsplit(":", 1)[1])


def average_session_seconds(seconds: float, sessions: int) -> float:
    """Total session seconds / sessions; 0 without sessions (rounded to 0.1 s in reports only)."""
    return seconds / sessions if sessions else 0.0


def split_account_day(key: str) -> tuple[str, int]:
    """(account id, UTC day ordinal) of an account-day key ``<account>|<day ordinal>``, as the
    kernel builds them (an account id may itself hold ``|``)."""
    account, _, day = key.rpartition("|")
    return account, int(day)


def deployment_watermark_day(watermarks: Iterable[int | None]) -> int | None:
    """The deployment's watermark day: the UTC day ordinal of the furthest partition watermark."""
    marks = [w for w in watermarks if w is not None]
    return None if not marks else max(marks) // 86400 + _EPOCH


def stickiness(dau: float, mau: float) -> float:
    """DAU / MAU; 0 when nobody was active in the 30 days."""
    return dau / mau if mau else 0.0


class Partition:
    """One partition's sketches (objects or serialized bytes) and per-day counters."""

    def __init__(
        self, sketches: Mapping[str, Any], days: Mapping[str, Mapping[str, Any]], watermark: int | None
    ) -> None:
        self.sketches = {
            k: (v if isinstance(v, hll_sketch) else hll_sketch.deserialize(v)) for k, v in sketches.items()
        }
        self.days = days
        self.watermark = watermark


#: the newest days of a window, cached apart from its older days: nearly every batch rewrites
#: the watermark day's sketches; earlier days change only with late events, which the identity
#: check of the cached union catches
RECENT_DAYS = 1


class UnionCache:
    """Unions of a window's older days, kept across refreshes: a window of 30 days over six
    partitions merges 180 sketches, of which a batch changes the last few days' only. An
    entry is reused only while every sketch it merged is the very object it merged (a view
    replaces a sketch object when its owner publishes a new version), so it is never stale;
    it holds those objects, so no id is reused meanwhile. Entries unused for ``idle_seconds``
    (windows that moved on) are dropped."""

    def __init__(self, idle_seconds: float = 600.0) -> None:
        self.idle_seconds = idle_seconds
        #: (prefix, first day, last day, lg_k) -> (the sketches merged, their union, last used)
        self.entries: dict[tuple[str, int, int, int], tuple[tuple[hll_sketch, ...], hll_sketch, float]] = {}

    def union(self, key: tuple[str, int, int, int], sketches: tuple[hll_sketch, ...], lg_k: int) -> hll_sketch:
        now = time.monotonic()
        cached = self.entries.get(key)
        if cached is not None and len(cached[0]) == len(sketches) and all(map(operator.is_, cached[0], sketches)):
            self.entries[key] = (cached[0], cached[1], now)
            return cached[1]
        union = hll_union(lg_k)
        for sketch in sketches:
            union.update(sketch)
        # HLL_8, the union's own layout: kept in memory only, and merged again at a fraction of
        # the cost of HLL_4 (same registers, same estimates)
        result = union.get_result(tgt_hll_type.HLL_8)
        self.entries[key] = (sketches, result, now)
        return result

    def evict(self) -> None:
        horizon = time.monotonic() - self.idle_seconds
        for key in [k for k, (_, _, used) in self.entries.items() if used < horizon]:
            del self.entries[key]


class EngagementFigures:
    def __init__(
        self,
        partitions: Sequence[Partition],
        lg_k: int = LG_K,
        feature_lg_k: int = FEATURE_LG_K,
        activation_days: int = 7,
        unions: UnionCache | None = None,
    ) -> None:
        self.partitions = list(partitions)
        self.lg_k = lg_k
        self.feature_lg_k = feature_lg_k
        self.activation_days = activation_days
        self.unions = unions
        #: distinct counts already answered: the figures never change (a refresh makes new ones)
        self._distinct: dict[tuple[str, tuple[int, ...], int], float] = {}

    # --- primitives ---------------------------------------------------------------------------

    def distinct(self, prefix: str, days: Sequence[int], lg_k: int | None = None) -> float:
        """Distinct ids over the days and every partition. With a union cache, a window of
        consecutive days merges two cached unions: its older days' and its newest day's (the
        same for every window ending that day, so a refresh merges a busy day's sketches once)."""
        lg_k = lg_k or self.lg_k
        days = tuple(days)
        asked = (prefix, days, lg_k)
        known = self._distinct.get(asked)
        if known is not None:
            return known
        union = hll_union(lg_k)
        found = False
        if self.unions is not None and days and days == tuple(range(days[0], days[-1] + 1)):
            for span in (days[:-RECENT_DAYS], days[-RECENT_DAYS:]):
                sketches = tuple(
                    s for p in self.partitions for d in span if (s := p.sketches.get(sketch_key(prefix, d))) is not None
                )
                if sketches:
                    union.update(self.unions.union((prefix, span[0], span[-1], lg_k), sketches, lg_k))
                    found = True
        else:
            for p in self.partitions:
                for day in days:
                    sketch = p.sketches.get(sketch_key(prefix, day))
                    if sketch is not None:
                        union.update(sketch)
                        found = True
        value = self._distinct[asked] = union.get_estimate() if found else 0.0
        return value

    def counter(self, day: int, name: str) -> int:
        return sum(int(p.days.get(str(day), {}).get(name, 0)) for p in self.partitions)

    def feature_events(self, days: Sequence[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.partitions:
            for day in days:
                for feature, n in p.days.get(str(day), {}).get("feature_events", {}).items():
                    out[feature] = out.get(feature, 0) + int(n)
        return out

    @property
    def watermark_day(self) -> int | None:
        return deployment_watermark_day(p.watermark for p in self.partitions)

    def oldest_kept_day(self, keep_days: int) -> int | None:
        """The oldest day every partition still holds: a partition forgets the days more than
        ``keep_days`` behind its watermark's, and the furthest watermark forgot the most."""
        mark = self.watermark_day
        return None if mark is None else mark - keep_days

    def days_with_data(self) -> list[int]:
        days = {int(k) for p in self.partitions for k in p.days}
        days |= {day_of_sketch(k) for p in self.partitions for k in p.sketches}
        return sorted(days)

    # --- figures --------------------------------------------------------------------------------

    def daily_row(self, day: int) -> dict[str, Any]:
        dau = self.distinct("dau", [day])
        wau = self.distinct("dau", range(day - 6, day + 1))
        mau = self.distinct("dau", range(day - 29, day + 1))
        sessions = self.counter(day, "sessions")
        seconds = self.counter(day, "session_seconds")
        return {
            "date": date.fromordinal(day).isoformat(),
            "dau": round(dau),
            "wau": round(wau),
            "mau": round(mau),
            "stickiness": round(stickiness(dau, mau), 4),
            "unique_visitors": round(self.distinct("vis", [day])),
            "signups": round(self.distinct("sig", [day])),
            "sessions": sessions,
            "avg_session_seconds": round(average_session_seconds(seconds, sessions), 1),
        }

    def activation(self, cohort_day: int) -> dict[str, Any]:
        signups = self.counter(cohort_day, "cohort_signups")
        activated = self.counter(cohort_day, "cohort_activated")
        mark = self.watermark_day
        final = mark is not None and mark > cohort_day + self.activation_days
        return {
            "cohort": date.fromordinal(cohort_day).isoformat(),
            "signups": signups,
            "activated": activated,
            "ratio": activated / signups if signups else None,
            "status": "final" if final else "provisional",
        }


# --- account health ----------------------------------------------------------------------
# Engagement and health scores of an account, as of a UTC day (docs/metrics.md).
#
# engagement = sum of the weights of the account's actions over the 30 days ending that day;
# health = 100 × Σ weight × part / Σ weight over the parts with data, of
#   frequency    (0.3) = days with at least one active user among those 30 / 30,
#   breadth      (0.2) = users active in those 30 days / users seen in them,
#   depth        (0.2) = key features used in them / number of key features,
#   tickets      (0.1) = 1 - min(open tickets now, 5) / 5             (support),
#   response     (0.1) = 1 at a 30-day mean FRT up to the target, falling linearly to 0 at
#                        four times the target                          (support),
#   satisfaction (0.1) = CSAT answers 4-5 / CSAT answers of the 30 days (surveys).
# A part without data (no support record, no answered ticket, no CSAT answer) is left out and
# the others' weights scale up: missing data neither lowers nor raises the score.

HEALTH_WEIGHTS = {
    "frequency": 0.3,
    "breadth": 0.2,
    "depth": 0.2,
    "tickets": 0.1,
    "response": 0.1,
    "satisfaction": 0.1,
}
#: open tickets at which the tickets part reaches 0
OPEN_TICKETS_CAP = 5


def response_part(frt_mean: float, target: float) -> float:
    """1 up to the target, 0 from four times it, linear between."""
    return min(1.0, max(0.0, 1 - (frt_mean - target) / (3 * target)))


def account_scores(
    days: Mapping[int, Mapping[str, Any]],
    today: int,
    key_features: int,
    signals: AccountSignals | None = None,
    frt_target_seconds: float = 14400.0,
) -> dict[str, Any]:
    """``days``: the account's records by UTC day ordinal ({"w", "u", "f"}, see the ledger);
    ``signals``: its support and survey signals over the same 30 days."""
    signals = signals if signals is not None else AccountSignals()
    window = [r for d, r in days.items() if today - 29 <= d <= today]
    active = {u for r in window for u, on in r["u"].items() if on}
    seen = {u for r in window for u in r["u"]}
    parts: dict[str, float] = {
        "frequency": sum(1 for r in window if any(r["u"].values())) / 30,
        "breadth": len(active) / len(seen) if seen else 0.0,
        "depth": len({f for r in window for f in r["f"]}) / key_features if key_features else 0.0,
    }
    if signals.open_tickets is not None:
        parts["tickets"] = 1 - min(signals.open_tickets, OPEN_TICKETS_CAP) / OPEN_TICKETS_CAP
    if signals.frt_mean is not None:
        parts["response"] = response_part(signals.frt_mean, frt_target_seconds)
    if signals.csat_ratio is not None:
        parts["satisfaction"] = signals.csat_ratio
    weight = sum(HEALTH_WEIGHTS[k] for k in parts)
    health = 100 * sum(HEALTH_WEIGHTS[k] * v for k, v in parts.items()) / weight
    return {
        "engagement_score": sum(r["w"] for r in window),
        "health_score": round(health, 1),
        **{k: round(v, 4) for k, v in parts.items()},
        "active_users_30d": len(active),
        "open_tickets": signals.open_tickets,
        "frt_avg_seconds_30d": None if signals.frt_mean is None else round(signals.frt_mean, 1),
        "csat_30d": None if signals.csat_ratio is None else round(100 * signals.csat_ratio, 2),
    }


def viral_coefficient(invites_sent: int, invites_accepted: int, active_users: float) -> float | None:
    """Invites sent per active user × invite acceptance rate (accepted / sent) over the same
    days; None without active users or without invites sent."""
    if not active_users or not invites_sent:
        return None
    return (invites_sent / active_users) * (invites_accepted / invites_sent)
