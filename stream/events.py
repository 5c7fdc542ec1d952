"""Event contracts v1: the pydantic models are the single source of truth.

JSON Schema files under ``schemas/`` are generated from these models (``pulse schemas``)
and a test fails when they drift. Unknown extra fields are kept but ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

__all__ = [
    "Event",
    "EventBase",
    "TrialStarted",
    "TrialExpired",
    "SubscriptionStarted",
    "SubscriptionChanged",
    "SubscriptionCancelled",
    "SubscriptionRenewed",
    "SubscriptionEvent",
    "ProductEvent",
    "TicketEvent",
    "SurveyResponse",
    "SpendRecorded",
    "LeadCreated",
    "LeadQualified",
    "LeadEvent",
    "SCORE_RANGES",
]

# RFC 3339 date-time: date, 'T' (or space), time, optional fraction, and a mandatory offset.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_string(value: Any) -> Any:
    """Accept only RFC 3339 strings with an offset: epoch numbers and naive times are refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("occurred_at must be an RFC 3339 string")
    if not RFC3339.match(value):
        raise ValueError("occurred_at must be RFC 3339 with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


#: Event times Pulse computes with: 1970-01-01T00:00:00Z (inclusive) to 2200-01-01T00:00:00Z
#: (exclusive). Outside, day arithmetic and epoch conversions overflow: refused as `timestamp`.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    # the year first: converting 0001-01-01T00:00:00+14:00 to UTC would overflow
    if not EARLIEST.year <= value.year < LATEST.year or not EARLIEST <= value.astimezone(UTC) < LATEST:
        raise ValueError("occurred_at must be from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_string),
    AfterValidator(_in_range),
    Field(description="RFC 3339 with an offset, from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z"),
]
Id = Annotated[str, Field(min_length=1, max_length=256)]
#: A free-text label (attribute value, channel, …): bounded so no record or state grows without limit.
Label = Annotated[str, Field(max_length=256)]
#: Customer attributes: at most 50, names of at most 64 characters, values of at most 256.
Attributes = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], Label],
    Field(max_length=50, description="At most 50 attributes: names of 1-64 characters, values of at most 256"),
]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=24, decimal_places=8)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class EventBase(BaseModel):
    """Fields every event has; ``event_id`` makes a resend harmless."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    event_id: str = Field(min_length=1, max_length=128)
    occurred_at: Timestamp


# --- subscriptions [key: customer_id] ----------------------------------------------------------


class _SubscriptionBase(EventBase):
    customer_id: Id
    subscription_id: Id
    plan: Id
    acquisition_channel: Label | None = None
    attributes: Attributes = Field(default_factory=dict)


class TrialStarted(_SubscriptionBase):
    type: Literal["trial_started"]


class TrialExpired(_SubscriptionBase):
    type: Literal["trial_expired"]


class _Priced(_SubscriptionBase):
    amount: Money = Field(
        description="Price per billing period; the subscription's MRR in the reporting currency must stay below 10^15"
    )
    currency: Currency
    interval: Literal["day", "week", "month", "quarter", "year"]
    interval_count: int = Field(1, ge=1, le=1000)
    quantity: int = Field(1, ge=1, le=1_000_000, description="Seats or units, 1 to 1,000,000")
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] = Decimal(0)


#: How far ahead of its announcement a scheduled change may take effect.
MAX_SCHEDULE_DAYS = 400


class _Schedulable(BaseModel):
    """A change announced before it takes effect (Stripe's ``cancel_at_period_end``, a
    downgrade at renewal): ``occurred_at`` is when it was announced, ``effective_at`` when MRR
    moves. Without ``effective_at`` the change takes effect when it occurred."""

    effective_at: Timestamp | None = Field(
        None, description=f"When the change takes effect: from occurred_at to {MAX_SCHEDULE_DAYS} days after it"
    )

    @model_validator(mode="after")
    def _effective_after_announcement(self) -> Any:
        at, effective = getattr(self, "occurred_at"), self.effective_at  # noqa: B009 (a mixin: the field is the event's)
        if effective is not None and not at <= effective <= at + timedelta(days=MAX_SCHEDULE_DAYS):
            raise ValueError(f"effective_at must be from occurred_at to {MAX_SCHEDULE_DAYS} days after it")
        return self


class SubscriptionStarted(_Priced):
    type: Literal["subscription_started"]


class SubscriptionChanged(_Schedulable, _Priced):
    type: Literal["subscription_changed"]


class SubscriptionCancelled(_Schedulable, _SubscriptionBase):
    """Sent when the cancellation is announced; ``effective_at`` when it takes effect later
    (without it, the cancellation takes effect at ``occurred_at``)."""

    type: Literal["subscription_cancelled"]


class SubscriptionRenewed(_SubscriptionBase):
    type: Literal["subscription_renewed"]


_SubscriptionUnion = (
    TrialStarted
    | TrialExpired
    | SubscriptionStarted
    | SubscriptionChanged
    | SubscriptionCancelled
    | SubscriptionRenewed
)
SubscriptionEvent = Annotated[_SubscriptionUnion, Field(discriminator="type")]


# --- product-events [key: account_id, else anonymous_id, else user_id] ----------------------------


class ProductEvent(EventBase):
    type: Literal["track"]
    name: Id = Field(
        description="What happened. Names Pulse gives a meaning (docs/metrics.md, Engagement): signed_up, "
        "page_view (a visit), feature_used (with feature), invite_sent (a user invited someone), invite_accepted "
        "(an invitee accepted), login, report_exported; any other name is an activity",
        min_length=1,
        max_length=256,
    )
    user_id: str | None = Field(None, min_length=1, max_length=256)
    account_id: str | None = Field(None, min_length=1, max_length=256)
    anonymous_id: str | None = Field(None, min_length=1, max_length=256)
    feature: str | None = Field(None, min_length=1, max_length=256)
    session_id: str | None = Field(None, min_length=1, max_length=256)
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _someone(self) -> ProductEvent:
        if self.user_id is None and self.anonymous_id is None:
            raise ValueError("a product event needs user_id or anonymous_id")
        return self


# --- support-tickets [key: ticket_id] -----------------------------------------------------------

TicketChannel = Literal["email", "chat", "phone", "web", "other"]
TicketCategory = Literal["bug", "feature_request", "question", "suggestion", "complaint", "other"]
TicketPriority = Literal["low", "normal", "high", "urgent"]


class TicketEvent(EventBase):
    type: Literal["ticket_opened", "agent_replied", "customer_replied", "ticket_resolved", "ticket_reopened"]
    ticket_id: Id
    account_id: Id
    channel: TicketChannel | None = None
    category: TicketCategory | None = None
    priority: TicketPriority | None = None

    @model_validator(mode="after")
    def _opened_is_complete(self) -> TicketEvent:
        if self.type == "ticket_opened":
            missing = [f for f in ("channel", "category", "priority") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"ticket_opened needs {', '.join(missing)}")
        return self


# --- surveys [key: account_id] -----------------------------------------------------------------

SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


class SurveyResponse(EventBase):
    type: Literal["survey_response"]
    account_id: Id
    user_id: str | None = Field(None, min_length=1, max_length=256)
    kind: Literal["nps", "csat", "ces"]
    score: int
    touchpoint: Literal["onboarding", "support", "feature_launch", "other"] | None = None
    ticket_id: str | None = Field(None, min_length=1, max_length=256)
    comment: str | None = Field(None, max_length=10_000)

    @model_validator(mode="after")
    def _score_in_range(self) -> SurveyResponse:
        low, high = SCORE_RANGES[self.kind]
        if not low <= self.score <= high:
            raise ValueError(f"score {self.score} out of range {low}..{high} for {self.kind}")
        return self


# --- marketing-spend [key: channel] ------------------------------------------------------------


class SpendRecorded(EventBase):
    """Spend belongs to the UTC day of ``occurred_at``."""

    type: Literal["spend_recorded"]
    channel: Id
    amount: Money
    currency: Currency


# --- leads [key: lead_id] ----------------------------------------------------------------------


class LeadCreated(EventBase):
    type: Literal["lead_created"]
    lead_id: Id
    channel: Id


class LeadQualified(EventBase):
    type: Literal["lead_qualified"]
    lead_id: Id
    channel: Id
    stage: Literal["mql", "sql", "pql"]


LeadEvent = Annotated[LeadCreated | LeadQualified, Field(discriminator="type")]

#: Every event of every topic.
Event = _SubscriptionUnion | ProductEvent | TicketEvent | SurveyResponse | SpendRecorded | LeadCreated | LeadQualified

#: Adapter per topic's contract; built once because TypeAdapter construction is not free.
SubscriptionAdapter: TypeAdapter[Any] = TypeAdapter(SubscriptionEvent)
LeadAdapter: TypeAdapter[Any] = TypeAdapter(LeadEvent)
