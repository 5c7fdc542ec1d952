"""Prometheus metrics of a worker, on a registry of its own (a fresh one per test).

HELP texts are the definitions in docs/metrics.md; a test keeps the two in agreement.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stream.outcomes import RejectReason

__all__ = ["IngestMetrics", "render"]

# `_created` series double the exposition and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


class IngestMetrics:
    """Counters of the ingestion path shared by every source topic."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.processed = Counter(
            "pulse_events_processed",
            "Events accepted by validation and deduplication and applied to the metrics, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "pulse_events_rejected",
            "Events sent to the dead-letter topic instead of the metrics, by source topic and reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.duplicate = Counter(
            "pulse_events_duplicate",
            "Events skipped because their event_id was already seen on the topic within the dedupe retention window.",
            ["topic"],
            registry=self.registry,
        )
        self.late = Counter(
            "pulse_events_late",
            "Events older than the grace period behind their lateness clock (the customer's latest event for revenue, the partition's watermark otherwise; without a family: the dedupe retention behind it); dead-lettered with reason late.",
            ["topic"],
            registry=self.registry,
        )
        self.conflicting = Counter(
            "pulse_events_conflicting",
            "Events whose event_id was seen before (within the same entity key) with other content: a producer bug; dead-lettered with reason conflict, the first event counts.",
            ["topic"],
            registry=self.registry,
        )
        self.forwarded = Counter(
            "pulse_events_forwarded",
            "Events that arrived on another partition than their entity key's (a keyless or mis-keyed record) and were forwarded to it through the repartition topic, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "pulse_partition_reloads",
            "Times a partition's batch could not be written (the broker unreachable past the producer's timeout): "
            "its state was dropped, reloaded from its changelog and the batch read again, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.snapshot_age = Gauge(
            "pulse_snapshot_age_seconds",
            "Seconds since this worker last read every family's snapshots from Redis; the family gauges are "
            "absent while it exceeds PULSE_SNAPSHOT_STALE_SECONDS or no read succeeded yet.",
            registry=self.registry,
        )
        self.ready = Gauge(
            "pulse_worker_ready",
            "1 when the worker has recovered the state of its assigned partitions and every dependency is up, else 0.",
            registry=self.registry,
        )

    def count_rejected(self, topic: str, reason: RejectReason) -> None:
        self.rejected.labels(topic=topic, reason=reason.value).inc()
        if reason is RejectReason.LATE:
            self.late.labels(topic=topic).inc()
        elif reason is RejectReason.CONFLICT:
            self.conflicting.labels(topic=topic).inc()


#: The longest label value /metrics carries; longer ones (free strings from events) are cut.
MAX_LABEL_CHARS = 64


def bounded_label(value: str) -> str:
    """A label value from event data, at most :data:`MAX_LABEL_CHARS` long: a longer one keeps
    its start and a hash of the whole, so two long values never merge into one series."""
    if len(value) <= MAX_LABEL_CHARS:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: MAX_LABEL_CHARS - 12]}~{digest}"


class SnapshotClock:
    """When the views last read every family's snapshots from Redis."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self.read_at: float | None = None  # time.monotonic()

    def mark(self) -> None:
        self.read_at = time.monotonic()

    def age(self) -> float | None:
        return None if self.read_at is None else time.monotonic() - self.read_at

    @property
    def fresh(self) -> bool:
        age = self.age()
        return age is not None and age <= self.stale_after


class FreshOnly(Collector):
    """A family's collector whose samples are served only while the snapshots are fresh: an
    unknown figure is absent (alert on ``absent()`` or ``pulse_snapshot_age_seconds``), never a
    frozen or zero value (an MRR-drop alert waiting to happen)."""

    def __init__(self, inner: Collector, clock: SnapshotClock) -> None:
        self.inner = inner
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        describe = getattr(self.inner, "describe", None)
        return describe() if describe is not None else []

    def collect(self) -> Iterable[Metric]:
        if not self.clock.fresh:
            return []
        return self.inner.collect()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
