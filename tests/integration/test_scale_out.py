"""Two workers split the partitions; every event is processed once across them, and a
partition that moves keeps its state."""

from __future__ import annotations

import orjson

from tests.factories import make_subscription
from tests.integration.harness import Deployment, wait_for

PROCESSED = "pulse_events_processed_total"
DUPLICATE = "pulse_events_duplicate_total"


def events(start: int, n: int) -> list[tuple[str, bytes | None, bytes]]:
    return [
        (
            "subscriptions",
            f"c-{i}".encode(),
            orjson.dumps(make_subscription(event_id=f"e-{i}", customer_id=f"c-{i}", subscription_id=f"s-{i}")),
        )
        for i in range(start, start + n)
    ]


def test_two_workers_share_partitions_and_hand_over_state(deployment: Deployment) -> None:
    a = deployment.worker("a").start()
    b = deployment.worker("b").start()
    try:

        def split() -> bool:
            pa = {p for p in a.health()["partitions"] if "subscriptions" in p}
            pb = {p for p in b.health()["partitions"] if "subscriptions" in p}
            return bool(pa) and bool(pb) and not (pa & pb) and len(pa | pb) == deployment.partitions

        wait_for(split, timeout=60, what="partitions split between two workers")
        deployment.publish(events(0, 200))
        total = lambda: a.metric(PROCESSED, topic="subscriptions") + b.metric(PROCESSED, topic="subscriptions")  # noqa: E731
        wait_for(lambda: total() == 200, what="200 events across two workers")
        assert a.metric(PROCESSED, topic="subscriptions") > 0 and b.metric(PROCESSED, topic="subscriptions") > 0

        b.stop()  # graceful: its partitions move to a, with their state
        wait_for(
            lambda: len([p for p in a.health()["partitions"] if "subscriptions" in p]) == deployment.partitions,
            what="a owns every partition",
        )
        before = a.metric(PROCESSED, topic="subscriptions")
        deployment.publish(events(0, 200) + events(200, 50))  # 200 resends + 50 new
        wait_for(
            lambda: (
                a.metric(DUPLICATE, topic="subscriptions") == 200
                and a.metric(PROCESSED, topic="subscriptions") == before + 50
            ),
            what="resends deduped after handover",
        )
    finally:
        a.stop()
        b.stop()
