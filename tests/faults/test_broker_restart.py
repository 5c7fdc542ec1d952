"""The broker stopped and started again mid-stream: the worker waits (no crash, a few log
lines), /health says Kafka is down meanwhile, and every figure equals the replay's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stream.jsonl import iter_records
from tests.faults.common import FX, scripts_stack, simulated_history
from tests.integration.harness import Deployment, assert_api_matches, wait_for

PROCESSED = "pulse_events_processed_total"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> dict[str, Any]:
    return simulated_history(deployment, tmp_path_factory.mktemp("broker"), seed=8)


def test_broker_restarted_mid_stream(history: dict[str, Any], tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    records = list(iter_records(history["path"]))
    d.create_topics()
    w = d.worker().start()
    try:
        half = len(records) // 2
        d.publish(records[:half])
        wait_for(lambda: w.metric(PROCESSED, topic="subscriptions") > 0, what="processing")
        scripts_stack("stop", "kafka")
        try:
            down = wait_for(lambda: (h := w.health())["status"] == "degraded" and h, timeout=60, what="degraded")
            assert down["dependencies"]["kafka"]["up"] is False and "kafka" in down["reasons"]
            # past the producer's 40 s delivery timeout: writes in flight fail, their partitions reload
            time.sleep(45)
            assert w.proc is not None and w.proc.poll() is None  # waiting, not crashed
        finally:
            scripts_stack("up")
        d.publish(records[half:])
        assert_api_matches(w, "/api/v1/revenue?month={}", "month", history["revenue"], timeout=180)
        assert_api_matches(w, "/api/v1/engagement/daily?date={}", "date", history["engagement"], timeout=120)
        wait_for(lambda: w.health()["status"] == "ready", timeout=60, what="ready again")
        assert w.proc.poll() is None
        reloads = sum(v for (name, _), v in w.metrics().items() if name == "pulse_partition_reloads_total")
    finally:
        w.stop()
    log = w.tail(5000)
    assert log.count("dependency=kafka state=down") == 1 and "dependency=kafka state=up" in log
    assert sum("ERROR" in line for line in log.splitlines()) < 100  # was 4,154 lines in 27 s
    # a batch whose writes timed out was read again from its partition's reloaded state
    assert log.count("batch not written") == reloads and ("partitions reloaded" in log) == (reloads > 0)
