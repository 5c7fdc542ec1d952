"""The ingestion counters and the ready gauge (stream/exporter.py IngestMetrics) have the values
docs/metrics.md ("Ingestion") defines, counted where the worker counts them: the engine's
``process_batch`` over real pipelines, and the /metrics page for ``pulse_worker_ready``.

Kafka is replaced by an in-memory producer and plain record objects; no service is started and
Redis is never contacted. Expected counts are worked out by hand, record by record.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from consumers.engagement.family import EngagementFamily
from consumers.engagement.settings import EngagementSettings
from consumers.revenue.family import RevenueFamily
from consumers.revenue.settings import RevenueSettings
from stream.app import build_pipelines
from stream.engine import IngestEngine
from stream.exporter import FreshOnly, IngestMetrics, SnapshotClock, render
from stream.health import Dependency
from stream.settings import PulseSettings
from stream.state import PartitionState
from stream.writers import AcknowledgedWriter
from tests.factories import make_subscription
from tests.stream.web_standin import Web, registered_pages

SUBS, PRODUCT = "subscriptions", "product-events"
REASONS = ("invalid_json", "not_object", "batch_too_large", "unknown_type", "timestamp", "currency", "schema", "late")


# --- an in-memory stand-in for aiokafka --------------------------------------------------------


@dataclass
class Record:
    value: bytes | None
    offset: int
    key: bytes | None = None
    timestamp: int = -1  # none: the engine checks occurred_at against the wall clock


class _Batch:
    def append(self, key: bytes | None, value: bytes | None, timestamp: int | None) -> object:
        return object()  # never full


class FakeProducer:
    """Accepts every send at once; keeps the dead-letter records it was given."""

    def __init__(self) -> None:
        self.deadletters: list[bytes] = []

    def _done(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> asyncio.Future[Any]:
        assert value is not None
        self.deadletters.append(value)
        return self._done()

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> asyncio.Future[Any]:
        return self._done()


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def sub(
    event_id: str, at: str, customer: str = "c1", kind: str = "subscription_started", **fields: Any
) -> dict[str, Any]:
    raw = make_subscription(
        event_id=event_id, type=kind, occurred_at=at, customer_id=customer, subscription_id=f"{customer}-s", **fields
    )
    if kind not in ("subscription_started", "subscription_changed"):
        for name in ("amount", "currency", "interval"):
            raw.pop(name, None)
    return raw


def track(event_id: str, at: str = "2026-03-10T10:00:00Z", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "track",
        "occurred_at": at,
        "name": "login",
        "user_id": "u1",
        "account_id": "a1",
        **fields,
    }


FIRST = dumps(sub("e-1", "2026-03-10T00:00:00Z"))
NEGATIVE = dumps(sub("e-neg", "2026-03-10T00:00:00Z", "c9", amount="-5.00"))
SUBSCRIPTION_RECORDS: list[bytes | None] = [
    FIRST,  # processed
    FIRST,  # duplicate: same event_id on the topic
    b"{oops",  # invalid_json
    None,  # invalid_json (empty record)
    b"",  # invalid_json
    dumps([sub("e-arr", "2026-03-10T00:00:00Z", "c5")]),  # not_object: the topic takes no arrays
    b"42",  # not_object
    dumps({**sub("e-x", "2026-03-10T00:00:00Z", "c6"), "type": "subscription_paused"}),  # unknown_type
    dumps(sub("e-naive", "2026-03-10T00:00:00", "c7")),  # timestamp: no offset
    dumps(sub("e-jpy", "2026-03-10T00:00:00Z", "c8", currency="JPY")),  # currency: no FX rate
    NEGATIVE,  # schema
    NEGATIVE,  # schema again: a rejection is not remembered, so no duplicate
    dumps(sub("e-late", "2026-03-07T23:59:59Z", kind="subscription_changed")),  # late: c1 is 2 days 1 s past it
    dumps(sub("e-edge", "2026-03-08T00:00:00Z", kind="subscription_changed", amount="120.00")),  # exactly 2 days: in
    dumps(sub("e-old", "2026-02-01T00:00:00Z", "c2")),  # processed: lateness is per customer
    dumps(sub("e-1", "2026-03-10T00:00:00Z", amount="5.00")),  # conflict: the id of e-1, other content
    dumps(sub("e-renew", "2026-03-20T00:00:00Z", kind="subscription_renewed")),  # processed
    FIRST,  # duplicate although 10 days old: a customer's whole history is checked
]
PRODUCT_RECORDS: list[bytes | None] = [
    dumps([track("p1"), track("p2"), track("p3")]),  # 3 processed: one element is one event
    dumps(track("p4")),  # processed
    dumps([track("p5"), track("p1")]),  # 1 processed, 1 duplicate
    dumps([track(f"big-{i}") for i in range(1001)]),  # batch_too_large (more than 1,000)
    dumps(track("p-late", "2026-03-08T09:59:59Z")),  # late: 2 days 1 s behind the watermark
    dumps(track("p-edge", "2026-03-08T10:00:00Z")),  # exactly the grace period: processed
    dumps([track("p6"), track("p-nobody", user_id=None, account_id=None)]),  # 1 processed, 1 schema
    dumps({**track("p-id"), "type": "identify"}),  # unknown_type
]
EXPECTED_REJECTED = {
    SUBS: {
        "invalid_json": 3,
        "not_object": 2,
        "unknown_type": 1,
        "timestamp": 1,
        "currency": 1,
        "schema": 2,
        "late": 1,
        "conflict": 1,
    },
    PRODUCT: {"batch_too_large": 1, "late": 1, "schema": 1, "unknown_type": 1},
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> PulseSettings:
    """Default settings (grace 2 days, dedupe 7 days, any currency), whatever the shell exports;
    one partition, so every entity is at home in the state the test looks at."""
    for name in [n for n in os.environ if n.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    return PulseSettings.model_validate({"topic_partitions": 1})


@pytest.fixture
async def worked(settings: PulseSettings) -> tuple[IngestMetrics, FakeProducer]:
    """Both topics' records as one engine batch (partition 0 each), on a fresh registry."""
    processors = {
        SUBS: RevenueFamily(settings, RevenueSettings.model_validate({"fx_rates": {"USD": Decimal(1)}})).processor(
            SUBS
        ),
        PRODUCT: EngagementFamily(settings, EngagementSettings.model_validate({})).processor(PRODUCT),
    }
    metrics = IngestMetrics(CollectorRegistry())
    engine = IngestEngine(settings, build_pipelines(settings, processors), metrics)
    producer = FakeProducer()
    engine.producer, engine.consumer = producer, SimpleNamespace()
    batch: dict[TopicPartition, list[Record]] = {}
    for name, values in ((SUBS, SUBSCRIPTION_RECORDS), (PRODUCT, PRODUCT_RECORDS)):
        tp = TopicPartition(settings.topic(name), 0)
        pipeline = engine.pipelines[name]
        state = PartitionState(0, codecs=pipeline.codecs)
        pipeline.loaded(state)
        engine.states[tp] = state
        engine.writers[tp] = AcknowledgedWriter(producer)
        batch[tp] = [Record(v, offset) for offset, v in enumerate(values)]
    written = await engine.process_batch(batch)
    await engine._seal(written)
    await asyncio.gather(*(writer.settle() for writer in written.writers.values()))
    return metrics, producer


def sample(metrics: IngestMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_processed_counts_each_applied_event(worked: tuple[IngestMetrics, FakeProducer]) -> None:
    """An event counted once when it changed the state; array elements count one by one."""
    metrics, _ = worked
    assert sample(metrics, "pulse_events_processed_total", topic=SUBS) == 4  # e-1, e-edge, e-old, e-renew
    assert (
        sample(metrics, "pulse_events_processed_total", topic=PRODUCT) == 3 + 1 + 1 + 1 + 1
    )  # p1-3, p4, p5, p-edge, p6


async def test_duplicates_are_counted_not_applied(worked: tuple[IngestMetrics, FakeProducer]) -> None:
    metrics, _ = worked
    assert sample(metrics, "pulse_events_duplicate_total", topic=SUBS) == 2  # e-1 twice more, as it was
    assert sample(metrics, "pulse_events_conflicting_total", topic=SUBS) == 1  # e-1 with another amount
    assert sample(metrics, "pulse_events_duplicate_total", topic=PRODUCT) == 1  # p1 again


@pytest.mark.parametrize("topic", [SUBS, PRODUCT])
@pytest.mark.parametrize("reason", REASONS)
async def test_rejected_by_topic_and_reason(
    worked: tuple[IngestMetrics, FakeProducer], topic: str, reason: str
) -> None:
    """One count per dead-lettered event, by reason; a reason that did not occur has no series."""
    metrics, _ = worked
    expected = EXPECTED_REJECTED[topic].get(reason)
    assert sample(metrics, "pulse_events_rejected_total", topic=topic, reason=reason) == expected


async def test_late_counts_the_late_rejections(worked: tuple[IngestMetrics, FakeProducer]) -> None:
    """pulse_events_late_total = the events dead-lettered with reason late, nothing else."""
    metrics, producer = worked
    assert sample(metrics, "pulse_events_late_total", topic=SUBS) == 1  # e-late
    assert sample(metrics, "pulse_events_late_total", topic=PRODUCT) == 1  # p-late
    assert len(producer.deadletters) == sum(EXPECTED_REJECTED[SUBS].values()) + sum(EXPECTED_REJECTED[PRODUCT].values())


async def test_every_event_is_accounted_for_once(worked: tuple[IngestMetrics, FakeProducer]) -> None:
    """processed + duplicate + rejected = the events sent (a record rejected whole counts 1)."""
    metrics, _ = worked
    for topic, events in ((SUBS, len(SUBSCRIPTION_RECORDS)), (PRODUCT, 3 + 1 + 2 + 1 + 1 + 1 + 2 + 1)):
        counted = (
            (sample(metrics, "pulse_events_processed_total", topic=topic) or 0)
            + (sample(metrics, "pulse_events_duplicate_total", topic=topic) or 0)
            + sum(EXPECTED_REJECTED[topic].values())
        )
        assert counted == events, topic


def test_counters_start_at_zero_with_no_series() -> None:
    """A new worker process: no labelled series yet, and not ready."""
    metrics = IngestMetrics(CollectorRegistry())
    for name in ("pulse_events_processed_total", "pulse_events_duplicate_total", "pulse_events_late_total"):
        assert sample(metrics, name, topic=SUBS) is None
    assert sample(metrics, "pulse_events_rejected_total", topic=SUBS, reason="late") is None
    assert sample(metrics, "pulse_worker_ready") == 0


async def test_worker_ready_gauge_on_the_metrics_page(settings: PulseSettings) -> None:
    """/metrics sets pulse_worker_ready: 0 until the engine has recovered an assignment, then 1."""
    metrics = IngestMetrics(CollectorRegistry())
    engine = IngestEngine(settings, {}, metrics)
    clock = SnapshotClock(30)
    pages = registered_pages(metrics, engine, settings, clock)
    body = await pages["/metrics"](Web(), None)
    assert sample(metrics, "pulse_worker_ready") == 0
    assert b"pulse_worker_ready 0.0" in body
    engine.consumer = SimpleNamespace()
    engine.assigned_once.set()  # what on_assigned does once the partitions' state is recovered
    body = await pages["/metrics"](Web(), None)
    assert sample(metrics, "pulse_worker_ready") == 1
    assert render(metrics.registry) == body and b"pulse_worker_ready 1.0" in body
    assert await pages["/health/ready"](Web(), None) == (200, {"status": "ready", "reasons": {}})
    engine.health.down(Dependency.REDIS, ConnectionError("Connection refused"))  # what a failed publish does
    await pages["/metrics"](Web(), None)
    assert sample(metrics, "pulse_worker_ready") == 0
    assert sample(metrics, "pulse_dependency_up", dependency="redis") == 0
    status, body = await pages["/health"](Web(), None)
    assert status == 503 and body["status"] == "degraded" and body["reasons"] == {"redis": "Connection refused"}
    assert body["dependencies"]["redis"]["up"] is False and body["dependencies"]["kafka"]["up"] is None
    assert (await pages["/health/live"](Web(), None))[0] == 200  # alive: do not restart it for Redis
    engine.health.up(Dependency.REDIS)
    assert await pages["/health/ready"](Web(), None) == (200, {"status": "ready", "reasons": {}})
    assert sample(metrics, "pulse_dependency_up", dependency="redis") == 1


def test_family_gauges_are_absent_until_the_snapshots_are_read_and_once_they_are_stale() -> None:
    registry = CollectorRegistry()
    clock = SnapshotClock(stale_after=30)

    class Figures:
        def collect(self) -> Any:
            gauge = GaugeMetricFamily("pulse_mrr", "Monthly recurring revenue.", labels=["currency"])
            gauge.add_metric(["USD"], 0)
            yield gauge

    registry.register(FreshOnly(Figures(), clock))
    assert registry.get_sample_value("pulse_mrr", {"currency": "USD"}) is None  # never read: unknown, not 0
    clock.mark()
    assert registry.get_sample_value("pulse_mrr", {"currency": "USD"}) == 0
    assert clock.read_at is not None
    clock.read_at -= 31  # the last successful read 31 s ago
    assert registry.get_sample_value("pulse_mrr", {"currency": "USD"}) is None
