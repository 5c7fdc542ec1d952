"""End-to-end throughput of the support-tickets topic on the real Kafka, against a ceiling
measured in the same run.

    .venv/bin/python bench/support_kafka.py [--tickets 40000]

The events are bench/support.py's synthetic tickets (opened, 1-3 agent replies, a customer
reply, resolved; every tenth reopened and resolved again), keyed by ticket and pre-published to
a fresh topic. Then, each reading it from the beginning:

1. ceiling: a plain aiokafka ``getmany`` consumer that decodes each record with orjson and
   keeps each ticket's first agent reply in a dict: no validation, no dedupe, no durability;
2. Pulse: a real ``pulse worker`` (validation, dedupe, the support family re-deriving each
   ticket, its checkpointed changelog, Redis snapshots), timed from ready to the last event
   counted on /health.

The broker and Redis are the local stack's (scripts/stack up). Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from product_events import BROKER, pulse_worker  # noqa: E402
from support import events  # noqa: E402

TOPIC = "support-tickets"


async def publish(topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, linger_ms=20, max_batch_size=1 << 20, acks=1)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=orjson.loads(v)["ticket_id"].encode()) for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def ceiling(topic: str, expect: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BROKER,
        group_id=f"ceiling-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    first_reply: dict[str, str] = {}
    seen, started = 0, 0.0
    try:
        while seen < expect:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            if batch and not started:
                started = time.perf_counter()
            for records in batch.values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event["type"] == "agent_replied":
                        first_reply.setdefault(event["ticket_id"], event["occurred_at"])
                    seen += 1
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=40_000)
    args = ap.parse_args()

    from stream.admin import ensure_topics
    from stream.settings import PulseSettings

    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = PulseSettings(kafka_broker=BROKER, topic_prefix=prefix, app_id="bench-topics")
    asyncio.run(ensure_topics(settings))
    topic = settings.topic(TOPIC)
    values = events(args.tickets)
    t = time.perf_counter()
    asyncio.run(publish(topic, values))
    print(f"published {len(values)} events to {topic} in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    # events/s: the ceiling's over all events, the worker's after its first batch (pulse_worker)
    rows = [("aiokafka getmany + orjson + first reply per ticket (no validation, no durability): the ceiling",
             len(values) / asyncio.run(ceiling(topic, len(values))))]  # fmt: skip
    rows.append(("Pulse worker (validated, deduplicated, checkpointed, shared)",
                 pulse_worker(prefix, len(values), timeout=900, topic=TOPIC)))  # fmt: skip
    rate0 = rows[0][1]
    print(f"\n{args.tickets} tickets, {len(values)} events, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| consumer | events/s | × ceiling |")
    print("| --- | ---: | ---: |")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / rate0:.2f} |")


if __name__ == "__main__":
    main()
