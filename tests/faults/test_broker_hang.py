"""The broker hangs (SIGSTOP) mid-stream for longer than the group's session timeout while
product events flow, half of them without a key (so the worker's partitions forward events to
each other, applied in process). The group drops the worker and rebalances while the worker is
still waiting for its batch's commit; once the broker answers, the worker must go on, and every
figure must equal the replay's. Unlike a broker that stops (tests/faults/test_broker_restart.py),
a hung one leaves every request open."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stream.jsonl import iter_records
from tests.faults.common import FX, simulated_history
from tests.integration.harness import REPO, Deployment, assert_api_matches, wait_for

PROCESSED = "pulse_events_processed_total"
#: past the group's session timeout (8 s here) and the producer's request timeout
HANG_SECONDS = 50


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> dict[str, Any]:
    return simulated_history(deployment, tmp_path_factory.mktemp("hang"), seed=21)


def kafka_pid() -> int:
    stack = Path(os.environ.get("PULSE_STACK_DIR", REPO / ".stack"))
    return int((stack / "pids" / "kafka.pid").read_text().strip())


def test_a_broker_hung_mid_stream_then_answering_again(history: dict[str, Any], tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_FX_RATES": FX})
    product = [r for r in iter_records(history["path"]) if r[0] == "product-events"]
    events = [(t, None if i % 2 else k, v) for i, (t, k, v) in enumerate(product)]
    d.create_topics()
    w = d.worker().start()

    def publish() -> None:
        """Small bursts, as live services send; a burst the hung broker refused is sent again
        (its events' ids make a second copy a duplicate)."""
        for i in range(0, len(events), 100):
            while True:
                try:
                    d.publish(events[i : i + 100])
                    break
                except Exception:
                    time.sleep(2)
            time.sleep(0.03)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        wait_for(lambda: w.metric(PROCESSED, topic="product-events") >= len(events) * 0.3, interval=0.05,
                 what="a third processed")  # fmt: skip
        pid = kafka_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(HANG_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        publisher.join()
    try:
        assert_api_matches(w, "/api/v1/engagement/daily?date={}", "date", history["engagement"], timeout=180)
        assert w.proc is not None and w.proc.poll() is None
    finally:
        w.stop()
