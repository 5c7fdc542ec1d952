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
    #: partitions served from this fetch on (numbered from 1): until then their fetch has not
    #: answered (no end offset known, no records)
    answers_from: dict[TopicPartition, int] = field(default_factory=dict)
    fetches: int = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def highwater(self, tp: TopicPartition) -> int | None:
        if self.fetches < self.answers_from.get(tp, 0):
            return None
        return len(self.queues.get(tp, []))

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        return self.highwater(tp)

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
        self.fetches += 1
        batch = {}
        for tp in sorted(set(tps) or self.assigned):
            if self.fetches < self.answers_from.get(tp, 0):
                continue
            at = self.positions.get(tp, 0)
            records = self.queues.get(tp, [])[at : at + self.per_fetch]
            if records:
                batch[tp] = records
                self.positions[tp] = at + len(records)
        if self.watched in batch and self.against is not None:
            clock = self.engine.record_clock.get(self.against, START)
            self.reads_of_watched.append((batch[self.watched][-1].timestamp, clock))
        if not batch and not self.engine.carry and self.fetches >= max(self.answers_from.values(), default=0):
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


def subscription(offset: int, stamp: int, who: str, sent: int | None = None) -> Record:
    """An event at ``stamp`` (epoch ms), its record stamped ``sent`` (default: the same)."""
    at = datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = make_subscription(event_id=f"e-{who}-{offset}-{stamp}", customer_id=who, occurred_at=at)
    return Record(orjson.dumps(event), offset, stamp if sent is None else sent, key=who.encode())


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


@pytest.mark.parametrize("backlog", ["catch_up", "backfill"])
async def test_without_waiting_the_forwarded_events_make_the_home_backlog_late(
    backlog: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing waits, in record time (the catch-up) or in event time (the backfill sent at once)."""
    worker, _, processor = request.getfixturevalue(backlog)
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


# --- event time: a backfill sent at once ---------------------------------------------------------


@pytest.fixture
def backfill(rig: Rig) -> tuple[Rig, Broker, WatermarkProcessor]:  # noqa: F811  # the imported fixture
    """The catch-up's three days of uneven volume, every record stamped with the same time (a
    backfill sent at once): record time cannot tell the partitions apart, event time must."""
    broker = Broker(engine=rig.engine, repartition=rig.rp(0).topic, per_fetch=4)
    processor = on_broker(rig, broker, grace_period_seconds=GRACE_SECONDS)
    broker.queues[rig.tp(1)] = [subscription(i, START + i * 600_000, customer(1), sent=T) for i in range(OWN)]
    broker.queues[rig.tp(0)] = [
        subscription(i, START + i * 3_600_000, customer(1, 1), sent=T) for i in range(FORWARDED)
    ]
    return rig, broker, processor


@pytest.mark.parametrize("local_forwards", [True, False])
async def test_a_backfill_sent_at_once_keeps_its_partitions_together_in_event_time(
    backfill: tuple[Rig, Broker, WatermarkProcessor], local_forwards: bool
) -> None:
    """Forwarded in process or through the repartition topic: partition 0 is read no further
    than a quarter of the grace period (6 h) ahead of partition 1 in event time, the records a
    batch leaves are read again, and nothing is late."""
    worker, broker, processor = backfill
    worker.engine.settings = worker.engine.settings.model_copy(update={"local_forwards": local_forwards})
    await run(worker)
    assert late_letters(worker) == 0
    assert processor.applied == {1: OWN + FORWARDED}
    assert broker.positions[worker.tp(0)] == FORWARDED and broker.positions[worker.tp(1)] == OWN
    assert worker.engine.states[worker.tp(0)].next_offset == FORWARDED
    assert worker.engine.states[worker.tp(1)].next_offset == OWN


async def test_partitions_wait_for_one_whose_first_fetch_has_not_answered(
    backfill: tuple[Rig, Broker, WatermarkProcessor],
) -> None:
    """The first fetches answer for partition 0 alone, its whole backlog at once: it is only
    peeked at (where it is in event time), read again once partition 1 is read, and nothing is
    late. Without waiting, its three days would have moved partition 1's clock past its own."""
    worker, broker, processor = backfill
    broker.per_fetch = 10_000
    broker.answers_from[worker.tp(1)] = 3
    await run(worker)
    assert late_letters(worker) == 0
    assert processor.applied == {1: OWN + FORWARDED}


async def test_a_partition_that_stays_behind_in_event_time_stops_holding_the_others(
    backfill: tuple[Rig, Broker, WatermarkProcessor], caplog: pytest.LogCaptureFixture
) -> None:
    """A partition whose events keep arriving a day late (not catching up) would hold the others
    for good: after HOLD_MAX_SECONDS without closing in, they no longer wait for it; once the
    partitions are within the skew again, they do."""
    worker, broker, _ = backfill
    engine = worker.engine
    tp0, tp1 = worker.tp(0), worker.tp(1)
    day_us = DAY_MS * 1000
    engine.event_clock = {tp0: START * 1000 + day_us, tp1: START * 1000}
    engine.moved_at = {tp0: worker.clock.monotonic(), tp1: worker.clock.monotonic()}
    assert await engine._ahead() == {tp0}
    for _ in range(3):  # both move on at the pace of the wall clock: partition 1 does not close in
        worker.clock.perf += 4
        engine.moved_at = {tp0: worker.clock.monotonic(), tp1: worker.clock.monotonic()}
        engine.event_clock = {tp: clock + 4_000_000 for tp, clock in engine.event_clock.items()}
        ahead = await engine._ahead()
    assert ahead == set()
    assert "no longer wait for it" in caplog.text
    assert engine._cutoffs({tp0: broker.queues[tp0]}) == {}  # nor does a batch's cutoff
    engine.event_clock[tp1] = engine.event_clock[tp0] - 3_600_000_000  # an hour behind: together again
    assert await engine._ahead() == set()
    engine.event_clock[tp1] = START * 1000  # behind again: waited for again
    assert await engine._ahead() == {tp0}


async def test_a_partition_catching_up_keeps_the_others_waiting(
    backfill: tuple[Rig, Broker, WatermarkProcessor],
) -> None:
    """The slowest partition closes in faster than the wall clock (a backlog read): the others
    wait as long as it takes."""
    worker, _, _ = backfill
    engine = worker.engine
    tp0, tp1 = worker.tp(0), worker.tp(1)
    engine.event_clock = {tp0: (START + 2 * DAY_MS) * 1000, tp1: START * 1000}
    for _ in range(8):
        engine.moved_at = {tp0: worker.clock.monotonic(), tp1: worker.clock.monotonic()}
        assert await engine._ahead() == {tp0}
        worker.clock.perf += 4
        engine.event_clock[tp1] += 3 * 3_600_000_000  # three hours of events every four seconds


async def test_a_partition_revoked_while_its_carried_records_wait_is_not_applied(rig: Rig) -> None:  # noqa: F811
    """A rebalance runs inside getmany(): it may take a partition whose records a batch left
    (carried) while the worker fetches the others. The worker reads on without them (it had
    crashed with a KeyError), and they are not applied: the partition's next owner reads them."""
    broker = RevokingBroker(engine=rig.engine, repartition=rig.rp(0).topic, per_fetch=4)
    processor = on_broker(rig, broker)
    broker.queues[rig.tp(1)] = [subscription(i, START + i * 600_000, customer(1)) for i in range(4)]
    broker.revoke = rig.tp(0)
    rig.engine.carry[rig.tp(0)] = [subscription(i, START + i * 600_000, customer(0)) for i in range(3)]
    await run(rig)
    assert broker.revoked and rig.tp(0) not in rig.engine.states
    assert processor.applied == {1: 4}  # partition 1 read on; none of 0's carried records applied


@dataclass
class RevokingBroker(Broker):
    """Revokes ``revoke`` inside its first fetch, as a rebalance would."""

    revoke: TopicPartition | None = None
    revoked: bool = False

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        if self.revoke is not None and not self.revoked:
            self.revoked = True
            assert self.engine is not None
            await self.engine.on_revoked([self.revoke])
            self.assigned.discard(self.revoke)
        return await super().getmany(*tps, timeout_ms=timeout_ms, max_records=max_records)
