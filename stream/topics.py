"""The six source topics: their contract, entity key and whether a record may batch events.

The entity key (customer, account, ticket, …) is the message key producers should use, and the
key a record is processed under whatever key it came with: a record on another partition than
its entity's is forwarded there (stream/pipeline.py), so one entity's state is never split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from stream import events as ev

__all__ = ["TopicSpec", "SOURCE_TOPICS", "DEADLETTER", "spec_for"]

DEADLETTER = "deadletter"


@dataclass(frozen=True)
class TopicSpec:
    name: str  # without the configured prefix
    adapter: TypeAdapter[Any]
    types: tuple[str, ...]
    #: the entity key of an event: a JSON object (dict) or a validated model
    key_of: Callable[[Any], str | None]
    allow_batch: bool = False  # a record may hold a JSON array of events

    def key_for(self, event: Any) -> bytes | None:
        key = self.key_of(event)
        return key.encode() if key is not None else None


def _get(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def _field(name: str) -> Callable[[Any], str | None]:
    def key_of(event: Any) -> str | None:
        value = _get(event, name)
        return None if value is None else str(value)

    return key_of


def _product_key(event: Any) -> str | None:
    # every product event has one (user_id or anonymous_id is required): an event is always
    # processed on its entity's partition, whatever partition a keyless record landed on
    value = _get(event, "account_id") or _get(event, "anonymous_id") or _get(event, "user_id")
    return None if value is None else str(value)


SOURCE_TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec(
            "subscriptions",
            ev.SubscriptionAdapter,
            (
                "trial_started",
                "trial_expired",
                "subscription_started",
                "subscription_changed",
                "subscription_cancelled",
                "subscription_renewed",
            ),
            _field("customer_id"),
        ),
        TopicSpec(
            "product-events",
            TypeAdapter(ev.ProductEvent),
            ("track",),
            _product_key,
            allow_batch=True,
        ),
        TopicSpec(
            "support-tickets",
            TypeAdapter(ev.TicketEvent),
            (
                "ticket_opened",
                "agent_replied",
                "customer_replied",
                "ticket_resolved",
                "ticket_reopened",
            ),
            _field("ticket_id"),
        ),
        TopicSpec("surveys", TypeAdapter(ev.SurveyResponse), ("survey_response",), _field("account_id")),
        TopicSpec("marketing-spend", TypeAdapter(ev.SpendRecorded), ("spend_recorded",), _field("channel")),
        TopicSpec("leads", ev.LeadAdapter, ("lead_created", "lead_qualified"), _field("lead_id")),
    )
}


def spec_for(name: str) -> TopicSpec:
    try:
        return SOURCE_TOPICS[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; expected one of {', '.join(SOURCE_TOPICS)}") from None
