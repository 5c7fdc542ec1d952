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

from consumers.revenue.model import (
    Folded,
    MonthCarry,
    MovementKind,
    SubscriptionEventType,
    SubscriptionFact,
    TermOutcome,
    TrialOutcome,
)

__all__ = [
    "Movement",
    "Timeline",
    "build_timeline",
    "changes_mrr",
    "classify",
    "extend_timeline",
    "group_end",
    "parse_at",
    "track_subscriptions",
]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Movement:
    at: datetime
    kind: MovementKind
    before: Decimal
    after: Decimal
    #: made by a change announced before it took effect (the views tell pending ones apart)
    scheduled: bool = False
    #: of a ``new`` movement: the customer's acquisition_channel then (None: not given)
    channel: str | None = None

    @property
    def amount(self) -> Decimal:
        """Positive size of the movement."""
        return abs(self.after - self.before)

    @property
    def at_iso(self) -> str:
        return self.at.isoformat(timespec="microseconds")


@dataclass
class Timeline:
    movements: list[Movement] = field(default_factory=list)
    trials: list[tuple[datetime, TrialOutcome]] = field(default_factory=list)
    terms: list[tuple[datetime, TermOutcome, Decimal]] = field(default_factory=list)
    mrr: Decimal = ZERO
    plans: dict[str, Decimal] = field(default_factory=dict)  # current MRR by plan
    ever_paid: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    last_at: datetime | None = None
    subs: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # subscription -> (plan, MRR) now
    open_trials: set[str] = field(default_factory=set)
    #: trials opened and closed (converted or expired) before this timeline's first event
    prior_opened: int = 0
    prior_closed: int = 0
    #: when the last movement group began (an event later than it + grouping starts a new one)
    last_group_start: datetime | None = None
    #: the state of the month of the last movement, folded part included (see the ledger), and
    #: the movement kinds counted in the day bucket of the last movement: what an appended
    #: movement needs, kept so appending costs the same however long the tail is
    month_state: MonthCarry | None = None
    day_state: tuple[str, set[str]] | None = None

    @property
    def trials_opened(self) -> int:
        return self.prior_opened + sum(1 for _, k in self.trials if k is TrialOutcome.STARTED)

    @property
    def trials_closed(self) -> int:
        return self.prior_closed + sum(1 for _, k in self.trials if k is not TrialOutcome.STARTED)

    @property
    def status(self) -> str:
        if self.mrr > 0:
            return "active"
        if self.ever_paid:
            return "churned"
        return "trial" if self.trials_opened > self.trials_closed else "prospect"


def classify(before: Decimal, after: Decimal, ever_paid: bool) -> MovementKind | None:
    """The movement kind of one netted change of a customer's MRR, or None if unchanged."""
    if before == after:
        return None
    if before == 0:
        return MovementKind.REACTIVATION if ever_paid else MovementKind.NEW
    if after == 0:
        return MovementKind.CHURN
    return MovementKind.EXPANSION if after > before else MovementKind.CONTRACTION


def build_timeline(
    events: list[SubscriptionFact], grouping_seconds: int = 0, initial: Folded | None = None
) -> Timeline:
    """Replay a customer's applied events into a timeline, from the state ``initial`` left.

    ``events`` must already be sorted by :func:`consumers.revenue.model.sort_key`.
    """
    tl = Timeline()
    subs: dict[str, tuple[str, Decimal]] = {}  # subscription_id -> (plan, mrr)
    trials: set[str] = set()
    if initial is not None:
        subs.update(initial.subs)
        trials.update(initial.open_trials)
        tl.mrr, tl.ever_paid = initial.mrr, initial.ever_paid
        tl.attributes.update(initial.attributes)
        tl.prior_opened, tl.prior_closed = initial.trials_opened, initial.trials_closed
        tl.last_at = parse_at(initial.last_at)
    i = 0
    while i < len(events):
        start = parse_at(events[i].at)
        j = group_end(events, i, grouping_seconds, subs)
        if j > i + 1 or changes_mrr(subs, events[i]):
            tl.last_group_start = start
        before = tl.mrr
        for event in events[i:j]:
            _apply(tl, subs, trials, event)
        after = sum((m for _, m in subs.values()), ZERO)
        tl.mrr = after
        kind = classify(before, after, tl.ever_paid)
        if kind is not None:
            scheduled = any(event.announced is not None for event in events[i:j])
            channel = tl.attributes.get("acquisition_channel") if kind is MovementKind.NEW else None
            tl.movements.append(Movement(start, kind, before, after, scheduled, channel))
        if after > 0:
            tl.ever_paid = True
        tl.last_at = parse_at(events[j - 1].at)
        i = j
    tl.plans = _plans(subs)
    tl.subs, tl.open_trials = subs, trials
    return tl


def changes_mrr(subs: dict[str, tuple[str, Decimal]], e: SubscriptionFact) -> bool:
    """Whether the event changes a subscription's MRR (renewals, trials and no-op changes do not)."""
    if e.type in (SubscriptionEventType.SUBSCRIPTION_STARTED, SubscriptionEventType.SUBSCRIPTION_CHANGED):
        return (e.mrr if e.mrr is not None else ZERO) != subs.get(e.subscription_id, ("", ZERO))[1]
    if e.type is SubscriptionEventType.SUBSCRIPTION_CANCELLED:
        return subs.get(e.subscription_id, ("", ZERO))[1] != 0
    return False


def group_end(
    events: list[SubscriptionFact], i: int, grouping_seconds: int, subs: dict[str, tuple[str, Decimal]]
) -> int:
    """The end of the movement group that begins at ``events[i]`` (``subs``: the subscriptions
    before it). Only a change of MRR opens a group, which then takes every event within
    ``grouping_seconds`` of it; any other event (a renewal) is a group of its own, so it
    neither opens nor extends a window."""
    if not changes_mrr(subs, events[i]):
        return i + 1
    start = parse_at(events[i].at)
    j = i + 1
    while j < len(events) and (parse_at(events[j].at) - start).total_seconds() <= grouping_seconds:
        j += 1
    return j


def track_subscriptions(subs: dict[str, tuple[str, Decimal]], e: SubscriptionFact) -> None:
    """What an event does to the subscriptions' MRR (as _apply does), for group boundaries."""
    if e.type in (SubscriptionEventType.SUBSCRIPTION_STARTED, SubscriptionEventType.SUBSCRIPTION_CHANGED):
        subs[e.subscription_id] = (e.plan, e.mrr if e.mrr is not None else ZERO)
    elif e.type is SubscriptionEventType.SUBSCRIPTION_CANCELLED:
        subs.pop(e.subscription_id, None)


def extend_timeline(tl: Timeline, event: SubscriptionFact) -> Timeline:
    """What one event that starts a new movement group after ``tl`` adds to it, as a timeline
    of its own (its movement, trials and terms) that ends in the extended state; ``tl`` is
    left unchanged."""
    scratch = Timeline(
        mrr=tl.mrr, ever_paid=tl.ever_paid, attributes=dict(tl.attributes), subs=dict(tl.subs),
        open_trials=set(tl.open_trials),
    )  # fmt: skip
    _apply(scratch, scratch.subs, scratch.open_trials, event)
    at = parse_at(event.at)
    after = sum((m for _, m in scratch.subs.values()), ZERO)
    kind = classify(tl.mrr, after, tl.ever_paid)
    if kind is not None:
        channel = scratch.attributes.get("acquisition_channel") if kind is MovementKind.NEW else None
        scratch.movements.append(Movement(at, kind, tl.mrr, after, event.announced is not None, channel))
    scratch.mrr = after
    scratch.ever_paid = tl.ever_paid or after > 0
    scratch.plans = _plans(scratch.subs)
    scratch.last_at = at
    scratch.last_group_start = at if changes_mrr(tl.subs, event) else tl.last_group_start
    return scratch


def _plans(subs: dict[str, tuple[str, Decimal]]) -> dict[str, Decimal]:
    plans: dict[str, Decimal] = {}
    for plan, mrr in subs.values():
        if mrr > 0:
            plans[plan] = plans.get(plan, ZERO) + mrr
    return plans


def _apply(tl: Timeline, subs: dict[str, tuple[str, Decimal]], trials: set[str], e: SubscriptionFact) -> None:
    kind, sub, at = e.type, e.subscription_id, parse_at(e.at)
    if e.attributes:
        tl.attributes.update(e.attributes)
    if kind is SubscriptionEventType.TRIAL_STARTED:
        if sub not in trials:
            trials.add(sub)
            tl.trials.append((at, TrialOutcome.STARTED))
    elif kind is SubscriptionEventType.TRIAL_EXPIRED:
        if sub in trials:
            trials.discard(sub)
            tl.trials.append((at, TrialOutcome.EXPIRED))
    elif kind in (SubscriptionEventType.SUBSCRIPTION_STARTED, SubscriptionEventType.SUBSCRIPTION_CHANGED):
        mrr = e.mrr if e.mrr is not None else ZERO
        if mrr > 0:  # paying now: every open trial of the customer converted
            for _ in sorted(trials):
                tl.trials.append((at, TrialOutcome.CONVERTED))
            trials.clear()
        elif sub in trials:  # the trial's own subscription goes on free: that trial ends
            trials.discard(sub)
            tl.trials.append((at, TrialOutcome.FREE))
        subs[sub] = (e.plan, mrr)
    elif kind is SubscriptionEventType.SUBSCRIPTION_RENEWED:
        if sub in subs:
            tl.terms.append((at, TermOutcome.RENEWED, subs[sub][1]))
    elif kind is SubscriptionEventType.SUBSCRIPTION_CANCELLED:
        if sub in subs:
            tl.terms.append((at, TermOutcome.CANCELLED, subs[sub][1]))
            del subs[sub]
        elif sub in trials:
            trials.discard(sub)
            tl.trials.append((at, TrialOutcome.EXPIRED))


_TS_CACHE: dict[str, datetime] = {}


def parse_at(value: str) -> datetime:
    """Parse a fact's UTC timestamp (cached: the same strings recur on every rebuild)."""
    ts = _TS_CACHE.get(value)
    if ts is None:
        if len(_TS_CACHE) > 500_000:
            _TS_CACHE.clear()
        ts = _TS_CACHE[value] = datetime.fromisoformat(value)
    return ts
