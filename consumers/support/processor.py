"""The support family's processor: one ledger per owned partition, its days shared via Redis."""

from __future__ import annotations

from typing import Any

from consumers.account_signals import SUPPORT_KIND, signal_field
from consumers.support.ledger import (
    DAYS_STORE,
    META_STORE,
    SIGNALS_STORE,
    TICKETS_STORE,
    SupportConfig,
    SupportLedger,
)
from stream.decoding import Rejected
from stream.family import LedgerProcessor
from stream.outcomes import ApplyResult, RejectReason
from stream.snapshots import SnapshotStore
from stream.state import PartitionState

__all__ = ["SupportProcessor", "TOPIC"]

TOPIC = "support-tickets"


class SupportProcessor(LedgerProcessor[SupportLedger]):
    def __init__(self, config: SupportConfig) -> None:
        super().__init__()
        self.config = config
        #: partition -> tickets whose page is not yet published
        self.changed: dict[int, set[str]] = {}

    def build_ledger(self, state: PartitionState) -> SupportLedger:
        return SupportLedger(
            self.config,
            state.store(TICKETS_STORE),
            state.store(DAYS_STORE),
            state.store(META_STORE),
            state.store(SIGNALS_STORE),
        )

    def loaded(self, state: PartitionState) -> None:
        super().loaded(state)
        self.changed[state.partition] = set(self.ledgers[state.partition].tickets)

    def dropped(self, partition: int) -> None:
        super().dropped(partition)
        self.changed.pop(partition, None)

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        result = self.ledger(state).apply(event)
        self.changed.setdefault(state.partition, set()).add(event.ticket_id)
        return result

    def expired(self, state: PartitionState) -> list[Rejected]:
        grace = self.config.grace_seconds
        return [
            Rejected(
                RejectReason.ORPHAN,
                f"orphan: no ticket_opened for ticket {ticket!r} within the grace period ({grace} s) of its events",
                raw.encode(),
                None,
            )
            for ticket, raw in self.ledger(state).take_orphans()
        ]

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        ledger = self.ledger(state)
        payload = {
            "watermark": ledger.watermark,
            "days": {str(d): {k: v for k, v in c.items() if v} for d, c in ledger.days.items()},
            "backlog_before": ledger.backlog_before,
            "now": {k: v for k, v in ledger.now.items() if v},
            "oldest_awaiting": ledger.oldest_awaiting(),
        }
        await snapshots.put_partition(TOPIC, state.partition, payload)
        changed = set(self.changed.get(state.partition, ()))
        views = {t: ticket_view(t, ledger.tickets[t]) for t in changed if t in ledger.tickets}
        await snapshots.put_entities("tickets", views)
        self.changed.get(state.partition, set()).difference_update(changed)
        records, gone = ledger.signals.unpublished()
        p = state.partition
        await snapshots.put_entities(SUPPORT_KIND, {signal_field(a, p): r for a, r in records.items()})
        await snapshots.drop_entities(SUPPORT_KIND, [signal_field(a, p) for a in gone])
        ledger.signals.published([*records, *gone])

    def resync(self, state: PartitionState) -> None:
        ledger = self.ledger(state)
        self.changed.setdefault(state.partition, set()).update(ledger.tickets)
        ledger.signals.changed.update(ledger.signals.records)


def ticket_view(ticket: str, record: dict[str, Any]) -> dict[str, Any]:
    """What GET /api/v1/tickets/{id} shows: attributes, events and timings (calendar seconds)."""
    from datetime import UTC, datetime

    from consumers.support.ledger import ORDER

    events = sorted(record["ev"], key=lambda e: (e[0], ORDER[e[1]]))
    opened = next((ts for ts, kind in events if kind == "ticket_opened"), None)
    first_reply = next((ts for ts, kind in events if kind == "agent_replied"), None)
    first_resolution = next((ts for ts, kind in events if kind == "ticket_resolved"), None)
    last_resolution, is_open = None, True  # the resolution that closed the ticket as it is now
    for ts, kind in events:
        if kind == "ticket_resolved" and is_open:
            last_resolution, is_open = ts, False
        elif kind == "ticket_reopened" and not is_open:
            last_resolution, is_open = None, True

    def since(ts: float | None) -> float | None:
        return None if ts is None or opened is None else max(ts, opened) - opened

    return {
        "ticket_id": ticket,
        **{k: v for k, v in record["at"].items() if v is not None},
        "status": "waiting_for_open" if opened is None else "open" if record["now"].get("open") else "resolved",
        "first_response_seconds": since(first_reply),
        "resolution_seconds": since(first_resolution),
        "full_resolution_seconds": since(last_resolution),
        "events": [
            {"at": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z"), "type": kind}
            for ts, kind in events
        ],
    }
