"""Processor of the `product-events` topic: one engagement ledger per owned partition."""

from __future__ import annotations

from typing import Any

from consumers.engagement.facts import facts_of
from consumers.engagement.ledger import EngagementConfig, EngagementLedger
from stream.family import BulkResult, Processor
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

    def ledger(self, state: PartitionState) -> EngagementLedger:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(facts_of(event))

    def apply_records(
        self, state: PartitionState, values: list[bytes | None], limits: list[int], start: int, partitions: int
    ) -> BulkResult:
        return BulkResult(*self.ledger(state).apply_records(values, limits, start, state.partition, partitions))

    def flush(self, state: PartitionState) -> None:
        ledger = self.ledger(state)
        ledger.flush()
        sketches, accounts = ledger.take_dirty()
        self.unpublished.setdefault(state.partition, set()).update(sketches)
        self.unpublished_accounts.setdefault(state.partition, set()).update(accounts)

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = ledger = EngagementLedger(self.config, state)
        self.unpublished[state.partition] = set(ledger.sketches)
        self.unpublished_accounts[state.partition] = set(ledger.account_keys())

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)
        self.unpublished.pop(partition, None)
        self.unpublished_accounts.pop(partition, None)

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
        await snapshots.put_entities_encoded("accounts", ledger.account_records_encoded(accounts))
        self.unpublished_accounts.get(state.partition, set()).difference_update(accounts)
        await snapshots.put_partition(
            TOPIC,
            state.partition,
            {"position": state.position, "watermark": ledger.watermark, "days": ledger.days},
        )

    def resync(self, state: PartitionState) -> None:
        ledger = self.ledger(state)
        self.unpublished.setdefault(state.partition, set()).update(ledger.sketches)
        self.unpublished_accounts.setdefault(state.partition, set()).update(ledger.account_keys())
