"""Replays an event file through the same pipelines and processors the workers run.

No Kafka: each file line becomes the bytes a producer would have sent and the partition
Kafka's default partitioner would have put it in (murmur2 of the key, over
PULSE_TOPIC_PARTITIONS); each partition's records go through decode -> validate -> dedupe ->
processor in file order, exactly as in the engine; an event is processed on the partition of
its entity key whatever key its line has, as a worker forwards an event that arrived on
another partition through its repartition topic. Streaming and replay therefore
give identical numbers, sketches merged in the same order included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stream.app import build_pipelines
from stream.jsonl import iter_file_records
from stream.outcomes import RejectReason
from stream.pipeline import Pipeline, partition_for
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.state import PartitionState
from stream.topics import TopicSpec

__all__ = ["Replay", "replay_file", "partition_for", "event_day"]

FLUSH_EVERY = 5000  # records per partition between flushes, like an engine batch


@dataclass
class Replay:
    pipelines: dict[str, Pipeline]
    states: dict[str, list[PartitionState]]
    processed: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    rejected: dict[tuple[str, RejectReason], int] = field(default_factory=dict)
    #: events sent on to their entity's partition (keyless or mis-keyed records)
    forwarded: dict[str, int] = field(default_factory=dict)


def by_entity(spec: TopicSpec, key: bytes | None, value: bytes, partitions: int) -> list[tuple[int, bytes]]:
    """Where a line's events are processed: the partition of each event's entity key (a
    worker forwards an event that arrived elsewhere there), else the line's key's partition.
    An SDK array with events of several partitions is split into one array per partition."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return [(partition_for(key, partitions), value)]

    def home(event: Any) -> int:
        entity = spec.key_for(event) if isinstance(event, dict) else None
        return partition_for(entity if entity is not None else key, partitions)

    if isinstance(obj, list) and spec.allow_batch and obj:
        groups: dict[int, list[Any]] = {}
        for element in obj:
            groups.setdefault(home(element), []).append(element)
        if len(groups) == 1:
            return [(next(iter(groups)), value)]
        return [(p, orjson.dumps(elements)) for p, elements in groups.items()]
    return [(home(obj), value)]


BARE_HINT = "give one topic's bare events as a file of its report, or wrap each line"


def replay_file(
    path: Path,
    settings: PulseSettings,
    topics: tuple[str, ...],
    default_topic: str | None = None,
    on_record: Callable[[], None] | None = None,
    registry: FamilyRegistry | None = None,
    bare_topic: str | None = None,
    on_day_end: Callable[[int, Replay], None] | None = None,
) -> Replay:
    """Run every record of `topics` in the file through its pipeline, partitioned as Kafka would.

    With ``on_day_end``, event time is a clock: the newest ``occurred_at`` seen so far. When
    it passes into a later UTC day, everything read before is applied and flushed, then
    ``on_day_end(day, replay)`` is called for each day it left (UTC day ordinals), and once
    for the last day at the end (a backtest evaluates its rules there)."""
    registry = registry if registry is not None else FamilyRegistry.installed(settings)
    n = settings.topic_partitions
    processors = {k: v for k, v in registry.processors(replay=True).items() if k in topics}
    pipelines = build_pipelines(settings, processors)
    result = Replay(
        pipelines, {name: [PartitionState(p, codecs=pl.codecs) for p in range(n)] for name, pl in pipelines.items()}
    )
    for name, pipeline in pipelines.items():
        for state in result.states[name]:
            pipeline.loaded(state)
    # Each partition's records go through the pipeline in file order, in batches as the engine
    # takes them (partitions are independent, so interleaving between them changes nothing).
    pending: dict[tuple[str, int], tuple[list[bytes | None], list[int | None]]] = {}

    def run(topic: str, p: int, values: list[bytes | None], stamps: list[int | None]) -> None:
        outcome = pipelines[topic].handle_many(result.states[topic][p], values, stamps)
        result.processed[topic] = result.processed.get(topic, 0) + outcome.processed
        result.duplicates[topic] = result.duplicates.get(topic, 0) + outcome.duplicates
        for r in [*(r for _, r in outcome.rejected), *outcome.expired]:
            result.rejected[(topic, r.reason)] = result.rejected.get((topic, r.reason), 0) + 1
        state = result.states[topic][p]
        state.next_offset = (state.next_offset or 0) + len(values)  # readers key caches by it
        pipelines[topic].flush(state)  # changes no figure; bounds memory
        state.discard_changes()  # no changelog here: what a worker would write is not kept
        # Events of another partition's entity, as a worker forwards them through the
        # repartition topic: processed there, after this batch.
        forwarded: dict[int, tuple[list[bytes | None], list[int | None]]] = {}
        for index, forward in outcome.forwards:
            values_to, stamps_to = forwarded.setdefault(forward.partition, ([], []))
            values_to.append(forward.value)
            stamps_to.append(stamps[index])
        if outcome.forwards:
            events = sum(forward.events for _, forward in outcome.forwards)
            result.forwarded[topic] = result.forwarded.get(topic, 0) + events
        for q, (values_to, stamps_to) in sorted(forwarded.items()):
            run(topic, q, values_to, stamps_to)

    def flush(topic: str, p: int) -> None:
        values, stamps = pending.pop((topic, p), ([], []))
        if values:
            run(topic, p, values, stamps)

    clock: list[int | None] = [None]  # the event-time day so far (with on_day_end)

    def advance(value: bytes, stamp: int | None) -> None:
        day = event_day(value)
        if day is None or (clock[0] is not None and day <= clock[0]):
            return
        # an event beyond its record's time is refused as future: it moves no clock
        limit = (stamp / 1000 if stamp is not None else time.time()) + settings.max_future_seconds
        day = min(day, datetime.fromtimestamp(limit, UTC).date().toordinal())
        if clock[0] is not None and day <= clock[0]:
            return
        if clock[0] is not None and on_day_end is not None:
            for topic, p in list(pending):
                flush(topic, p)
            for left in range(clock[0], day):
                on_day_end(left, result)
        clock[0] = day

    for topic, key, value, stamp in iter_file_records(path, default_topic, bare_topic, hint=BARE_HINT):
        if on_record:
            on_record()
        if topic not in pipelines:
            continue
        if on_day_end is not None:
            advance(value, stamp)
        for p, part in by_entity(pipelines[topic].spec, key, value, n):
            values, stamps = pending.setdefault((topic, p), ([], []))
            values.append(part)
            stamps.append(stamp)
            if len(values) >= FLUSH_EVERY:
                flush(topic, p)
    for topic, p in list(pending):
        flush(topic, p)
    if on_day_end is not None and clock[0] is not None:
        on_day_end(clock[0], result)
    return result


def event_day(value: bytes) -> int | None:
    """The UTC day ordinal of a record's latest ``occurred_at`` (None when it has none)."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    latest: int | None = None
    for event in obj if isinstance(obj, list) else [obj]:
        at = event.get("occurred_at") if isinstance(event, dict) else None
        if not isinstance(at, str):
            continue
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            continue
        day = when.astimezone(UTC).date().toordinal()
        latest = day if latest is None else max(latest, day)
    return latest
