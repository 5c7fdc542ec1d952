"""The leads reducer: one partition's leads created and first qualified at each stage (MQL,
SQL, PQL) per UTC day.

A lead's record (store ``leads``) holds the stages it has reached, so a stage counts once per
lead whatever the order its events come in; the day counters (store ``lead_days``) are sums
over the partition's leads, additive across partitions. A lead's record goes
``keep_lead_days`` after its last event (a qualification after that counts again); days
older than ``keep_days`` behind the watermark's are dropped (a replay keeps every day).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from consumers.acquisition.days import DayCounters
from stream.outcomes import APPLIED, ApplyResult, Refused, RejectReason, late

__all__ = ["LeadsConfig", "LeadsLedger", "LEADS_STORE", "LEAD_DAYS_STORE", "LEAD_META_STORE", "STAGES"]

LEADS_STORE = "leads"
LEAD_DAYS_STORE = "lead_days"
LEAD_META_STORE = "lead_meta"
#: what a lead's events count: its creation, then its first qualification at each stage
STAGES = ("created", "mql", "sql", "pql")


@dataclass(frozen=True)
class LeadsConfig:
    grace_seconds: int = 2 * 86400
    keep_days: int = 400
    keep_lead_days: int = 180


class LeadsLedger:
    def __init__(
        self, config: LeadsConfig, leads: MutableMapping[str, Any], days: MutableMapping[str, Any],
        meta: MutableMapping[str, Any],
    ) -> None:  # fmt: skip
        self.config = config
        self.leads = leads
        #: leads per day and stage
        self.counters = DayCounters(days, meta, config.grace_seconds, config.keep_days)

    @property
    def days(self) -> dict[str, dict[str, int]]:
        return self.counters.days

    @property
    def watermark(self) -> float | None:
        return self.counters.watermark

    def apply(self, event: Any) -> ApplyResult:
        at = event.occurred_at.astimezone(UTC)
        ts = at.timestamp()
        if self.counters.is_late(ts):
            return late(event.occurred_at)
        stage = "created" if event.type == "lead_created" else event.stage
        record = dict(self.leads.get(event.lead_id) or {"stages": [], "last": ts})
        if stage in record["stages"]:
            if stage == "created":
                return Refused(RejectReason.SCHEMA, f"schema: lead {event.lead_id!r} was already created: a lead is "
                               "created once (a new lead needs a new lead_id)")  # fmt: skip
            return APPLIED  # a lead counts at a stage once: its first qualification there
        if self.counters.advance(ts):  # a new day: forget the leads nothing can change any more
            horizon = ts - self.config.grace_seconds - self.config.keep_lead_days * 86400
            for lead in [k for k, r in self.leads.items() if r["last"] < horizon]:
                del self.leads[lead]
        record["stages"] = [*record["stages"], stage]
        record["last"] = max(record["last"], ts)
        self.leads[event.lead_id] = record
        self.counters.add(at.date().isoformat(), stage, 1)
        return APPLIED

    def flush(self) -> None:
        self.counters.flush()
