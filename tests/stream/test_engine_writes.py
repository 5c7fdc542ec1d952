"""The order of a batch's writes is what makes a crash harmless: a checkpoint counts only with
its batch's writes and before the next batch's, and a failed write means no checkpoint at all.
Both writers: one transaction per partition batch (default), or checkpoint after
acknowledgement. Kafka is replaced by recording producers; the engine code is the worker's.
tests/faults/test_one_of_two_workers.py proves the fencing on the real broker."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from stream.app import build_pipelines
from stream.deadletter import DEADLETTER_MAX_MESSAGE_BYTES, MAX_ORIGINAL_BYTES, deadletter_record
from stream.decoding import Accepted, Rejected, decode_record
from stream.engine import IngestEngine, repartition_topic
from stream.exporter import IngestMetrics
from stream.outcomes import RejectReason
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.state import CHECKPOINT_KEY, PartitionState
from stream.topics import spec_for
from stream.writers import AcknowledgedWriter, PartitionWrites, ProducerFenced, TransactionalWriter, WriterStopped
from tests.factories import make_subscription


@dataclass
class Record:
    value: bytes | None
    offset: int
    key: bytes | None = None
    timestamp: int = -1


@dataclass
class Batch:
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)

    def append(self, key: bytes, value: bytes | None, timestamp: int | None) -> object:
        self.records.append((key, value))
        return object()


class RecordingProducer:
    """Keeps every write in send order; a write whose value holds ``fail_on`` fails. Its
    transaction calls are logged as ("BEGIN"/"COMMIT", []); ``fenced`` makes commits raise
    what a producer whose id another worker started gets."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.log: list[tuple[str, list[tuple[bytes, bytes | None]]]] = []
        self.fail_on = fail_on
        self.fenced = False
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def begin_transaction(self) -> None:
        self.log.append(("BEGIN", []))

    async def commit_transaction(self) -> None:
        if self.fenced:
            raise ProducerFenced()
        self.log.append(("COMMIT", []))

    def _future(self, ok: bool) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if ok:
            future.set_result(None)
        else:
            future.set_exception(RuntimeError("MessageSizeTooLargeError"))
        return future

    async def send(
        self, topic: str, key: bytes | None = None, value: bytes | None = None, **_: Any
    ) -> asyncio.Future[Any]:
        self.log.append((topic, [(key or b"", value)]))
        return self._future(True)

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[Any]:
        self.log.append((topic, batch.records))
        failed = self.fail_on is not None and any(self.fail_on in (v or b"") for _, v in batch.records)
        return self._future(not failed)

    def checkpoint_positions(self) -> list[int]:
        return [i for i, (_, records) in enumerate(self.log) if any(k == CHECKPOINT_KEY for k, _ in records)]


class SeekingConsumer:
    """What the engine asks of its consumer around a failed write: pause, seek, resume."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.paused: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset


def engine_with(producer: RecordingProducer, transactions: bool = False) -> tuple[IngestEngine, TopicPartition]:
    # one partition: every entity is at home
    settings = PulseSettings(topic_partitions=1, transactions=transactions)
    engine = IngestEngine(
        settings,
        build_pipelines(settings, FamilyRegistry.installed(settings).processors()),
        IngestMetrics(CollectorRegistry()),
    )
    tp = TopicPartition(settings.topic("subscriptions"), 0)
    consumer = SeekingConsumer({tp, TopicPartition(repartition_topic(settings, "subscriptions"), 0)})
    engine.producer, engine.consumer = producer, consumer  # type: ignore[assignment]  # test doubles
    pipeline = engine.pipelines["subscriptions"]
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    engine.states[tp] = state
    engine.writers[tp] = TransactionalWriter(producer) if transactions else AcknowledgedWriter(producer)
    return engine, tp


def batch(tp: TopicPartition, start: int, *events: dict[str, Any]) -> dict[TopicPartition, list[Any]]:
    return {tp: [Record(orjson.dumps(e), start + i) for i, e in enumerate(events)]}


async def test_a_checkpoint_follows_its_writes_and_precedes_the_next_batch() -> None:
    producer = RecordingProducer()
    engine, tp = engine_with(producer)
    first = await engine.process_batch(batch(tp, 0, make_subscription(event_id="a", customer_id="c1")))
    assert producer.checkpoint_positions() == []  # not before its writes are acknowledged
    await engine._seal(first)
    second = await engine.process_batch(batch(tp, 1, make_subscription(event_id="b", customer_id="c2")))
    await engine._seal(second)
    topics = [topic for topic, _ in producer.log]
    assert all(t.endswith(".state.subscriptions") for t in topics)
    kinds = ["checkpoint" if i in producer.checkpoint_positions() else "data" for i in range(len(producer.log))]
    assert kinds == ["data", "checkpoint", "data", "checkpoint"]
    assert orjson.loads(producer.log[1][1][0][1] or b"")["next_offset"] == 1
    assert orjson.loads(producer.log[3][1][0][1] or b"")["next_offset"] == 2


async def test_a_failed_write_leaves_no_checkpoint_and_the_partition_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = RecordingProducer(fail_on=b"poisoned")
    engine, tp = engine_with(producer)
    consumer: SeekingConsumer = engine.consumer  # type: ignore[assignment]
    written = await engine.process_batch(
        batch(tp, 0, make_subscription(event_id="x", customer_id="c1", plan="poisoned"))
    )
    # the next batch was applied on top of the failed one before the failure was known
    staged = engine.apply_batch(batch(tp, 1, make_subscription(event_id="y", customer_id="c2")))
    await engine._seal(written)  # no exception: the worker goes on
    assert producer.checkpoint_positions() == []
    assert tp not in engine.states and tp in engine.reload_pending
    assert consumer.paused == consumer.assigned  # the source and its repartition partition
    assert engine.metrics.registry.get_sample_value("pulse_partition_reloads_total", {"topic": "subscriptions"}) == 1
    sent = len(producer.log)
    assert (await engine._send(staged)).writers == {}  # computed on the dropped state: not sent
    assert len(producer.log) == sent

    committed: dict[TopicPartition, PartitionState] = {}

    async def load(broker: str, changelogs: dict[TopicPartition, Any]) -> dict[TopicPartition, PartitionState]:
        # nothing was committed: what the changelog holds is an empty state
        committed.update({changelog: PartitionState(0, codecs=codecs) for changelog, codecs in changelogs.items()})
        return committed

    monkeypatch.setattr("stream.engine.load_partition_states", load)
    await engine._reload_pending()
    assert engine.states[tp] is next(iter(committed.values())) and not engine.reload_pending
    assert consumer.paused == set() and set(consumer.positions.values()) == {0}  # the batch is read again
    assert tp in engine.writers


async def test_a_reload_while_the_broker_is_away_is_tried_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = RecordingProducer(fail_on=b"poisoned")
    engine, tp = engine_with(producer)
    written = await engine.process_batch(batch(tp, 0, make_subscription(event_id="x", plan="poisoned")))
    await engine._seal(written)

    async def unreachable(broker: str, changelogs: dict[TopicPartition, Any]) -> dict[TopicPartition, PartitionState]:
        raise ConnectionError("broker away")

    monkeypatch.setattr("stream.engine.load_partition_states", unreachable)
    await engine._reload_pending()
    assert tp not in engine.states and tp in engine.reload_pending and tp not in engine.writers
    assert engine.reload_at > asyncio.get_running_loop().time()  # backing off, not spinning
    await engine._reload_pending()  # too early: nothing is tried
    assert engine.reload_backoff == 2.0


def kinds(log: list[tuple[str, list[tuple[bytes, bytes | None]]]]) -> list[str]:
    def kind(topic: str, records: list[tuple[bytes, bytes | None]]) -> str:
        if topic in ("BEGIN", "COMMIT"):
            return topic
        if any(k == CHECKPOINT_KEY for k, _ in records):
            return "data+checkpoint" if any(k != CHECKPOINT_KEY for k, _ in records) else "checkpoint"
        return "deadletter" if topic.endswith("deadletter") else "data"

    return [kind(topic, records) for topic, records in log]


async def test_a_transaction_holds_a_partition_batch_with_its_dead_letters_and_checkpoint() -> None:
    producer = RecordingProducer()
    engine, tp = engine_with(producer, transactions=True)
    first = await engine.process_batch(
        {tp: [Record(orjson.dumps(make_subscription(event_id="a", customer_id="c1")), 0), Record(b"{oops", 1)]}
    )
    assert kinds(producer.log) == ["BEGIN", "deadletter", "data+checkpoint"]  # sent, not committed
    await engine._seal(first)
    second = await engine.process_batch(batch(tp, 2, make_subscription(event_id="b", customer_id="c2")))
    await engine._seal(second)
    first_batch = ["BEGIN", "deadletter", "data+checkpoint", "COMMIT"]
    assert kinds(producer.log) == [*first_batch, "BEGIN", "data+checkpoint", "COMMIT"]
    checkpoint = producer.log[2][1][-1]
    assert checkpoint[0] == CHECKPOINT_KEY and orjson.loads(checkpoint[1] or b"")["next_offset"] == 2


async def test_a_failed_write_is_never_committed() -> None:
    producer = RecordingProducer(fail_on=b"poisoned")
    engine, tp = engine_with(producer, transactions=True)
    written = await engine.process_batch(
        batch(tp, 0, make_subscription(event_id="x", customer_id="c1", plan="poisoned"))
    )
    await engine._seal(written)
    assert "COMMIT" not in kinds(producer.log)
    assert producer.stopped and tp in engine.reload_pending  # its next producer aborts the transaction


async def test_a_fenced_worker_drops_the_partition_and_writes_nothing_more() -> None:
    producer = RecordingProducer()
    engine, tp = engine_with(producer, transactions=True)
    written = await engine.process_batch(batch(tp, 0, make_subscription(event_id="a", customer_id="c1")))
    producer.fenced = True  # another worker started this partition's producer meanwhile
    await engine._seal(written)
    assert tp not in engine.states and tp not in engine.writers and producer.stopped
    sent = len(producer.log)
    later = await engine.process_batch(batch(tp, 1, make_subscription(event_id="b", customer_id="c2")))
    await engine._seal(later)
    assert len(producer.log) == sent and later.writers == {}


class StoppingProducer(RecordingProducer):
    """Like aiokafka's: once stopped, a commit it is asked for never ends (its sender is gone)."""

    async def commit_transaction(self) -> None:
        if self.stopped:
            await asyncio.Event().wait()
        await super().commit_transaction()


async def test_a_batch_whose_writer_stops_while_it_is_sealed_ends_and_does_not_count() -> None:
    producer = StoppingProducer()
    writer = TransactionalWriter(producer)
    await writer.send(PartitionWrites("changelog", 0, changes=[(b"k", b"v")]))
    sealing = asyncio.ensure_future(writer.seal())
    await writer.stop()  # a rebalance released the partition meanwhile
    with pytest.raises(WriterStopped):
        await asyncio.wait_for(sealing, 5)
    assert "COMMIT" not in kinds(producer.log)


async def test_a_partition_released_while_its_batch_is_sealed_is_not_reloaded() -> None:
    """The worker seals the batch in flight while a rebalance releases its partition (both
    await the broker): the worker goes on, and does not reload a partition it no longer owns."""
    producer = StoppingProducer()
    engine, tp = engine_with(producer, transactions=True)
    written = await engine.process_batch(batch(tp, 0, make_subscription(event_id="a", customer_id="c1")))
    producer.stopped = True  # stopped before the commit below reached the broker
    sealing = asyncio.ensure_future(engine._seal(written))
    await engine._release(tp)
    await asyncio.wait_for(sealing, 5)
    assert tp not in engine.reload_pending and tp not in engine.states and tp not in written.sealed
    assert "COMMIT" not in kinds(producer.log)


def test_a_huge_rejected_record_becomes_a_dead_letter_within_the_topic_limit() -> None:
    raw = b"x" * (3 * MAX_ORIGINAL_BYTES)
    record = deadletter_record(Rejected(RejectReason.INVALID_JSON, "boom", raw, None), "pulse.surveys", 1, 7, b"k")
    assert len(record) < DEADLETTER_MAX_MESSAGE_BYTES
    parsed = orjson.loads(record)
    assert parsed["original_truncated"] is True and parsed["original_bytes"] == len(raw)
    assert parsed["original_sha256"] == hashlib.sha256(raw).hexdigest()
    small = orjson.loads(deadletter_record(Rejected(RejectReason.SCHEMA, "e", b"{}", None), "t", 0, 0, None))
    assert small["original_truncated"] is False and small["original_bytes"] == 2


def test_a_customer_history_past_the_record_limit_is_refused_unchanged() -> None:
    ledger = RevenueLedger(RevenueConfig(fx_rates={"USD": Decimal(1)}))
    attributes = {f"attribute_{i:02d}": "v" * 256 for i in range(50)}  # the contract's largest
    verdicts = []
    for i in range(120):
        event = make_subscription(
            event_id=f"e{i}", occurred_at=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z", attributes=attributes,
            quantity=1 + i,
        )  # fmt: skip
        (accepted,) = decode_record(spec_for("subscriptions"), orjson.dumps(event))
        assert isinstance(accepted, Accepted)
        verdicts.append(ledger.apply(accepted.event))
    refused = [v for v in verdicts if getattr(v, "reason", None) is RejectReason.STATE_LIMIT]
    assert refused and verdicts.index(refused[0]) > 30
    kept = len(ledger.customers["c-1"].events)
    assert kept == 120 - len(refused)
    assert ledger.buckets["now"]["mrr"] == 99 * kept  # the last accepted change, 99 × its quantity
