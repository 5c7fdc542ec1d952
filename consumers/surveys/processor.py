"""The surveys family's processor: one ledger per owned partition, its days shared via Redis."""

from __future__ import annotations

from consumers.account_signals import SURVEYS_KIND, signal_field
from consumers.surveys.ledger import DAYS_STORE, META_STORE, SIGNALS_STORE, SurveysConfig, SurveysLedger
from stream.family import LedgerProcessor
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["SurveysProcessor", "TOPIC"]

TOPIC = "surveys"


class SurveysProcessor(LedgerProcessor[SurveysLedger]):
    def __init__(self, config: SurveysConfig) -> None:
        super().__init__()
        self.config = config

    def build_ledger(self, state: PartitionState) -> SurveysLedger:
        return SurveysLedger(self.config, state.store(DAYS_STORE), state.store(META_STORE), state.store(SIGNALS_STORE))

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        payload = {"watermark": ledger.watermark, "days": {str(d): t for d, t in ledger.days.items()}}
        await snapshots.put_partition(TOPIC, state.partition, payload)
        records, gone = ledger.signals.unpublished()
        p = state.partition
        await snapshots.put_entities(SURVEYS_KIND, {signal_field(a, p): r for a, r in records.items()})
        await snapshots.drop_entities(SURVEYS_KIND, [signal_field(a, p) for a in gone])
        ledger.signals.published([*records, *gone])
