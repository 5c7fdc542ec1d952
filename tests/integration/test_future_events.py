"""On the real stack, the Kafka record timestamp is the reference time: an event dated after
its record (plus PULSE_MAX_FUTURE_SECONDS) is dead-lettered as `future`, moves no watermark,
and the real events after it still count."""

from __future__ import annotations

import time

import orjson

from stream.deadletter import read_deadletter_record
from tests.factories import make_subscription
from tests.integration.harness import Deployment, Worker, wait_for

REJECTED = "pulse_events_rejected_total"
PROCESSED = "pulse_events_processed_total"


def product(event_id: str, at: str) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "type": "track", "occurred_at": at, "name": "login", "user_id": "u1", "account_id": "a1"}
    )


def test_future_events_are_refused_against_their_record_time(deployment: Deployment, worker: Worker) -> None:
    now_ms = int(time.time() * 1000)
    hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 - 3600))
    deployment.publish(
        [
            ("product-events", b"a1", product("broken-clock", "2031-01-01T00:00:00Z")),  # stamped now
            # an hour ago is the past for the wall clock, but 58 minutes after its record's time
            ("product-events", b"a1", product("early-record", hour_ago), now_ms - 2 * 3600 * 1000),
            ("product-events", b"a1", product("fine", hour_ago)),
            (
                "subscriptions",
                b"c-1",
                orjson.dumps(make_subscription(event_id="typo", occurred_at="2062-05-01T00:00:00Z")),
            ),
            (
                "subscriptions",
                b"c-1",
                orjson.dumps(make_subscription(event_id="real", occurred_at="2026-05-01T00:00:00Z")),
            ),
        ]
    )
    wait_for(
        lambda: (
            worker.metric(REJECTED, topic="product-events", reason="future") == 2
            and worker.metric(REJECTED, topic="subscriptions", reason="future") == 1
            and worker.metric(PROCESSED, topic="product-events") == 1
            and worker.metric(PROCESSED, topic="subscriptions") == 1
        ),
        what="future rejections",
    )
    assert worker.metric(REJECTED, topic="subscriptions", reason="late") == 0  # the real event is not late
    dead = [read_deadletter_record(r.value) for r in deployment.read_topic("deadletter", 3)]
    assert sorted(orjson.loads(d["original"])["event_id"] for d in dead) == ["broken-clock", "early-record", "typo"]
    assert all(d["reason"] == "future" and "PULSE_MAX_FUTURE_SECONDS" in str(d["error"]) for d in dead)
    # the snapshot is shared once the batch's writes are acknowledged
    wait_for(lambda: worker.get_json("/api/v1/revenue?month=2026-05")["new_mrr"] == "99.00", what="May's new MRR")
    assert worker.get_json("/api/v1/revenue?month=2026-05")["watermark"].startswith("2026-05-01")
