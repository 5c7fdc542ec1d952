"""In-process cost of the revenue reducer as one customer's history grows.

    .venv/bin/python bench/revenue.py [--sizes 10,1000,20000] [--baseline-sizes 10,1000,4000]
    .venv/bin/python bench/revenue.py --kafka 100000 [--customers 2000]   # end to end, local stack

One customer changes seats every 30 minutes (subscription_changed), the pattern that made the
cost grow with history. For each history length: µs per event (validation excluded: events
are decoded first) and changelog bytes per event (what a worker writes once per batch of 100
events: the customer's record and the folded-store buckets that changed). The baseline,
measured in the same run, is the same ledger with folding switched off (the reducer before
folding). With ``--kafka N``: N subscription events of ``--customers`` customers published
to the local stack's Kafka, then read by a plain aiokafka consumer (getmany + orjson: the
ceiling) and by a real `pulse worker`, in the same run.
Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.revenue.ledger import RevenueConfig, RevenueLedger  # noqa: E402
from consumers.revenue.processor import CUSTOMERS_STORE, FOLDED_STORE, RevenueProcessor  # noqa: E402
from stream.decoding import Accepted, decode_record  # noqa: E402
from stream.state import PartitionState  # noqa: E402
from stream.topics import spec_for  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 100


class NoFolding(RevenueLedger):
    """The reducer as it was: every event re-derives the whole history."""

    FOLD_AT = 10**12
    INCREMENTAL = False


def events(n: int) -> list[Any]:
    spec, out = spec_for("subscriptions"), []
    for i in range(n):
        raw = {
            "event_id": f"e{i}",
            "type": "subscription_changed" if i else "subscription_started",
            "customer_id": "c1",
            "subscription_id": "s1",
            "plan": "team",
            "occurred_at": (START + timedelta(minutes=30 * i)).isoformat().replace("+00:00", "Z"),
            "amount": "10",
            "currency": "USD",
            "interval": "month",
            "quantity": 1 + i % 9,
        }
        (result,) = decode_record(spec, orjson.dumps(raw))
        assert isinstance(result, Accepted)
        out.append(result.event)
    return out


def measure(cls: type[RevenueLedger], n: int) -> tuple[float, float, Decimal]:
    """(µs per event over the last 10% of the history, changelog bytes per event, MRR)."""
    state = PartitionState(0, codecs=dict(RevenueProcessor.codecs))
    ledger = cls(RevenueConfig(fx_rates={"USD": Decimal(1)}), state.store(CUSTOMERS_STORE), state.store(FOLDED_STORE))
    stream = events(n)
    tail_from = n - max(1, n // 10)
    written = 0
    started = 0.0
    for i, event in enumerate(stream):
        if i == tail_from:
            started = time.perf_counter()
        ledger.apply(event)
        if (i + 1) % BATCH == 0:  # a worker's batch: its changelog records, as the worker writes them
            changes = state.drain_changes()
            if i >= tail_from:
                written += sum(len(key) + len(value or b"") for key, value in changes)
    elapsed = time.perf_counter() - started
    measured = n - tail_from
    batches = max(1, measured // BATCH)
    written = written or sum(len(key) + len(value or b"") for key, value in state.drain_changes())
    return elapsed / measured * 1e6, written / (batches * BATCH), ledger.buckets["now"]["mrr"]


def kafka_events(n: int, customers: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of n subscription events: every customer starts, then changes seats, in time order."""
    out = []
    for i in range(n):
        customer, step = i % customers, i // customers
        raw = {
            "event_id": f"k{i}",
            "type": "subscription_changed" if step else "subscription_started",
            "customer_id": f"c{customer}",
            "subscription_id": f"s{customer}",
            "plan": "team",
            "occurred_at": (START + timedelta(minutes=30 * step, seconds=customer % 1800))
            .isoformat()
            .replace("+00:00", "Z"),
            "amount": "10",
            "currency": "USD",
            "interval": "month",
            "quantity": 1 + step % 9,
        }
        out.append((f"c{customer}".encode(), orjson.dumps(raw)))
    return out


def end_to_end(n: int, customers: int) -> None:
    import asyncio
    import uuid

    import product_events as pe
    from aiokafka import AIOKafkaProducer

    from stream.admin import ensure_topics
    from stream.settings import PulseSettings

    prefix = f"benchrev{uuid.uuid4().hex[:6]}."
    settings = PulseSettings(kafka_broker=pe.BROKER, topic_prefix=prefix, app_id="bench-topics")
    asyncio.run(ensure_topics(settings))
    topic = settings.topic("subscriptions")

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=pe.BROKER, linger_ms=20, max_batch_size=1 << 20, acks=1)
        await producer.start()
        try:
            futures = [await producer.send(topic, value=v, key=k) for k, v in kafka_events(n, customers)]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(publish())
    ceiling = asyncio.run(pe.ceiling(topic, n))  # events/s, both after their first batch
    worker = pe.pulse_worker(prefix, n, timeout=900, topic="subscriptions")
    print(
        f"\n{n:,} subscription events, {customers:,} customers ({n // customers} events each), {platform.machine()}\n"
    )
    print("| consumer | events/s | × ceiling |")
    print("| --- | ---: | ---: |")
    print(f"| aiokafka getmany + orjson (no validation, no state): the ceiling | {ceiling:,.0f} | 1.00 |")
    name = "Pulse worker (validated, deduplicated, revenue state, checkpointed)"
    print(f"| {name} | {worker:,.0f} | {worker / ceiling:.2f} |")


def cells(cls: type[RevenueLedger], n: int, sizes: set[int]) -> tuple[str, Decimal | None]:
    if n not in sizes:
        return "— | —", None
    us, per_event, mrr = measure(cls, n)
    return f"{us:,.1f} | {per_event:,.0f}", mrr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,20000")
    parser.add_argument("--baseline-sizes", default="10,1000,4000")
    parser.add_argument("--kafka", type=int, default=0, help="end to end on the local stack: this many events")
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    if args.kafka:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        end_to_end(args.kafka, args.customers)
        return
    sizes = {int(s) for s in args.sizes.split(",")}
    baseline = {int(s) for s in args.baseline_sizes.split(",")}
    print(f"revenue reducer, one customer, a seat change every 30 minutes; {platform.machine()}, "
          f"Python {platform.python_version()}\n")  # fmt: skip
    print("| events in the history | folding: µs / event | folding: changelog bytes / event "
          "| no folding (baseline): µs / event | no folding: bytes / event |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in sorted(sizes | baseline):
        fold, mrr = cells(RevenueLedger, n, sizes)
        base, base_mrr = cells(NoFolding, n, baseline)
        assert mrr is None or base_mrr is None or mrr == base_mrr, "folding changed the figure"
        print(f"| {n:,} | {fold} | {base} |")


if __name__ == "__main__":
    main()
