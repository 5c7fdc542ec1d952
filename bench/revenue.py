"""In-process cost of the revenue reducer as one customer's history grows.

    .venv/bin/python bench/revenue.py [--sizes 10,1000,20000] [--baseline-sizes 10,1000,4000]

One customer changes seats every 30 minutes (subscription_changed), the pattern that made the
cost grow with history. For each history length: µs per event (validation excluded: events
are decoded first) and changelog bytes per event (the customer's record as a worker writes
it once per batch of 100 events). The baseline, measured in the same run, is the same ledger
with folding switched off (the reducer before folding). Results go to stdout as Markdown.
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

from consumers.revenue.codec import encode_history  # noqa: E402
from consumers.revenue.ledger import RevenueConfig, RevenueLedger  # noqa: E402
from stream.decoding import Accepted, decode_record  # noqa: E402
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
    ledger = cls(RevenueConfig(fx_rates={"USD": Decimal(1)}))
    stream = events(n)
    tail_from = n - max(1, n // 10)
    written = 0
    started = 0.0
    for i, event in enumerate(stream):
        if i == tail_from:
            started = time.perf_counter()
        ledger.apply(event)
        if i >= tail_from and (i + 1) % BATCH == 0:
            written += len(encode_history(ledger.customers["c1"]))
    elapsed = time.perf_counter() - started
    measured = n - tail_from
    batches = max(1, measured // BATCH)
    written = written or len(encode_history(ledger.customers["c1"]))
    return elapsed / measured * 1e6, written / (batches * BATCH), ledger.buckets["now"]["mrr"]


def cells(cls: type[RevenueLedger], n: int, sizes: set[int]) -> tuple[str, Decimal | None]:
    if n not in sizes:
        return "— | —", None
    us, per_event, mrr = measure(cls, n)
    return f"{us:,.1f} | {per_event:,.0f}", mrr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,20000")
    parser.add_argument("--baseline-sizes", default="10,1000,4000")
    args = parser.parse_args()
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
