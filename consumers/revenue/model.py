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
    STARTED = "started"
    CONVERTED = "converted"
    EXPIRED = "expired"


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


def sort_key(fact: SubscriptionFact) -> tuple[str, int, str]:
    return (fact.at, TYPE_ORDER[fact.type], fact.event_id)


@dataclass(slots=True)
class CustomerHistory:
    """A customer's applied events in :func:`sort_key` order: the revenue durable state."""

    events: list[SubscriptionFact] = field(default_factory=list)
