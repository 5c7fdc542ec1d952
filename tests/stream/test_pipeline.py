"""The batch path of the pipeline gives exactly what the per-record path gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from consumers.engagement.family import EngagementFamily
from consumers.engagement.ledger import micros_of
from consumers.engagement.processor import EngagementProcessor
from stream.app import build_pipelines
from stream.decoding import Accepted, decode_record
from stream.family import Processor
from stream.outcomes import RejectReason
from stream.settings import PulseSettings
from stream.state import PartitionState
from stream.topics import spec_for


def records() -> list[bytes | None]:
    good = [
        {
            "event_id": f"p{i}",
            "type": "track",
            "occurred_at": f"2026-01-15T10:{i % 60:02d}:00Z",
            "name": ["login", "page_view", "feature_used", "signed_up"][i % 4],
            "user_id": f"u{i % 13}",
            "feature": "reports",
            "session_id": f"s{i % 5}" if i % 3 else None,
        }
        for i in range(300)
    ]
    out: list[bytes | None] = [orjson.dumps(e) for e in good]
    out += [
        orjson.dumps(good[7]),
        b"{oops",
        None,
        orjson.dumps(good[:3] + [{**good[9], "event_id": "arr-1"}]),
        orjson.dumps(
            [
                {**good[9], "event_id": "arr-late", "occurred_at": "2026-01-10T00:00:00Z"},
                {**good[9], "event_id": "arr-2"},
            ]
        ),
        orjson.dumps([good[1], {"type": "track"}]),
        b"[]",
        orjson.dumps({**good[0], "event_id": "late", "occurred_at": "2026-01-10T00:00:00Z"}),
        orjson.dumps({**good[0], "event_id": "naive", "occurred_at": "2026-01-15T10:00:00"}),
    ]
    return out


def run(batch: bool) -> tuple[PartitionState, tuple[int, int, list[tuple[str, bytes]]]]:
    settings = PulseSettings(topic_partitions=1)  # every entity at home: nothing forwarded
    processor = EngagementFamily(settings).processor("product-events")
    pipeline = build_pipelines(settings, {"product-events": processor})["product-events"]
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    values = records()
    if batch:
        out = pipeline.handle_many(state, values)
        summary = (out.processed, out.duplicates, [(r.reason, r.raw) for _, r in out.rejected])
    else:
        processed = duplicates = 0
        rejected = []
        for raw in values:
            one = pipeline.handle(state, raw)
            processed += one.processed
            duplicates += one.duplicates
            rejected += [(r.reason, r.raw) for r in one.rejected]
        summary = (processed, duplicates, rejected)
    pipeline.flush(state)
    return state, summary


def test_handle_many_equals_handle_record_by_record() -> None:
    batch_state, batch = run(True)
    single_state, single = run(False)
    assert batch == single
    assert batch[0] == 302 and batch[1] == 5
    assert sorted(r for r, _ in batch[2]) == ["invalid_json", "invalid_json", "late", "late", "timestamp", "timestamp"]
    # the same changelog, so the same state (the kernel keeps its stores and emits their records)
    batch_changes, single_changes = dict(batch_state.drain_changes()), dict(single_state.drain_changes())
    assert batch_changes == single_changes
    assert any(k.startswith(b"session_log\x1f") for k in batch_changes) and any(
        k.startswith(b"sketch\x1f") for k in batch_changes
    )


def test_a_topic_without_a_family_refuses_what_its_dedupe_may_have_forgotten() -> None:
    """A topic no family reduces only counts: a resend older than the dedupe memory would count twice."""
    from stream.family import CountOnly

    settings = PulseSettings(dedupe_retention_days=7, topic_partitions=1)
    pipeline = build_pipelines(settings, {"leads": CountOnly()})["leads"]
    state = PartitionState(0, codecs=pipeline.codecs)

    def lead(event_id: str, day: int) -> bytes:
        return orjson.dumps(
            {"event_id": event_id, "type": "lead_created", "occurred_at": f"2026-03-{day:02d}T10:00:00Z",
             "lead_id": f"l-{event_id}", "channel": "ads"}
        )  # fmt: skip

    first = pipeline.handle_many(state, [lead("old", 1), lead("mid", 14), lead("now", 20)])
    assert first.processed == 3 and not first.rejected
    again = pipeline.handle_many(state, [lead("old", 1), lead("mid", 14), lead("new", 13), lead("x", 12)])
    assert again.duplicates == 1  # "mid": remembered
    # "new": day 13 is 7 days behind day 20, and every id of day 13 or later is still held
    assert again.processed == 1  # "new"
    assert [(r.reason, r.error.split(" is ")[0]) for _, r in again.rejected] == [
        (RejectReason.LATE, "late: occurred_at 2026-03-01T10:00:00+00:00"),
        (RejectReason.LATE, "late: occurred_at 2026-03-12T10:00:00+00:00"),
    ]


class _OneByOne(EngagementProcessor):
    """The engagement reducer without its bulk path: every record goes through ``handle``."""

    bulk = False


def _latest_valid(raw: bytes | None) -> int | None:
    """The latest occurred_at (epoch µs) of a record's valid events, read by pydantic."""
    times = [
        micros_of(r.event.occurred_at)
        for r in decode_record(spec_for("product-events"), raw)
        if isinstance(r, Accepted)
    ]
    return max(times, default=None)


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize(
    ("cut", "takes"),
    [("2026-01-09T00:00:00Z", "none"), ("2026-01-15T10:20:30Z", "some"), ("2026-01-15T10:58:00Z", "some"),
     ("2026-02-01T00:00:00Z", "all")],
)  # fmt: skip
def test_until_leaves_the_records_from_the_first_later_one_untouched(bulk: bool, cut: str, takes: str) -> None:
    """``until`` stops before the first record with a valid event after it (invalid ones, and
    those the kernel leaves to pydantic, are taken on the way): what is taken equals a run of
    those records alone, and the rest then gives the state of one run of everything."""
    values = records()
    until = micros_of(datetime.fromisoformat(cut))
    stop = next((i for i, raw in enumerate(values) if (t := _latest_valid(raw)) is not None and t > until), None)

    def fresh() -> tuple[PartitionState, Any]:
        settings = PulseSettings(topic_partitions=1)
        family = EngagementFamily(settings).processor("product-events")
        processor = family if bulk else _OneByOne(family.config)  # type: ignore[attr-defined]  # an EngagementProcessor
        pipeline = build_pipelines(settings, {"product-events": processor})["product-events"]
        state = PartitionState(0, codecs=pipeline.codecs)
        pipeline.loaded(state)
        return state, pipeline

    state, pipeline = fresh()
    first = pipeline.handle_many(state, values, until=until)
    taken = len(values) if stop is None else stop
    assert first.stopped == (None if stop is None else (stop, _latest_valid(values[stop])))
    alone_state, alone_pipeline = fresh()
    alone = alone_pipeline.handle_many(alone_state, values[:taken])
    assert (first.processed, first.duplicates, first.rejected) == (alone.processed, alone.duplicates, alone.rejected)
    assert first.latest == max((t for raw in values[:taken] if (t := _latest_valid(raw)) is not None), default=None)
    rest = pipeline.handle_many(state, values[taken:])
    whole_state, whole_pipeline = fresh()
    whole = whole_pipeline.handle_many(whole_state, values)
    assert first.processed + rest.processed == whole.processed
    assert first.duplicates + rest.duplicates == whole.duplicates
    assert len(first.rejected) + len(rest.rejected) == len(whole.rejected)
    pipeline.flush(state)
    whole_pipeline.flush(whole_state)
    assert pipeline.processor.ledger(state).days == whole_pipeline.processor.ledger(whole_state).days
    assert takes == ("all" if stop is None else "none" if stop == 0 else "some")


class Flushing(Processor):
    """Records the partitions it is asked to flush, in order."""

    def __init__(self) -> None:
        self.flushed: list[int] = []

    def flush(self, state: PartitionState) -> None:
        self.flushed.append(state.partition)


def test_flush_many_is_each_partitions_flush_by_default() -> None:
    processor = Flushing()
    pipeline = build_pipelines(PulseSettings(), {"product-events": processor})["product-events"]
    pipeline.flush_many([PartitionState(p, codecs=pipeline.codecs) for p in (3, 0, 5)])
    assert processor.flushed == [3, 0, 5]


def test_engagement_flush_many_writes_what_flushing_each_partition_writes() -> None:
    """Two partitions' engagement state after the same records: flushed together (the kernels
    side by side) or one after the other, the same changelog records and publishing marks."""
    settings = PulseSettings(topic_partitions=2)  # each partition applies its users' events
    sides = []
    for together in (True, False):
        processor = EngagementFamily(settings).processor("product-events")
        pipeline = build_pipelines(settings, {"product-events": processor})["product-events"]
        states = [PartitionState(p, codecs=pipeline.codecs) for p in (0, 1)]
        for n, state in enumerate(states):
            pipeline.loaded(state)
            pipeline.handle_many(state, records()[n * 100 :])
            state.next_offset = 40 + n
        if together:
            pipeline.flush_many(states)
        else:
            for state in states:
                pipeline.flush(state)
        assert isinstance(processor, EngagementProcessor)
        sides.append(
            (
                [state.drain_changes() for state in states],
                processor.unpublished,
                processor.unpublished_accounts,
            )
        )
    assert sides[0] == sides[1]
    changes = sides[0][0]
    assert all(len(c) > 10 for c in changes) and changes[0] != changes[1]
