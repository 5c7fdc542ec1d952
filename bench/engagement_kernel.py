"""In-process cost per product event, no Kafka: the worker's pipeline (compiled kernel,
sketch updates, changelog encoding) against the plain-Python reference reducer.

    .venv/bin/python bench/engagement_kernel.py --events 300000 [--batch 100] [--partitions 6]

Same events as bench/product_events.py; batches of 20,000 events, each followed by the flush
and changelog encoding the engine does (the reference has no changelog, so it is a floor for
any pure-Python reducer, not a like-for-like worker).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.product_events import make_events  # noqa: E402
from consumers.engagement.ledger import EngagementConfig  # noqa: E402
from consumers.engagement.processor import EngagementProcessor  # noqa: E402
from stream.decoding import Accepted, decode_record  # noqa: E402
from stream.pipeline import Pipeline, partition_for  # noqa: E402
from stream.state import PartitionState  # noqa: E402
from stream.topics import spec_for  # noqa: E402
from tests.reference.engagement_ledger import ReferenceLedger  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=1, help="events per record (JSON array when > 1)")
    ap.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="records keyed by their first event's account over N partitions: the other events of an "
        "array are forwarded and applied on their homes, as a worker owning every partition does",
    )
    ap.add_argument("--dedupe-ids", type=int, default=0, help="instead: memory per remembered event_id")
    ap.add_argument(
        "--sessions",
        type=int,
        default=0,
        help="instead: memory per live session (each with its own user, account user and event id)",
    )
    args = ap.parse_args()
    if args.dedupe_ids:
        state_memory(args.dedupe_ids, sessions=False)
        return
    if args.sessions:
        state_memory(args.sessions, sessions=True)
        return
    if args.partitions > 1:
        forwarding(args.events, args.users, args.batch, args.partitions)
        return
    events = make_events(args.events, args.users)
    if args.batch > 1:
        records = [orjson.dumps(events[i : i + args.batch]) for i in range(0, len(events), args.batch)]
    else:
        records = [orjson.dumps(e) for e in events]
    per_batch = max(1, 20_000 // args.batch)
    spec = spec_for("product-events")
    config = EngagementConfig()

    pipeline = Pipeline(spec, EngagementProcessor(config), config.dedupe_retention_days)
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    changelog = 0
    t = time.perf_counter()
    processed = 0
    for i in range(0, len(records), per_batch):
        processed += pipeline.handle_many(state, records[i : i + per_batch]).processed
        pipeline.flush(state)
        state.next_offset = i + per_batch
        changelog += len(state.drain_changes()) + 1
    kernel = time.perf_counter() - t
    assert processed == args.events, processed

    facts = [r.event for raw in records for r in decode_record(spec, raw) if isinstance(r, Accepted)]
    reference = ReferenceLedger(config)
    t = time.perf_counter()
    for f in facts:
        reference.apply(f)
    python = time.perf_counter() - t

    n = args.events
    print(
        f"{n} events, {args.batch} per record, {args.users} users; {changelog} changelog records "
        f"({changelog / n:.2f} per event)\n"
    )
    print("| reducer | µs per event | events/s |")
    print("| --- | ---: | ---: |")
    pulse_row = "Pulse pipeline: compiled kernel + sketches + changelog encoding"
    print(f"| {pulse_row} | {kernel / n * 1e6:.2f} | {n / kernel:,.0f} |")
    python_row = "plain-Python reference reducer (validated facts in, no changelog)"
    print(f"| {python_row} | {python / n * 1e6:.2f} | {n / python:,.0f} |")


def forwarding(n: int, users: int, batch: int, partitions: int) -> None:
    """Cost per event of the forwarding path in process: each partition applies its next
    records (a worker's batch of ~200 records, shared), the events of other partitions'
    accounts are collected as the engine would write them to the repartition topic, and each
    home applies those before its next records. One day of event time (no event turns late)."""
    events = make_events(n, users, days=1)
    sources: dict[int, list[bytes | None]] = {p: [] for p in range(partitions)}
    for i in range(0, n, batch):
        chunk = events[i : i + batch]
        home = partition_for(str(chunk[0]["account_id"]).encode(), partitions)
        sources[home].append(orjson.dumps(chunk if batch > 1 else chunk[0]))
    config = EngagementConfig()
    pipeline = Pipeline(spec_for("product-events"), EngagementProcessor(config), config.dedupe_retention_days,
                        partitions=partitions)  # fmt: skip
    states = {p: PartitionState(p, codecs=pipeline.codecs) for p in range(partitions)}
    for state in states.values():
        pipeline.loaded(state)
    per = max(1, 200 // partitions)
    inbox: dict[int, list[bytes | None]] = {p: [] for p in range(partitions)}
    read = dict.fromkeys(range(partitions), 0)
    processed = forwarded = 0
    started = time.perf_counter()
    while any(read[p] < len(sources[p]) for p in sources) or any(inbox.values()):
        for p, state in states.items():
            forwards, inbox[p] = inbox[p], []
            records = sources[p][read[p] : read[p] + per]
            read[p] += per
            for values in (forwards, records):
                if values:
                    outcome = pipeline.handle_many(state, values)
                    processed += outcome.processed
                    for _, forward in outcome.forwards:
                        inbox[forward.partition].append(forward.value)
                        forwarded += forward.events
            pipeline.flush(state)
            state.drain_changes()
    elapsed = time.perf_counter() - started
    assert processed == n, processed
    print(f"{n} events, {batch} per record, {partitions} partitions; {forwarded} forwarded ({forwarded / n:.0%})\n")
    print("| path | µs per event | events/s |")
    print("| --- | ---: | ---: |")
    print(f"| Pulse pipeline, forwarding to home partitions | {elapsed / n * 1e6:.2f} | {n / elapsed:,.0f} |")


def state_memory(n: int, sessions: bool) -> None:
    """Resident memory growth of the kernel's state over ``n`` events: only distinct event ids
    (anonymous page views), or each event also a new session of a new user in an account."""
    kernel = EngagementConfig().kernel()

    def event(i: int) -> dict[str, str]:
        at = f"2026-05-01T10:{(i // 20_000) % 60:02d}:00Z"
        if not sessions:
            return {
                "event_id": f"evt-{i:020d}",
                "type": "track",
                "occurred_at": at,
                "name": "page_view",
                "anonymous_id": "v",
            }
        return {
            "event_id": f"evt-{i:020d}",
            "type": "track",
            "occurred_at": at,
            "name": "login",
            "user_id": f"user-{i:09d}",
            "account_id": f"acct-{i // 10:07d}",
            "session_id": f"sess-{i:012d}",
        }

    records = [orjson.dumps(event(i)) for i in range(n)]

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

    before = rss()
    for i in range(0, n, 20_000):
        chunk = records[i : i + 20_000]
        kernel.apply_records(chunk, [2**62] * len(chunk), 0)
        kernel.flush(i)
        kernel.take_sketch_updates()
    grown = rss() - before
    what = "remembered event id" if not sessions else "event (a session, an account user and an event id)"
    print(f"{kernel.sizes()}: {grown / n:.1f} bytes per {what} (resident memory growth)")


if __name__ == "__main__":
    main()
