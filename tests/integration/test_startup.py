"""Start-up against the wrong servers: one line naming the setting, and soon."""

from __future__ import annotations

import os
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


def test_pulse_demo_stopped_by_sigterm_stops_its_worker_and_simulator(tmp_path: Path) -> None:
    """`timeout 60 pulse demo` (or a supervisor's SIGTERM) used to leave both children running."""
    import signal
    import urllib.request

    from tests.integration.harness import free_port, wait_for

    port = free_port()
    env = {**Deployment(tmp_path).env, "PULSE_WEB_PORT": str(port)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "demo", "--history-days", "1", "--customers", "3", "--rate", "20"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return bool(orjson.loads(r.read())["status"] == "ready")
        except OSError:
            return False

    def children() -> list[str]:
        found = subprocess.run(["pgrep", "-f", "stream.cli"], capture_output=True, text=True).stdout
        mine = []
        for pid in found.split():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if f"PULSE_WEB_PORT={port}".encode() in environ and int(pid) != demo.pid:
                mine.append(pid)
        return mine

    try:
        wait_for(ready, timeout=120, what="the demo's worker ready")
        assert len(children()) >= 2  # the worker and the live simulator
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) is not None
        wait_for(lambda: not children(), timeout=30, what="the demo's children gone")
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in children():
            os.kill(int(pid), signal.SIGKILL)
