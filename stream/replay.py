"""Replays an event file through the same pipelines and processors the workers run.

No Kafka: each file line becomes the bytes a producer would have sent and the partition
Kafka's default partitioner would have put it in (murmur2 of the key, over
PULSE_TOPIC_PARTITIONS); each partition's records go through decode -> validate -> dedupe ->
processor in file order, exactly as in the engine. Streaming and replay therefore give
identical numbers, sketches merged in the same order included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner

from stream.app import build_pipelines
from stream.jsonl import iter_file_records
from stream.outcomes import RejectReason
from stream.pipeline import Pipeline
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.state import PartitionState

__all__ = ["Replay", "replay_file", "partition_for"]

_partitioner = DefaultPartitioner()
FLUSH_EVERY = 5000  # records per partition between flushes, like an engine batch


def partition_for(key: bytes | None, partitions: int) -> int:
    """Kafka's default partition for a key (records without a key go to partition 0 here)."""
    if key is None:
        return 0
    every = list(range(partitions))
    return int(_partitioner(key, every, every))


@dataclass
class Replay:
    pipelines: dict[str, Pipeline]
    states: dict[str, list[PartitionState]]
    processed: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    rejected: dict[tuple[str, RejectReason], int] = field(default_factory=dict)


def replay_file(
    path: Path,
    settings: PulseSettings,
    topics: tuple[str, ...],
    default_topic: str | None = None,
    on_record: Callable[[], None] | None = None,
    registry: FamilyRegistry | None = None,
) -> Replay:
    """Run every record of `topics` in the file through its pipeline, partitioned as Kafka would."""
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

    def run(topic: str, p: int) -> None:
        values, stamps = pending.pop((topic, p), ([], []))
        if not values:
            return
        outcome = pipelines[topic].handle_many(result.states[topic][p], values, stamps)
        result.processed[topic] = result.processed.get(topic, 0) + outcome.processed
        result.duplicates[topic] = result.duplicates.get(topic, 0) + outcome.duplicates
        for _, r in outcome.rejected:
            result.rejected[(topic, r.reason)] = result.rejected.get((topic, r.reason), 0) + 1
        state = result.states[topic][p]
        pipelines[topic].flush(state)  # changes no figure; bounds memory
        state.discard_changes()  # no changelog here: what a worker would write is not kept

    for topic, key, value, stamp in iter_file_records(path, default_topic):
        if on_record:
            on_record()
        if topic not in pipelines:
            continue
        p = partition_for(key, n)
        values, stamps = pending.setdefault((topic, p), ([], []))
        values.append(value)
        stamps.append(stamp)
        if len(values) >= FLUSH_EVERY:
            run(topic, p)
    for topic, p in list(pending):
        run(topic, p)
    return result
