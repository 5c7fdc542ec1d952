"""What happens to one source record, shared by the streaming engine and by replay.

decode -> validate -> dedupe -> the topic's processor, or a rejection for the dead-letter
topic. No Kafka here: the engine feeds it records, ``pulse report`` feeds it file lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol, Sequence

import orjson

from stream.decoding import Accepted, Rejected, decode_record
from stream.dedupe import Deduper
from stream.state import Codec, PartitionState
from stream.topics import TopicSpec

__all__ = ["Processor", "CountOnly", "Pipeline", "RecordOutcome", "DEDUPE_STORE", "DUPLICATE"]

DEDUPE_STORE = "dedupe"
#: What a processor returns for an event it has already applied (it keeps exact history
#: longer than the dedupe window): counted as a duplicate, not dead-lettered.
DUPLICATE = "duplicate"


class Processor(Protocol):
    """A topic's metric logic over one partition's state. Deterministic: same input, same state.

    Optional, found with getattr: ``flush(state)`` (end of a batch: write what changed into the
    state), ``publish(state, snapshots)`` (share the partition's summary in Redis),
    ``apply_records(state, values, start) -> (processed, duplicates, late, deferred index)``
    (take raw records in bulk; see ``Pipeline.handle_many``) and ``dedupes = True`` (the
    processor remembers event ids itself and answers DUPLICATE).
    """

    codecs: dict[str, Codec]

    def apply(self, state: PartitionState, event: Any) -> str | None:
        """Apply a valid first-seen event; return a rejection reason (e.g. "late") or None."""

    def loaded(self, state: PartitionState) -> None:
        """The partition's state was recovered (or created): rebuild anything derived from it."""

    def dropped(self, partition: int) -> None:
        """The partition moved to another worker: forget anything derived from it."""


class CountOnly:
    """For topics whose metrics are not built yet: ingestion and its counters only."""

    codecs: dict[str, Codec] = {}

    def apply(self, state: PartitionState, event: Any) -> str | None:
        return None

    def loaded(self, state: PartitionState) -> None:
        pass

    def dropped(self, partition: int) -> None:
        pass


@dataclass
class RecordOutcome:
    processed: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass
class BatchOutcome:
    processed: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, Rejected]] = field(default_factory=list)  # (record index, why)


class Pipeline:
    def __init__(
        self,
        spec: TopicSpec,
        processor: Processor,
        retention_days: int,
        currencies: frozenset[str] = frozenset(),
    ) -> None:
        self.spec = spec
        self.processor = processor
        self.currencies = currencies
        self.deduper = Deduper(retention_days)
        #: A processor that dedupes by event_id itself (the engagement kernel) gets every event.
        self.processor_dedupes = bool(getattr(processor, "dedupes", False))

    @property
    def codecs(self) -> dict[str, Codec]:
        return dict(self.processor.codecs)

    def loaded(self, state: PartitionState) -> None:
        self.processor.loaded(state)

    def dropped(self, partition: int) -> None:
        self.processor.dropped(partition)

    def flush(self, state: PartitionState) -> None:
        """End of a batch, before its checkpoint: move in-memory changes into the stores."""
        flush = getattr(self.processor, "flush", None)
        if flush is not None:
            flush(state)

    def handle_many(self, state: PartitionState, values: Sequence[bytes | None]) -> BatchOutcome:
        """Several records of one partition, in order; same result as ``handle`` on each.

        A processor with ``apply_records`` (the compiled engagement kernel) takes the records
        in bulk and stops at any record it does not take for sure (invalid, unusual): that
        one goes through ``handle`` (pydantic), then the kernel resumes after it.
        """
        out = BatchOutcome()
        bulk = getattr(self.processor, "apply_records", None)
        if bulk is None:
            for i, raw in enumerate(values):
                _add(out, i, self.handle(state, raw))
            return out
        values = values if isinstance(values, list) else list(values)
        start = 0
        while start < len(values):
            processed, duplicates, late, deferred = bulk(state, values, start)
            out.processed += processed
            out.duplicates += duplicates
            for i, element, micros in late:
                at = _Occurred(datetime.fromtimestamp(0, timezone.utc) + timedelta(microseconds=micros))
                out.rejected.append((i, _rejection("late", at, values[i], element)))
            if deferred is None:
                break
            _add(out, deferred, self.handle(state, values[deferred]))
            start = deferred + 1
        return out

    def handle(self, state: PartitionState, raw: bytes | None) -> RecordOutcome:
        outcome = RecordOutcome()
        for result in decode_record(self.spec, raw, self.currencies):
            if isinstance(result, Rejected):
                outcome.rejected.append(result)
                continue
            assert isinstance(result, Accepted)
            event = result.event
            if not self.processor_dedupes and self.deduper.seen(
                state.store(DEDUPE_STORE), event.event_id, event.occurred_at
            ):
                outcome.duplicates += 1
                continue
            reason = self.processor.apply(state, event)
            if reason == DUPLICATE:
                outcome.duplicates += 1
                continue
            if reason is not None:
                outcome.rejected.append(_rejection(reason, event, raw, result.index))
                continue
            outcome.processed += 1
        return outcome


class _Occurred(NamedTuple):
    occurred_at: datetime


def _add(out: BatchOutcome, index: int, one: RecordOutcome) -> None:
    out.processed += one.processed
    out.duplicates += one.duplicates
    out.rejected.extend((index, r) for r in one.rejected)


def _rejection(reason: str, event: Any, raw: bytes | None, index: int | None) -> Rejected:
    """A processor's refusal as a dead-letter entry, with the event's own bytes."""
    if reason == "late":
        error = f"late: occurred_at {event.occurred_at.isoformat()} is older than the grace period allows"
    elif reason == "currency":
        error = f"currency: {getattr(event, 'currency', '?')} has no rate in PULSE_FX_RATES"
    else:
        error = f"{reason}: occurred_at {event.occurred_at.isoformat()}"
    return Rejected(reason, error, _element(raw, index), index)


def _element(raw: bytes | None, index: int | None) -> bytes:
    if raw is None:
        return b""
    if index is None:
        return raw
    return orjson.dumps(orjson.loads(raw)[index])
