"""The engine-health metrics (docs/metrics.md, "Engine health") have the values defined there,
recorded where the worker records them: the engine's batch loop (commit, publish, recovery,
rebalances) and the /metrics page.

Kafka and Redis are replaced by in-memory doubles and the engine's clock by a hand-set one, so
every latency is known to the millisecond; the engine code is the worker's.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from stream.app import build_pipelines
from stream.engine import IngestEngine, changelog_topic, repartition_topic
from stream.exporter import VISIBLE_LATENCY_BUCKETS, IngestMetrics, PendingStamps, SnapshotClock, VisibleLatency, render
from stream.family import Processor
from stream.health import Dependency
from stream.pipeline import partition_for
from stream.progress import PROGRESS_HEARTBEAT_SECONDS, WorkerProgress
from stream.settings import PulseSettings
from stream.state import PartitionState
from stream.writers import AcknowledgedWriter
from tests.factories import make_subscription
from tests.stream.web_standin import Web, registered_pages

SUBS = "subscriptions"
LATENCY = "pulse_event_visible_latency_seconds"
#: the engine's wall clock in these tests (2026-09-21), epoch ms; records are stamped before it
T = 1_790_000_000_000
LOG_APPEND_TIME = 1


# --- doubles -----------------------------------------------------------------------------------


@dataclass
class Record:
    value: bytes | None
    offset: int
    timestamp: int
    timestamp_type: int = 0  # CreateTime
    key: bytes | None = None
    headers: list[tuple[str, bytes]] | None = None


class Clock:
    """Stands in for the ``time`` module inside stream/engine.py (and stream/web.py)."""

    def __init__(self, now_ms: int = T, step: float = 0.0) -> None:
        self.now_ms = now_ms
        self.step = step  # seconds each perf_counter() call moves on
        self.perf = 100.0

    def time_ns(self) -> int:
        return self.now_ms * 1_000_000

    def time(self) -> float:
        return self.now_ms / 1000

    def perf_counter(self) -> float:
        self.perf += self.step
        return self.perf

    def monotonic(self) -> float:
        return self.perf


class _Batch:
    def __init__(self) -> None:
        self.records = 0

    def append(self, key: bytes | None, value: bytes | None, timestamp: int | None) -> object:
        self.records += 1
        return object()  # never full


class FakeProducer:
    """Accepts every write at once; counts the records appended to each topic's batches and
    keeps the single sends (dead letters, forwarded events)."""

    def __init__(self) -> None:
        self.appended: dict[str, int] = {}
        self.sent: list[dict[str, Any]] = []

    def _done(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=len(self.sent)))
        return future

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[Any]:
        self.sent.append({"topic": topic, **kwargs})
        return self._done()

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> asyncio.Future[Any]:
        self.appended[topic] = self.appended.get(topic, 0) + batch.records
        return self._done()


@dataclass
class FakeConsumer:
    """What the engine asks of its consumer; ``script`` is what getmany returns, batch by batch,
    then the engine is told to stop."""

    engine: IngestEngine | None = None
    assigned: set[TopicPartition] = field(default_factory=set)
    script: list[dict[TopicPartition, list[Record]]] = field(default_factory=list)
    commits: int = 0
    #: end offsets a fetch has reported, by partition (aiokafka: None until one has)
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    #: whether the loop's last fetch finds nothing (else it stops on the last scripted batch)
    idle_at_end: bool = True
    #: last stable offsets reported (read committed), by partition
    stable: dict[TopicPartition, int] = field(default_factory=dict)
    #: the next offset to fetch, by partition (past any end when not given)
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass

    def pause(self, *tps: TopicPartition) -> None:
        pass

    def resume(self, *tps: TopicPartition) -> None:
        pass

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 10**9)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        return self.stable.get(tp)  # none reported: the high watermark is the end

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits += 1

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        if self.script:
            batch = self.script.pop(0)
            if not self.script and not self.idle_at_end:
                assert self.engine is not None
                self.engine._stopped.set()  # stopped with records in hand: no empty fetch
            return batch
        assert self.engine is not None
        self.engine._stopped.set()  # the last iteration: nothing more to read
        return {}


class FakeBoard:
    """The deployment's progress board (stream/progress.py): the entries written, in order."""

    def __init__(self) -> None:
        self.written: list[WorkerProgress] = []
        self.dropped: list[str] = []

    async def put(self, progress: WorkerProgress) -> None:
        self.written.append(progress)

    async def drop(self, worker: str) -> None:
        self.dropped.append(worker)


class FakeSnapshots:
    async def marker_intact(self, worker: str) -> bool:
        return True

    def new_epoch(self) -> None:
        pass

    async def close(self) -> None:
        pass


class Publishing(Processor):
    """Applies every event; its publish records the partition, or fails like Redis down."""

    def __init__(self) -> None:
        self.published: list[int] = []
        self.fail = False

    async def publish(self, state: PartitionState, snapshots: Any) -> None:
        if self.fail:
            raise ConnectionError("Connection refused")
        self.published.append(state.partition)


@dataclass
class Rig:
    engine: IngestEngine
    metrics: IngestMetrics
    producer: FakeProducer
    consumer: FakeConsumer
    processor: Publishing
    clock: Clock

    def tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.engine.settings.topic(SUBS), partition)

    def rp(self, partition: int) -> TopicPartition:
        return TopicPartition(repartition_topic(self.engine.settings, SUBS), partition)

    def own(self, *partitions: int) -> None:
        """As on_assigned leaves them: a recovered (empty) state and a writer per partition."""
        pipeline = self.engine.pipelines[SUBS]
        for p in partitions:
            state = PartitionState(p, codecs=pipeline.codecs)
            pipeline.loaded(state)
            self.engine.states[self.tp(p)] = state
            self.engine.writers[self.tp(p)] = AcknowledgedWriter(self.producer)  # type: ignore[arg-type]
            self.consumer.assigned |= {self.tp(p), self.rp(p)}

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def bucket(self, le: float) -> float | None:
        return self.sample(f"{LATENCY}_bucket", topic=SUBS, le=str(le))

    async def commit(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """A batch applied, written, sealed and settled (no publish)."""
        written = await self.engine.process_batch(batch)
        await self.engine._seal(written)
        await self.engine._settle(written)

    async def run(self, *batches: dict[TopicPartition, list[Record]]) -> None:
        """The worker's own loop over these batches, until it finds nothing more to read."""
        self.consumer.script = list(batches)
        self.engine._stopped.clear()
        await IngestEngine._consume(self.engine)  # type: ignore[call-arg]  # the Service.task's function


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Rig:
    for name in [n for n in os.environ if n.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    settings = PulseSettings.model_validate({"topic_partitions": 2, "transactions": False})
    processor = Publishing()
    metrics = IngestMetrics(CollectorRegistry())
    engine = IngestEngine(settings, build_pipelines(settings, {SUBS: processor}), metrics)
    producer, consumer, clock = FakeProducer(), FakeConsumer(), Clock()
    consumer.engine = engine
    engine.producer, engine.consumer = producer, consumer  # type: ignore[assignment]  # test doubles
    engine.snapshots = FakeSnapshots()  # type: ignore[assignment]
    engine.progress = FakeBoard()  # type: ignore[assignment]
    monkeypatch.setattr("stream.engine.time", clock)
    return Rig(engine, metrics, producer, consumer, processor, clock)


async def fail_writes(engine: IngestEngine, written: Any, tp: TopicPartition) -> None:
    """Seal and settle a sent batch whose writes for ``tp`` fail (the broker timed out)."""
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("KafkaTimeoutError"))
    writer = written.writers[tp]
    assert isinstance(writer, AcknowledgedWriter)
    writer.writes.append(failed)
    await engine._seal(written)
    await engine._settle(written)


def customer(home: int, n: int = 0) -> str:
    """A customer id whose events belong to partition ``home`` of 2."""
    found = [c for i in range(200) if partition_for((c := f"c{i}").encode(), 2) == home]
    return found[n]


def record(offset: int, stamp: int, who: str, event_id: str | None = None, **fields: Any) -> Record:
    event = make_subscription(event_id=event_id or f"e-{who}-{offset}", customer_id=who)
    return Record(orjson.dumps(event), offset, stamp, key=who.encode(), **fields)


def cumulative(latencies_ms: list[int]) -> dict[float, int]:
    return {le: sum(1 for ms in latencies_ms if ms <= le * 1000) for le in VISIBLE_LATENCY_BUCKETS}


# --- event-to-visible latency ------------------------------------------------------------------


async def test_a_record_is_observed_once_its_batch_is_committed_and_then_published(rig: Rig) -> None:
    rig.own(0)
    who = customer(0)
    ages = [3_000, 15_000, 40]  # ms before the batch was read
    await rig.commit({rig.tp(0): [record(i, T - age, who) for i, age in enumerate(ages)]})
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) is None  # committed, but not in Redis yet
    rig.clock.now_ms = T + 500
    await rig.engine.publish_snapshots(force=True)
    assert rig.processor.published == [0]
    latencies = [age + 500 for age in ages]  # 3.5 s, 15.5 s, 0.54 s
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 3
    assert rig.sample(f"{LATENCY}_sum", topic=SUBS) == pytest.approx(sum(latencies) / 1000)
    for le, count in cumulative(latencies).items():
        assert rig.bucket(le) == count, le
    assert rig.bucket(0.5) == 0 and rig.bucket(1.0) == 1 and rig.bucket(5.0) == 2 and rig.bucket(30.0) == 3
    assert rig.sample(f"{LATENCY}_bucket", topic=SUBS, le="+Inf") == 3
    rig.clock.now_ms = T + 5_000
    await rig.engine.publish_snapshots(force=True)  # nothing new: no second observation
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 3


async def test_the_worker_loop_observes_each_record_once_at_the_later_of_commit_and_publish(rig: Rig) -> None:
    """In the loop, a partition is published right after the next batch is sent: its snapshot
    then holds the batch in flight, which becomes visible the moment it is committed."""
    rig.own(0, 1)
    first = {rig.tp(0): [record(i, T - 2_000, customer(0, i)) for i in range(4)]}
    second = {rig.tp(1): [record(i, T - 100, customer(1, i)) for i in range(2)]}
    await rig.run(first, second)
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 6
    assert rig.sample(f"{LATENCY}_sum", topic=SUBS) == pytest.approx(4 * 2.0 + 2 * 0.1)
    assert rig.bucket(0.1) == 2 and rig.bucket(1.0) == 2 and rig.bucket(2.5) == 6
    assert rig.consumer.commits == 2  # every batch was settled
    await rig.run()  # idle: nothing is observed twice
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 6


async def test_a_worker_behind_publishes_once_a_second_else_four_times(rig: Rig) -> None:
    """Each partition's snapshot is throttled: 0.25 s between two publishes once caught up and
    fetching less than a full batch; 1 s while catching up or after a full fetch."""
    engine = rig.engine
    rig.own(0)
    now = asyncio.get_running_loop().time()
    engine.resync_pending, engine.marker_checked_at = False, now  # Redis checked a moment ago

    async def published_after(seconds: float) -> bool:
        rig.processor.published.clear()
        engine.unpublished.add(rig.tp(0))
        engine.published_at[rig.tp(0)] = now - seconds
        await engine.publish_snapshots(force=False)
        return rig.processor.published == [0]

    assert engine.behind  # from the start: catching up
    assert not await published_after(0.5) and await published_after(1.01)
    engine.behind = False
    assert await published_after(0.3) and not await published_after(0.1)
    # the loop decides: a fetch short of a batch once caught up, then a full one
    engine.caught_up.set()
    rig.consumer.ends.update({rig.tp(0): 10**9, rig.rp(0): 0})
    engine.assigned_sources = {rig.tp(0)}
    rig.consumer.idle_at_end = False
    await rig.run({rig.tp(0): [record(0, T - 100, customer(0))]})
    assert not engine.behind
    full = [record(i, T - 100, customer(0, i % 50)) for i in range(1, engine.max_records + 1)]
    await rig.run({rig.tp(0): full})
    assert engine.behind


async def test_caught_up_waits_for_every_end_offset_and_an_empty_fetch(rig: Rig) -> None:
    """Alerting waits on this latch: an empty fetch before the fetches reported end offsets,
    or while one assigned partition's end is unknown (a source's or its repartition
    partition's), says nothing about the backlog."""
    rig.own(0, 1)
    rig.engine.assigned_sources = {rig.tp(0), rig.tp(1)}
    await rig.run()  # an empty fetch, no end offset known yet
    assert not rig.engine.caught_up.is_set()
    rig.consumer.ends[rig.tp(0)] = 4
    await rig.run({rig.tp(0): [record(i, T - 100, customer(0, i)) for i in range(4)]})
    assert not rig.engine.caught_up.is_set()  # partition 1's end still unknown
    rig.consumer.ends[rig.tp(1)] = 0
    await rig.run({rig.tp(0): [record(4, T - 100, customer(0, 4))]})
    assert not rig.engine.caught_up.is_set()  # the repartition partitions' ends unknown
    rig.consumer.ends.update({rig.rp(0): 0, rig.rp(1): 0})
    await rig.run()
    assert rig.engine.caught_up.is_set()
    entry = rig.engine.progress.written[-1]  # type: ignore[attr-defined]  # the FakeBoard
    assert entry.caught_up and entry.partitions == (f"{rig.tp(0).topic}:0", f"{rig.tp(0).topic}:1")
    assert entry.worker == rig.engine.worker_id


async def test_an_empty_fetch_short_of_an_end_offset_is_not_caught_up(rig: Rig) -> None:
    """After a recovery's seek the fetch of what lies past the checkpoint may not have answered
    yet: the end offsets are known (an earlier fetch), the getmany is empty, the position is
    short of the end. Nor is a partition caught up with records carried for a later batch, or
    while a recovery runs."""
    rig.own(0)
    rig.engine.assigned_sources = {rig.tp(0)}
    rig.consumer.ends.update({rig.tp(0): 10, rig.rp(0): 0})
    rig.consumer.positions[rig.tp(0)] = 7
    await rig.run()
    assert not rig.engine.caught_up.is_set()
    rig.consumer.positions[rig.tp(0)] = 10
    rig.engine.recoveries = 1
    await rig.run()
    assert not rig.engine.caught_up.is_set()
    rig.engine.recoveries = 0
    assert await rig.engine._read_to_end()
    rig.engine.carry[rig.tp(0)] = [record(9, T - 100, customer(0))]
    assert not await rig.engine._read_to_end()
    del rig.engine.carry[rig.tp(0)]
    await rig.run()
    assert rig.engine.caught_up.is_set()


async def test_a_transaction_left_open_ends_the_reading_at_the_last_stable_offset(rig: Rig) -> None:
    """Read committed: records past the last stable offset are not readable until their
    transaction ends, so the reading ends there, not at the high watermark."""
    rig.own(0)
    rig.engine.assigned_sources = {rig.tp(0)}
    rig.consumer.ends.update({rig.tp(0): 10, rig.rp(0): 0})
    rig.consumer.positions[rig.tp(0)] = 6
    rig.consumer.stable[rig.tp(0)] = 6
    assert await rig.engine._read_to_end()
    rig.consumer.stable[rig.tp(0)] = 8
    assert not await rig.engine._read_to_end()


async def test_the_progress_entry_is_written_when_it_changes_and_as_a_heartbeat(rig: Rig) -> None:
    engine, board = rig.engine, rig.engine.progress
    assert isinstance(board, FakeBoard)
    engine.consumer._coordinator = SimpleNamespace(generation=7)  # type: ignore[union-attr]  # aiokafka's
    await engine.share_progress()
    assert [(e.generation, e.partitions, e.caught_up) for e in board.written] == [(7, (), False)]
    await engine.share_progress()  # nothing changed, the heartbeat not due
    assert len(board.written) == 1
    rig.clock.perf += PROGRESS_HEARTBEAT_SECONDS
    await engine.share_progress()
    assert len(board.written) == 2 and board.written[1].written_at == T / 1000
    rig.own(0)

    async def recovered(sources: list[TopicPartition]) -> None:
        pass  # rig.own left the state as a recovery would

    engine._recover = recovered  # type: ignore[method-assign]
    await engine.on_assigned([rig.tp(0), rig.rp(0)])
    assert board.written[-1].partitions == (f"{rig.tp(0).topic}:0",) and not board.written[-1].caught_up
    engine.caught_up.set()
    await engine.on_revoked([rig.tp(0), rig.rp(0)])
    assert board.written[-1].partitions == () and board.written[-1].caught_up


async def test_caught_up_is_not_set_by_a_fetch_with_records_nor_without_an_assignment(rig: Rig) -> None:
    rig.own(0)
    rig.consumer.ends.update({rig.tp(0): 10, rig.rp(0): 0})
    await rig.run()  # nothing assigned to this worker yet (its sources are empty)
    assert not rig.engine.caught_up.is_set()
    rig.engine.assigned_sources = {rig.tp(0)}
    rig.consumer.idle_at_end = False
    await rig.run({rig.tp(0): [record(0, T - 100, customer(0))]})  # every fetch brought records
    assert rig.engine.states[rig.tp(0)].next_offset == 1 and not rig.engine.caught_up.is_set()
    rig.consumer.idle_at_end = True
    await rig.run()
    assert rig.engine.caught_up.is_set()
    await rig.run({rig.tp(0): [record(1, T - 100, customer(0, 1))]})
    assert rig.engine.caught_up.is_set()  # a latch: later batches leave it set


def test_a_rebalance_that_gives_partitions_means_catching_up_again(rig: Rig) -> None:
    """Partitions gained come with what their last owner left unread; one that only takes
    partitions away (or gives back the same) leaves the latch set."""
    engine = rig.engine
    engine._catch_up_on({rig.tp(0)})  # the first assignment: not caught up yet anyway
    assert not engine.caught_up.is_set()
    engine.caught_up.set()
    engine._catch_up_on({rig.tp(0)})  # the same partition again (an eager rebalance)
    assert engine.caught_up.is_set()
    engine._catch_up_on({rig.tp(0), rig.tp(1)})  # partition 1 gained
    assert not engine.caught_up.is_set()
    engine.caught_up.set()
    engine._catch_up_on({rig.tp(1)})  # partition 0 lost: nothing new to read (its next owner's
    assert engine.caught_up.is_set()  # backlog is in that worker's entry: stream/progress.py)


async def test_forwarded_log_append_time_and_timeless_records_are_not_observed_at_their_source(
    rig: Rig,
) -> None:
    """A record forwarded to its entity's partition is observed there, once, with its source
    record's timestamp (its copy keeps it); broker-stamped and unstamped records never."""
    rig.own(0, 1)
    at_home, elsewhere = customer(0), customer(1)
    await rig.commit(
        {
            rig.tp(0): [
                record(0, T - 1_000, at_home),
                record(1, T - 7_000, elsewhere),  # forwarded to partition 1
                record(2, T - 1_000, at_home, timestamp_type=LOG_APPEND_TIME),
                record(3, -1, at_home),  # no timestamp
            ]
        }
    )
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 1
    assert rig.sample(f"{LATENCY}_sum", topic=SUBS) == pytest.approx(1.0)
    assert rig.sample("pulse_events_forwarded_total", topic=SUBS) == 1

    (forward,) = [s for s in rig.producer.sent if s["topic"] == rig.rp(1).topic]
    assert forward["timestamp_ms"] == T - 7_000
    copy = Record(forward["value"], 0, forward["timestamp_ms"], key=forward["key"])
    await rig.commit({rig.rp(1): [copy]})
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 2
    assert rig.sample(f"{LATENCY}_sum", topic=SUBS) == pytest.approx(1.0 + 7.0)
    assert rig.bucket(5.0) == 1 and rig.bucket(10.0) == 2


async def test_a_partition_revoked_before_its_publish_takes_its_records_with_it(rig: Rig) -> None:
    """Committed but never published by this worker: its next owner publishes the partition."""
    rig.own(0)
    await rig.commit({rig.tp(0): [record(0, T - 1_000, customer(0))]})
    await rig.engine.on_revoked([rig.tp(0), rig.rp(0)])
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) is None
    assert rig.engine.pending_visible == {}


async def test_records_wait_while_redis_is_down_and_are_observed_when_it_is_back(rig: Rig) -> None:
    rig.own(0)
    rig.clock.step = 0.004  # each publish takes 4 ms
    await rig.commit({rig.tp(0): [record(0, T - 1_000, customer(0))]})
    rig.processor.fail = True
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample("pulse_dependency_up", dependency="redis") == 0
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) is None
    assert rig.sample("pulse_redis_roundtrip_seconds_count") == 0  # a failed publish is no round trip
    rig.processor.fail = False
    rig.clock.now_ms = T + 60_000
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample("pulse_dependency_up", dependency="redis") == 1
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) == 1
    assert rig.sample(f"{LATENCY}_sum", topic=SUBS) == pytest.approx(61.0)
    assert rig.bucket(60.0) == 0 and rig.sample(f"{LATENCY}_bucket", topic=SUBS, le="+Inf") == 1
    assert rig.sample("pulse_redis_roundtrip_seconds_count") == 1
    assert rig.sample("pulse_redis_roundtrip_seconds_sum") == pytest.approx(0.004)


async def test_redis_roundtrip_is_one_observation_per_partition_published(rig: Rig) -> None:
    rig.own(0, 1)
    rig.clock.step = 0.002
    await rig.commit({rig.tp(0): [record(0, T - 10, customer(0))], rig.tp(1): [record(0, T - 10, customer(1))]})
    await rig.engine.publish_snapshots(force=True)
    assert sorted(rig.processor.published) == [0, 1]
    assert rig.sample("pulse_redis_roundtrip_seconds_count") == 2
    assert rig.sample("pulse_redis_roundtrip_seconds_sum") == pytest.approx(0.004)
    assert rig.sample("pulse_redis_roundtrip_seconds_bucket", le="0.0025") == 2


# --- changelog records -------------------------------------------------------------------------


async def test_changelog_records_are_the_committed_changes_and_checkpoints(rig: Rig) -> None:
    rig.own(0, 1)
    changelog = changelog_topic(rig.engine.settings, SUBS)
    await rig.commit({rig.tp(0): [record(i, T, customer(0, i)) for i in range(3)]})
    await rig.commit({rig.tp(0): [record(3, T, customer(0))], rig.tp(1): [record(0, T, customer(1))]})
    written = rig.producer.appended[changelog]
    assert written >= 3 + 2 + 3  # at least a dedupe record per event, and a checkpoint per partition batch
    assert rig.sample("pulse_changelog_records_total", topic=SUBS) == written


async def test_a_batch_whose_writes_failed_writes_no_changelog_records(rig: Rig) -> None:
    rig.own(0)
    written = await rig.engine.process_batch({rig.tp(0): [record(0, T, customer(0))]})
    await fail_writes(rig.engine, written, rig.tp(0))
    assert rig.sample("pulse_partition_reloads_total", topic=SUBS) == 1
    assert rig.sample("pulse_changelog_records_total", topic=SUBS) is None
    await rig.engine.publish_snapshots(force=True)
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) is None  # read again, observed then


# --- recovery and rebalances -------------------------------------------------------------------


async def test_recovery_rounds_rebalances_and_assigned_partitions(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    seen_during_load: list[float | None] = []
    rig.clock.step = 1.5  # the round below: two clock readings, 1.5 s apart

    async def load(broker: str, changelogs: dict[TopicPartition, Any]) -> dict[TopicPartition, PartitionState]:
        seen_during_load.append(rig.sample("pulse_recovery_in_progress"))
        return {tp: PartitionState(tp.partition, codecs=codecs) for tp, codecs in changelogs.items()}

    monkeypatch.setattr("stream.engine.load_partition_states", load)
    assert rig.sample("pulse_rebalances_total") == 0 and rig.sample("pulse_recovery_in_progress") == 0
    everything = [rig.tp(0), rig.tp(1), rig.rp(0), rig.rp(1)]
    rig.consumer.assigned = set(everything)
    await rig.engine.on_assigned(everything)
    assert seen_during_load == [1]
    assert rig.sample("pulse_recovery_in_progress") == 0
    assert rig.sample("pulse_recovery_seconds_count") == 1
    assert rig.sample("pulse_recovery_seconds_sum") == pytest.approx(1.5)
    assert rig.sample("pulse_recovery_seconds_bucket", le="2.5") == 1
    assert rig.sample("pulse_recovery_seconds_bucket", le="1.0") == 0
    assert rig.sample("pulse_rebalances_total") == 1
    assert rig.sample("pulse_assigned_partitions") == 2  # source partitions; repartition ones not counted

    await rig.engine.on_revoked(everything)
    assert rig.sample("pulse_assigned_partitions") == 0
    await rig.engine.on_assigned([])  # more workers than partitions: a rebalance, no recovery round
    assert rig.sample("pulse_rebalances_total") == 2
    assert rig.sample("pulse_recovery_seconds_count") == 1
    await rig.engine.on_assigned([rig.tp(1), rig.rp(1)])
    assert rig.sample("pulse_rebalances_total") == 3 and rig.sample("pulse_assigned_partitions") == 1
    assert rig.sample("pulse_recovery_seconds_count") == 2


async def test_a_failed_recovery_round_clears_the_gauge_and_is_not_timed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(broker: str, changelogs: dict[TopicPartition, Any]) -> dict[TopicPartition, PartitionState]:
        assert rig.sample("pulse_recovery_in_progress") == 1
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("stream.engine.load_partition_states", unreachable)
    with pytest.raises(ConnectionError):
        await rig.engine._recover([rig.tp(0)])
    assert rig.sample("pulse_recovery_in_progress") == 0
    assert rig.sample("pulse_recovery_seconds_count") == 0


async def test_records_replayed_by_recovery_are_not_observed(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery rebuilds the state from the changelog: nothing there is a record to observe, and
    the snapshot republished after it adds no observation."""

    async def load(broker: str, changelogs: dict[TopicPartition, Any]) -> dict[TopicPartition, PartitionState]:
        states = {}
        for tp, codecs in changelogs.items():
            state = PartitionState(tp.partition, codecs=codecs)
            state.next_offset = 500  # as if 500 records had been applied and checkpointed
            states[tp] = state
        return states

    monkeypatch.setattr("stream.engine.load_partition_states", load)
    await rig.engine.on_assigned([rig.tp(0), rig.rp(0)])
    await rig.engine.publish_snapshots(force=True)
    assert rig.processor.published == [0]
    assert rig.sample(f"{LATENCY}_count", topic=SUBS) is None


# --- the pending buffer and the bulk histogram ------------------------------------------------


def test_pending_stamps_keep_every_record_up_to_the_cap_then_a_systematic_sample() -> None:
    pending = PendingStamps(cap=4)
    pending.add([10, 11, 12])
    assert pending.stamps == [10, 11, 12] and pending.records == 3 and pending.stride == 1
    pending.add([13, 14])  # 5 > 4: every 2nd record from now on
    assert pending.stamps == [10, 12, 14] and pending.records == 5 and pending.stride == 2
    pending.add([15, 16, 17, 18])  # records 5..8: 6 and 8 kept; 5 > 4 again: every 4th
    assert pending.stamps == [10, 14, 18] and pending.records == 9 and pending.stride == 4
    pending.add(list(range(19, 30)))  # records 9..19: 12 and 16 kept; then every 8th
    assert pending.stamps == [10, 18, 26] and pending.records == 20 and pending.stride == 8


def test_pending_stamps_of_a_big_backlog_stay_bounded() -> None:
    pending = PendingStamps()
    for start in range(0, 100_000, 20_000):
        pending.add(list(range(start, start + 20_000)))
    assert pending.records == 100_000 and len(pending.stamps) <= 20_000
    assert pending.stamps == list(range(0, 100_000, pending.stride))


def test_bulk_observations_equal_one_observation_per_record() -> None:
    """The bulk histogram against prometheus_client's own, record by record."""
    from prometheus_client import Histogram

    registry = CollectorRegistry()
    bulk = VisibleLatency("bulk_seconds", "Bulk.", registry=registry)
    one_by_one = Histogram("each_seconds", "Each.", ["topic"], buckets=VISIBLE_LATENCY_BUCKETS, registry=registry)
    now = T
    ages = [0, 1, 9, 10, 11, 25, 26, 499, 500, 501, 1_000, 2_500, 9_999, 60_000, 60_001, 3_600_000, -250]
    bulk.observe(SUBS, [now - age for age in ages], now)
    for age in ages:
        one_by_one.labels(topic=SUBS).observe(max(0, age) / 1000)
    for le in [*VISIBLE_LATENCY_BUCKETS, "+Inf"]:
        labels = {"topic": SUBS, "le": str(le)}
        assert registry.get_sample_value("bulk_seconds_bucket", labels) == registry.get_sample_value(
            "each_seconds_bucket", labels
        ), le
    assert registry.get_sample_value("bulk_seconds_count", {"topic": SUBS}) == len(ages)
    assert registry.get_sample_value("bulk_seconds_sum", {"topic": SUBS}) == pytest.approx(
        registry.get_sample_value("each_seconds_sum", {"topic": SUBS})
    )


def test_a_sample_stands_for_every_record_it_was_drawn_from() -> None:
    registry = CollectorRegistry()
    bulk = VisibleLatency("bulk_seconds", "Bulk.", registry=registry)
    bulk.observe(SUBS, [T - 200, T - 2_000], T, records=10)  # each stands for 5 records
    assert registry.get_sample_value("bulk_seconds_count", {"topic": SUBS}) == 10
    assert registry.get_sample_value("bulk_seconds_bucket", {"topic": SUBS, "le": "0.25"}) == 5
    assert registry.get_sample_value("bulk_seconds_sum", {"topic": SUBS}) == pytest.approx(5 * 0.2 + 5 * 2.0)


def test_the_new_series_start_empty_on_a_fresh_registry() -> None:
    metrics = IngestMetrics(CollectorRegistry())
    registry = metrics.registry
    assert registry.get_sample_value(f"{LATENCY}_count", {"topic": SUBS}) is None
    assert registry.get_sample_value("pulse_changelog_records_total", {"topic": SUBS}) is None
    for name in ("pulse_recovery_in_progress", "pulse_assigned_partitions", "pulse_scrape_duration_seconds"):
        assert registry.get_sample_value(name) == 0, name
    for name in ("pulse_rebalances_total", "pulse_recovery_seconds_count", "pulse_redis_roundtrip_seconds_count"):
        assert registry.get_sample_value(name) == 0, name
    text = render(registry).decode()
    assert f"# TYPE {LATENCY} histogram" in text and "_created" not in text


# --- scrape duration ---------------------------------------------------------------------------


async def test_scrape_duration_is_the_previous_answer_s(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = PulseSettings.model_validate({"topic_partitions": 1})
    metrics = IngestMetrics(CollectorRegistry())
    engine = IngestEngine(settings, {}, metrics)
    clock = Clock(step=0.125)  # an answer reads perf_counter twice: 0.125 s apart
    monkeypatch.setattr("stream.web.time", clock)
    pages = registered_pages(metrics, engine, settings, SnapshotClock(30))
    first = await pages["/metrics"](Web(), None)
    assert b"pulse_scrape_duration_seconds 0.0" in first  # no answer before it
    second = await pages["/metrics"](Web(), None)
    assert b"pulse_scrape_duration_seconds 0.125" in second
    assert metrics.registry.get_sample_value("pulse_scrape_duration_seconds") == 0.125
    assert render(metrics.registry) == second  # the page shows what the registry holds
    clock.step = 0.5
    await pages["/metrics"](Web(), None)
    await pages["/metrics"](Web(), None)
    assert metrics.registry.get_sample_value("pulse_scrape_duration_seconds") == 0.5


async def test_a_probe_failing_because_the_worker_stops_is_not_kafka_down(rig: Rig) -> None:
    """The consumer closing under a metadata probe is the worker's stop, not the broker going
    away: no `dependency=kafka state=down` at every shutdown. A failure while running is."""
    engine = rig.engine
    calls = 0

    async def topics() -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            engine._stopped.set()  # the stop begins while the second probe waits
        raise ConnectionError("Unable to get cluster metadata over all known brokers")

    async def no_wait(seconds: float) -> None:
        return None

    engine.consumer = SimpleNamespace(topics=topics)  # type: ignore[assignment]
    engine.sleep = no_wait  # type: ignore[method-assign]
    engine._stopped.clear()
    await IngestEngine._probe_kafka(engine)  # type: ignore[call-arg]  # the Service.task's function
    assert calls == 2
    status = engine.health.status[Dependency.KAFKA]
    assert status.up is False and "cluster metadata" in status.reason  # the first failure counted
    assert rig.sample("pulse_dependency_up", dependency="kafka") == 0
    engine.health.up(Dependency.KAFKA)
    calls = 1  # the next probe is the one the stop interrupts
    engine._stopped.clear()
    await IngestEngine._probe_kafka(engine)  # type: ignore[call-arg]
    assert engine.health.status[Dependency.KAFKA].up is True
