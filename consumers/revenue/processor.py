"""Processor of the `subscriptions` topic: revenue state per customer, per partition."""

from __future__ import annotations

from typing import Any

from consumers.revenue.codec import CUSTOMER_CODEC, FOLDED_CODEC
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from stream.family import Processor
from stream.outcomes import APPLIED, ApplyResult
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["RevenueProcessor", "CUSTOMERS_STORE", "FOLDED_STORE", "TOPIC"]

TOPIC = "subscriptions"
CUSTOMERS_STORE = "customers"
FOLDED_STORE = "folded"


class RevenueProcessor(Processor):
    """Keeps one :class:`RevenueLedger` per owned partition; the ledger is the reducer."""

    codecs = {CUSTOMERS_STORE: CUSTOMER_CODEC, FOLDED_STORE: FOLDED_CODEC}
    #: an event older than the customer's open history is refused as late by the ledger
    knows_old_resends = True

    def __init__(self, config: RevenueConfig) -> None:
        self.config = config
        self.ledgers: dict[int, RevenueLedger] = {}
        self.changed: dict[int, set[str]] = {}

    def ledger(self, state: PartitionState) -> RevenueLedger:
        ledger = self.ledgers.get(state.partition)
        if ledger is None:
            self.loaded(state)
            ledger = self.ledgers[state.partition]
        return ledger

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        result = self.ledger(state).apply(event)
        if result is APPLIED:
            self.changed.setdefault(state.partition, set()).add(event.customer_id)
        return result

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = RevenueLedger(
            self.config, state.store(CUSTOMERS_STORE), state.store(FOLDED_STORE)
        )
        self.changed[state.partition] = set(self.ledgers[state.partition].customers)

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)
        self.changed.pop(partition, None)

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        """Share this partition's additive summary and its changed customers via Redis."""
        ledger = self.ledger(state)
        payload = {
            "next_offset": state.next_offset,
            "watermark": ledger.watermark,
            "buckets": {b: {k: str(v) for k, v in f.items()} for b, f in ledger.buckets.items()},
        }
        await snapshots.put_partition(TOPIC, state.partition, payload)
        changed = set(self.changed.get(state.partition, ()))
        views = {cid: ledger.customer_view(cid) for cid in changed}
        await snapshots.put_entities("customers", {k: v for k, v in views.items() if v})
        self.changed.get(state.partition, set()).difference_update(changed)

    def resync(self, state: PartitionState) -> None:
        self.changed.setdefault(state.partition, set()).update(self.ledger(state).customers)
