"""The revenue domain model: what the reducer keeps of each subscription event.

Named records, not dict keys: the changelog's storage format (consumers/revenue/codec.py) is a
separate concern with its own version, so the model can change without breaking recovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "SubscriptionEventType",
    "SubscriptionFact",
    "CustomerHistory",
    "Folded",
    "MonthCarry",
    "RECENT_MOVEMENTS",
    "MovementKind",
    "TrialOutcome",
    "TermOutcome",
    "TYPE_ORDER",
    "sort_key",
]


class SubscriptionEventType(StrEnum):
    """The event types of the `subscriptions` contract (stream/events.py)."""

    TRIAL_STARTED = "trial_started"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    TRIAL_EXPIRED = "trial_expired"


class MovementKind(StrEnum):
    """What one netted change of a customer's MRR is (docs/metrics.md, "MRR movements")."""

    NEW = "new"
    EXPANSION = "expansion"
    CONTRACTION = "contraction"
    CHURN = "churn"
    REACTIVATION = "reactivation"


class TrialOutcome(StrEnum):
    """A trial opens (started) and closes exactly once, with one of the other outcomes."""

    STARTED = "started"
    #: the customer started or changed to a paid subscription
    CONVERTED = "converted"
    #: trial_expired, or the trial's subscription cancelled
    EXPIRED = "expired"
    #: the trial's own subscription went on free (a 0 price, a 100% discount)
    FREE = "free"


class TermOutcome(StrEnum):
    """What happened at the end of a subscription's term."""

    RENEWED = "renewed"
    CANCELLED = "cancelled"


#: Tie-break for events at the same instant, so the result never depends on arrival order.
TYPE_ORDER: Mapping[SubscriptionEventType, int] = {kind: i for i, kind in enumerate(SubscriptionEventType)}


@dataclass(frozen=True, slots=True)
class SubscriptionFact:
    """One applied subscription event, reduced to what revenue needs."""

    #: occurred_at in UTC, ISO 8601 with microseconds: sorts in time order as a string
    at: str
    type: SubscriptionEventType
    subscription_id: str
    plan: str
    event_id: str
    #: normalized MRR in the reporting currency (started and changed events only)
    mrr: Decimal | None = None
    #: customer attributes carried by the event (segment, country, acquisition_channel, ...)
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: a scheduled change (``effective_at`` given): ``at`` is when it takes effect, this when
    #: it was announced (occurred_at), which is what lateness and the watermark look at
    announced: str | None = None

    @property
    def announced_at(self) -> str:
        return self.announced if self.announced is not None else self.at


def sort_key(fact: SubscriptionFact) -> tuple[str, int, str]:
    return (fact.at, TYPE_ORDER[fact.type], fact.event_id)


@dataclass(slots=True)
class MonthCarry:
    """The month a fold point falls in, as far as the folded movements go: what the month's
    cohort figures (which are not additive) still need from them."""

    month: str  # YYYY-MM
    kinds: set[str]  # movement kinds already counted in the month's bucket
    start: Decimal  # MRR when the month began (before its first movement)
    cohort: dict[str, Decimal]  # cohort_{expansion,contraction,churn}_mrr so far
    churned: bool
    last_after: Decimal


@dataclass(slots=True)
class Folded:
    """What a customer's events before ``until`` amount to, once the grace period can no
    longer change them: the timeline's state at that point and its bucket contributions."""

    until: str  # a UTC day start (ISO): every folded event happened before it
    first_at: str
    last_at: str
    subs: dict[str, tuple[str, Decimal]]  # subscription -> (plan, MRR)
    open_trials: list[str]  # sorted
    trials_opened: int
    trials_closed: int
    mrr: Decimal
    ever_paid: bool
    attributes: dict[str, str]
    contributions: dict[str, dict[str, Decimal]]  # final: every bucket before the open month's cohort
    month: MonthCarry | None
    #: the latest movements (at most RECENT_MOVEMENTS), for the customer's page
    recent: list[tuple[str, MovementKind, Decimal, Decimal]]


#: Movements a customer's page lists from the folded part.
RECENT_MOVEMENTS = 100


@dataclass(slots=True)
class CustomerHistory:
    """A customer's revenue durable state: what is folded, then the applied events not folded
    yet (the open tail), in :func:`sort_key` order."""

    events: list[SubscriptionFact] = field(default_factory=list)
    folded: Folded | None = None

    @property
    def first_at(self) -> str:
        return self.folded.first_at if self.folded is not None else self.events[0].at

    @property
    def last_at(self) -> str:
        """The latest ``at`` (a scheduled change's effective time included)."""
        if self.events:
            return self.events[-1].at
        assert self.folded is not None  # a history holds events, folded or not
        return self.folded.last_at

    @property
    def last_announced(self) -> str:
        """The customer's lateness clock: the latest occurred_at applied (not effective_at)."""
        if not self.events:
            assert self.folded is not None
            return self.folded.last_at
        latest = max(e.announced_at for e in self.events)
        return latest if self.folded is None else max(latest, self.folded.last_at)
