"""Source partitions far ahead in record time wait for the slowest one with records left
(stream/engine.py, ``_ahead``): in a catch-up, events a fast partition forwards would otherwise
move their home's event-time clock past the home's own unread backlog and make it late.

The worker's own loop runs against a consumer double that serves each partition's records a
few per fetch (the partitions it is asked for, or all) and feeds the forwarded events back
through the repartition partitions, as the broker would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from stream.engine import IngestEngine
from stream.family import Processor
from stream.outcomes import APPLIED, ApplyResult, late
from stream.state import PartitionState
from tests.factories import make_subscription
from tests.stream.test_engine_health import SUBS, FakeConsumer, FakeProducer, Record, Rig, T, customer, rig  # noqa: F401  # rig: a fixture

DAY_MS = 86_400_000
GRACE_SECONDS = 86_400
START = T - 4 * DAY_MS  # the backlog's first record time, four days before the engine's clock
OWN, FORWARDED = 3 * 24 * 6, 3 * 24  # partition 1's own events, partition 0's for partition 1


class WatermarkProcessor(Processor):
    """Counts an event unless it is older than its partition's latest event minus the grace
    period: the event-time rule every family applies."""

    def __init__(self) -> None:
        super().__init__()
        self.watermark: dict[int, datetime] = {}
        self.applied: dict[int, int] = {}

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        mark = self.watermark.get(state.partition)
        if mark is not None and event.occurred_at < mark - timedelta(seconds=GRACE_SECONDS):
            return late(event.occurred_at)
        self.watermark[state.partition] = max(mark or event.occurred_at, event.occurred_at)
        self.applied[state.partition] = self.applied.get(state.partition, 0) + 1
        return APPLIED


@dataclass
class Broker(FakeConsumer):
    """Each partition's records in order, ``per_fetch`` of each requested partition a fetch;
    forwards the producer sent are appended to their repartition partition."""

    queues: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    per_fetch: int = 2
    repartition: str = ""
    #: each fetch of ``watched``: (its latest record time, the record clock of ``against`` then)
    watched: TopicPartition | None = None
    against: TopicPartition | None = None
    reads_of_watched: list[tuple[int, int]] = field(default_factory=list)
    taken_sends: int = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    def highwater(self, tp: TopicPartition) -> int | None:
        return len(self.queues.get(tp, []))

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        assert self.engine is not None
        sent = self.engine.producer.sent  # type: ignore[union-attr]  # the test's FakeProducer
        for send in sent[self.taken_sends :]:
            if send["topic"] == self.repartition:
                tp = TopicPartition(send["topic"], send["partition"])
                queue = self.queues.setdefault(tp, [])
                stamp = send["timestamp_ms"] or T
                queue.append(Record(send["value"], len(queue), stamp, key=send["key"], headers=send.get("headers")))
        self.taken_sends = len(sent)
        batch = {}
        for tp in sorted(set(tps) or self.assigned):
            at = self.positions.get(tp, 0)
            records = self.queues.get(tp, [])[at : at + self.per_fetch]
            if records:
                batch[tp] = records
                self.positions[tp] = at + len(records)
        if self.watched in batch and self.against is not None:
            clock = self.engine.record_clock.get(self.against, START)
            self.reads_of_watched.append((batch[self.watched][-1].timestamp, clock))
        if not batch:
            self.engine._stopped.set()  # everything read
        return batch


class PartitionedProducer(FakeProducer):
    """A send's offset is its place in its partition (as the broker's would be)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, int | None], int] = {}

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[Any]:
        self.sent.append({"topic": topic, **kwargs})
        where = (topic, kwargs.get("partition"))
        offset = self.counts[where] = self.counts.get(where, -1) + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=offset))
        return future


def subscription(offset: int, stamp: int, who: str) -> Record:
    at = datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = make_subscription(event_id=f"e-{who}-{offset}-{stamp}", customer_id=who, occurred_at=at)
    return Record(orjson.dumps(event), offset, stamp, key=who.encode())


def on_broker(worker: Rig, broker: Broker, **settings: object) -> WatermarkProcessor:
    """The rig's engine on this broker double (and a producer that numbers offsets per
    partition), owning partitions 0 and 1, its processor a WatermarkProcessor."""
    processor = WatermarkProcessor()
    worker.engine.pipelines[SUBS].processor = processor  # type: ignore[assignment]  # the engine calls apply only
    worker.engine.settings = worker.engine.settings.model_copy(update=settings)
    worker.engine.consumer = broker  # type: ignore[assignment]
    worker.producer = PartitionedProducer()
    worker.engine.producer = worker.producer  # type: ignore[assignment]
    worker.own(0, 1)
    broker.assigned = set(worker.consumer.assigned)
    worker.engine.assigned_sources = {worker.tp(0), worker.tp(1)}
    return processor


@pytest.fixture
def catch_up(rig: Rig) -> tuple[Rig, Broker, WatermarkProcessor]:  # noqa: F811  # the imported fixture
    """A three-day backlog on both partitions, of uneven volume: partition 1 has an event of
    its own customers every 10 minutes, partition 0 one an hour of a customer of partition 1
    (forwarded there). Read four records of each a fetch, partition 0 runs six times as fast
    through record time."""
    broker = Broker(engine=rig.engine, repartition=rig.rp(0).topic, per_fetch=4, watched=rig.tp(0), against=rig.tp(1))
    processor = on_broker(rig, broker, grace_period_seconds=GRACE_SECONDS)
    broker.queues[rig.tp(1)] = [subscription(i, START + i * 600_000, customer(1)) for i in range(OWN)]
    broker.queues[rig.tp(0)] = [subscription(i, START + i * 3_600_000, customer(1, 1)) for i in range(FORWARDED)]
    return rig, broker, processor


async def run(worker: Rig) -> None:
    worker.engine._stopped.clear()
    await IngestEngine._consume(worker.engine)  # type: ignore[call-arg]  # the Service.task's function


def late_letters(worker: Rig) -> int:
    return sum(1 for send in worker.producer.sent if send["topic"] == worker.engine.settings.topic("deadletter"))


async def test_a_partition_ahead_in_record_time_waits_and_nothing_is_late(
    catch_up: tuple[Rig, Broker, WatermarkProcessor],
) -> None:
    worker, broker, processor = catch_up
    await run(worker)
    assert late_letters(worker) == 0
    assert processor.applied == {1: OWN + FORWARDED}  # partition 1's own events and the forwarded ones
    # partition 0 was read only while at most a quarter of the grace period (6 h) ahead of
    # partition 1, plus the four hours of one fetch
    assert broker.reads_of_watched
    for fetched_0, clock_1 in broker.reads_of_watched:
        assert fetched_0 - clock_1 <= GRACE_SECONDS * 1000 // 4 + 4 * 3_600_000


async def test_without_waiting_the_forwarded_events_make_the_home_backlog_late(
    catch_up: tuple[Rig, Broker, WatermarkProcessor], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, _, processor = catch_up
    monkeypatch.setattr("stream.engine.HOLD_SHARE_OF_GRACE", 1e6)  # never ahead: no waiting
    await run(worker)
    assert late_letters(worker) > 0
    assert processor.applied[1] < OWN + FORWARDED


async def test_a_partition_that_stopped_moving_holds_nobody(
    catch_up: tuple[Rig, Broker, WatermarkProcessor], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, broker, _ = catch_up
    engine = worker.engine
    engine.record_clock = {worker.tp(0): START + 3 * DAY_MS, worker.tp(1): START}
    engine.moved_at = {worker.tp(0): worker.clock.monotonic(), worker.tp(1): worker.clock.monotonic()}
    assert await engine._ahead() == {worker.tp(0)}
    worker.clock.perf += 11  # partition 1 has records left but has not moved for 11 s
    engine.moved_at[worker.tp(0)] = worker.clock.monotonic()
    assert await engine._ahead() == set()
    broker.positions[worker.tp(1)] = OWN  # read to its end: nothing to wait for either
    engine.moved_at[worker.tp(1)] = worker.clock.monotonic()
    assert await engine._ahead() == set()
