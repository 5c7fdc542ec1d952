"""The naive baseline: a Faust agent doing Pulse's per-event work one event at a time.

Run by bench/product_events.py as `python bench/faust_naive.py worker`; reads BENCH_TOPIC,
BENCH_EXPECT and BENCH_BROKER, writes `DONE <events> <seconds>` to BENCH_RESULT when it has
seen them all.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import faust
import orjson
from datasketches import hll_sketch, tgt_hll_type

TOPIC, EXPECT = os.environ["BENCH_TOPIC"], int(os.environ["BENCH_EXPECT"])
app = faust.App(
    f"bench-naive-{os.getpid()}",
    broker=f"kafka://{os.environ['BENCH_BROKER']}",
    store="memory://",
    web_enabled=False,
    processing_guarantee="at_least_once",
    autodiscover=False,
)
topic = app.topic(TOPIC, value_serializer="raw", key_serializer="raw")
sketches: dict[str, hll_sketch] = {}
state = {"seen": 0, "start": 0.0}


@app.agent(topic)
async def naive(stream: Any) -> None:
    async for value in stream:
        if state["seen"] == 0:
            state["start"] = time.perf_counter()
        for event in (lambda v: v if isinstance(v, list) else [v])(orjson.loads(value)):
            day = event["occurred_at"][:10]
            if event.get("user_id") and event["name"] != "page_view":
                sketch = sketches.get(day) or sketches.setdefault(day, hll_sketch(16, tgt_hll_type.HLL_4))
                sketch.update(event["user_id"])
            state["seen"] += 1
        if state["seen"] >= EXPECT:
            # Faust redirects stdout into its log, so the result goes to a file.
            with open(os.environ["BENCH_RESULT"], "w") as out:
                out.write(f"DONE {state['seen']} {time.perf_counter() - state['start']:.3f}\n")
            os._exit(0)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
