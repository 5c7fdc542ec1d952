"""1% poison of every kind from the integrity issue, and events reordered within the grace
period and beyond it, in one stream: the worker never restarts, each poison record is one
dead letter, and every figure equals `pulse report` on the same lines in the same order."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from stream.jsonl import dump_line, iter_records
from tests.faults.common import FX
from tests.integration.harness import REPO, Deployment, assert_api_matches, run_cli, wait_for

REJECTED = "pulse_events_rejected_total"
HUGE = 1000
ROUNDS = 5  # of HUGE oversized records each


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (the worker runs under a process group)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("Pid", 0)) == pid or int(fields.get("PPid", 0)) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    return total


def poison(i: int, good: dict[str, Any]) -> bytes:
    """A subscription record of the i-th poison kind (each one a dead letter with its reason)."""
    kinds: list[bytes] = [
        b"{not json",
        b"[1, 2, 3]",
        orjson.dumps({**good, "type": "subscription_exploded"}),
        orjson.dumps({**good, "quantity": 10**18}),
        orjson.dumps({**good, "amount": "9999999999999999", "quantity": 1000}),
        orjson.dumps({**good, "occurred_at": "0001-01-01T00:00:00+14:00"}),
        orjson.dumps({**good, "occurred_at": "2031-01-01T00:00:00Z"}),  # a broken clock
        orjson.dumps({**good, "attributes": {"segment": "x" * 300_000}}),
    ]
    return kinds[i % len(kinds)]


def test_poison_and_reordering(deployment: Deployment, tmp_path: Path) -> None:
    source = tmp_path / "clean.jsonl"
    env = {**deployment.env, "PULSE_FX_RATES": FX}
    run_cli("simulate", "--out", str(source), "--seed", "17", "--customers", "300", "--days", "90",
            "--end", "2026-09-01", env=env)  # fmt: skip
    subs = [orjson.loads(v) for t, _, v in iter_records(source) if t == "subscriptions"]
    rng = random.Random(5)
    # reorder: swap neighbours (mostly within the 2-day grace, some beyond it: those are late)
    for i in range(0, len(subs) - 1, 3):
        subs[i], subs[i + 1] = subs[i + 1], subs[i]
    beyond = 0
    for _ in range(len(subs) // 50):
        i, j = sorted(rng.sample(range(len(subs)), 2))
        if abs((_at(subs[j]) - _at(subs[i])).total_seconds()) > 3 * 86400:
            beyond += 1
        subs[i], subs[j] = subs[j], subs[i]
    lines: list[bytes] = []
    records: list[tuple[str, bytes | None, bytes]] = []  # the same, as Kafka records
    bad = 0
    for n, event in enumerate(subs):
        lines.append(dump_line("subscriptions", event["customer_id"], event))
        records.append(("subscriptions", event["customer_id"].encode(), orjson.dumps(event)))
        if n % 100 == 50:  # 1%
            raw = poison(bad, {**event, "event_id": f"poison-{bad}"})
            lines.append(raw + b"\n")  # a bare line among wrapped ones: `pulse report` reads it as is
            records.append(("subscriptions", event["customer_id"].encode(), raw))
            bad += 1
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"".join(lines))
    report = subprocess.run(
        [sys.executable, "-m", "stream.cli", "report", "monthly-mrr", "--events", str(path), "--format", "json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    expected = orjson.loads(report.stdout)
    # "12 subscriptions events rejected (schema)" lines: what the replay dead-lettered, by reason
    replay_rejected = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r"(\d+) subscriptions events rejected \((\w+)\)", report.stderr)
    }
    assert beyond > 0 and bad >= 8
    assert sum(v for r, v in replay_rejected.items() if r != "late") >= bad - 1 and replay_rejected.get("late")

    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    w = d.worker().start()
    try:
        d.publish(records)
        assert_api_matches(w, "/api/v1/revenue?month={}", "month", expected, timeout=180)

        def rejected() -> dict[str, float]:
            return {dict(labels)["reason"]: v for (name, labels), v in w.metrics().items()
                    if name == REJECTED and dict(labels).get("topic") == "subscriptions"}  # fmt: skip

        # each poison record one dead letter (one placed beyond the grace period is `late` first),
        # and every reordered-too-late event too: exactly what the replay refused, reason by reason
        wait_for(lambda: rejected() == replay_rejected, timeout=60, what=f"the replay's rejections {replay_rejected}")
        assert w.proc is not None and w.proc.poll() is None and "Traceback" not in w.tail(5000)

        # memory stays bounded under poison: a first 300 MB of oversized records sets the
        # allocator's high-water mark; four more (1.2 GB) leave no more than a tenth of one
        # behind. A round's own growth is noise (fetch and producer buffers in flight, +-50 MiB
        # seen), so the bound is on what the four leave together: keeping even 11% of each
        # record would exceed it.
        huge = {**subs[-1], "attributes": {"segment": "x" * 300_000}}
        schema = replay_rejected.get("schema", 0)
        after: list[int] = []
        for round_ in range(ROUNDS):
            for start in range(round_ * HUGE, (round_ + 1) * HUGE, 100):
                d.publish([("subscriptions", b"c-huge", orjson.dumps({**huge, "event_id": f"huge-{i}"}))
                           for i in range(start, start + 100)])  # fmt: skip
            schema += HUGE
            wait_for(lambda n=schema: rejected().get("schema") == n, timeout=120, what=f"{schema} schema rejections")
            after.append(rss_bytes(w.proc.pid))
        grown = after[-1] - after[0]
        assert grown < 128 * 2**20, f"resident memory after each round {[a >> 20 for a in after]} MiB"
        assert w.proc.poll() is None
    finally:
        w.stop()


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
