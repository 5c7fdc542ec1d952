"""Start-up against the wrong servers: one line naming the setting, and soon."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import orjson

from tests.integration.harness import REDIS_URL, REPO, Deployment


def test_a_redis_port_given_as_the_broker_fails_fast_naming_the_setting(deployment: Deployment) -> None:
    redis = urlparse(REDIS_URL)
    env = {**deployment.env, "PULSE_KAFKA_BROKER": f"{redis.hostname}:{redis.port}"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    took = time.monotonic() - started
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"PULSE_KAFKA_BROKER={redis.hostname}:{redis.port} is not a Kafka broker" in lines[0]
    assert took < 15  # the Kafka client alone gave up after its 30 s request timeout


def test_a_worker_with_json_logs_writes_one_object_per_line(tmp_path: Path) -> None:
    d = Deployment(tmp_path, extra_env={"PULSE_LOG_FORMAT": "json"})
    w = d.worker().start()
    try:
        assert w.health()["status"] == "ready"
    finally:
        w.stop()
    lines = [line for line in w.tail(500).splitlines() if line.strip()]
    parsed = [orjson.loads(line) for line in lines]  # raises on any line that is not JSON
    messages = [p["message"] for p in parsed]
    assert any(m.startswith("partitions assigned and recovered") for m in messages)
    assert {p["level"] for p in parsed} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
