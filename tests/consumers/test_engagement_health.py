"""The accounts' health pass (consumers/engagement/health.py): what the processor publishes
(records, versions, expiry) and the incremental re-scoring, against scoring every account
from the ledger at once."""

from __future__ import annotations

import random
from typing import Any

from consumers.account_signals import SUPPORT_KIND, signal_field
from consumers.engagement.definitions import split_account_day
from consumers.engagement.health import ACCOUNT_VERSIONS, ACCOUNTS, AccountHealth
from stream.memory_snapshots import MemorySnapshotStore
from tests.consumers.engagement_partition import D0, FEATURES, Partition, event, run


class CountingStore(MemorySnapshotStore):
    """Counts the account-day records a reader fetches (what incrementality saves)."""

    def __init__(self) -> None:
        super().__init__("health-test")
        self.fetched = 0

    async def entities_at(self, kind: str, keys: list[str]) -> dict[str, Any]:
        found = await super().entities_at(kind, keys)
        if kind == ACCOUNTS:
            self.fetched += len({split_account_day(k)[0] for k in keys})
        return found


def reference(part: Partition, signals: dict[str, Any] | None = None, support: bool = False) -> AccountHealth:
    """Every account scored at once from the ledger's own records (no Redis, no versions)."""
    ref = AccountHealth(MemorySnapshotStore("ref"), len(FEATURES), 40.0, 14400.0)
    ref.score_all(part.by_account(), part.today(), signals or {}, support)
    return ref


def test_incremental_passes_equal_scoring_everything_at_once() -> None:
    """Random activity over 40 days, a pass after each day: the scores and the at-risk list
    equal a fresh scoring of every account from the ledger."""
    rng = random.Random(7)
    store = CountingStore()
    part = Partition(store)
    health = AccountHealth(store, len(FEATURES), 40.0, 14400.0)
    accounts = [f"acct-{i}" for i in range(30)]
    for day in range(40):
        batch = [
            event(
                day,
                a,
                f"{a}-u{rng.randrange(4)}",
                rng.choice(["feature_used", "page_view", "login"]),
                rng.choice(FEATURES + ("export",)),
                hour=rng.randrange(24),
            )  # fmt: skip
            for a in rng.sample(accounts, rng.randrange(1, 12))
        ]
        part.events(*batch)
        run(health.update(part.today()))
        ref = reference(part)
        assert health.scores == ref.scores, day
        assert health.at_risk() == ref.at_risk(), day
        assert health.at_risk_count() == len(ref.risky)
    assert 0 < len(health.risky) < len(health.scores)


def test_a_pass_reads_only_the_accounts_that_changed_until_the_day_moves() -> None:
    store = CountingStore()
    part = Partition(store)
    health = AccountHealth(store, len(FEATURES), 40.0, 14400.0)
    part.events(*(event(0, f"a{i}", f"u{i}") for i in range(10)))
    run(health.update(part.today()))
    assert store.fetched == 10
    run(health.update(part.today()))
    assert store.fetched == 10  # nothing changed: nothing read
    part.events(event(0, "a3", "u3b", hour=12), event(0, "a7", "u7", hour=13))
    run(health.update(part.today()))
    assert store.fetched == 12  # a3 and a7 only
    part.events(event(1, "a1", "u1"))  # a new watermark day: every window moved
    run(health.update(part.today()))
    assert store.fetched == 22
    assert health.scores == reference(part).scores


def test_a_changed_signal_rescores_its_account_only() -> None:
    store = CountingStore()
    part = Partition(store)
    health = AccountHealth(store, len(FEATURES), 40.0, 14400.0)
    part.events(*(event(0, f"a{i}", f"u{i}") for i in range(5)))
    run(health.update(part.today()))
    before = dict(health.scores)
    read = store.fetched
    signal = {"open": 5, "d": {}}  # five open tickets: the tickets part drops to 0
    run(store.put_entities(SUPPORT_KIND, {signal_field("a2", 0): signal}))
    run(health.update(part.today()))
    # support now reports on some account, so open tickets are known (0) for every account
    assert store.fetched == read + 5
    run(store.put_entities(SUPPORT_KIND, {signal_field("a2", 0): {"open": 4, "d": {}}}))
    run(health.update(part.today()))
    assert store.fetched == read + 6
    ref = reference(part, {"a2": {"open": 4, "d": {}}}, support=True)
    assert health.scores == ref.scores
    assert health.scores["a2"] < before["a2"]


def test_expired_days_leave_redis_and_an_account_without_days_leaves_the_scores() -> None:
    """Days older than keep_days (35) are deleted from Redis too; an account whose last day
    expired has no version left and is no longer scored."""
    store = CountingStore()
    part = Partition(store)
    health = AccountHealth(store, len(FEATURES), 40.0, 14400.0)
    part.events(event(0, "gone", "g1"), event(0, "stays", "s1"))
    part.events(event(31, "stays", "s1"))
    run(health.update(part.today()))
    assert set(health.scores) == {"gone", "stays"}
    assert health.scores["gone"] == 0  # nothing in its 30 days: at risk while it is held
    part.events(event(36, "stays", "s1"))
    run(health.update(part.today()))
    assert set(health.scores) == {"stays"}
    held = run(store.entities(ACCOUNTS))
    assert sorted(held) == [f"stays|{D0 + 31}", f"stays|{D0 + 36}"]
    assert set(run(store.entities(ACCOUNT_VERSIONS))) == {"stays"}


def test_a_reloaded_partition_republishes_every_account_and_the_scores_stay() -> None:
    store = CountingStore()
    part = Partition(store)
    health = AccountHealth(store, len(FEATURES), 40.0, 14400.0)
    part.events(*(event(d, f"a{d % 3}", f"u{d}") for d in range(5)))
    run(health.update(part.today()))
    scores, read = dict(health.scores), store.fetched
    part.reload()
    store.new_epoch()  # written by another worker
    run(part.processor.publish(part.state, store))
    run(health.update(part.today()))
    assert store.fetched == read + 3  # every account has a new version
    assert health.scores == scores == reference(part).scores


def test_no_watermark_no_pass() -> None:
    health = AccountHealth(CountingStore(), len(FEATURES), 40.0, 14400.0)
    run(health.update(None))
    assert health.at_risk_count() is None and health.at_risk() == []
