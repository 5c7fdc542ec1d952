"""The view's cache of older days' sketch unions (consumers/engagement/definitions.py,
UnionCache): every distinct count it gives equals the union of every sketch merged afresh."""

from __future__ import annotations

import random
from collections.abc import Sequence

from datasketches import hll_sketch, hll_union, tgt_hll_type

from consumers.engagement.definitions import SKETCH_TYPE, EngagementFigures, UnionCache, sketch_key
from consumers.engagement.definitions import Partition as Sketches
from consumers.engagement.view import EngagementView
from stream.memory_snapshots import MemorySnapshotStore
from tests.consumers.engagement_partition import FEATURES, Partition, event, run

PREFIXES = ("dau", "vis", "sig", *(f"feat:{f}" for f in FEATURES))


def merged_afresh(figures: EngagementFigures, prefix: str, days: Sequence[int], lg_k: int) -> float:
    """The independent answer: every partition's sketch of every day in one union, HLL_4."""
    union, found = hll_union(lg_k), False
    for p in figures.partitions:
        for day in days:
            sketch = p.sketches.get(sketch_key(prefix, day))
            if sketch is not None:
                union.update(sketch)
                found = True
    return union.get_result(SKETCH_TYPE).get_estimate() if found else 0.0


def test_cached_unions_equal_fresh_unions_day_after_day() -> None:
    """Some events come a day or two late (within the grace period): the older days' sketches
    they change are new objects, so the unions that merged the old ones are merged again."""
    rng = random.Random(11)
    store = MemorySnapshotStore("unions-test")
    parts = [Partition(store, p) for p in range(3)]
    view = EngagementView(store, FEATURES, 10, 7)
    checked = reused = 0
    for day in range(45):
        for n, part in enumerate(parts):
            part.events(*(
                event(max(0, day - rng.choice([0, 0, 0, 1, 2])),  # some up to two days late
                      f"p{n}-a{rng.randrange(8)}", f"p{n}-u{rng.randrange(60)}", "feature_used",
                      rng.choice(FEATURES), hour=rng.randrange(24))
                for _ in range(rng.randrange(1, 40))
            ))  # fmt: skip
        if day == 30:  # a new owner of partition 1 republishes everything: new sketch objects
            parts[1].reload()
            store.new_epoch()
            run(parts[1].processor.publish(parts[1].state, store))
        before = {k: v[1] for k, v in view._unions.entries.items()}
        run(view.refresh())
        f = view.figures
        uncached = EngagementFigures(f.partitions, f.lg_k, f.feature_lg_k, f.activation_days)
        today = f.watermark_day
        assert today is not None
        for prefix in PREFIXES:
            lg_k = f.feature_lg_k if prefix.startswith("feat:") else f.lg_k
            for end in (today, today - 1, today - 5):
                for length in (1, 7, 30):
                    days = range(end - length + 1, end + 1)
                    expected = merged_afresh(f, prefix, days, lg_k)
                    assert f.distinct(prefix, days, lg_k) == expected, (prefix, end, length)
                    assert uncached.distinct(prefix, days, lg_k) == expected, (prefix, end, length)
                    checked += 1
        reused += sum(1 for k, v in view._unions.entries.items() if before.get(k) is v[1])
    assert checked == 45 * len(PREFIXES) * 9
    assert reused > 0  # the older days' unions were kept across refreshes, not merged again


def test_estimation_mode_sketches_give_the_same_counts_through_the_cache() -> None:
    """Past coupon mode (thousands of ids per partition-day, registers shared between days and
    partitions): the cached HLL_8 unions of unions estimate exactly what one union of them all does."""
    rng = random.Random(5)
    days = range(100, 130)
    partitions = []
    for _ in range(4):
        sketches = {}
        for day in days:
            sketch = hll_sketch(12, tgt_hll_type.HLL_4)
            for _ in range(rng.choice([0, 40, 3_000, 20_000])):
                sketch.update(f"u{rng.randrange(60_000)}")
            sketches[sketch_key("dau", day)] = sketch
        partitions.append(Sketches(sketches, {}, None))
    cached = EngagementFigures(partitions, lg_k=12, unions=UnionCache())
    for end in (129, 125):
        for length in (1, 2, 7, 30):
            window = range(end - length + 1, end + 1)
            assert cached.distinct("dau", window) == merged_afresh(cached, "dau", window, 12), (end, length)
            assert cached.distinct("dau", window) == cached.distinct("dau", list(window))  # memo: same answer
