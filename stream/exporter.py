"""Prometheus metrics of a worker, on a registry of its own (a fresh one per test).

HELP texts are the definitions in docs/metrics.md; a test keeps the two in agreement.
"""

from __future__ import annotations

import hashlib
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from stream.outcomes import RejectReason

__all__ = ["IngestMetrics", "PendingStamps", "VisibleLatency", "render"]

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
            "Events that arrived on another partition than their entity key's (a keyless or mis-keyed record) and were forwarded to it (applied there in process when the same worker owns that partition, else through the repartition topic), by source topic.",
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
        # --- engine health: the worker's own, per process ------------------------------------
        self.visible_latency = VisibleLatency(
            "pulse_event_visible_latency_seconds",
            "Seconds from a source record's Kafka timestamp (CreateTime) to when its effect could be read "
            "from Redis by every worker: its batch checkpointed and its partition's snapshot published; "
            "views read Redis at most every 0.5 s, so /metrics and the API may show it up to 0.5 s later. "
            "By source topic, one observation per record (a forwarded one once applied on its entity's "
            "partition); a sample beyond 20,000 records waiting in a partition, the count still exact.",
            registry=self.registry,
        )
        self.recovering = Gauge(
            "pulse_recovery_in_progress",
            "1 while the state of partitions assigned to this worker is being recovered from their changelogs, else 0.",
            registry=self.registry,
        )
        self.recovery_seconds = Histogram(
            "pulse_recovery_seconds",
            "Seconds each recovery round took: the assigned (or reloaded) partitions' producers started and "
            "their state loaded from the changelogs up to the last checkpoint; rounds that failed are not "
            "counted.",
            buckets=RECOVERY_BUCKETS,
            registry=self.registry,
        )
        self.rebalances = Counter(
            "pulse_rebalances",
            "Partition assignments this worker received from the consumer group (one per rebalance).",
            registry=self.registry,
        )
        self.assigned_partitions = Gauge(
            "pulse_assigned_partitions",
            "Source topic partitions assigned to this worker now (each read with its repartition topic partition).",
            registry=self.registry,
        )
        self.changelog_records = Counter(
            "pulse_changelog_records",
            "Records written to the changelog topics (state changes and checkpoints) by batches that were "
            "committed, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.redis_roundtrip = Histogram(
            "pulse_redis_roundtrip_seconds",
            "Seconds one partition's snapshot publish to Redis took (every call it makes), successful publishes only.",
            buckets=REDIS_BUCKETS,
            registry=self.registry,
        )
        self.scrape_duration = Gauge(
            "pulse_scrape_duration_seconds",
            "Seconds this worker took to answer its previous /metrics request (reading the snapshots from "
            "Redis when due, and rendering); 0 before that.",
            registry=self.registry,
        )

    def count_rejected(self, topic: str, reason: RejectReason) -> None:
        self.rejected.labels(topic=topic, reason=reason.value).inc()
        if reason is RejectReason.LATE:
            self.late.labels(topic=topic).inc()
        elif reason is RejectReason.CONFLICT:
            self.conflicting.labels(topic=topic).inc()


#: Upper bounds (seconds) of pulse_event_visible_latency_seconds: 10 ms to a minute.
VISIBLE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Upper bounds of pulse_recovery_seconds: an empty changelog to the load timeout (300 s).
RECOVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Upper bounds of pulse_redis_roundtrip_seconds: a local round trip to the socket timeout (5 s).
REDIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Most Kafka timestamps a partition holds while they wait to become visible (a sample beyond).
PENDING_STAMPS_CAP = 20_000


class PendingStamps:
    """Kafka timestamps (epoch ms) of records whose effect is not visible yet, and how many
    records they stand for. Up to ``cap`` are kept one per record; beyond, a systematic sample
    (every 2nd, 4th, … record), so memory stays bounded while the count stays exact."""

    __slots__ = ("cap", "stamps", "records", "stride")

    def __init__(self, cap: int = PENDING_STAMPS_CAP) -> None:
        self.cap = cap
        self.stamps: list[int] = []
        self.records = 0  # records added; each kept stamp stands for ``stride`` of them
        self.stride = 1

    def add(self, stamps: list[int]) -> None:
        first = self.records  # the index of stamps[0] among every record added
        self.records += len(stamps)
        self.stamps.extend(stamps if self.stride == 1 else stamps[-first % self.stride :: self.stride])
        while len(self.stamps) > self.cap:  # keep the records whose index is a multiple of the stride
            self.stamps = self.stamps[::2]
            self.stride *= 2


@dataclass(slots=True)
class _Series:
    counts: list[int]  # cumulative, one per bucket bound, then +Inf (the count)
    total: float = 0.0  # seconds


class VisibleLatency(Collector):
    """A histogram by topic observed in bulk: a list of record timestamps at once, against one
    clock reading. The cost per record is C code (a sort of nearly sorted ints and a sum, ~20 ns
    with the engine's buffering); a ``Histogram.observe`` per record (locks, a loop over the
    buckets) measured ~800 ns. Observed and collected on the worker's event loop only (the web
    server runs there too), so it takes no lock."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds_ms = [round(bound * 1000) for bound in VISIBLE_LATENCY_BUCKETS]
        # the `le` values as prometheus_client's Histogram writes them
        self.les = [floatToGoString(bound) for bound in VISIBLE_LATENCY_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
        self.series: dict[str, _Series] = {}  # by topic
        if registry is not None:
            registry.register(self)

    def observe(self, topic: str, stamps: list[int], now_ms: int, records: int | None = None) -> None:
        """One observation of ``now_ms - stamp`` per stamp (at least 0: a producer's clock may run
        ahead of ours), each standing for ``records / len(stamps)`` records when ``records`` is
        given (a sample). Sorts ``stamps`` in place."""
        n = len(stamps)
        if not n:
            return
        records = n if records is None else records
        stamps.sort()
        ahead = bisect_right(stamps, now_ms)  # stamps[ahead:] lie in our future: latency 0
        total_ms = now_ms * ahead - (sum(stamps) - (sum(stamps[ahead:]) if ahead < n else 0))
        series = self.series.get(topic)
        if series is None:
            series = self.series[topic] = _Series([0] * (len(self.bounds_ms) + 1))
        counts = series.counts
        for i, bound in enumerate(self.bounds_ms):
            within = n - bisect_left(stamps, now_ms - bound)  # now - stamp <= bound
            counts[i] += within if records == n else round(within * records / n)
        counts[-1] += records
        series.total += total_ms / 1000 * (records / n)

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=["topic"])]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["topic"])
        for topic, series in sorted(self.series.items()):
            family.add_metric([topic], list(zip(self.les, series.counts, strict=True)), series.total)
        return [family]


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
