"""What happens to one source record, shared by the streaming engine and by replay.

decode -> validate -> dedupe -> the topic's processor, or a rejection for the dead-letter
topic. No Kafka here: the engine feeds it records, ``pulse report`` feeds it file lines.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from stream.decoding import Accepted, Rejected, decode_record
from stream.dedupe import Deduper, DedupeVerdict, fingerprint
from stream.family import Processor
from stream.outcomes import (
    DUPLICATE,
    ProcessingErrorPolicy,
    Refused,
    RejectReason,
    WrongPartitionPolicy,
    beyond_dedupe,
    conflict,
    future,
    late,
    processing_error,
)
from stream.state import Codec, PartitionState
from stream.topics import TopicSpec

__all__ = [
    "Pipeline",
    "RecordOutcome",
    "BatchOutcome",
    "HomeOutcome",
    "Forward",
    "DEDUPE_STORE",
    "ProcessingStopped",
    "partition_for",
    "SOURCE_HEADER",
    "source_header",
    "source_of_forward",
]

DEDUPE_STORE = "dedupe"
_EPOCH = datetime.fromtimestamp(0, UTC)
_MICROSECOND = timedelta(microseconds=1)


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class Forward:
    """An event to send to its entity's partition (the app's repartition topic)."""

    partition: int
    key: bytes  # the (first) event's entity key
    value: bytes  # the event's own bytes, or a JSON array of several events of that partition
    events: int = 1


@dataclass
class RecordOutcome:
    processed: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    #: the latest occurred_at (epoch µs) of its valid events within their limit, None without
    latest: int | None = None
    #: left untouched: an event of it is after the caller's ``until``
    stopped: bool = False


@dataclass
class HomeOutcome:
    """What an owned home partition took of a batch's records in the same pass (``homes`` of
    :meth:`Pipeline.handle_many`): its events are applied, not forwarded."""

    processed: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, Rejected]] = field(default_factory=list)  # (record index, why)
    #: indexes of the records that gave it events, ascending
    records: list[int] = field(default_factory=list)
    #: events routed to it (counted as forwarded), including those it held already
    events: int = 0


@dataclass
class BatchOutcome:
    processed: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, Rejected]] = field(default_factory=list)  # (record index, why)
    forwards: list[tuple[int, Forward]] = field(default_factory=list)  # (record index, where)
    #: events the processor held and gave up on (no record of this batch: offset -1)
    expired: list[Rejected] = field(default_factory=list)
    #: (index, its latest occurred_at in epoch µs) of the first record left untouched, with
    #: every one after it, because an event of it is after ``until``; None: all were taken
    stopped: tuple[int, int] | None = None
    #: the latest occurred_at (epoch µs) of the events of the records taken, None without
    latest: int | None = None
    #: home partition -> what it took in the same pass (``homes`` of :meth:`Pipeline.handle_many`)
    homes: dict[int, HomeOutcome] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        spec: TopicSpec,
        processor: Processor,
        retention_days: int,
        currencies: frozenset[str] = frozenset(),
        on_error: ProcessingErrorPolicy = ProcessingErrorPolicy.DEADLETTER,
        max_future_seconds: int = 300,
        partitions: int = 0,
        on_wrong_partition: WrongPartitionPolicy = WrongPartitionPolicy.FORWARD,
    ) -> None:
        """``partitions``: the topic's partition count, to send every event to the partition of
        its entity key (0: take events where they are, as for one partition's own tests)."""
        self.spec = spec
        self.processor = processor
        self.currencies = currencies
        self.deduper = Deduper(retention_days)
        self.on_error = on_error
        self.max_future_us = max_future_seconds * 1_000_000
        self.partitions = partitions
        self.on_wrong_partition = on_wrong_partition

    @property
    def codecs(self) -> dict[str, Codec]:
        return dict(self.processor.codecs)

    def loaded(self, state: PartitionState) -> None:
        self.processor.loaded(state)

    def dropped(self, partition: int) -> None:
        self.processor.dropped(partition)

    def flush(self, state: PartitionState) -> None:
        """End of a batch, before its checkpoint: move in-memory changes into the stores."""
        self.processor.flush(state)

    def flush_many(self, states: Sequence[PartitionState]) -> None:
        """:meth:`flush` of several partitions (a batch's), as the processor does them together."""
        self.processor.flush_many(states)

    def limits(self, timestamps: Sequence[int | None] | None, n: int) -> list[int]:
        """The latest occurred_at (epoch µs) each record may carry: its own time (Kafka's
        record timestamp, ms) plus PULSE_MAX_FUTURE_SECONDS; the wall clock for a record
        without one (replay of a file, a producer that sets none)."""
        now_us = time.time_ns() // 1000
        if timestamps is None:
            return [now_us + self.max_future_us] * n
        return [(t * 1000 if t is not None and t > 0 else now_us) + self.max_future_us for t in timestamps]

    def handle_many(
        self,
        state: PartitionState,
        values: Sequence[bytes | None],
        timestamps: Sequence[int | None] | None = None,
        own: bool = True,
        until: int | None = None,
        homes: Mapping[int, tuple[PartitionState, int]] | None = None,
    ) -> BatchOutcome:
        """Several records of one partition, in order, with their record times (epoch ms);
        same result as ``handle`` on each. ``own=False``: records this partition's state holds
        already, read again after recovery for the events they give other partitions: its own
        events are skipped (not applied, not counted), the others returned as forwards. With
        ``until`` (epoch µs), the records from the first one with a valid event after it are
        left untouched (``stopped``): the engine keeps a worker's partitions together in event
        time (stream/engine.py, ``_cutoffs``). ``homes`` ({partition: (its state, first record
        index)}): owned partitions that take their events in the same pass instead of as
        forwards, when the processor can (a bulk one, events forwarded by key, ``own``); what
        each took is in :attr:`BatchOutcome.homes`.

        A bulk processor (the compiled engagement kernel) takes the records in bulk and stops
        at any record it does not take for sure (invalid, unusual): that one goes through
        ``handle`` (pydantic), then the processor resumes after it.
        """
        out = BatchOutcome()
        processor = self.processor
        limits = self.limits(timestamps, len(values))
        if not processor.bulk:
            for i, raw in enumerate(values):
                one = self.handle(state, raw, limits[i], own, until)
                if one.stopped:
                    assert one.latest is not None
                    out.stopped = (i, one.latest)
                    break
                _add(out, i, one)
            out.expired = processor.expired(state) if own else []
            return out
        values = values if isinstance(values, list) else list(values)
        group = self.on_wrong_partition is WrongPartitionPolicy.FORWARD  # refusals are one by one
        taking = homes if homes and group and own and self.partitions else None
        start = 0
        while start < len(values):
            result = processor.apply_records(
                state, values, limits, start, self.partitions, group, own, until, homes=taking
            )
            for taken in result.homes:
                if not taken.events:
                    continue
                took = out.homes.setdefault(taken.partition, HomeOutcome())
                took.processed += taken.processed
                took.duplicates += taken.duplicates
                took.events += taken.events
                took.records.extend(taken.records)
                took.rejected.extend((i, _rejection(late(_at(us)), values[i], e)) for i, e, us in taken.late)
            out.processed += result.processed
            out.duplicates += result.duplicates
            out.latest = _later(out.latest, result.latest)
            refusals = [(i, e, late(_at(us))) for i, e, us in result.late]
            refusals += [(i, e, future(_at(us), _at(limits[i]))) for i, e, us in result.future]
            for i, element, refused in sorted(refusals, key=lambda r: (r[0], -1 if r[1] is None else r[1])):
                out.rejected.append((i, _rejection(refused, values[i], element)))
            for i, home, key, value, events in result.forwards:
                out.forwards.append((i, Forward(home, key, value, events)))
            for i, routed in self._route_misplaced(values, result.misplaced):
                if isinstance(routed, Forward):
                    out.forwards.append((i, routed))
                else:
                    out.rejected.append((i, routed))
            if result.stopped is not None:
                out.stopped = result.stopped
                break
            if result.deferred is None:
                break
            one = self.handle(state, values[result.deferred], limits[result.deferred], own, until)
            if one.stopped:
                assert one.latest is not None
                out.stopped = (result.deferred, one.latest)
                break
            _add(out, result.deferred, one)
            start = result.deferred + 1
        return out

    def handle(
        self,
        state: PartitionState,
        raw: bytes | None,
        limit_us: int | None = None,
        own: bool = True,
        until: int | None = None,
    ) -> RecordOutcome:
        """One record: decode, validate, dedupe, apply. Whatever raises on the way is this
        record's processing error (dead-lettered, or re-raised under the stop policy): one
        record can never stop the partition (Kafka Streams' processing exception handler).
        A record with a valid event after ``until`` (epoch µs) is left untouched (``stopped``)."""
        outcome = RecordOutcome()
        limit = limit_us if limit_us is not None else self.limits(None, 1)[0]
        try:
            results = decode_record(self.spec, raw, self.currencies)
        except Exception as exc:
            self._stop_on(exc)
            outcome.rejected.append(_rejection(processing_error(exc), raw, None))
            return outcome
        for result in results:
            if isinstance(result, Accepted):
                at = (result.event.occurred_at - _EPOCH) // _MICROSECOND
                if at <= limit:
                    outcome.latest = _later(outcome.latest, at)
        if until is not None and outcome.latest is not None and outcome.latest > until:
            outcome.stopped = True
            return outcome
        for result in results:
            if isinstance(result, Rejected):
                outcome.rejected.append(result)
                continue
            assert isinstance(result, Accepted)
            event = result.event
            if (event.occurred_at - _EPOCH) // _MICROSECOND > limit:
                outcome.rejected.append(_rejection(future(event.occurred_at, _at(limit)), raw, result.index))
                continue
            key = self.spec.key_for(event)
            home = state.partition if key is None or not self.partitions else partition_for(key, self.partitions)
            if home == state.partition and not own:
                continue  # held by this state already
            if key is not None and home != state.partition:
                routed = self._misplaced(home, key, _element(raw, result.index))
                if isinstance(routed, Forward):
                    outcome.forwards.append(routed)
                else:
                    outcome.rejected.append(routed)
                continue
            dedupe = None if self.processor.dedupes else state.store(DEDUPE_STORE)
            entity = "" if key is None else key.decode()
            try:
                if dedupe is not None:
                    if not self.processor.knows_old_resends and self.deduper.beyond_memory(dedupe, event.occurred_at):
                        error = beyond_dedupe(event.occurred_at, self.deduper.retention_days)
                        outcome.rejected.append(_rejection(error, raw, result.index))
                        continue
                    seen = self.deduper.check(dedupe, entity, event.event_id, event.occurred_at, fingerprint(event))
                    if seen is DedupeVerdict.DUPLICATE:
                        outcome.duplicates += 1
                        continue
                    if seen is DedupeVerdict.CONFLICT:
                        outcome.rejected.append(_rejection(conflict(event.event_id), raw, result.index))
                        continue
                verdict = self.processor.apply(state, event)
            except Exception as exc:
                self._stop_on(exc)
                if dedupe is not None:
                    self.deduper.forget(dedupe, entity, event.event_id)  # a corrected resend must count
                outcome.rejected.append(_rejection(processing_error(exc), raw, result.index))
                continue
            if verdict is DUPLICATE:
                outcome.duplicates += 1
            elif isinstance(verdict, Refused):
                if dedupe is not None:
                    self.deduper.forget(dedupe, entity, event.event_id)  # only accepted events are remembered
                outcome.rejected.append(_rejection(verdict, raw, result.index))
            else:
                outcome.processed += 1
        return outcome

    def _route_misplaced(
        self, values: Sequence[bytes | None], misplaced: Sequence[tuple[int, int | None, int]]
    ) -> list[tuple[int, Forward | Rejected]]:
        """The kernel's misplaced events (record index, element index or None, home partition),
        returned one by one under the deadletter policy (each refused with its own bytes) or
        when the kernel could not split an array itself (it builds the forwards otherwise):
        each record parsed once, and its events for one home forwarded as one record (an array
        when several: SDK batches mix accounts, and one record per event cost ~45 µs each)."""
        routed: list[tuple[int, Forward | Rejected]] = []
        by_record: dict[int, list[tuple[int | None, int]]] = {}
        for i, element, home in misplaced:
            by_record.setdefault(i, []).append((element, home))
        for i, items in by_record.items():
            parsed = orjson.loads(values[i] or b"null")
            by_home: dict[int, list[tuple[bytes, Any]]] = {}
            for element, home in items:
                event = parsed if element is None else parsed[element]
                key = self.spec.key_for(event)
                assert key is not None  # the kernel finds an event misplaced by its entity key
                if self.on_wrong_partition is WrongPartitionPolicy.DEADLETTER:
                    routed.append((i, self._misplaced(home, key, orjson.dumps(event))))
                else:
                    by_home.setdefault(home, []).append((key, event))
            for home, events in by_home.items():
                value = orjson.dumps(events[0][1] if len(events) == 1 else [event for _, event in events])
                routed.append((i, Forward(home, events[0][0], value, len(events))))
        return routed

    def _misplaced(self, home: int, key: bytes, element: bytes) -> Forward | Rejected:
        """An event of partition ``home``'s entity ``key``: forwarded there, or refused (by setting)."""
        if self.on_wrong_partition is WrongPartitionPolicy.DEADLETTER:
            error = f"wrong_partition: the event's entity key belongs to partition {home}"
            return Rejected(RejectReason.WRONG_PARTITION, error, element, None)
        return Forward(home, key, element)

    def _stop_on(self, exc: Exception) -> None:
        if self.on_error is ProcessingErrorPolicy.STOP:
            raise ProcessingStopped(f"{self.spec.name}: {type(exc).__name__}: {exc}") from exc


class ProcessingStopped(Exception):
    """A processor raised and ``PULSE_ON_PROCESSING_ERROR=stop``: the worker stops."""


def _later(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _add(out: BatchOutcome, index: int, one: RecordOutcome) -> None:
    out.latest = _later(out.latest, one.latest)
    out.processed += one.processed
    out.duplicates += one.duplicates
    out.rejected.extend((index, r) for r in one.rejected)
    out.forwards.extend((index, f) for f in one.forwards)


#: Header of a forwarded record: its source record's partition and offset (little-endian
#: int32, int64); the home skips a forward of a source offset it holds already.
SOURCE_HEADER = "pulse-source"
_SOURCE = struct.Struct("<iq")


def source_header(source: tuple[int, int] | None) -> list[tuple[str, bytes]] | None:
    return None if source is None else [(SOURCE_HEADER, _SOURCE.pack(*source))]


def source_of_forward(headers: Sequence[tuple[str, bytes]] | None) -> tuple[int, int] | None:
    """(source partition, source offset) of a forwarded record; None for one without (an
    older worker's)."""
    for name, value in headers or ():
        if name == SOURCE_HEADER and len(value) == _SOURCE.size:
            partition, offset = _SOURCE.unpack(value)
            return partition, offset
    return None


_partitioner = DefaultPartitioner()


def partition_for(key: bytes | None, partitions: int) -> int:
    """Kafka's default partition for a key (records without a key go to partition 0 here)."""
    if key is None:
        return 0
    every = _every(partitions)
    return int(_partitioner(key, every, every))


@cache
def _every(partitions: int) -> list[int]:
    return list(range(partitions))


def _rejection(refused: Refused, raw: bytes | None, index: int | None) -> Rejected:
    """A processor's refusal as a dead-letter entry, with the event's own bytes."""
    return Rejected(refused.reason, refused.error, _element(raw, index), index)


def _element(raw: bytes | None, index: int | None) -> bytes:
    if raw is None:
        return b""
    if index is None:
        return raw
    return orjson.dumps(orjson.loads(raw)[index])
