"""The real stack for integration tests: a Kafka broker and Redis started by scripts/stack,
and `pulse worker` processes run as a user would run them.

Nothing here is a fake: a test that cannot reach the stack fails, it never skips.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("PULSE_TEST_BROKER", "127.0.0.1:9092")
REDIS_URL = os.environ.get("PULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_stack() -> None:
    """Start Kafka, Redis, Prometheus and Alertmanager with the project's script unless they
    already answer."""
    host, port = BROKER.split(":")
    if all(
        port_open(h, int(p)) for h, p in ((host, port), ("127.0.0.1", 6379), ("127.0.0.1", 9090), ("127.0.0.1", 9093))
    ):
        return
    result = subprocess.run(
        [str(REPO / "scripts" / "stack"), "up", "--with-observability"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/stack up failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class Worker:
    """One `pulse worker` process with its own web port."""

    env: dict[str, str]
    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> Worker:
        env = {**self.env, "PULSE_WEB_PORT": str(self.port)}
        self.log_path = Path(self.env["PULSE_DATA_DIR"]) / f"{self.name}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop(signal.SIGKILL)  # never leave a half-started worker behind
                raise
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if orjson.loads(r.read())["status"] == "ready":
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                body: dict[str, Any] = orjson.loads(r.read())
        except urllib.error.HTTPError as exc:
            body = orjson.loads(exc.read())
        return body

    def get_json(self, path: str, missing_ok: bool = False) -> Any:
        """The JSON the worker answers (None for a 404 when ``missing_ok``)."""
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
                return orjson.loads(r.read())
        except urllib.error.HTTPError as e:
            if missing_ok and e.code == 404:
                return None
            raise

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush — a crash."""
        self.stop(signal.SIGKILL)


def run_cli(*args: str, env: dict[str, str]) -> str:
    """`pulse ARGS` as a user runs it; fails the test with its stderr when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kill_mid_stream(
    deployment: Deployment, worker: Worker, records: list[tuple[str, bytes | None, bytes]], topic: str, chunk: int
) -> None:
    """Publish in chunks while the worker runs, SIGKILL it once a third is processed, finish
    publishing, and start it again: a crash at an arbitrary point of a batch."""
    import threading

    def trickle() -> None:
        for i in range(0, len(records), chunk):
            deployment.publish(records[i : i + chunk])
            time.sleep(0.05)

    publisher = threading.Thread(target=trickle)
    publisher.start()
    try:
        wait_for(
            lambda: worker.metric("pulse_events_processed_total", topic=topic) >= len(records) // 3,
            what="a third processed",
        )
        worker.kill()
    finally:
        publisher.join()
    worker.start()


def assert_api_matches(
    worker: Worker, path: str, key: str, expected: list[dict[str, Any]], timeout: float, interval: float = 1
) -> None:
    """Poll the worker's API (``path`` formatted with each expected row's ``key``) until every
    row equals the expected one on the expected row's fields; fail with the first differences."""

    def rows() -> list[dict[str, Any]]:
        out = []
        for want in expected:
            got = worker.get_json(path.format(want[key]))
            out.append({field: got.get(field) for field in want})
        return out

    try:
        wait_for(lambda: rows() == expected, timeout=timeout, interval=interval, what="streaming = replay")
    except TimeoutError:
        diff = [(e, g) for e, g in zip(expected, rows(), strict=False) if e != g]
        raise AssertionError(
            f"streaming != replay on {len(diff)} rows, first (expected, streamed): {diff[:2]}\n"
            f"{_event_counters(worker)}\nworker log ({worker.log_path}), last lines:\n{worker.tail(60)}"
        ) from None


def _event_counters(worker: Worker) -> str:
    """The worker's event counters (processed, duplicates, rejected, forwarded...), to tell a
    lost or doubled event from a stale read when figures differ."""
    try:
        samples = worker.metrics()
    except OSError as exc:
        return f"no metrics: {exc}"
    return "\n".join(
        f"{name}{dict(labels)} = {value}"
        for (name, labels), value in sorted(samples.items())
        if name.startswith("pulse_events_") and value
    )


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.3, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Deployment:
    """An isolated Pulse deployment on the shared broker: its own topic prefix and app id."""

    tmp: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    partitions: int = 6
    extra_env: dict[str, str] = field(default_factory=dict)
    _created: bool = False

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update(
            PULSE_KAFKA_BROKER=BROKER,
            PULSE_REDIS_URL=REDIS_URL,
            PULSE_TOPIC_PREFIX=self.prefix,
            PULSE_TOPIC_PARTITIONS=str(self.partitions),
            PULSE_APP_ID=f"pulse-{self.prefix.rstrip('.')}",
            PULSE_DATA_DIR=str(self.tmp),
            PULSE_SESSION_TIMEOUT_SECONDS="8",
            PULSE_LOG_LEVEL="info",
            # the accounts' health pass every second, not every minute: tests wait for figures
            PULSE_HEALTH_REFRESH_SECONDS="1",
        )
        env.update(self.extra_env)
        return env

    def worker(self, name: str = "w") -> Worker:
        return Worker(self.env, name)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def create_topics(self) -> None:
        """What `pulse worker` does at start; lets a test publish before any worker runs."""
        from stream.admin import ensure_topics
        from stream.settings import PulseSettings

        env = self.env
        settings = PulseSettings(
            kafka_broker=env["PULSE_KAFKA_BROKER"],
            topic_prefix=env["PULSE_TOPIC_PREFIX"],
            topic_partitions=int(env["PULSE_TOPIC_PARTITIONS"]),
            app_id=env["PULSE_APP_ID"],
        )
        asyncio.run(ensure_topics(settings))

    def publish(
        self, records: Sequence[tuple[str, bytes | None, bytes] | tuple[str, bytes | None, bytes, int]]
    ) -> None:
        """Publish with a plain aiokafka producer, as an upstream service would (a fourth field
        is the record timestamp, epoch ms; else the producer stamps it now)."""
        if not self._created:
            self.create_topics()
            self._created = True

        async def run() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all", enable_idempotence=True)
            await producer.start()
            try:
                futures = [
                    await producer.send(
                        self.topic(r[0]), value=r[2], key=r[1], timestamp_ms=r[3] if len(r) > 3 else None
                    )
                    for r in records
                ]
                await asyncio.gather(*futures)
            finally:
                await producer.stop()

        asyncio.run(run())

    def read_topic(self, name: str, expect: int, timeout: float = 30) -> list[Any]:
        """Read at least `expect` records of a topic from the beginning."""

        async def run() -> list[Any]:
            consumer = AIOKafkaConsumer(
                self.topic(name),
                bootstrap_servers=BROKER,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                group_id=None,
                isolation_level="read_committed",
            )
            await consumer.start()
            out: list[Any] = []
            try:
                deadline = time.monotonic() + timeout
                while len(out) < expect and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        out.extend(records)
            finally:
                await consumer.stop()
            return out

        return asyncio.run(run())

    def read_all(self, name: str) -> list[Any]:
        """Every committed record of a topic, up to its end now (a count can be exact)."""

        async def run() -> list[Any]:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=BROKER, enable_auto_commit=False, isolation_level="read_committed"
            )
            await consumer.start()
            try:
                tps = [TopicPartition(self.topic(name), p) for p in range(self.partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
                out: list[Any] = []

                async def unfinished() -> bool:
                    return any([await consumer.position(tp) < ends[tp] for tp in tps])

                while await unfinished():
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        out.extend(records)
                return out
            finally:
                await consumer.stop()

        return asyncio.run(run())
