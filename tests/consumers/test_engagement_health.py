"""The accounts' health pass (consumers/engagement/health.py): what the processor publishes
(records, versions, expiry) and the incremental re-scoring, against scoring every account
from the ledger at once."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from consumers.account_signals import SUPPORT_KIND, signal_field
from consumers.engagement.definitions import split_account_day
from consumers.engagement.facts import ProductFacts
from consumers.engagement.health import ACCOUNT_VERSIONS, ACCOUNTS, AccountHealth
from consumers.engagement.ledger import EngagementConfig
from consumers.engagement.processor import EngagementProcessor
from stream.memory_snapshots import MemorySnapshotStore
from stream.state import PartitionState

T0 = datetime(2026, 3, 2, tzinfo=UTC)
D0 = T0.date().toordinal()
FEATURES = ("dashboards", "reports", "alerts", "integrations")
_ids = iter(range(10**9))


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


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


class Partition:
    """One partition's processor and state, publishing to ``store`` the way a worker does."""

    def __init__(self, store: MemorySnapshotStore, partition: int = 0) -> None:
        self.store = store
        self.processor = EngagementProcessor(EngagementConfig(key_features=FEATURES))
        self.state = PartitionState(partition, codecs=EngagementProcessor.codecs)
        self.offset = 0
        self.changelog: dict[bytes, bytes | None] = {}

    def events(self, *facts: ProductFacts) -> None:
        ledger = self.processor.ledger(self.state)
        for f in sorted(facts, key=lambda e: e.occurred_at):
            ledger.apply(f)
        self.offset += len(facts)
        self.state.next_offset = self.offset
        self.processor.flush(self.state)
        self.changelog.update([*self.state.drain_changes(), self.state.checkpoint_record()])
        run(self.processor.publish(self.state, self.store))

    def reload(self) -> None:
        """A new owner: the state recovered from the compacted changelog."""
        self.processor.dropped(self.state.partition)
        self.state = PartitionState(self.state.partition, codecs=EngagementProcessor.codecs)
        for key, value in self.changelog.items():
            if value is not None:
                self.state.apply_record(key, value)
        self.processor.loaded(self.state)

    def by_account(self) -> dict[str, dict[int, Any]]:
        ledger = self.processor.ledger(self.state)
        out: dict[str, dict[int, Any]] = {}
        for key, value in ledger.account_records_encoded(ledger.account_keys()).items():
            account, day = split_account_day(key)
            out.setdefault(account, {})[day] = orjson.loads(value)
        return out

    def today(self) -> int:
        mark = self.processor.ledger(self.state).watermark
        assert mark is not None
        return datetime.fromtimestamp(mark, UTC).date().toordinal()


def event(day: int, account: str, user: str, name: str = "feature_used", feature: str | None = "reports",
          hour: int = 10) -> ProductFacts:  # fmt: skip
    at = T0 + timedelta(days=day, hours=hour)
    return ProductFacts(f"h-{next(_ids)}", at, name, user, account, None, feature, None)


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
