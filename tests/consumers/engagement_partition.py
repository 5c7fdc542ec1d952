"""One engagement partition as a worker runs it: a processor and its state, each batch flushed
into a changelog and published to a snapshot store (tests of what views read from it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from consumers.engagement.definitions import split_account_day
from consumers.engagement.facts import ProductFacts
from consumers.engagement.ledger import EngagementConfig
from consumers.engagement.processor import EngagementProcessor
from stream.memory_snapshots import MemorySnapshotStore
from stream.state import PartitionState

__all__ = ["D0", "FEATURES", "T0", "Partition", "event", "run"]

T0 = datetime(2026, 3, 2, tzinfo=UTC)
D0 = T0.date().toordinal()
FEATURES = ("dashboards", "reports", "alerts", "integrations")
_ids = iter(range(10**9))


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


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
