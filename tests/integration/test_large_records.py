"""Records at the broker's maximum size, on every source topic: rejected ones reach the dead
letter whole, valid ones count, the partition moves on, and the worker keeps running."""

from __future__ import annotations

import orjson

from stream.deadletter import read_deadletter_record
from stream.topics import SOURCE_TOPICS
from tests.factories import make_subscription
from tests.integration.harness import Deployment, Worker, wait_for

#: Below the broker's default message.max.bytes (1,048,588) with the record's own overhead.
NEAR_LIMIT = 1_040_000
PROCESSED = "pulse_events_processed_total"
REJECTED = "pulse_events_rejected_total"

VALID: dict[str, dict[str, object]] = {
    "subscriptions": make_subscription(event_id="big-ok", customer_id="c-big"),
    "product-events": {"event_id": "big-ok", "type": "track", "occurred_at": "2026-07-01T00:00:00Z",
                       "name": "login", "user_id": "u1", "account_id": "a1"},
    "support-tickets": {"event_id": "big-ok", "type": "ticket_opened", "occurred_at": "2026-07-01T00:00:00Z",
                        "ticket_id": "t1", "account_id": "a1", "channel": "email", "category": "bug",
                        "priority": "high"},
    "surveys": {"event_id": "big-ok", "type": "survey_response", "occurred_at": "2026-07-01T00:00:00Z",
                "account_id": "a1", "kind": "nps", "score": 9},
    "marketing-spend": {"event_id": "big-ok", "type": "spend_recorded", "occurred_at": "2026-07-01T00:00:00Z",
                        "channel": "ads", "amount": "10", "currency": "USD"},
    "leads": {"event_id": "big-ok", "type": "lead_created", "occurred_at": "2026-07-01T00:00:00Z",
              "lead_id": "l1", "channel": "ads"},
}  # fmt: skip


#: a small event after the big ones, where a second copy of the valid one is not valid (a
#: ticket opens once, a lead is created once)
FOLLOW_UP = {"support-tickets": {"type": "agent_replied"}, "leads": {"type": "lead_qualified", "stage": "mql"}}


def padded(event: dict[str, object], size: int) -> bytes:
    """The event with an extra field (contracts keep and ignore extras) up to ``size`` bytes."""
    base = orjson.dumps({**event, "padding": ""})
    return orjson.dumps({**event, "padding": "x" * (size - len(base))})


def test_records_at_the_size_limit_on_every_topic(deployment: Deployment, worker: Worker) -> None:
    records = []
    for topic, event in VALID.items():
        key = (SOURCE_TOPICS[topic].key_of(event) or "").encode()
        invalid = padded({**event, "event_id": "big-bad", "type": "no_such_type"}, NEAR_LIMIT)
        valid = padded(event, NEAR_LIMIT)
        after = orjson.dumps({**event, "event_id": "small-after", **FOLLOW_UP.get(topic, {})})
        assert len(invalid) == len(valid) == NEAR_LIMIT
        records += [(topic, key, invalid), (topic, key, valid), (topic, key, after)]
    deployment.publish(records)
    wait_for(
        lambda: all(
            worker.metric(PROCESSED, topic=t) == 2 and worker.metric(REJECTED, topic=t, reason="unknown_type") == 1
            for t in VALID
        ),
        timeout=90,
        what="every topic's large records",
    )
    dead = [read_deadletter_record(r.value) for r in deployment.read_topic("deadletter", len(VALID))]
    assert len(dead) == len(VALID)
    for d in dead:
        assert d["original_truncated"] is False and d["original_bytes"] == NEAR_LIMIT
        original = d["original"]
        assert isinstance(original, bytes) and orjson.loads(original)["event_id"] == "big-bad"
    assert worker.proc is not None and worker.proc.poll() is None
