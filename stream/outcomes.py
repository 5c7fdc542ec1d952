"""What can happen to one event: applied, a duplicate, or refused with a typed reason.

The reasons are a closed set: their values are the ``reason`` label of
``pulse_events_rejected_total`` and the ``reason`` field of a dead-letter record
(docs/metrics.md, "Ingestion"). A family refuses an event with a :class:`Refused` carrying one
of them and its own error text; the runtime never writes family-specific text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

__all__ = [
    "RejectReason",
    "Refused",
    "Applied",
    "APPLIED",
    "DUPLICATE",
    "ApplyResult",
    "late",
    "beyond_dedupe",
    "conflict",
    "processing_error",
    "future",
    "ProcessingErrorPolicy",
    "WrongPartitionPolicy",
]


class RejectReason(StrEnum):
    """Why an event went to the dead-letter topic instead of the metrics."""

    #: not UTF-8 JSON, or an empty (null) record
    INVALID_JSON = "invalid_json"
    #: valid JSON, but not an object (or an array where the topic takes no batches)
    NOT_OBJECT = "not_object"
    #: a JSON array of more events than a record may carry
    BATCH_TOO_LARGE = "batch_too_large"
    #: ``type`` is not one of the topic's event types
    UNKNOWN_TYPE = "unknown_type"
    #: ``occurred_at`` missing, not ISO 8601, or without a UTC offset
    TIMESTAMP = "timestamp"
    #: a currency that is not accepted or has no conversion rate
    CURRENCY = "currency"
    #: any other violation of the topic's contract
    SCHEMA = "schema"
    #: older than the grace period behind its lateness clock (docs/metrics.md, "Lateness")
    LATE = "late"
    #: occurred_at further ahead of the record's own time than PULSE_MAX_FUTURE_SECONDS: a broken
    #: clock must not move event time forward (nor make the real events late)
    FUTURE = "future"
    #: applying the event would grow its entity's state record past MAX_RECORD_BYTES (1 MiB)
    STATE_LIMIT = "state_limit"
    #: arrived on another partition than its entity key's, with PULSE_ON_WRONG_PARTITION=deadletter
    #: (the default forwards it to its partition instead)
    WRONG_PARTITION = "wrong_partition"
    #: the same event_id (within its entity key) was seen with other content: a producer bug;
    #: the first one counts, this one does not
    CONFLICT = "conflict"
    #: an event the family held waiting for another (a ticket's reply for its ticket_opened)
    #: that did not come within the grace period: given up on, never silently dropped
    ORPHAN = "orphan"
    #: the processor (or validation) raised on this record: a bug or a limit Pulse did not
    #: foresee; the record is kept in the dead letter with the exception, the partition moves on
    PROCESSING_ERROR = "processing_error"


class Applied(Enum):
    """A processor's answer for an event it did not refuse."""

    APPLIED = "applied"
    #: Already applied (the processor keeps exact history longer than the dedupe window):
    #: counted as a duplicate, not dead-lettered.
    DUPLICATE = "duplicate"


APPLIED = Applied.APPLIED
DUPLICATE = Applied.DUPLICATE


@dataclass(frozen=True, slots=True)
class Refused:
    """A processor's refusal of a valid event, with the text that goes to the dead letter."""

    reason: RejectReason
    error: str


ApplyResult = Applied | Refused


class ProcessingErrorPolicy(StrEnum):
    """What the runtime does when a processor raises on one record (``PULSE_ON_PROCESSING_ERROR``)."""

    #: dead-letter the record with reason processing_error and the exception; go on
    DEADLETTER = "deadletter"
    #: stop the worker (or the report): for a deployment that prefers a halt to a gap
    STOP = "stop"


def future(occurred_at: datetime, limit: datetime) -> Refused:
    """The refusal of an event dated after what its record's time allows."""
    return Refused(
        RejectReason.FUTURE,
        f"future: occurred_at {occurred_at.isoformat()} is after {limit.isoformat()}, "
        "the record's time plus PULSE_MAX_FUTURE_SECONDS",
    )


class WrongPartitionPolicy(StrEnum):
    """What the runtime does with an event on another partition than its entity's
    (``PULSE_ON_WRONG_PARTITION``)."""

    #: through the app's repartition topic to the entity's partition (Kafka Streams' way)
    FORWARD = "forward"
    #: dead-letter it with reason wrong_partition
    DEADLETTER = "deadletter"


def processing_error(exc: BaseException) -> Refused:
    """The refusal of a record a processor raised on."""
    return Refused(RejectReason.PROCESSING_ERROR, f"processing_error: {type(exc).__name__}: {exc}"[:2000])


def conflict(event_id: str) -> Refused:
    """The refusal of a resend whose content differs from the first event of that id."""
    return Refused(
        RejectReason.CONFLICT,
        f"conflict: event_id {event_id!r} was seen before with other content; the first one counts",
    )


def beyond_dedupe(occurred_at: datetime, retention_days: int) -> Refused:
    """The refusal of an event older than its topic's dedupe memory (topics whose processor
    leaves dedupe to the runtime): counted, a resend of it would count twice."""
    return Refused(
        RejectReason.LATE,
        f"late: occurred_at {occurred_at.isoformat()} is more than PULSE_DEDUPE_RETENTION_DAYS "
        f"({retention_days}) days behind the partition's latest event, past what dedupe remembers",
    )


def late(occurred_at: datetime) -> Refused:
    """The refusal of an event behind the grace period (event time is a runtime concept)."""
    return Refused(
        RejectReason.LATE,
        f"late: occurred_at {occurred_at.isoformat()} is older than the grace period allows",
    )
