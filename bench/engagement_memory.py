"""Memory of the DAU/WAU/MAU state for 10 million distinct users over 35 days, one worker.

    .venv/bin/python bench/engagement_memory.py [--users 10000000] [--partitions 6]

Feeds each user into the DAU sketch of one of 35 UTC days of their partition, exactly as
EngagementLedger does (same lg_k and HLL type), then reports resident memory growth and the
sketches' serialized sizes. One worker owning every partition is the worst case.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasketches import hll_sketch  # noqa: E402

from consumers.engagement.definitions import SKETCH_TYPE
from consumers.engagement.ledger import EngagementConfig  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--days", type=int, default=35)
    args = ap.parse_args()
    lg_k = EngagementConfig().lg_k
    before = rss_mb()
    sketches = {(p, d): hll_sketch(lg_k, SKETCH_TYPE) for p in range(args.partitions) for d in range(args.days)}
    t = time.perf_counter()
    for i in range(args.users):
        sketches[(i % args.partitions, (i // args.partitions) % args.days)].update(f"user-{i}")
    elapsed = time.perf_counter() - t
    after = rss_mb()
    compact = sum(len(s.serialize_compact()) for s in sketches.values())
    updatable = sum(len(s.serialize_updatable()) for s in sketches.values())
    print(f"| users | {args.users:,} |")
    shape = f"{len(sketches)} ({args.partitions} x {args.days}), lg_k {lg_k}, {SKETCH_TYPE.name}"
    print(f"| sketches (partitions x days) | {shape} |")
    print(f"| resident memory growth | {after - before:.1f} MB |")
    print(f"| in-memory sketch size (updatable form) | {updatable / 2**20:.1f} MB |")
    print(f"| changelog size (compact form) | {compact / 2**20:.1f} MB |")
    print(f"| update time | {elapsed:.1f} s ({args.users / elapsed:,.0f} updates/s) |")


if __name__ == "__main__":
    main()
