"""End-to-end throughput of the product-events path on the real Kafka, three ways, one run.

    .venv/bin/python bench/product_events.py --events 300000 [--batch 1] [--transactions both]

1. ceiling: a plain aiokafka `getmany` consumer that decodes the same records with orjson and
   updates the same HyperLogLog sketches, with no validation and no state durability;
2. naive Faust: a Faust agent doing that work per event (bench/faust_naive.py);
3. Pulse: a real `pulse worker` (the compiled kernel: validation, dedupe, sessions, cohorts,
   account activity; DataSketches sketches; checkpointed changelog), its events counted on
   /health.

The ceiling and the worker are timed alike: from the end of their first batch, over the events
after it (the first fetch's wait is in neither).

Events: 50,000 users in accounts of 10, sessions of 8 events, one week of event time (--days).

Each consumer reads the same pre-published topic from the beginning. The broker is the local
stack's (scripts/stack up). Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from datasketches import hll_sketch, tgt_hll_type

REPO = Path(__file__).resolve().parents[1]
BROKER = os.environ.get("PULSE_KAFKA_BROKER", "127.0.0.1:9092")


def make_events(
    n: int, users: int, random_accounts: bool = False, days: float = 7, start: datetime | None = None
) -> list[dict[str, object]]:
    start = start or datetime(2026, 5, 1, tzinfo=UTC)
    names = ("login", "feature_used", "page_view", "report_exported", "invite_sent")
    out = []
    for i in range(n):
        at = start + timedelta(seconds=i * 86400 * days / n)
        who = (i // 8 * 7919) % users  # a user's events come in sessions of 8
        user = f"u{who}"
        # A user belongs to one account of 10 users (--random-accounts: an account drawn per event,
        # which makes every account-day record hold dozens of users and change in every batch).
        account = f"a{(i * 7919) % users // 10}" if random_accounts else f"a{who // 10}"
        out.append(
            {
                "event_id": f"b-{i}",
                "type": "track",
                "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "name": names[i % 5],
                "user_id": user,
                "account_id": account,
                "feature": "reports" if i % 5 == 1 else None,
                "session_id": f"s{user}-{i // 8}" if i % 10 else None,
                "properties": {},
            }
        )
    return out


def chunks(events: list[dict[str, object]], batch: int, arrays: str) -> list[list[dict[str, object]]]:
    """The records' events. ``mixed``: consecutive events of the stream, as a server-side SDK
    batches for all the users it serves (a dozen accounts per array of 100); ``account``: an
    account's events in order, sent once it holds ``batch`` of them (then the rest), as a
    client-side SDK sends one user's, so one account's, events."""
    if arrays == "mixed" or batch == 1:
        return [events[i : i + batch] for i in range(0, len(events), batch)]
    out, pending = [], {}
    for event in events:
        held = pending.setdefault(event["account_id"], [])
        held.append(event)
        if len(held) == batch:
            out.append(pending.pop(event["account_id"]))
    return out + list(pending.values())


async def publish(
    topic: str, events: list[dict[str, object]], batch: int, arrays: str = "mixed", event_time: bool = False
) -> int:
    """``event_time``: each record stamped with its last event's time, as a backlog produced
    while the events happened carries (else the time of publishing)."""
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, linger_ms=20, max_batch_size=1 << 20, acks=1)
    await producer.start()
    records = 0
    try:
        futures = []
        for chunk in chunks(events, batch, arrays):
            value = orjson.dumps(chunk if batch > 1 else chunk[0])
            key = str(chunk[0]["account_id"]).encode()
            stamp = None
            if event_time:
                last = datetime.strptime(str(chunk[-1]["occurred_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                stamp = int(last.timestamp() * 1000)
            futures.append(await producer.send(topic, value=value, key=key, timestamp_ms=stamp))
            records += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return records


def _rate(events: float, seconds: float) -> float:
    if events <= 0:
        raise SystemExit("every event came in the first batch, before the clock started: use more --events")
    return events / seconds


async def ceiling(topic: str, expect: int) -> float:
    """Events per second after the first batch (see ``pulse_worker``: the same for both)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BROKER,
        group_id=f"ceiling-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    sketches: dict[str, hll_sketch] = {}
    seen, started, before = 0, 0.0, 0
    try:
        while seen < expect:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    value = orjson.loads(record.value)
                    for event in value if isinstance(value, list) else (value,):
                        if event.get("user_id") and event["name"] != "page_view":
                            day = event["occurred_at"][:10]
                            sketch = sketches.get(day) or sketches.setdefault(day, hll_sketch(16, tgt_hll_type.HLL_4))
                            sketch.update(event["user_id"])
                        seen += 1
            if seen and not started:  # the first batch is done: the clock starts
                started, before = time.perf_counter(), seen
        return _rate(seen - before, time.perf_counter() - started)
    finally:
        await consumer.stop()


def naive_faust(topic: str, expect: int, timeout: float) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result"
        env = {
            **os.environ,
            "BENCH_TOPIC": topic,
            "BENCH_EXPECT": str(expect),
            "BENCH_BROKER": BROKER,
            "BENCH_RESULT": str(result),
        }
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "faust_naive.py")],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return None
        text = result.read_text() if result.exists() else ""
    return float(text.split()[2]) if text.startswith("DONE") else None


class Stalled(Exception):
    """The worker stopped counting before every event was processed (some were dead-lettered)."""


def _rejected(port: int, topic: str) -> str:
    """The worker's dead-letter counts by reason, from /metrics (read once: it is not free)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("pulse_events_rejected_total{") and f'topic="{topic}"' in line:
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = counts.get(reason, 0) + float(line.rsplit(" ", 1)[1])
    return "dead-lettered: " + (", ".join(f"{n:,.0f} {reason}" for reason, n in sorted(counts.items())) or "none")


def pulse_worker(
    prefix: str, expect: int, timeout: float, topic: str = "product-events", transactions: bool = True, run: int = 0
) -> float:
    port = 6199
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    with tempfile.TemporaryDirectory() as tmp:
        env.update(
            PULSE_KAFKA_BROKER=BROKER,
            PULSE_TOPIC_PREFIX=prefix,
            PULSE_APP_ID=app_id_of(prefix, transactions, run),
            PULSE_WEB_PORT=str(port),
            PULSE_DATA_DIR=tmp,
            PULSE_LOG_LEVEL="warning",
            PULSE_TRANSACTIONS=str(transactions).lower(),
        )
        log = open(Path(tmp) / "worker.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "worker"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            started, before = None, 0.0
            deadline = time.monotonic() + timeout
            last, moved = -1.0, time.monotonic()
            while time.monotonic() < deadline:
                # /health carries the processed counters and costs nothing; /metrics computes
                # every gauge (sketch unions) and polling it 10 times a second would slow the worker.
                # The clock starts when the first events are counted, as the ceiling's starts
                # after its first batch: the rate is over the events after it, for both (before
                # 2026-12-06 it started at ready, and took in the first fetch's wait the
                # ceiling's clock leaves out).
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                        done = float(orjson.loads(r.read()).get("processed", {}).get(topic, 0))
                except OSError:
                    time.sleep(0.02)
                    continue
                if started is None and done > 0:
                    started, before = time.perf_counter(), done
                if started is not None and done >= expect:
                    return _rate(done - before, time.perf_counter() - started)
                if done != last:
                    last, moved = done, time.monotonic()
                elif time.monotonic() - moved > 20:
                    raise Stalled(f"{done:,.0f} of {expect:,} processed, {_rejected(port, topic)}")
                time.sleep(0.05)
            raise TimeoutError(f"pulse worker did not finish: {(Path(tmp) / 'worker.log').read_text()[-2000:]}")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def app_id_of(prefix: str, transactions: bool, run: int = 0) -> str:
    """The worker's app id for a run: its Faust assignor topic is named after it, unprefixed.
    Each run of a --pairs loop is a new consumer group, reading the topic from the beginning."""
    mode = "tx" if transactions else "acks"
    return f"bench-{prefix.strip('.').removeprefix('bench')}-{mode}" + (f"-{run}" if run else "")


async def drop_topics(prefix: str) -> None:
    """The run's topics, the worker's too: every run makes fresh ones, and a broker holding a
    few thousand of them ran out of heap."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        run = app_id_of(prefix, True).removesuffix("-tx")
        names = [name for name in await admin.list_topics() if name.startswith((prefix, run))]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=1, help="events per Kafka record (JSON array when > 1)")
    ap.add_argument("--skip-faust", action="store_true")
    ap.add_argument("--random-accounts", action="store_true", help="draw each event's account at random")
    ap.add_argument(
        "--arrays",
        choices=["mixed", "account"],
        default="mixed",
        help="with --batch > 1: consecutive events of many accounts (a server-side SDK) or one "
        "account's events (a client-side SDK)",
    )
    ap.add_argument(
        "--days",
        type=float,
        default=7,
        help="event time the events span; arrays of mixed accounts are forwarded to their accounts' "
        "partitions, so keep a batch of one partition (200 records) well inside the 2-day grace period",
    )
    ap.add_argument(
        "--transactions",
        choices=["on", "off", "both"],
        default="on",
        help="PULSE_TRANSACTIONS of the Pulse worker; both: one run each, off first",
    )
    ap.add_argument(
        "--record-time",
        choices=["publish", "event"],
        default="publish",
        help="Kafka timestamp of each record: when the bench publishes it, or its last event's time "
        "(a backlog produced as the events happened; the events then end now)",
    )
    ap.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="run the ceiling and the worker this many times, one after the other, and report each "
        "pair's ratio and their median: the machine's speed drifts between runs, a pair is timed close together",
    )
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    from stream.admin import ensure_topics
    from stream.settings import PulseSettings

    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = PulseSettings(kafka_broker=BROKER, topic_prefix=prefix, app_id="bench-topics")
    asyncio.run(ensure_topics(settings))
    try:
        topic = settings.topic("product-events")
        by_event = args.record_time == "event"
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=args.days) if by_event else None
        events = make_events(args.events, args.users, args.random_accounts, args.days, start)
        t = time.perf_counter()
        records = asyncio.run(publish(topic, events, args.batch, args.arrays, by_event))
        print(
            f"published {args.events} events in {records} records to {topic} in {time.perf_counter() - t:.1f}s",
            file=sys.stderr,
        )

        pairs = [run_pair(args, prefix, topic, run) for run in range(args.pairs)]
    finally:
        asyncio.run(drop_topics(prefix))
    print(
        f"\n{args.events} product events, {args.batch} per record ({args.arrays} arrays), {args.users} users, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores\n"
    )
    print("| consumer | events/s | × ceiling |")
    print("| --- | ---: | ---: |")
    for n, rows in enumerate(pairs):
        ceiling_rate = rows[0][1]
        assert ceiling_rate is not None
        for name, rate in rows:
            name = f"{name} (pair {n + 1})" if len(pairs) > 1 else name
            if rate is None:
                print(f"| {name} | did not finish | — |")
                continue
            print(f"| {name} | {rate:,.0f} | {rate / ceiling_rate:.2f} |")
    if len(pairs) > 1:
        for i, (name, _) in enumerate(pairs[0][1:], start=1):
            ratios = [rows[i][1] / rows[0][1] for rows in pairs if rows[i][1] is not None and rows[0][1]]
            if ratios:
                print(
                    f"\n{name}: median of {len(ratios)} pairs **{statistics.median(ratios):.2f}** "
                    f"× ceiling (from {min(ratios):.2f} to {max(ratios):.2f})"
                )


def run_pair(args: argparse.Namespace, prefix: str, topic: str, run: int) -> list[tuple[str, float | None]]:
    """(consumer, events/s) rows: the ceiling, then (unless skipped) the naive Faust agent, then the worker."""
    rows: list[tuple[str, float | None]] = []
    rate = asyncio.run(ceiling(topic, args.events))
    rows.append(("aiokafka getmany + orjson + HLL (no validation, no durability): the ceiling", rate))
    if not args.skip_faust:
        secs_f = naive_faust(topic, args.events, timeout=max(120.0, args.events / 1000))
        rows.append(("naive Faust agent, same work per event", None if secs_f is None else args.events / secs_f))
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.transactions]
    for transactions in modes:
        how = "one transaction per partition batch" if transactions else "checkpoint after acks, no transactions"
        name = f"Pulse worker (validated, deduplicated, checkpointed; {how})"
        try:
            rate_p: float | None = pulse_worker(prefix, args.events, timeout=600, transactions=transactions, run=run)
        except Stalled as exc:
            rate_p, name = None, f"{name}: {exc}"
        rows.append((name, rate_p))
    return rows


if __name__ == "__main__":
    main()
