"""The broker stopped and started again mid-stream: the worker waits (no crash, a few log
lines), /health says Kafka is down meanwhile, and every figure equals the replay's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import iter_records
from tests.integration.harness import REPO, Deployment, assert_api_matches, run_cli, wait_for

FX = '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}'
PROCESSED = "pulse_events_processed_total"


def stack(*args: str) -> None:
    subprocess.run([str(REPO / "scripts" / "stack"), *args], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("broker") / "events.jsonl"
    env = {**deployment.env, "PULSE_FX_RATES": FX}
    run_cli("simulate", "--out", str(path), "--seed", "8", "--customers", "40", "--days", "30",
            "--end", "2026-09-01", env=env)  # fmt: skip

    def report(name: str) -> Any:
        return orjson.loads(run_cli("report", name, "--events", str(path), "--format", "json", env=env))

    return {"path": path, "revenue": report("monthly-mrr"), "engagement": report("daily-engagement")}


def test_broker_restarted_mid_stream(history: dict[str, Any], tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    records = list(iter_records(history["path"]))
    d.create_topics()
    w = d.worker().start()
    try:
        half = len(records) // 2
        d.publish(records[:half])
        wait_for(lambda: w.metric(PROCESSED, topic="subscriptions") > 0, what="processing")
        stack("stop", "kafka")
        try:
            down = wait_for(lambda: (h := w.health())["status"] == "degraded" and h, timeout=60, what="degraded")
            assert down["dependencies"]["kafka"]["up"] is False and "kafka" in down["reasons"]
            time.sleep(15)
            assert w.proc is not None and w.proc.poll() is None  # waiting, not crashed
        finally:
            stack("up")
        d.publish(records[half:])
        assert_api_matches(w, "/api/v1/revenue?month={}", "month", history["revenue"], timeout=180)
        assert_api_matches(w, "/api/v1/engagement/daily?date={}", "date", history["engagement"], timeout=120)
        wait_for(lambda: w.health()["status"] == "ready", timeout=60, what="ready again")
        assert w.proc.poll() is None
    finally:
        w.stop()
    log = w.tail(2000)
    assert log.count("dependency=kafka state=down") == 1 and "dependency=kafka state=up" in log
    assert sum("ERROR" in line for line in log.splitlines()) < 100  # was 4,154 lines in 27 s
