"""Ticket events published to Kafka give, day by day, what `pulse report daily-support` gives
on the same file — undisturbed and with the worker SIGKILLed mid-stream; and the report agrees
with an exact computation from the file."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import iter_records
from tests.integration.harness import Deployment, assert_api_matches, kill_mid_stream, run_cli, wait_for
from tests.reference.account_signals import exact_account_signals
from tests.reference.daily_support import exact_daily_support

SURVEY_COLUMNS = ("nps_30d", "csat_30d")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("support") / "events.jsonl"
    run_cli("simulate", "--out", str(path), "--seed", "29", "--customers", "80", "--days", "45",
            "--end", "2026-09-01", env=deployment.env)  # fmt: skip
    rows = orjson.loads(
        run_cli("report", "daily-support", "--events", str(path), "--format", "json", env=deployment.env)
    )
    assert len(rows) >= 20 and sum(r["tickets_opened"] for r in rows) > 30
    return path, rows


def test_the_report_agrees_with_an_exact_computation(history: tuple[Path, list[dict[str, Any]]]) -> None:
    path, rows = history
    exact = {r["date"]: r for r in exact_daily_support(path)}
    assert [r["date"] for r in rows] == sorted(exact)
    for row in rows:
        want = exact[row["date"]]
        for field in ("tickets_opened", "tickets_resolved", "backlog_end_of_day"):
            assert row[field] == want[field], (row["date"], field)
        for field in ("frt_avg_seconds", "resolution_avg_seconds", "fcr_rate"):
            assert (row[field] is None) == (want[field] is None), (row["date"], field)
            if want[field] is not None:
                assert row[field] == pytest.approx(want[field], rel=1e-3, abs=0.1), (row["date"], field)
        for field in ("frt_p50_seconds", "frt_p90_seconds"):
            if want[field] is not None:
                assert row[field] == pytest.approx(want[field], rel=0.011, abs=1.0), (row["date"], field)
    assert any(r["nps_30d"] is not None for r in rows) and any(r["csat_30d"] is not None for r in rows)


@pytest.mark.parametrize("crash", [False, True])
def test_streaming_gives_the_report_day_by_day(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path, crash: bool
) -> None:
    path, rows = history
    expected = [{k: v for k, v in r.items() if k not in SURVEY_COLUMNS} for r in rows]
    records = [r for r in iter_records(path) if r[0] == "support-tickets"]
    d = Deployment(tmp_path)
    d.create_topics()
    w = d.worker().start()
    try:
        if crash:
            kill_mid_stream(d, w, records, "support-tickets", chunk=20)
        else:
            d.publish(records)
        assert_api_matches(w, "/api/v1/support/daily?date={}", "date", expected, timeout=120)
        recent = orjson.loads(records[-1][2])["ticket_id"]  # (a ticket resolved 30 days ago is gone)
        assert w.get_json(f"/api/v1/tickets/{recent}")["ticket_id"] == recent
    finally:
        w.stop()


def test_a_reply_whose_ticket_never_opens_becomes_an_orphan_dead_letter(tmp_path: Path) -> None:
    from stream.deadletter import read_deadletter_record

    def event(kind: str, ticket_id: str, at: str, **fields: Any) -> tuple[str, bytes, bytes]:
        body = {"event_id": f"{ticket_id}-{kind}", "type": kind, "occurred_at": at, "ticket_id": ticket_id,
                "account_id": "acme", **fields}  # fmt: skip
        return "support-tickets", ticket_id.encode(), orjson.dumps(body)

    d = Deployment(tmp_path, partitions=1)
    d.create_topics()
    w = d.worker().start()
    try:
        d.publish([
            event("agent_replied", "ghost", "2026-08-01T10:00:00Z"),
            event("ticket_opened", "real", "2026-08-04T10:00:00Z", channel="chat", category="bug", priority="low"),
        ])  # fmt: skip
        dead = [read_deadletter_record(r.value) for r in d.read_topic("deadletter", 1)]
        assert [(x["reason"], x["offset"]) for x in dead] == [("orphan", -1)]
        assert orjson.loads(dead[0]["original"])["ticket_id"] == "ghost"
        assert w.metric("pulse_events_rejected_total", topic="support-tickets", reason="orphan") == 1
    finally:
        w.stop()


def test_accounts_health_carries_their_open_tickets_response_times_and_csat(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Tickets (keyed by ticket), surveys (by account) and product events on the real stack:
    each account's page shows the open tickets, 30-day FRT and CSAT an exact computation from
    the file gives, and its health score weighs them in."""
    path, _ = history
    topics = ("support-tickets", "surveys", "product-events")
    records = [r for r in iter_records(path) if r[0] in topics]
    d = Deployment(tmp_path)
    d.create_topics()
    w = d.worker().start()
    try:
        d.publish(records)
        last = max(orjson.loads(v)["occurred_at"] for t, _, v in records if t == "product-events" and v[:1] == b"{")
        today = date.fromisoformat(last[:10]).toordinal()
        exact = exact_account_signals(path, today)
        fields = ("open_tickets", "frt_avg_seconds_30d", "csat_30d")

        def pages() -> dict[str, dict[str, Any]]:
            out = {}
            for account in exact:
                page = w.get_json(f"/api/v1/accounts/{account}", missing_ok=True)
                if page is not None:
                    out[account] = page
            return out

        def agrees() -> bool:
            got = pages()
            return len(got) >= 10 and all(
                got[a]["as_of"] == date.fromordinal(today).isoformat()
                and got[a]["open_tickets"] == exact[a]["open_tickets"]
                and all(_close(got[a][f], exact[a][f]) for f in fields[1:])
                for a in got
            )

        wait_for(agrees, timeout=120, what="accounts' support and survey signals")
        got = pages()
        assert any(p["open_tickets"] for p in got.values()) and any(p["csat_30d"] is not None for p in got.values())
        assert all("tickets" in p and 0 <= p["health_score"] <= 100 for p in got.values())
    finally:
        w.stop()


def _close(got: float | None, want: float | None) -> bool:
    return (got is None) == (want is None) and (got is None or abs(got - want) <= max(0.1, 1e-3 * abs(want)))  # type: ignore[operator]
