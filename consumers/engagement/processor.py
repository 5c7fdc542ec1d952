"""Processor of the `product-events` topic: one engagement ledger per owned partition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from consumers.engagement.definitions import split_account_day
from consumers.engagement.facts import facts_of
from consumers.engagement.health import ACCOUNT_VERSIONS, ACCOUNTS
from consumers.engagement.ledger import EngagementConfig, EngagementLedger
from stream.family import BulkResult, HomeTaken, Processor
from stream.outcomes import ApplyResult
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["EngagementProcessor", "TOPIC"]

TOPIC = "product-events"


class EngagementProcessor(Processor):
    codecs = EngagementLedger.STORES
    #: The kernel dedupes by event_id itself (64-bit hashes, one changelog record per batch).
    dedupes = True
    #: The kernel validates and applies raw records in bulk; pydantic sees only what it defers.
    bulk = True

    def __init__(self, config: EngagementConfig) -> None:
        self.config = config
        self.ledgers: dict[int, EngagementLedger] = {}
        self.unpublished: dict[int, set[str]] = {}
        self.unpublished_accounts: dict[int, set[str]] = {}
        #: partition -> account -> the latest UTC day it has a record of (days expire oldest
        #: first, so the account has none left once that one is gone)
        self.last_days: dict[int, dict[str, int]] = {}

    def ledger(self, state: PartitionState) -> EngagementLedger:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(facts_of(event))

    def apply_records(
        self,
        state: PartitionState,
        values: list[bytes | None],
        limits: list[int],
        start: int,
        partitions: int,
        group: bool = False,
        own: bool = True,
        until: int | None = None,
        homes: Mapping[int, tuple[PartitionState, int]] | None = None,
    ) -> BulkResult:
        ledger = self.ledger(state)
        # a partition that does not exist: every event belongs elsewhere
        partition = state.partition if own else partitions
        ledgers = None if not homes else {p: (self.ledger(home), first) for p, (home, first) in homes.items()}
        applied = ledger.apply_records(values, limits, start, partition, partitions, group, until, ledgers)
        return BulkResult(*applied[:9], homes=[HomeTaken(*taken) for taken in applied[9]])

    def flush(self, state: PartitionState) -> None:
        self.ledger(state).flush()
        self._dirty(state)

    def flush_many(self, states: Sequence[PartitionState]) -> None:
        """The kernels' changelog encoding of a batch's partitions side by side (two threads)."""
        EngagementLedger.flush_many([self.ledger(state) for state in states])
        for state in states:
            self._dirty(state)

    def _dirty(self, state: PartitionState) -> None:
        """What the last flush changed waits for the next publish."""
        sketches, accounts = self.ledger(state).take_dirty()
        self.unpublished.setdefault(state.partition, set()).update(sketches)
        self.unpublished_accounts.setdefault(state.partition, set()).update(accounts)

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = ledger = EngagementLedger(self.config, state)
        self.unpublished[state.partition] = set(ledger.sketches)
        self.unpublished_accounts[state.partition] = keys = set(ledger.account_keys())
        last: dict[str, int] = {}
        for key in keys:
            account, day = split_account_day(key)
            last[account] = max(day, last.get(account, day))
        self.last_days[state.partition] = last

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)
        self.unpublished.pop(partition, None)
        self.unpublished_accounts.pop(partition, None)
        self.last_days.pop(partition, None)

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        """Share changed sketches and the day counters of this partition via Redis."""
        ledger = self.ledger(state)
        keys = set(self.unpublished.get(state.partition, ()))
        sketches = ledger.sketches
        await snapshots.put_sketches(
            TOPIC,
            state.partition,
            {k: sketches[k].serialize_compact() for k in keys if k in sketches},
            [k for k in keys if k not in sketches],
            version=state.position,
        )
        self.unpublished.get(state.partition, set()).difference_update(keys)
        accounts = set(self.unpublished_accounts.get(state.partition, ()))
        await self._publish_accounts(state, ledger, accounts, snapshots)
        self.unpublished_accounts.get(state.partition, set()).difference_update(accounts)
        await snapshots.put_partition(
            TOPIC,
            state.partition,
            {"position": state.position, "watermark": ledger.watermark, "days": ledger.days},
        )

    async def _publish_accounts(
        self, state: PartitionState, ledger: EngagementLedger, keys: set[str], snapshots: SnapshotStore
    ) -> None:
        """The changed account-day records (expired ones deleted) and, per account they belong
        to, a new version: what the health pass reads to find the accounts to score again."""
        encoded = ledger.account_records_encoded(keys)
        last = self.last_days.setdefault(state.partition, {})
        changed: set[str] = set()
        emptied: set[str] = set()
        for key in keys:
            account, day = split_account_day(key)
            changed.add(account)
            if key in encoded:
                last[account] = max(day, last.get(account, day))
            elif last.get(account, day) <= day:
                emptied.add(account)  # its latest day expired: every earlier one did too
        for account in emptied:
            last.pop(account, None)
        await snapshots.put_entities_encoded(ACCOUNTS, encoded)
        await snapshots.drop_entities(ACCOUNTS, [k for k in keys if k not in encoded])
        version = orjson.dumps(f"{snapshots.epoch}:{state.position}")  # one value for every account: encoded once
        await snapshots.put_entities_encoded(ACCOUNT_VERSIONS, dict.fromkeys(changed - emptied, version))
        await snapshots.drop_entities(ACCOUNT_VERSIONS, sorted(emptied))

    def resync(self, state: PartitionState) -> None:
        ledger = self.ledger(state)
        self.unpublished.setdefault(state.partition, set()).update(ledger.sketches)
        self.unpublished_accounts.setdefault(state.partition, set()).update(ledger.account_keys())
