"""The surveys family's processor: one ledger per owned partition, its days shared via Redis."""

from __future__ import annotations

from typing import Any

from consumers.account_signals import SURVEYS_KIND, signal_field
from consumers.surveys.ledger import DAYS_STORE, META_STORE, SIGNALS_STORE, SurveysConfig, SurveysLedger
from stream.family import Processor
from stream.outcomes import ApplyResult
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["SurveysProcessor", "TOPIC"]

TOPIC = "surveys"


class SurveysProcessor(Processor):
    def __init__(self, config: SurveysConfig) -> None:
        self.config = config
        self.ledgers: dict[int, SurveysLedger] = {}

    def ledger(self, state: PartitionState) -> SurveysLedger:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = SurveysLedger(
            self.config, state.store(DAYS_STORE), state.store(META_STORE), state.store(SIGNALS_STORE)
        )

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(event)

    def flush(self, state: PartitionState) -> None:
        self.ledger(state).flush()

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        payload = {"watermark": ledger.watermark, "days": {str(d): t for d, t in ledger.days.items()}}
        await snapshots.put_partition(TOPIC, state.partition, payload)
        records, gone = ledger.signals.unpublished()
        p = state.partition
        await snapshots.put_entities(SURVEYS_KIND, {signal_field(a, p): r for a, r in records.items()})
        await snapshots.drop_entities(SURVEYS_KIND, [signal_field(a, p) for a in gone])
        ledger.signals.published([*records, *gone])
