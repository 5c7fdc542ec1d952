"""One of two workers fails mid-stream while events flow, and the other takes its partitions:

- SIGSTOP past the session timeout, then SIGCONT: the paused worker (a zombie) wakes up after
  the other took over; its late writes must not count (its producers are fenced);
- SIGKILL, then a restart: its open transactions are aborted by the new owner.

Either way every figure equals the replay's and every invalid record is dead-lettered exactly
once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.deadletter import read_deadletter_record
from stream.jsonl import iter_records
from tests.faults.common import FX
from tests.integration.harness import Deployment, Worker, assert_api_matches, run_cli, wait_for

PROCESSED = "pulse_events_processed_total"
INVALID = 60


def owned(worker: Worker) -> set[str]:
    return {p for p in worker.health().get("partitions", []) if p.rpartition(":")[0].endswith(".subscriptions")}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("zombie") / "events.jsonl"
    env = {**deployment.env, "PULSE_FX_RATES": FX}
    run_cli("simulate", "--out", str(path), "--seed", "5", "--customers", "60", "--days", "120",
            "--end", "2026-10-01", env=env)  # fmt: skip
    rows = orjson.loads(run_cli("report", "monthly-mrr", "--events", str(path), "--format", "json", env=env))
    return path, rows


@pytest.mark.parametrize("fault", ["sigstop", "sigkill"])
def test_one_of_two_workers_fails_and_every_figure_equals_the_replay(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path, fault: str
) -> None:
    path, expected = history
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    records: list[tuple[str, bytes | None, bytes]] = [r for r in iter_records(path) if r[0] == "subscriptions"]
    # invalid records spread through the stream, on every partition: each one dead letter
    for i in range(INVALID):
        records.insert(i * len(records) // INVALID, ("subscriptions", f"bad-{i}".encode(), b"{not json"))
    d.create_topics()
    a = d.worker("a").start()
    b = d.worker("b").start()
    try:
        wait_for(lambda: len(owned(a)) + len(owned(b)) == d.partitions and owned(a) and owned(b), what="a split")

        def trickle() -> None:
            for i in range(0, len(records), 10):
                d.publish(records[i : i + 10])
                time.sleep(0.05)

        publisher = threading.Thread(target=trickle)
        publisher.start()
        try:
            wait_for(lambda: a.metric(PROCESSED, topic="subscriptions") > 20, what="a processing")
            assert a.proc is not None
            if fault == "sigkill":
                a.kill()  # mid-stream: a transaction open, no shutdown hooks
                wait_for(lambda: len(owned(b)) == d.partitions, timeout=60, what="b takes every partition")
                time.sleep(3)
                a.start()
            else:
                os.killpg(a.proc.pid, signal.SIGSTOP)  # mid-stream: batches in flight, fetches buffered
                try:
                    wait_for(lambda: len(owned(b)) == d.partitions, timeout=60, what="b takes every partition")
                    time.sleep(3)  # b processes (and commits) a's partitions meanwhile
                finally:
                    os.killpg(a.proc.pid, signal.SIGCONT)
        finally:
            publisher.join()
        wait_for(lambda: owned(a) and owned(b), timeout=90, what="a rejoined and owns partitions again")
        for worker in (a, b):
            assert_api_matches(worker, "/api/v1/revenue?month={}", "month", expected, timeout=120)
        dead = [read_deadletter_record(r.value) for r in d.read_all("deadletter")]
        assert len(dead) == INVALID  # none lost, none written twice (a zombie's are aborted)
        assert len({(x["partition"], x["offset"]) for x in dead}) == INVALID
        assert a.proc.poll() is None and b.proc is not None and b.proc.poll() is None
    finally:
        a.stop()
        b.stop()
