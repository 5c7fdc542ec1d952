"""The `pulse` command line as a user runs it (no broker needed for these)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson

from tests.reference.monthly_mrr import monthly_from_file

REPO = Path(__file__).resolve().parents[2]
FX = '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}'


def pulse(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")} | env
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args], cwd=REPO, env=full, capture_output=True, text=True, timeout=300
    )


def test_simulate_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (a, b):
        assert (
            pulse("simulate", "--out", str(out), "--seed", "7", "--days", "30", "--end", "2026-11-01").returncode == 0
        )
    assert a.read_bytes() == b.read_bytes() and len(a.read_bytes()) > 100_000


def test_reports_have_the_exact_headers_and_match_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    assert (
        pulse(
            "simulate", "--out", str(path), "--seed", "3", "--days", "120", "--end", "2026-07-01", "--customers", "30"
        ).returncode
        == 0
    )
    monthly = pulse("report", "monthly-mrr", "--events", str(path), PULSE_FX_RATES=FX)
    assert monthly.returncode == 0, monthly.stderr
    lines = monthly.stdout.splitlines()
    assert lines[0] == (
        "month,mrr,active_customers,new_mrr,expansion_mrr,contraction_mrr,churned_mrr,"
        "reactivation_mrr,new_customers,churned_customers,reactivated_customers,customer_churn_rate,"
        "customer_retention_rate,nrr,grr,gross_revenue_churn_rate,net_revenue_churn_rate,mrr_churn_rate,"
        "quick_ratio,ltv"
    )
    rates = {k: Decimal(str(v)) for k, v in orjson.loads(FX).items()}
    as_json = orjson.loads(
        pulse("report", "monthly-mrr", "--events", str(path), "--format", "json", PULSE_FX_RATES=FX).stdout
    )
    reference = monthly_from_file(str(path), rates)
    assert [{k: row[k] for k in want} for row, want in zip(as_json, reference, strict=True)] == reference
    assert [r["month"] for r in as_json] == [line.split(",")[0] for line in lines[1:]]
    daily = pulse("report", "daily-engagement", "--events", str(path))
    assert daily.returncode == 0, daily.stderr
    assert (
        daily.stdout.splitlines()[0]
        == "date,dau,wau,mau,stickiness,unique_visitors,signups,sessions,avg_session_seconds"
    )


def test_expected_failures_are_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"topic": "subscriptions", "event": {}}\n')
    down = pulse("produce", str(path), PULSE_KAFKA_BROKER="127.0.0.1:1")
    assert down.returncode == 2
    assert "broker 127.0.0.1:1 is not reachable" in down.stderr and "Traceback" not in down.stderr
    bad = pulse("report", "monthly-mrr", "--events", str(path), "--format", "xml")
    assert bad.returncode == 2 and "--format" in bad.stderr
    env = pulse("report", "monthly-mrr", "--events", str(path), PULSE_GRACE_PERIOD_SECONDS="soon")
    assert env.returncode == 2 and "PULSE_GRACE_PERIOD_SECONDS" in env.stderr and "Traceback" not in env.stderr


def test_a_file_is_read_the_same_with_a_bom_and_with_bare_lines_among_wrapped_ones(tmp_path: Path) -> None:
    from stream.jsonl import dump_line
    from tests.factories import make_subscription

    events = [make_subscription(event_id=f"e{i}", customer_id=f"c{i}", subscription_id=f"s{i}") for i in range(4)]
    wrapped = b"".join(dump_line("subscriptions", e["customer_id"], e) for e in events)
    plain, bom, mixed = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl", tmp_path / "mixed.jsonl"
    plain.write_bytes(wrapped)
    bom.write_bytes(b"\xef\xbb\xbf" + wrapped)  # what Notepad saves
    mixed.write_bytes(
        b"".join(
            dump_line("subscriptions", e["customer_id"], e) if i % 2 else orjson.dumps(e) + b"\n"
            for i, e in enumerate(events)
        )
    )
    rows = [pulse("report", "monthly-mrr", "--events", str(p), "--format", "json") for p in (plain, bom, mixed)]
    assert all(r.returncode == 0 for r in rows), [r.stderr for r in rows]
    first = orjson.loads(rows[0].stdout)
    assert first and first[-1]["new_customers"] == 4
    assert orjson.loads(rows[1].stdout) == first == orjson.loads(rows[2].stdout)


def test_a_file_with_no_event_of_the_report_fails_instead_of_printing_a_header(tmp_path: Path) -> None:
    from stream.jsonl import dump_line

    other = tmp_path / "tickets.jsonl"
    other.write_bytes(dump_line("support-tickets", "t1", {"event_id": "x", "type": "ticket_opened"}))
    result = pulse("report", "monthly-mrr", "--events", str(other))
    assert result.returncode == 2 and result.stdout == ""
    assert "no subscriptions events in it" in result.stderr and len(result.stderr.strip().splitlines()) == 1
