"""The view's cache of older days' sketch unions (consumers/engagement/definitions.py,
UnionCache): every distinct count it gives equals the union of every sketch merged afresh."""

from __future__ import annotations

import random

from consumers.engagement.definitions import EngagementFigures
from consumers.engagement.view import EngagementView
from stream.memory_snapshots import MemorySnapshotStore
from tests.consumers.engagement_partition import FEATURES, Partition, event, run

PREFIXES = ("dau", "vis", "sig", *(f"feat:{f}" for f in FEATURES))


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
        fresh = EngagementFigures(f.partitions, f.lg_k, f.feature_lg_k, f.activation_days)
        today = f.watermark_day
        assert today is not None
        for prefix in PREFIXES:
            lg_k = f.feature_lg_k if prefix.startswith("feat:") else f.lg_k
            for end in (today, today - 1, today - 5):
                for length in (1, 7, 30):
                    days = range(end - length + 1, end + 1)
                    assert f.distinct(prefix, days, lg_k) == fresh.distinct(prefix, days, lg_k), (prefix, end, length)
                    checked += 1
        reused += sum(1 for k, v in view._unions.entries.items() if before.get(k) is v[1])
    assert checked == 45 * len(PREFIXES) * 9
    assert reused > 0  # the older days' unions were kept across refreshes, not merged again
