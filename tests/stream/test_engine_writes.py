"""The order of a batch's writes is what makes a crash harmless: a checkpoint follows its
batch's acknowledged writes and precedes the next batch's, and a failed write means no
checkpoint at all. Kafka is replaced by a recording producer; the engine code is the worker's."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from stream.app import build_pipelines
from stream.deadletter import DEADLETTER_MAX_MESSAGE_BYTES, MAX_ORIGINAL_BYTES, deadletter_record
from stream.decoding import Accepted, Rejected, decode_record
from stream.engine import IngestEngine
from stream.exporter import IngestMetrics
from stream.outcomes import RejectReason
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.state import CHECKPOINT_KEY, PartitionState
from stream.topics import spec_for
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
    """Keeps every write in send order; a write whose value holds ``fail_on`` fails."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.log: list[tuple[str, list[tuple[bytes, bytes | None]]]] = []
        self.fail_on = fail_on

    def _future(self, ok: bool) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if ok:
            future.set_result(None)
        else:
            future.set_exception(RuntimeError("MessageSizeTooLargeError"))
        return future

    async def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> asyncio.Future[Any]:
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


def engine_with(producer: RecordingProducer) -> tuple[IngestEngine, TopicPartition]:
    settings = PulseSettings(topic_partitions=1)  # one partition: every entity is at home
    engine = IngestEngine(
        settings,
        build_pipelines(settings, FamilyRegistry.installed(settings).processors()),
        IngestMetrics(CollectorRegistry()),
    )
    engine.producer, engine.consumer = producer, SimpleNamespace()  # type: ignore[assignment]  # test doubles
    tp = TopicPartition(settings.topic("subscriptions"), 0)
    pipeline = engine.pipelines["subscriptions"]
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    engine.states[tp] = state
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


async def test_a_failed_write_leaves_no_checkpoint() -> None:
    producer = RecordingProducer(fail_on=b"poisoned")
    engine, tp = engine_with(producer)
    written = await engine.process_batch(
        batch(tp, 0, make_subscription(event_id="x", customer_id="c1", plan="poisoned"))
    )
    with pytest.raises(RuntimeError, match="MessageSizeTooLargeError"):
        await engine._seal(written)
    assert producer.checkpoint_positions() == []  # a restart reads the batch again


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
