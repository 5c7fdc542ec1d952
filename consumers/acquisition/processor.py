"""The acquisition family's processor of ``marketing-spend``: one ledger per owned partition,
its days shared via Redis."""

from __future__ import annotations

from consumers.acquisition.leads import LEAD_DAYS_STORE, LEAD_META_STORE, LEADS_STORE, LeadsConfig, LeadsLedger
from consumers.acquisition.ledger import DAYS_STORE, META_STORE, SpendConfig, SpendLedger
from stream.family import LedgerProcessor
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["SpendProcessor", "LeadsProcessor", "TOPIC", "LEADS_TOPIC"]

TOPIC = "marketing-spend"


class SpendProcessor(LedgerProcessor[SpendLedger]):
    def __init__(self, config: SpendConfig) -> None:
        super().__init__()
        self.config = config

    def build_ledger(self, state: PartitionState) -> SpendLedger:
        return SpendLedger(self.config, state.store(DAYS_STORE), state.store(META_STORE))

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        payload = {
            "watermark": ledger.watermark,
            "days": {d: {c: str(v) for c, v in spend.items()} for d, spend in ledger.days.items()},
        }
        await snapshots.put_partition(TOPIC, state.partition, payload)


LEADS_TOPIC = "leads"


class LeadsProcessor(LedgerProcessor[LeadsLedger]):
    """The acquisition family's processor of ``leads``."""

    def __init__(self, config: LeadsConfig) -> None:
        super().__init__()
        self.config = config

    def build_ledger(self, state: PartitionState) -> LeadsLedger:
        return LeadsLedger(
            self.config, state.store(LEADS_STORE), state.store(LEAD_DAYS_STORE), state.store(LEAD_META_STORE)
        )

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        await snapshots.put_partition(
            LEADS_TOPIC, state.partition, {"watermark": ledger.watermark, "days": ledger.days}
        )
