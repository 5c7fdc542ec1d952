"""The six source topics: their contract, message key and whether a record may batch events."""

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
    key_of: Callable[[dict[str, Any]], str | None]
    allow_batch: bool = False  # a record may hold a JSON array of events

    def key_for(self, event: dict[str, Any]) -> bytes | None:
        key = self.key_of(event)
        return key.encode() if key is not None else None


def _field(name: str) -> Callable[[dict[str, Any]], str | None]:
    def key_of(event: dict[str, Any]) -> str | None:
        value = event.get(name)
        return None if value is None else str(value)

    return key_of


def _product_key(event: dict[str, Any]) -> str | None:
    value = event.get("account_id") or event.get("anonymous_id")
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
