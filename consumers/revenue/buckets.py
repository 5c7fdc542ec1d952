"""Additive revenue figures per UTC day and calendar month.

A customer's timeline becomes *contributions*: for each bucket (``m:YYYY-MM``, ``d:YYYY-MM-DD``)
a map of field -> number. A partition's aggregate is the sum of its customers' contributions,
and the deployment's is the sum over partitions, so figures are exact however partitions are
spread over workers. Ratios are computed only after summing (consumers.revenue.definitions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from consumers.revenue.model import MonthCarry, MovementKind
from consumers.revenue.timeline import Movement, Timeline
from stream.snapshots import changed_keys

__all__ = [
    "MergedBuckets",
    "KINDS",
    "Buckets",
    "BucketKind",
    "contributions",
    "add_into",
    "merge",
    "carry_of",
    "appended",
    "month_key",
    "month_of",
    "day_key",
    "plan_key",
    "scheduled_key",
    "segment_key",
    "NOW",
    "kind_of",
    "period_of",
    "plan_of",
    "segment_of",
    "upgrade_cohort_fields",
]

ZERO = Decimal(0)
KINDS = tuple(MovementKind)
#: movement kind -> change of the active-customer count
ACTIVE_DELTA = {
    MovementKind.NEW: 1,
    MovementKind.REACTIVATION: 1,
    MovementKind.CHURN: -1,
    MovementKind.EXPANSION: 0,
    MovementKind.CONTRACTION: 0,
}

Buckets = dict[str, dict[str, Decimal]]


class BucketKind(StrEnum):
    """What a bucket sums: its key is ``<kind>:<what>`` (``now`` alone), built and read only
    by the functions below; the snapshot in Redis carries the same keys."""

    MONTH = "m"  # m:YYYY-MM: movements, cohort figures, trials, terms of a UTC calendar month
    DAY = "d"  # d:YYYY-MM-DD: the same per UTC day
    NOW = "now"  # MRR and active customers now
    PLAN = "plan"  # plan:<plan>: MRR and customers now, by plan
    SEGMENT = "attr"  # attr:<attribute>:<value>: MRR and customers now, by customer attribute
    #: sched:YYYY-MM-DD: the movements of changes announced before they took effect, by their
    #: effective UTC day; those after the watermark's day are pending (the "now" figures
    #: exclude them, committed MRR includes them)
    SCHEDULED = "sched"


NOW = BucketKind.NOW.value


def month_of(at: datetime | date) -> str:
    """The UTC calendar month (YYYY-MM) of a time or a day."""
    return f"{at.year:04d}-{at.month:02d}"


def month_key(at: datetime | str) -> str:
    """``m:YYYY-MM`` of a time, or of a month given as YYYY-MM."""
    return f"{BucketKind.MONTH}:{at if isinstance(at, str) else month_of(at)}"


def day_key(at: datetime | date) -> str:
    return f"{BucketKind.DAY}:{at.year:04d}-{at.month:02d}-{at.day:02d}"


def scheduled_key(at: datetime | date) -> str:
    return f"{BucketKind.SCHEDULED}:{at.year:04d}-{at.month:02d}-{at.day:02d}"


def plan_key(plan: str) -> str:
    return f"{BucketKind.PLAN}:{plan}"


def segment_key(attribute: str, value: str) -> str:
    return f"{BucketKind.SEGMENT}:{attribute}:{value}"


def kind_of(key: str) -> BucketKind:
    return BucketKind(key.partition(":")[0])


def period_of(key: str) -> str:
    """YYYY-MM of a month bucket, YYYY-MM-DD of a day bucket."""
    return key.partition(":")[2]


def plan_of(key: str) -> str:
    return key.partition(":")[2]


def segment_of(key: str) -> tuple[str, str]:
    """(attribute, value) of a segment bucket; the value may itself hold ':'."""
    _, attribute, value = key.split(":", 2)
    return attribute, value


def contributions(tl: Timeline, carry: MonthCarry | None = None, open_month: str | None = None) -> Buckets:
    """The customer's additive figures per bucket from a timeline's movements, trials and terms.

    ``carry``: the month a previous fold left open (its cohort figures continue here).
    ``open_month``: a month the timeline does not finish (it is being folded): its cohort
    figures are not emitted; :func:`carry_of` takes them along instead.
    """
    out, _ = _contributions(tl, carry, open_month)
    return out


def carry_of(tl: Timeline, carry: MonthCarry | None, open_month: str) -> tuple[Buckets, MonthCarry | None]:
    """The contributions of a folded timeline, and what its open month carries on."""
    return _contributions(tl, carry, open_month)


def appended(delta: Timeline, month: MonthCarry | None, day: str, day_kinds: set[str]) -> Buckets:
    """The change of a customer's contributions when ``delta`` (one new movement group, see
    timeline.extend_timeline) follows: ``month``, the state of its month so far, ``day_kinds``
    the movement kinds already counted in its day bucket ``day``."""
    added, _ = _contributions(delta, month, None, {day: set(day_kinds)})
    if month is not None:
        before, _ = _contributions(Timeline(), month, None)  # the month's cohort figures so far
        add_into(added, before, -1)
    return added


def _contributions(
    tl: Timeline, carry: MonthCarry | None, open_month: str | None, seen: dict[str, set[str]] | None = None
) -> tuple[Buckets, MonthCarry | None]:
    out: Buckets = defaultdict(lambda: defaultdict(Decimal))
    kinds_seen: dict[str, set[str]] = defaultdict(set, seen or {})
    if carry is not None:
        kinds_seen[month_key(carry.month)] = set(carry.kinds)
    by_month: dict[str, list[Movement]] = defaultdict(list)
    for mv in tl.movements:
        for bucket in (month_key(mv.at), day_key(mv.at)):
            c = out[bucket]
            c[f"{mv.kind}_mrr"] += mv.amount
            c["net_mrr"] += mv.after - mv.before
            c["active_delta"] += ACTIVE_DELTA[mv.kind]
            if mv.kind not in kinds_seen[bucket]:
                kinds_seen[bucket].add(mv.kind)
                c[f"{mv.kind}_customers"] += 1
            if mv.kind is MovementKind.NEW:
                # new customers by acquisition channel, for the acquisition family's CAC
                channel = mv.channel or "unknown"
                c[f"acq_customers:{channel}"] += 1
                c[f"acq_mrr:{channel}"] += mv.amount
        if mv.scheduled:
            c = out[scheduled_key(mv.at)]
            c[f"{mv.kind}_mrr"] += mv.amount
            c[f"{mv.kind}_customers"] += 1
            c["net_mrr"] += mv.after - mv.before
            c["active_delta"] += ACTIVE_DELTA[mv.kind]
        by_month[month_of(mv.at)].append(mv)
    if carry is not None:
        by_month.setdefault(carry.month, [])

    # Figures of the customers who were paying when the month began (churn rate, NRR, GRR).
    left_open: MonthCarry | None = None
    for month, moves in by_month.items():
        carried = carry if carry is not None and carry.month == month else None
        start = carried.start if carried is not None else moves[0].before  # movements are in time order
        cohort: dict[str, Decimal] = {}  # (kept in the carry's format; the figures need start and end only)
        churned = (carried is not None and carried.churned) or any(mv.kind is MovementKind.CHURN for mv in moves)
        if moves:
            last_after = moves[-1].after
        else:
            assert carried is not None  # a month without movements here is the carried one
            last_after = carried.last_after
        if month == open_month:
            left_open = MonthCarry(month, set(kinds_seen[month_key(month)]), start, cohort, churned, last_after)
            continue
        if start <= 0:
            continue
        # A customer of the month's start cohort: how its MRR ended the month, whatever the
        # path (churned and back within the month counts as retained at the MRR it came back).
        c = out[month_key(month)]
        c["cohort_net_mrr"] += last_after - start
        c["cohort_decline_mrr"] += max(ZERO, start - last_after)
        if last_after == 0:
            c["cohort_lost_customers"] += 1

    for at, what in tl.trials:
        for bucket in (month_key(at), day_key(at)):
            out[bucket][f"trials_{what}"] += 1
    for at, outcome, amount in tl.terms:
        for bucket in (month_key(at), day_key(at)):
            out[bucket][f"terms_{outcome}"] += 1
            out[bucket][f"terms_{outcome}_mrr"] += amount
    return {
        b: {k: v for k, v in fields.items() if v != 0} for b, fields in out.items() if any(fields.values())
    }, left_open


#: cohort fields of folded months written before the cohort figures came from each
#: customer's MRR at the month's start and end (read, converted, never written again)
_OLD_COHORT = ("cohort_expansion_mrr", "cohort_contraction_mrr", "cohort_churn_mrr", "cohort_churned_customers")


def upgrade_cohort_fields(fields: dict[str, Decimal]) -> dict[str, Decimal]:
    """A bucket folded by an earlier version, in today's cohort fields: its net change was
    expansion − contraction − churn and its decline contraction + churn (which misses only a
    customer who churned and came back within that month, as that version did)."""
    if not any(name in fields for name in _OLD_COHORT):
        return fields
    out = {k: v for k, v in fields.items() if k not in _OLD_COHORT}
    expansion, contraction, churn = (fields.get(n, ZERO) for n in _OLD_COHORT[:3])
    for name, value in (
        ("cohort_net_mrr", expansion - contraction - churn),
        ("cohort_decline_mrr", contraction + churn),
    ):
        if out.get(name, ZERO) + value != 0:
            out[name] = out.get(name, ZERO) + value
        else:
            out.pop(name, None)
    return out


def add_into(total: Buckets, part: Mapping[str, Mapping[str, Decimal]], sign: int = 1) -> None:
    """total += sign × part, dropping fields that return to zero."""
    for bucket, fields in part.items():
        target = total.setdefault(bucket, {})
        for name, value in fields.items():
            new = target.get(name, Decimal(0)) + sign * value
            if new == 0:
                target.pop(name, None)
            else:
                target[name] = new
        if not target:
            del total[bucket]


def merge(parts: Iterable[Mapping[str, Mapping[str, Decimal]]]) -> Buckets:
    total: Buckets = {}
    for part in parts:
        add_into(total, part)
    return total


class MergedBuckets:
    """:func:`merge` of every partition's published buckets, kept across refreshes: a batch
    changes a few of a partition's buckets (today's, this month's), so only the buckets whose
    raw fields some partition changed since the last call are converted and added again, in
    partition order as a fresh merge adds them. The result is shared: read it, never change it."""

    def __init__(self) -> None:
        self._raw: list[Mapping[str, Mapping[str, Any]]] = []
        self.buckets: Buckets = {}

    def update(self, raws: list[Mapping[str, Mapping[str, Any]]]) -> Buckets:
        """``raws``: each partition's payload ``buckets`` (field values as published), always
        in the same partition order."""
        if len(raws) != len(self._raw):
            self.buckets = merge({b: {k: Decimal(v) for k, v in f.items()} for b, f in raw.items()} for raw in raws)
        else:
            for b in changed_keys(self._raw, raws):
                merged = merge({b: {k: Decimal(v) for k, v in raw[b].items()}} for raw in raws if b in raw).get(b)
                if merged is None:
                    self.buckets.pop(b, None)
                else:
                    self.buckets[b] = merged
        self._raw = raws
        return self.buckets
