"""Replays an event file through the same pipelines and processors the workers run.

No Kafka: each file line becomes the bytes a producer would have sent, and goes through
decode -> validate -> dedupe -> processor exactly as in the engine. Streaming and replay
therefore give identical numbers (tests/integration/test_revenue_parity.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from stream.app import build_pipelines
from stream.exporter import IngestMetrics
from stream.jsonl import iter_records
from stream.pipeline import Pipeline
from stream.settings import PulseSettings
from stream.state import PartitionState

__all__ = ["Replay", "replay_file"]


@dataclass
class Replay:
    pipelines: dict[str, Pipeline]
    states: dict[str, PartitionState]
    processed: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    rejected: dict[tuple[str, str], int] = field(default_factory=dict)


def replay_file(
    path: Path,
    settings: PulseSettings,
    topics: tuple[str, ...],
    default_topic: str | None = None,
    on_record: Callable[[], None] | None = None,
) -> Replay:
    """Run every record of `topics` in the file through its pipeline, in file order."""
    from consumers import build_processors

    processors = {k: v for k, v in build_processors(settings, IngestMetrics()).items() if k in topics}
    pipelines = build_pipelines(settings, processors)
    result = Replay(pipelines, {name: PartitionState(0, codecs=p.codecs) for name, p in pipelines.items()})
    for name in pipelines:
        pipelines[name].loaded(result.states[name])
    seen = 0
    for topic, _key, value in iter_records(path, default_topic):
        if on_record:
            on_record()
        if topic not in pipelines:
            continue
        outcome = pipelines[topic].handle(result.states[topic], value)
        seen += 1
        if seen % 5000 == 0:  # as the engine does after each batch (flushing changes no figure)
            pipelines[topic].flush(result.states[topic])
        result.processed[topic] = result.processed.get(topic, 0) + outcome.processed
        result.duplicates[topic] = result.duplicates.get(topic, 0) + outcome.duplicates
        for r in outcome.rejected:
            result.rejected[(topic, r.reason)] = result.rejected.get((topic, r.reason), 0) + 1
    for name, pipeline in pipelines.items():
        pipeline.flush(result.states[name])
    return result
