"""Whether the deployment has read every partition to its end (stream/progress.py): what the
leader's alerting waits for after a start or a rebalance."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.progress import (
    PROGRESS_FORGET_SECONDS,
    PROGRESS_STALE_SECONDS,
    ProgressBoard,
    WorkerProgress,
    deployment_progress,
)

NOW = 1_790_000_000.0
ALL = [f"subs:{p}" for p in range(6)]


def entry(
    worker: str, generation: int, partitions: range | list[int], caught_up: bool, age: float = 1.0
) -> WorkerProgress:
    return WorkerProgress(worker=worker, generation=generation, partitions=tuple(f"subs:{p}" for p in partitions),
                          caught_up=caught_up, written_at=NOW - age)  # fmt: skip


def test_one_worker_caught_up_on_every_partition() -> None:
    assert deployment_progress([entry("a", 1, range(6), True)], ALL, NOW).caught_up
    behind = deployment_progress([entry("a", 1, range(6), False)], ALL, NOW)
    assert not behind.caught_up and behind.behind == ("a",) and behind.unowned == ()


def test_a_worker_that_kept_its_partitions_waits_for_the_one_that_took_the_others() -> None:
    """The case alerting got wrong: a, caught up, keeps 3 of 6 partitions when b joins. Until
    b has written its entry the other 3 are nobody's; then b reads their backlog."""
    before_b = [entry("a", 2, range(3, 6), True)]
    progress = deployment_progress(before_b, ALL, NOW)
    assert not progress.caught_up and progress.unowned == ("subs:0", "subs:1", "subs:2")
    assert "3 partitions without an owner's entry" in progress.reason()
    reading = [*before_b, entry("b", 2, range(3), False)]
    progress = deployment_progress(reading, ALL, NOW)
    assert not progress.caught_up and progress.behind == ("b",) and progress.unowned == ()
    assert progress.reason() == "workers catching up: b"
    assert deployment_progress([*before_b, entry("b", 2, range(3), True)], ALL, NOW).caught_up


def test_claims_of_an_older_generation_were_revoked() -> None:
    """a's entry from before the rebalance still names every partition: it does not count once
    a later generation's entry exists (a SIGKILLed worker's, too)."""
    entries = [entry("a", 1, range(6), True), entry("b", 2, range(6), False)]
    assert deployment_progress(entries, ALL, NOW).behind == ("b",)
    entries = [entry("a", 1, range(6), True), entry("b", 2, range(3), True)]
    assert deployment_progress(entries, ALL, NOW).unowned == ("subs:3", "subs:4", "subs:5")


def test_a_worker_that_stopped_writing_owns_nothing() -> None:
    stale = [entry("a", 3, range(3), True), entry("b", 3, range(3, 6), True, age=PROGRESS_STALE_SECONDS + 1)]
    assert deployment_progress(stale, ALL, NOW).unowned == ("subs:3", "subs:4", "subs:5")
    assert not deployment_progress([], ALL, NOW).caught_up
    assert deployment_progress([], ALL, NOW).reason().startswith("6 partitions without")


@given(
    owners=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    caught=st.lists(st.booleans(), min_size=3, max_size=3),
    stale=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_caught_up_exactly_when_every_partition_has_a_live_caught_up_owner(
    owners: list[int], caught: list[bool], stale: list[bool]
) -> None:
    """Against a direct statement of the rule: partition p belongs to worker owners[p] (a
    worker that owns none may say it is not caught up: it has nothing to read)."""
    ages = [PROGRESS_STALE_SECONDS * (2 if s else 0.5) for s in stale]
    entries = [entry(f"w{w}", 5, [p for p in range(6) if owners[p] == w], caught[w], ages[w]) for w in range(3)]
    expected = all(not stale[owners[p]] and caught[owners[p]] for p in range(6))
    assert deployment_progress(entries, ALL, NOW).caught_up == expected


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, bytes]] = {}

    async def hset(self, key: str, field: str, value: bytes) -> None:
        self.hashes.setdefault(key, {})[field] = value

    async def hdel(self, key: str, *fields: Any) -> None:
        for f in fields:
            self.hashes.get(key, {}).pop(f, None)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return dict(self.hashes.get(key, {}))


async def test_the_board_keeps_one_entry_per_worker_and_forgets_the_unreadable_and_the_long_gone() -> None:
    redis = FakeRedis()
    board = ProgressBoard(redis, "pulse:app")
    await board.put(entry("a", 1, range(6), False))
    await board.put(entry("a", 2, range(3), True))
    await board.put(entry("gone", 1, range(6), True, age=PROGRESS_FORGET_SECONDS + 1))
    redis.hashes["pulse:app:progress"]["junk"] = b"{not json"
    redis.hashes["pulse:app:progress"]["odd"] = orjson.dumps({"worker": "odd"})
    [a] = await board.read(NOW)
    assert (a.worker, a.generation, a.partitions, a.caught_up) == ("a", 2, ("subs:0", "subs:1", "subs:2"), True)
    assert set(redis.hashes["pulse:app:progress"]) == {"a"}
    await board.drop("a")
    assert await board.read(NOW) == []


@pytest.mark.parametrize("caught_up", [True, False])
def test_the_reason_says_caught_up_only_when_it_is(caught_up: bool) -> None:
    progress = deployment_progress([entry("a", 1, range(6), caught_up)], ALL, NOW)
    assert (progress.reason() == "caught up") is caught_up
