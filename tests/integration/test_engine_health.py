"""The engine-health metrics of a real worker (docs/metrics.md, "Engine health"): one worker of
a fresh deployment, records published while it runs, then its /metrics."""

from __future__ import annotations

import time

import orjson

from stream.topics import SOURCE_TOPICS
from tests.factories import make_subscription
from tests.integration.harness import Deployment, Worker, wait_for

N = 300
LATENCY = "pulse_event_visible_latency_seconds"


def test_engine_health_after_records_of_one_topic(deployment: Deployment, worker: Worker) -> None:
    # one customer per record, keyed by it: every record is at home on its partition (nothing
    # forwarded), so each is observed exactly once, on its own partition
    records = [
        (
            "subscriptions",
            f"health-{i}".encode(),
            orjson.dumps(make_subscription(event_id=f"h-{i}", customer_id=f"health-{i}")),
        )
        for i in range(N)
    ]
    published_at = time.time()
    deployment.publish(records)
    wait_for(lambda: worker.metric("pulse_events_processed_total", topic="subscriptions") == N, what="processed")
    # visible once committed and published; an idle worker publishes at once
    wait_for(lambda: worker.metric(f"{LATENCY}_count", topic="subscriptions") >= N, timeout=15, what="observed")
    time.sleep(1.5)  # a publish more: nothing is observed twice
    m = worker.metrics()

    def value(name: str, **labels: str) -> float:
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("pulse_events_forwarded_total", topic="subscriptions") == 0
    assert value(f"{LATENCY}_count", topic="subscriptions") == N
    assert value(f"{LATENCY}_bucket", topic="subscriptions", le="+Inf") == N
    latency_sum = value(f"{LATENCY}_sum", topic="subscriptions")
    waited = time.time() - published_at  # no record can have waited longer than the whole test
    assert 0 < latency_sum < N * waited, latency_sum
    assert value(f"{LATENCY}_bucket", topic="subscriptions", le="30.0") == N  # each within 30 s
    assert not any(name == f"{LATENCY}_count" and labels != (("topic", "subscriptions"),) for name, labels in m)

    assert value("pulse_rebalances_total") >= 1
    # every source topic is consumed (those without a family are deduplicated and counted)
    assert value("pulse_assigned_partitions") == deployment.partitions * len(SOURCE_TOPICS)
    assert value("pulse_recovery_in_progress") == 0
    assert value("pulse_recovery_seconds_count") >= 1 and value("pulse_recovery_seconds_sum") > 0
    # at least each new customer's record, and one checkpoint per partition batch
    assert value("pulse_changelog_records_total", topic="subscriptions") > N
    assert value("pulse_redis_roundtrip_seconds_count") >= 1 and value("pulse_redis_roundtrip_seconds_sum") > 0
    assert value("pulse_scrape_duration_seconds") > 0  # the scrapes above took some time
    assert value("pulse_dependency_up", dependency="redis") == 1
