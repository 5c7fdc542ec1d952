"""In-process cost of the support family: µs per ticket event and memory per ticket kept.

    .venv/bin/python bench/support.py [--tickets 20000]

Synthetic tickets (opened, 1-3 agent replies, a customer reply, resolved; every tenth reopened
and resolved again), events in time order, through the worker's pipeline (validation, dedupe,
the support ledger, a flush every 5,000 records as an engine batch). The baseline, in the same
run, is the same pipeline with the family-less processor (validation, dedupe and counters
only). Memory: tracemalloc growth of the ticket records while every ticket is open, and once
they are all resolved (kept 30 days for a reopen). Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream.app import build_pipelines  # noqa: E402
from stream.family import CountOnly  # noqa: E402
from stream.registry import FamilyRegistry  # noqa: E402
from stream.settings import PulseSettings  # noqa: E402
from stream.state import PartitionState  # noqa: E402

START = datetime(2026, 3, 2, tzinfo=UTC)
TOPIC = "support-tickets"


def events(tickets: int, resolve: bool = True) -> list[bytes]:
    out: list[tuple[datetime, dict[str, object]]] = []
    for t in range(tickets):
        opened = START + timedelta(seconds=37 * t)
        base = {"ticket_id": f"T-{t:08d}", "account_id": f"acct-{t % 500}"}
        steps = [("ticket_opened", 0), *(("agent_replied", 600 * (k + 1)) for k in range(1 + t % 3)),
                 ("customer_replied", 2500)]  # fmt: skip
        if resolve:
            steps.append(("ticket_resolved", 4000))
            if t % 10 == 0:
                steps += [("ticket_reopened", 9000), ("ticket_resolved", 12000)]
        for n, (kind, after) in enumerate(steps):
            at = (opened + timedelta(seconds=after)).isoformat().replace("+00:00", "Z")
            event = {"event_id": f"T-{t:08d}-{n}", "type": kind, "occurred_at": at, **base}
            if kind == "ticket_opened":
                event.update(channel="email", category="question", priority="normal")
            out.append((opened + timedelta(seconds=after), event))
    out.sort(key=lambda pair: pair[0])
    return [orjson.dumps(e) for _, e in out]


def run(values: list[bytes], family: bool) -> tuple[float, PartitionState]:
    settings = PulseSettings(topic_partitions=1)
    processor = FamilyRegistry.installed(settings).processors()[TOPIC] if family else CountOnly()
    pipeline = build_pipelines(settings, {TOPIC: processor})[TOPIC]
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    started = time.perf_counter()
    for i in range(0, len(values), 5000):
        pipeline.handle_many(state, values[i : i + 5000])
        pipeline.flush(state)
        state.discard_changes()
    return (time.perf_counter() - started) / len(values) * 1e6, state


def tickets_memory(tickets: int, resolve: bool) -> float:
    values = events(tickets, resolve)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, state = run(values, family=True)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del state
    return grown / tickets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=20_000)
    args = ap.parse_args()
    values = events(args.tickets)
    base, _ = run(values, family=False)
    cost, _ = run(values, family=True)
    print(f"{args.tickets} tickets, {len(values)} events, one partition\n")
    print("| pipeline | µs per event | ratio to the baseline |\n| --- | ---: | ---: |")
    print(f"| validation + dedupe + counters (baseline) | {base:.1f} | 1.00 |")
    print(f"| + support family | {cost:.1f} | {cost / base:.2f} |\n")
    print("| tickets | bytes of memory per ticket (tracemalloc, dedupe ids included) |\n| --- | ---: |")
    print(f"| all open (opened, replied) | {tickets_memory(args.tickets, resolve=False):.0f} |")
    print(f"| all resolved, kept for a reopen | {tickets_memory(args.tickets, resolve=True):.0f} |")


if __name__ == "__main__":
    main()
