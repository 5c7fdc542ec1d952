"""Other teams' services produce with other clients: kcat (librdkafka) sends keyless records by
default and, with keys, partitions them with its own hash (not Kafka's murmur2). Pulse forwards
each event to its customer's partition, so the figures are the replay's."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from stream.jsonl import dump_line
from tests.factories import make_subscription
from tests.integration.harness import BROKER, Deployment, Worker, assert_api_matches, run_cli, wait_for

PROCESSED = "pulse_events_processed_total"


def kcat(topic: str, lines: list[bytes], keyed: bool) -> None:
    args = ["kcat", "-P", "-b", BROKER, "-t", topic] + (["-K", "\t"] if keyed else [])
    subprocess.run(args, input=b"\n".join(lines) + b"\n", check=True, timeout=60, capture_output=True)


def events() -> list[dict[str, object]]:
    """30 customers, each: start, change, cancel within 30 hours (inside the grace period, so
    any arrival order gives the same figures)."""
    out: list[dict[str, object]] = []
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(30):
        at = base + timedelta(days=i)
        cid = f"kc-{i}"

        def stamp(hours: int, at: datetime = at) -> str:
            return (at + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

        out.append(
            make_subscription(event_id=f"{cid}-a", customer_id=cid, subscription_id=f"{cid}-s", occurred_at=stamp(0))
        )
        out.append(make_subscription(event_id=f"{cid}-b", type="subscription_changed", customer_id=cid,
                                     subscription_id=f"{cid}-s", occurred_at=stamp(12), quantity=3))  # fmt: skip
        if i % 3 == 0:
            out.append({"event_id": f"{cid}-c", "type": "subscription_cancelled", "customer_id": cid,
                        "subscription_id": f"{cid}-s", "plan": "team", "occurred_at": stamp(30)})  # fmt: skip
    return out


def test_kcat_keyless_and_librdkafka_keyed_records_give_the_replay_figures(
    deployment: Deployment, worker: Worker, tmp_path: Path
) -> None:
    all_events = events()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(dump_line("subscriptions", str(e["customer_id"]), e) for e in all_events))
    expected = orjson.loads(
        run_cli("report", "monthly-mrr", "--events", str(path), "--format", "json", env=deployment.env)
    )
    topic = deployment.topic("subscriptions")
    keyed = [f"{e['customer_id']}\t".encode() + orjson.dumps(e) for e in all_events[::2]]
    keyless = [orjson.dumps(e) for e in all_events[1::2]]
    kcat(topic, keyed, keyed=True)
    kcat(topic, keyless, keyed=False)
    wait_for(lambda: worker.metric(PROCESSED, topic="subscriptions") == len(all_events), timeout=90, what="all events")
    assert_api_matches(worker, "/api/v1/revenue?month={}", "month", expected, timeout=60)
    assert worker.metric("pulse_events_forwarded_total", topic="subscriptions") > len(all_events) / 4
    page = worker.get_json("/api/v1/customers/kc-1")
    assert page["status"] == "active" and page["mrr"] == "297.00"
