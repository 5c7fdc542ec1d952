"""Issue 2 on the real stack: valid events counted, bad ones dead-lettered with their bytes
and reason, resends counted once, and all of it survives a SIGKILL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from stream.admin import records_in
from stream.deadletter import read_deadletter_record
from stream.settings import PulseSettings
from tests.factories import make_subscription
from tests.integration.harness import BROKER, Deployment, Worker, wait_for

PROCESSED = "pulse_events_processed_total"
REJECTED = "pulse_events_rejected_total"
DUPLICATE = "pulse_events_duplicate_total"


def rejected(worker: Worker, topic: str) -> float:
    return sum(v for (name, labels), v in worker.metrics().items() if name == REJECTED and ("topic", topic) in labels)


def test_valid_bad_and_duplicate_events_end_up_where_they_should(deployment: Deployment, worker: Worker) -> None:
    valid = orjson.dumps(make_subscription(event_id="ok-1", customer_id="c-1"))
    naive = orjson.dumps(make_subscription(event_id="naive-1", occurred_at="2026-01-15T10:00:00"))
    malformed = b'{"event_id": "broken", "type": '
    deployment.publish(
        [
            ("subscriptions", b"c-1", valid),
            ("subscriptions", b"c-1", valid),  # a producer resend
            ("subscriptions", b"c-1", naive),
            ("subscriptions", None, malformed),
        ]
    )
    wait_for(
        lambda: (
            worker.metric(PROCESSED, topic="subscriptions") == 1
            and worker.metric(DUPLICATE, topic="subscriptions") == 1
            and rejected(worker, "subscriptions") == 2
        ),
        what="counters",
    )
    assert worker.metric(REJECTED, topic="subscriptions", reason="timestamp") == 1
    assert worker.metric(REJECTED, topic="subscriptions", reason="invalid_json") == 1

    records = [read_deadletter_record(r.value) for r in deployment.read_topic("deadletter", 2)]
    by_reason = {r["reason"]: r for r in records}
    assert set(by_reason) == {"timestamp", "invalid_json"}
    assert by_reason["timestamp"]["original"] == naive
    assert by_reason["invalid_json"]["original"] == malformed
    assert by_reason["timestamp"]["source_topic"] == deployment.topic("subscriptions")
    assert "offset" in str(by_reason["timestamp"]["error"]) or by_reason["timestamp"]["error"]
    assert worker.proc is not None and worker.proc.poll() is None, "worker must keep running"


def test_batched_product_events_are_validated_one_by_one(deployment: Deployment, worker: Worker) -> None:
    good = [
        {
            "event_id": f"pe-{i}",
            "type": "track",
            "occurred_at": "2026-01-15T10:00:00Z",
            "name": "login",
            "user_id": f"u{i}",
            "account_id": "a1",
        }
        for i in range(5)
    ]
    bad = {"event_id": "pe-bad", "type": "track", "occurred_at": "2026-01-15T10:00:00Z", "name": "login"}
    deployment.publish([("product-events", b"a1", orjson.dumps([*good, bad, good[0]]))])
    wait_for(
        lambda: (
            worker.metric(PROCESSED, topic="product-events") == 5
            and worker.metric(DUPLICATE, topic="product-events") == 1
            and worker.metric(REJECTED, topic="product-events", reason="schema") == 1
        ),
        what="batch counters",
    )
    dead = [read_deadletter_record(r.value) for r in deployment.read_topic("deadletter", 3)]
    element = [d for d in dead if d["batch_index"] == 5]
    original = element[0]["original"] if element else None
    assert isinstance(original, bytes) and orjson.loads(original) == bad


def test_out_of_range_survey_and_unknown_type_on_other_topics(deployment: Deployment, worker: Worker) -> None:
    survey = {
        "event_id": "sv-1",
        "type": "survey_response",
        "occurred_at": "2026-01-15T10:00:00Z",
        "account_id": "a1",
        "kind": "nps",
        "score": 11,
    }
    lead = {
        "event_id": "ld-1",
        "type": "lead_lost",
        "occurred_at": "2026-01-15T10:00:00Z",
        "lead_id": "l1",
        "channel": "web",
    }
    deployment.publish([("surveys", b"a1", orjson.dumps(survey)), ("leads", b"l1", orjson.dumps(lead))])
    wait_for(
        lambda: (
            worker.metric(REJECTED, topic="surveys", reason="schema") == 1
            and worker.metric(REJECTED, topic="leads", reason="unknown_type") == 1
        ),
        what="rejections",
    )


def test_state_survives_sigkill_so_resends_stay_duplicates(deployment: Deployment, worker: Worker) -> None:
    dead_before = len(deployment.read_topic("deadletter", 10**6, timeout=3))
    worker.kill()
    worker.start()  # same app id: recovers its state from the changelog
    again = orjson.dumps(make_subscription(event_id="ok-1", customer_id="c-1"))
    fresh = orjson.dumps(make_subscription(event_id="ok-2", customer_id="c-2"))
    deployment.publish([("subscriptions", b"c-1", again), ("subscriptions", b"c-2", fresh)])
    wait_for(
        lambda: (
            worker.metric(PROCESSED, topic="subscriptions") == 1
            and worker.metric(DUPLICATE, topic="subscriptions") == 1
        ),
        what="post-restart counters",
    )
    # Nothing already processed was processed again: no new rejections, no new dead letters.
    assert rejected(worker, "subscriptions") == 0
    assert len(deployment.read_topic("deadletter", 10**6, timeout=3)) == dead_before


def test_records_in_counts_what_a_topic_holds(tmp_path: Path) -> None:
    """What `pulse demo` checks so that it does not publish its history twice."""
    fresh = Deployment(tmp_path)
    settings = PulseSettings(kafka_broker=BROKER, topic_prefix=fresh.prefix)
    assert asyncio.run(records_in(settings, settings.topic("leads"))) == 0  # no such topic yet
    fresh.publish([("leads", b"l", b"{}")] * 3)
    assert asyncio.run(records_in(settings, settings.topic("leads"))) == 3
    assert asyncio.run(records_in(settings, settings.topic("surveys"))) == 0  # created, empty
