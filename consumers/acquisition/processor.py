"""The acquisition family's processor of ``marketing-spend``: one ledger per owned partition,
its days shared via Redis."""

from __future__ import annotations

from typing import Any

from consumers.acquisition.leads import LEAD_DAYS_STORE, LEAD_META_STORE, LEADS_STORE, LeadsConfig, LeadsLedger
from consumers.acquisition.ledger import DAYS_STORE, META_STORE, SpendConfig, SpendLedger
from stream.family import Processor
from stream.outcomes import ApplyResult
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["SpendProcessor", "LeadsProcessor", "TOPIC", "LEADS_TOPIC"]

TOPIC = "marketing-spend"


class SpendProcessor(Processor):
    def __init__(self, config: SpendConfig) -> None:
        self.config = config
        self.ledgers: dict[int, SpendLedger] = {}

    def ledger(self, state: PartitionState) -> SpendLedger:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = SpendLedger(self.config, state.store(DAYS_STORE), state.store(META_STORE))

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(event)

    def flush(self, state: PartitionState) -> None:
        self.ledger(state).flush()

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        payload = {
            "watermark": ledger.watermark,
            "days": {d: {c: str(v) for c, v in spend.items()} for d, spend in ledger.days.items()},
        }
        await snapshots.put_partition(TOPIC, state.partition, payload)


LEADS_TOPIC = "leads"


class LeadsProcessor(Processor):
    """The acquisition family's processor of ``leads``."""

    def __init__(self, config: LeadsConfig) -> None:
        self.config = config
        self.ledgers: dict[int, LeadsLedger] = {}

    def ledger(self, state: PartitionState) -> LeadsLedger:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = LeadsLedger(
            self.config, state.store(LEADS_STORE), state.store(LEAD_DAYS_STORE), state.store(LEAD_META_STORE)
        )

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(event)

    def flush(self, state: PartitionState) -> None:
        self.ledger(state).flush()

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        await snapshots.put_partition(
            LEADS_TOPIC, state.partition, {"watermark": ledger.watermark, "days": ledger.days}
        )
