"""Prometheus metrics of a worker, on a registry of its own (a fresh one per test).

HELP texts are the definitions in docs/metrics.md; a test keeps the two in agreement.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest

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
            "Events whose occurred_at is older than the grace period behind the partition's watermark; dead-lettered with reason late.",
            ["topic"],
            registry=self.registry,
        )
        self.forwarded = Counter(
            "pulse_events_forwarded",
            "Events that arrived on another partition than their entity key's (a keyless or mis-keyed record) and were forwarded to it through the repartition topic, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "pulse_worker_ready",
            "1 when the worker has recovered the state of its assigned partitions and is processing, else 0.",
            registry=self.registry,
        )

    def count_rejected(self, topic: str, reason: RejectReason) -> None:
        self.rejected.labels(topic=topic, reason=reason.value).inc()
        if reason is RejectReason.LATE:
            self.late.labels(topic=topic).inc()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
