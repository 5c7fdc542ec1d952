"""What happens to one source record, shared by the streaming engine and by replay.

decode -> validate -> dedupe -> the topic's processor, or a rejection for the dead-letter
topic. No Kafka here: the engine feeds it records, ``pulse report`` feeds it file lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import orjson

from stream.decoding import MAX_BATCH, Accepted, Rejected, decode_record
from stream.dedupe import BatchedDeduper, Deduper
from stream.state import RAW, Codec, PartitionState
from stream.topics import TopicSpec

__all__ = ["Processor", "CountOnly", "Pipeline", "RecordOutcome", "DEDUPE_STORE", "DUPLICATE"]

DEDUPE_STORE = "dedupe"
#: What a processor returns for an event it has already applied (it keeps exact history
#: longer than the dedupe window): counted as a duplicate, not dead-lettered.
DUPLICATE = "duplicate"


class Processor(Protocol):
    """A topic's metric logic over one partition's state. Deterministic: same input, same state."""

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
        # Batch topics are the high-volume ones: one dedupe record per batch, not per event.
        self.batched = BatchedDeduper(retention_days) if spec.allow_batch else None
        self.deduper = Deduper(retention_days)

    @property
    def codecs(self) -> dict[str, Codec]:
        return {**self.processor.codecs, BatchedDeduper.STORE: RAW}

    def loaded(self, state: PartitionState) -> None:
        if self.batched is not None:
            self.batched.load(state.store(BatchedDeduper.STORE), state.partition)
        self.processor.loaded(state)

    def dropped(self, partition: int) -> None:
        if self.batched is not None:
            self.batched.drop(partition)
        self.processor.dropped(partition)

    def flush(self, state: PartitionState) -> None:
        """End of a batch, before its checkpoint: move in-memory changes into the stores."""
        if self.batched is not None:
            self.batched.flush(state.store(BatchedDeduper.STORE), state.partition, state.next_offset or 0)
        flush = getattr(self.processor, "flush", None)
        if flush is not None:
            flush(state)

    def _seen(self, state: PartitionState, event: Any) -> bool:
        if self.batched is not None:
            return self.batched.seen_in(state.partition, event.event_id, event.occurred_at)
        return self.deduper.seen(state.store(DEDUPE_STORE), event.event_id, event.occurred_at)

    def handle_many(self, state: PartitionState, values: Sequence[bytes | None]) -> BatchOutcome:
        """Several records of one partition, in order; same result as ``handle`` on each.

        The high-volume topics take a tight loop for the common record (one valid event);
        anything else (errors, arrays, what the fast validator defers) goes through ``handle``.
        """
        out = BatchOutcome()
        if self.spec.fast is None or self.batched is None:
            for i, raw in enumerate(values):
                one = self.handle(state, raw)
                out.processed += one.processed
                out.duplicates += one.duplicates
                out.rejected.extend((i, r) for r in one.rejected)
            return out
        loads, fast, partition = orjson.loads, self.spec.fast, state.partition
        seen, apply = self.batched.seen_in, self.processor.apply
        processed = duplicates = 0
        for i, raw in enumerate(values):
            try:
                obj = loads(raw) if raw is not None else None
            except orjson.JSONDecodeError:
                obj = None
            if type(obj) is dict:
                items = (fast(obj),)
            elif type(obj) is list and 0 < len(obj) <= MAX_BATCH:
                items = tuple(fast(o) for o in obj)  # an SDK batch: each element on its own
            else:
                items = (None,)
            if None in items:
                one = self.handle(state, raw)
                processed += one.processed
                duplicates += one.duplicates
                out.rejected.extend((i, r) for r in one.rejected)
                continue
            for index, facts in enumerate(items):
                if seen(partition, facts.event_id, facts.occurred_at):
                    duplicates += 1
                    continue
                reason = apply(state, facts)
                if reason is None:
                    processed += 1
                elif reason == DUPLICATE:
                    duplicates += 1
                else:
                    out.rejected.append((i, _rejection(reason, facts, raw, None if type(obj) is dict else index)))
        out.processed, out.duplicates = processed, duplicates
        return out

    def handle(self, state: PartitionState, raw: bytes | None) -> RecordOutcome:
        outcome = RecordOutcome()
        for result in decode_record(self.spec, raw, self.currencies):
            if isinstance(result, Rejected):
                outcome.rejected.append(result)
                continue
            assert isinstance(result, Accepted)
            event = result.event
            if self._seen(state, event):
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
