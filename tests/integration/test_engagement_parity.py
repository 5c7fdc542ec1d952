"""Issue 4 parity on the real stack: product events published to Kafka and processed by the
worker give, day by day, what `pulse report daily-engagement` gives on the file — undisturbed
and with the worker SIGKILLed mid-stream — and both agree with an exact computation within 1%."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import dump_line, iter_records
from stream.pipeline import partition_for
from tests.integration.harness import Deployment, Worker, assert_api_matches, kill_mid_stream, run_cli, wait_for
from tests.reference.daily_engagement import exact_daily


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("engagement") / "events.jsonl"
    run_cli(
        "simulate",
        "--out",
        str(path),
        "--seed",
        "21",
        "--customers",
        "25",
        "--days",
        "35",
        "--end",
        "2026-09-01",
        env=deployment.env,
    )
    rows = orjson.loads(
        run_cli("report", "daily-engagement", "--events", str(path), "--format", "json", env=deployment.env)
    )
    assert len(rows) >= 30
    return path, rows


def events_in(records: list[tuple[str, bytes | None, bytes]]) -> int:
    """Events in records (an SDK record holds an array of them)."""
    return sum(len(v) if isinstance(v := orjson.loads(value), list) else 1 for _, _, value in records)


def records(path: Path) -> list[tuple[str, bytes | None, bytes]]:
    return [r for r in iter_records(path) if r[0] == "product-events"]


def assert_parity(worker: Worker, expected: list[dict[str, Any]]) -> None:
    assert_api_matches(worker, "/api/v1/engagement/daily?date={}", "date", expected, timeout=180, interval=2)


def test_report_matches_an_exact_computation_within_one_percent(history: tuple[Path, list[dict[str, Any]]]) -> None:
    path, rows = history
    exact = {r["date"]: r for r in exact_daily(str(path))}
    assert set(exact) == {r["date"] for r in rows}
    for row in rows:
        truth = exact[row["date"]]
        for field in ("dau", "wau", "mau", "unique_visitors"):
            assert abs(row[field] - truth[field]) <= max(1, 0.01 * truth[field]), (row, truth)


def test_streaming_equals_replay(history: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, expected = history
    d = Deployment(tmp_path)
    w = d.worker().start()
    try:
        d.publish(records(path))
        assert_parity(w, expected)
        last = date.fromisoformat(expected[-1]["date"])
        assert w.metric("pulse_active_users", window="30d") > 0
        assert round(w.metric("pulse_active_users", window="1d")) == expected[-1]["dau"], last

        def settled_at_risk() -> tuple[list[dict[str, Any]]] | None:
            """The at-risk list once a health pass covers the last day and two passes agree
            (a pass runs every second here), with the gauge read between the two."""
            first = w.get_json("/api/v1/accounts/at-risk")
            count = w.metric("pulse_accounts_at_risk")
            time.sleep(1.5)
            second = w.get_json("/api/v1/accounts/at-risk")
            settled = first == second and first["as_of"] == expected[-1]["date"]
            return (first["accounts"],) if settled and count == len(first["accounts"]) else None

        (risky,) = wait_for(settled_at_risk, timeout=60, interval=0.5, what="a settled at-risk list")
        assert all(a["health_score"] < 40 for a in risky)
        account = next(orjson.loads(v)["account_id"] for _, _, v in reversed(records(path)) if b'"account_id"' in v)
        some = w.get_json(f"/api/v1/accounts/{account}")
        assert some["as_of"] == expected[-1]["date"] and 0 <= some["health_score"] <= 100
    finally:
        w.stop()


def test_sigkill_mid_stream_then_restart_gives_the_same_figures(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, expected = history
    d = Deployment(tmp_path)
    recs = records(path)
    w = d.worker().start()
    try:
        kill_mid_stream(d, w, recs, "product-events", chunk=500)
        assert_parity(w, expected)
        assert w.metric("pulse_events_duplicate_total", topic="product-events") == 0
    finally:
        w.stop()


def test_a_history_published_at_once_half_keyless_gives_the_same_figures(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """A backfill: the whole history at once, every other product event without a key, every
    record stamped with the time it was sent, so only event time can keep the worker's
    partitions together. The events forwarded between partitions reach their home before it
    moves on by more than the grace period: none is late, and the figures are the replay's."""
    path, expected = history
    d = Deployment(tmp_path)
    events = records(path)
    w = d.worker().start()
    try:
        d.publish([(t, None if i % 2 else k, v) for i, (t, k, v) in enumerate(events)])
        assert_parity(w, expected)
        assert w.metric("pulse_events_rejected_total", topic="product-events", reason="late") == 0
        assert w.metric("pulse_events_forwarded_total", topic="product-events") > events_in(events) / 4
    finally:
        w.stop()


def test_sigkill_mid_stream_with_half_keyless_records_gives_the_same_figures(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The crash lands among events forwarded between partitions of the worker, applied in
    process: what each home held and what each source gave it (the checkpoints' marks) bring
    the restarted worker to the replay's figures, with nothing counted twice or lost."""
    path, expected = history
    d = Deployment(tmp_path)
    recs = [(t, None if i % 2 else k, v) for i, (t, k, v) in enumerate(records(path))]
    w = d.worker().start()
    try:
        kill_mid_stream(d, w, recs, "product-events", chunk=500)
        assert_parity(w, expected)
        assert w.metric("pulse_events_duplicate_total", topic="product-events") == 0
        assert w.metric("pulse_events_rejected_total", topic="product-events", reason="late") == 0
    finally:
        w.stop()


def test_keyless_product_events_give_the_same_figures(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Product events without a key land on any partition; the kernel forwards each to its
    account's partition, and the figures are the replay's. The history goes in keyed, the
    last events as a live stream would (in small bursts), every other one without a key."""
    path, expected = history
    d = Deployment(tmp_path)
    events = records(path)
    head, tail = events[:-200], events[-200:]
    w = d.worker().start()

    def accounted() -> float:
        return sum(
            v
            for (name, labels), v in w.metrics().items()
            if ("topic", "product-events") in labels
            and name in ("pulse_events_processed_total", "pulse_events_duplicate_total", "pulse_events_rejected_total")
        )

    try:
        d.publish(head)
        wait_for(lambda: accounted() >= events_in(head), timeout=120, what="the history")
        for start in range(0, len(tail), 10):
            d.publish([(t, None if i % 2 else k, v) for i, (t, k, v) in enumerate(tail[start : start + 10])])
            expect = events_in(head) + events_in(tail[: start + 10])
            wait_for(lambda expect=expect: accounted() >= expect, what="the live events")
        assert_parity(w, expected)
        assert w.metric("pulse_events_forwarded_total", topic="product-events") > 0
    finally:
        w.stop()


def test_an_event_forwarded_behind_its_partition_watermark_shows(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """A mis-keyed event older than its home partition's watermark moves neither that
    partition's source offset nor its watermark, only its repartition offset: its user, session
    and account day must still reach the API (readers once cached a partition by the first two)."""
    path, before = history
    d = Deployment(tmp_path)
    head = records(path)
    template = next(orjson.loads(v) for _, _, v in reversed(head) if b'"account_id"' in v and b"[" not in v[:1])
    account, last = str(template["account_id"]), datetime.fromisoformat(str(template["occurred_at"]))
    home = partition_for(account.encode(), d.partitions)
    wrong = next(k for k in (f"k{i}".encode() for i in range(100)) if partition_for(k, d.partitions) != home)
    late = [
        {
            **{k: v for k, v in template.items() if k != "session_id"},
            "event_id": f"forwarded-{i}",
            "user_id": "u-forwarded",
            "occurred_at": (last - timedelta(minutes=minutes)).isoformat(),
        }
        for i, minutes in enumerate((40, 30))
    ]
    extra = [("product-events", wrong, orjson.dumps(e)) for e in late]
    both = tmp_path / "with-forwarded.jsonl"
    both.write_bytes(path.read_bytes() + b"".join(dump_line(t, k.decode(), orjson.loads(v)) for t, k, v in extra))
    expected = orjson.loads(run_cli("report", "daily-engagement", "--events", str(both), "--format", "json", env=d.env))
    assert expected != before  # the two events change the last day's figures
    w = d.worker().start()
    try:
        d.publish(head)
        assert_parity(w, before)
        forwarded = w.metric("pulse_events_forwarded_total", topic="product-events")
        d.publish(extra)
        assert_parity(w, expected)
        assert w.metric("pulse_events_forwarded_total", topic="product-events") == forwarded + len(late)
    finally:
        w.stop()
