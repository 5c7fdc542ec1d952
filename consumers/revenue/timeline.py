"""A customer's revenue history, rebuilt from their subscription events in event-time order.

Pure and deterministic: the events are sorted by (occurred_at, type order, event_id), so any
arrival order within the grace period gives the same timeline. Changes that share an instant
(or fall within ``grouping_seconds`` of the first change of a group) are netted into one
movement: cancelling one plan and starting another at the same moment is an expansion or a
contraction, never a churn plus a reactivation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["Movement", "Timeline", "build_timeline", "classify", "TYPE_ORDER", "sort_key"]

ZERO = Decimal(0)

#: Tie-break for events at the same instant, so the result never depends on arrival order.
TYPE_ORDER = {
    "trial_started": 0,
    "subscription_started": 1,
    "subscription_changed": 2,
    "subscription_renewed": 3,
    "subscription_cancelled": 4,
    "trial_expired": 5,
}


@dataclass(frozen=True, slots=True)
class Movement:
    at: datetime
    kind: str  # new | expansion | contraction | churn | reactivation
    before: Decimal
    after: Decimal

    @property
    def amount(self) -> Decimal:
        """Positive size of the movement."""
        return abs(self.after - self.before)


@dataclass
class Timeline:
    movements: list[Movement] = field(default_factory=list)
    trials: list[tuple[datetime, str]] = field(default_factory=list)  # started|converted|expired
    terms: list[tuple[datetime, str, Decimal]] = field(default_factory=list)  # renewed|cancelled
    mrr: Decimal = ZERO
    plans: dict[str, Decimal] = field(default_factory=dict)  # current MRR by plan
    ever_paid: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    last_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.mrr > 0:
            return "active"
        if self.ever_paid:
            return "churned"
        opened = sum(1 for _, k in self.trials if k == "started")
        return "trial" if opened > len(self.trials) - opened else "prospect"


def classify(before: Decimal, after: Decimal, ever_paid: bool) -> str | None:
    """The movement kind of one netted change of a customer's MRR, or None if unchanged."""
    if before == after:
        return None
    if before == 0:
        return "reactivation" if ever_paid else "new"
    if after == 0:
        return "churn"
    return "expansion" if after > before else "contraction"


def sort_key(event: dict[str, Any]) -> tuple[str, int, str]:
    return (event["t"], TYPE_ORDER[event["ty"]], event["id"])


def build_timeline(events: list[dict[str, Any]], grouping_seconds: int = 0) -> Timeline:
    """Replay a customer's compact events (see consumers.revenue.customer) into a timeline.

    ``events`` must already be sorted by :func:`sort_key`.
    """
    tl = Timeline()
    subs: dict[str, tuple[str, Decimal]] = {}  # subscription_id -> (plan, mrr)
    trials: set[str] = set()
    i = 0
    while i < len(events):
        start = _ts(events[i]["t"])
        j = i
        while j < len(events) and (_ts(events[j]["t"]) - start).total_seconds() <= grouping_seconds:
            j += 1
        before = tl.mrr
        for event in events[i:j]:
            _apply(tl, subs, trials, event)
        after = sum((m for _, m in subs.values()), ZERO)
        tl.mrr = after
        kind = classify(before, after, tl.ever_paid)
        if kind is not None:
            tl.movements.append(Movement(start, kind, before, after))
        if after > 0:
            tl.ever_paid = True
        tl.last_at = _ts(events[j - 1]["t"])
        i = j
    plans: dict[str, Decimal] = {}
    for plan, mrr in subs.values():
        if mrr > 0:
            plans[plan] = plans.get(plan, ZERO) + mrr
    tl.plans = plans
    return tl


def _apply(tl: Timeline, subs: dict[str, tuple[str, Decimal]], trials: set[str], e: dict[str, Any]) -> None:
    kind, sub, at = e["ty"], e["s"], _ts(e["t"])
    if e.get("a"):
        tl.attributes.update(e["a"])
    if kind == "trial_started":
        if sub not in trials:
            trials.add(sub)
            tl.trials.append((at, "started"))
    elif kind == "trial_expired":
        if sub in trials:
            trials.discard(sub)
            tl.trials.append((at, "expired"))
    elif kind in ("subscription_started", "subscription_changed"):
        mrr = Decimal(e["m"])
        if kind == "subscription_started" and mrr > 0:
            for _ in sorted(trials):
                tl.trials.append((at, "converted"))
            trials.clear()
        trials.discard(sub)
        subs[sub] = (e["p"], mrr)
    elif kind == "subscription_renewed":
        if sub in subs:
            tl.terms.append((at, "renewed", subs[sub][1]))
    elif kind == "subscription_cancelled":
        if sub in subs:
            tl.terms.append((at, "cancelled", subs[sub][1]))
            del subs[sub]
        elif sub in trials:
            trials.discard(sub)
            tl.trials.append((at, "expired"))


_TS_CACHE: dict[str, datetime] = {}


def _ts(value: str) -> datetime:
    """Parse the compact UTC timestamp (cached: the same strings recur on every rebuild)."""
    ts = _TS_CACHE.get(value)
    if ts is None:
        if len(_TS_CACHE) > 500_000:
            _TS_CACHE.clear()
        ts = _TS_CACHE[value] = datetime.fromisoformat(value)
    return ts
