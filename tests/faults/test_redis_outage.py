"""Redis stopped mid-stream (it keeps no data, as the local stack runs it) and Redis flushed:
the worker keeps processing, says so on /health and withdraws its figures meanwhile, and once
Redis is back every figure and entity page converges to the replay's without a restart."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import iter_records
from tests.faults.common import FX, scripts_stack, simulated_history
from tests.integration.harness import REDIS_URL, Deployment, Worker, assert_api_matches, wait_for

PROCESSED = "pulse_events_processed_total"


def redis_port() -> str:
    return REDIS_URL.rsplit(":", 1)[1].split("/")[0]


def redis_cli(*args: str) -> None:
    subprocess.run(["redis-cli", "-p", redis_port(), *args], check=False, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> dict[str, Any]:
    return simulated_history(deployment, tmp_path_factory.mktemp("faults"), seed=3)


def assert_converged(worker: Worker, history: dict[str, Any], path: Path) -> None:
    assert_api_matches(worker, "/api/v1/revenue?month={}", "month", history["revenue"], timeout=120)
    assert_api_matches(worker, "/api/v1/engagement/daily?date={}", "date", history["engagement"], timeout=120)
    customers = {orjson.loads(v)["customer_id"] for topic, _, v in iter_records(path) if topic == "subscriptions"}
    for cid in sorted(customers):  # every entity page is back, not only the sums
        wait_for(lambda c=cid: _customer(worker, c), timeout=30, what=f"customer {cid}")


def test_redis_stopped_mid_stream(history: dict[str, Any], tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX, "PULSE_SNAPSHOT_STALE_SECONDS": "5"})
    records = list(iter_records(history["path"]))
    d.create_topics()
    w = d.worker().start()
    try:
        half = len(records) // 2
        d.publish(records[:half])
        wait_for(lambda: w.metric(PROCESSED, topic="subscriptions") > 0, what="processing")
        redis_cli("shutdown", "nosave")
        try:
            publisher = threading.Thread(target=lambda: d.publish(records[half:]))
            publisher.start()
            down = wait_for(lambda: (h := w.health())["status"] == "degraded" and h, timeout=30, what="degraded")
            assert "redis" in down["reasons"] and down["dependencies"]["redis"]["up"] is False
            wait_for(lambda: "pulse_mrr{" not in _metrics(w), timeout=30, what="figures withdrawn while Redis is down")
            assert w.metric("pulse_dependency_up", dependency="redis") == 0
            publisher.join()
            time.sleep(10)  # events flow while Redis is down
        finally:
            scripts_stack("up")
        wait_for(lambda: w.health()["status"] == "ready", timeout=60, what="ready again")
        assert_converged(w, history, history["path"])
        assert w.proc is not None and w.proc.poll() is None  # never restarted
    finally:
        w.stop()
    log = w.tail(400)
    assert log.count("dependency=redis state=down") == 1 and "dependency=redis state=up" in log


def test_redis_flushed(history: dict[str, Any], tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    records = list(iter_records(history["path"]))
    d.create_topics()
    w = d.worker().start()
    try:
        d.publish(records)
        assert_api_matches(w, "/api/v1/revenue?month={}", "month", history["revenue"], timeout=120)
        redis_cli("flushall")
        assert_converged(w, history, history["path"])
        assert "redis lost this worker's snapshots" in w.tail(200)
    finally:
        w.stop()


def _customer(worker: Worker, cid: str) -> bool:
    try:
        return bool(worker.get_json(f"/api/v1/customers/{cid}").get("customer_id") == cid)
    except urllib.error.HTTPError:
        return False


def _metrics(worker: Worker) -> str:
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=5) as r:
        return str(r.read().decode())
