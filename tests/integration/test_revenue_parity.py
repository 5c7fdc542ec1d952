"""Issue 3 parity on the real stack: a simulated history published to Kafka and processed by
workers gives, month by month, exactly what `pulse report monthly-mrr` gives on the file —
undisturbed, with every event published twice, with the worker SIGKILLed mid-stream, and with
two workers sharing the partitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import iter_records
from tests.integration.harness import Deployment, Worker, assert_api_matches, kill_mid_stream, run_cli, wait_for

FX = '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}'
PROCESSED = "pulse_events_processed_total"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("history") / "events.jsonl"
    env = {**deployment.env, "PULSE_FX_RATES": FX}
    run_cli(
        "simulate",
        "--out",
        str(path),
        "--seed",
        "11",
        "--customers",
        "40",
        "--days",
        "150",
        "--end",
        "2026-10-01",
        env=env,
    )
    rows = orjson.loads(run_cli("report", "monthly-mrr", "--events", str(path), "--format", "json", env=env))
    assert (
        len(rows) >= 5 and any(r["churned_customers"] for r in rows) and any(r["reactivated_customers"] for r in rows)
    )
    return path, rows


def with_fx(d: Deployment) -> Deployment:
    d.extra_env = {"PULSE_FX_RATES": FX}
    return d


def subscription_records(path: Path) -> list[tuple[str, bytes | None, bytes]]:
    return [r for r in iter_records(path) if r[0] == "subscriptions"]


def assert_parity(worker: Worker, expected: list[dict[str, Any]]) -> None:
    assert_api_matches(worker, "/api/v1/revenue?month={}", "month", expected, timeout=120)


def test_undisturbed(history: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, expected = history
    d = with_fx(Deployment(tmp_path))
    w = d.worker().start()
    try:
        d.publish(subscription_records(path))
        assert_parity(w, expected)
        mrr = w.metric("pulse_mrr", currency="USD")
        assert f"{mrr:.2f}" == expected[-1]["mrr"]
    finally:
        w.stop()


def test_every_event_published_twice(history: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, expected = history
    d = with_fx(Deployment(tmp_path))
    records = subscription_records(path)
    d.publish(records)
    d.publish(records)
    w = d.worker().start()
    try:
        assert_parity(w, expected)
        wait_for(
            lambda: w.metric("pulse_events_duplicate_total", topic="subscriptions") == len(records),
            what="every resend counted as duplicate",
        )
    finally:
        w.stop()


def test_sigkill_mid_stream_and_restart(history: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, expected = history
    d = with_fx(Deployment(tmp_path))
    records = subscription_records(path)
    w = d.worker().start()
    try:
        kill_mid_stream(d, w, records, "subscriptions", chunk=20)
        assert_parity(w, expected)
        # After the restart the worker processed only what the killed one had not checkpointed.
        assert w.metric(PROCESSED, topic="subscriptions") < len(records)
    finally:
        w.stop()


def test_two_workers_report_the_same_global_figures(history: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, expected = history
    d = with_fx(Deployment(tmp_path))
    a = d.worker("a").start()
    b = d.worker("b").start()
    try:
        wait_for(lambda: a.health()["partitions"] and b.health()["partitions"], what="both own partitions")
        d.publish(subscription_records(path))
        assert_parity(a, expected)
        assert_parity(b, expected)
        assert a.metric("pulse_mrr", currency="USD") == b.metric("pulse_mrr", currency="USD")
    finally:
        a.stop()
        b.stop()


def test_keyless_and_mis_keyed_records_give_the_same_figures(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Many producers send without a key (kcat's default) or with another one: each such event
    is forwarded to its customer's partition, so no customer's state is split. The history
    goes in keyed; the last events then arrive as a live stream would, a third without a key
    and some under another key."""
    path, expected = history
    d = with_fx(Deployment(tmp_path))
    records = subscription_records(path)
    head, tail = records[:-60], records[-60:]
    mangled = [
        (t, None if i % 3 == 0 else b"some-other-key" if i % 4 == 0 else k, v) for i, (t, k, v) in enumerate(tail)
    ]
    w = d.worker().start()
    try:
        d.publish(head)
        wait_for(lambda: w.metric(PROCESSED, topic="subscriptions") == len(head), timeout=120, what="the history")
        for done, record in enumerate(mangled, start=1):  # one at a time, as they happen
            d.publish([record])
            wait_for(
                lambda done=done: w.metric(PROCESSED, topic="subscriptions") == len(head) + done, what="a live event"
            )
        assert_parity(w, expected)
        assert w.metric("pulse_events_forwarded_total", topic="subscriptions") > 10
    finally:
        w.stop()
