"""Event-to-visible latency and CPU per event at steady live rates, on the real stack.

    .venv/bin/python bench/latency.py [--rates 1000,10000] [--seconds 60]

For each rate, a fresh deployment (its own topic prefix and app id) and one real `pulse
worker`; a paced producer publishes the simulator's mix of events (`pulse simulate --out`:
subscriptions, product events, tickets, surveys, spend, leads in their simulated proportions)
stamped now, at the rate, for the given seconds. Each cycle through the simulated file renames
its entities (every ``*_id`` value gets a suffix), so nothing is a resend.

Measured on the worker's own /metrics: ``pulse_event_visible_latency_seconds`` (a record's
Kafka timestamp to the publish of its partition's snapshot, after which any worker's /metrics
and API show it) as p50 / p99 / max from its buckets (the max is its bucket's upper bound), and
the worker's CPU seconds (user + system, /proc) per event processed. The producer's own rate is
reported too: on this 2-core machine it shares the CPU with the worker, the broker and Redis.
Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO)]

from stream.jsonl import iter_records  # noqa: E402
from stream.topics import spec_for  # noqa: E402

BROKER = "127.0.0.1:9092"
HISTOGRAM = "pulse_event_visible_latency_seconds"


def simulated_mix(path: Path, customers: int, days: int) -> list[tuple[str, dict[str, Any]]]:
    subprocess.run(
        [sys.executable, "-m", "stream.cli", "simulate", "--out", str(path), "--customers", str(customers),
         "--days", str(days), "--seed", "5"],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    return [(topic, orjson.loads(value)) for topic, _, value in iter_records(path)]


def renamed(event: dict[str, Any], cycle: int, now: str) -> dict[str, Any]:
    out = {k: (f"{v}~{cycle}" if k.endswith("_id") and isinstance(v, str) else v) for k, v in event.items()}
    out["occurred_at"] = now
    return out


async def produce(prefix: str, mix: list[tuple[str, dict[str, Any]]], rate: float, seconds: float) -> int:
    """Publish at ``rate`` events a second for ``seconds``, in 10 ms slices; the count sent."""
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, linger_ms=5, acks=1)
    await producer.start()
    sent, cycle, i = 0, 0, 0
    try:
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            while sent < due:
                topic, event = mix[i]
                event = renamed(event, cycle, now)
                spec = spec_for(topic)
                await producer.send(prefix + topic, value=orjson.dumps(event), key=spec.key_for(event))
                sent += 1
                i += 1
                if i == len(mix):
                    i, cycle = 0, cycle + 1
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def quantiles(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> tuple[float, float, float, int]:
    """p50, p99, max (upper bound of the highest non-empty bucket) and the count, summed over
    topics, interpolating linearly inside a bucket."""
    buckets: dict[float, float] = {}
    for (name, labels), value in samples.items():
        if name == f"{HISTOGRAM}_bucket":
            le = float(dict(labels)["le"])
            buckets[le] = buckets.get(le, 0.0) + value
    bounds = sorted(buckets)
    total = buckets[math.inf] if bounds else 0.0

    def q(p: float) -> float:
        target, lower, below = p * total, 0.0, 0.0
        for le in bounds:
            if buckets[le] >= target:
                if math.isinf(le):
                    return lower
                width = buckets[le] - below
                return lower + (le - lower) * ((target - below) / width if width else 1.0)
            lower, below = le, buckets[le]
        return lower

    top = max((le for le in bounds if buckets[le] > (buckets[bounds[bounds.index(le) - 1]] if bounds.index(le) else 0)),
              default=0.0)  # fmt: skip
    return q(0.5), q(0.99), top, int(total)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processed(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return float(sum(orjson.loads(r.read()).get("processed", {}).values()))


def run(rate: float, seconds: float, mix: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    prefix, port = f"lat{uuid.uuid4().hex[:6]}.", 6198
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    with tempfile.TemporaryDirectory() as tmp:
        env.update(PULSE_KAFKA_BROKER=BROKER, PULSE_TOPIC_PREFIX=prefix, PULSE_APP_ID=f"bench-{prefix[:-1]}",
                   PULSE_WEB_PORT=str(port), PULSE_DATA_DIR=tmp, PULSE_LOG_LEVEL="warning",
                   PULSE_FX_RATES='{"USD": 1, "EUR": "1.08", "GBP": "1.27"}', PULSE_ALERT_ENABLED="false")  # fmt: skip
        log = open(Path(tmp) / "worker.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "stream.cli", "worker"], env=env, cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                        if orjson.loads(r.read())["status"] == "ready":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError((Path(tmp) / "worker.log").read_text()[-2000:])
                time.sleep(0.3)
            cpu0, done0 = cpu_seconds(proc.pid), processed(port)
            t0 = time.monotonic()
            sent = asyncio.run(produce(prefix, mix, rate, seconds))
            produced_for = time.monotonic() - t0
            deadline = time.monotonic() + 120
            while processed(port) < done0 + sent * 0.999 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # the last batch's snapshot publish
            cpu = cpu_seconds(proc.pid) - cpu0
            events = processed(port) - done0
            p50, p99, top, count = quantiles(scrape(port))
            return {"rate": rate, "sent": sent, "achieved": sent / produced_for, "events": events, "p50": p50,
                    "p99": p99, "max": top, "observed": count, "cpu_us": 1e6 * cpu / max(events, 1)}  # fmt: skip
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,10000")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mix = simulated_mix(Path(tmp) / "mix.jsonl", customers=200, days=14)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    print(f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {len(mix)} simulated events per cycle\n")
    print("| target rate | achieved | events | p50 | p99 | max (bucket) | worker CPU per event |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate in (float(r) for r in args.rates.split(",")):
        r = run(rate, args.seconds, mix)
        print(f"| {r['rate']:,.0f}/s | {r['achieved']:,.0f}/s | {r['events']:,.0f} | {r['p50'] * 1000:,.0f} ms | "
              f"{r['p99'] * 1000:,.0f} ms | ≤ {r['max']:g} s | {r['cpu_us']:,.0f} µs |")  # fmt: skip


if __name__ == "__main__":
    main()
