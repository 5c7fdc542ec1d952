"""The marketing-spend reducer: one partition's spend per UTC day and channel, in the
reporting currency. Additive (partitions merge by summing); lateness follows the partition's
clock (docs/metrics.md, "Lateness"); days older than ``keep_days`` behind the watermark's are
dropped (a replay keeps every day)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any

from consumers.revenue.normalize import MissingRate, convert
from stream.outcomes import APPLIED, ApplyResult, Refused, RejectReason, late

__all__ = ["SpendConfig", "SpendLedger", "DAYS_STORE", "META_STORE"]

DAYS_STORE = "days"
META_STORE = "meta"
WATERMARK = "watermark"


@dataclass(frozen=True)
class SpendConfig:
    fx_rates: Mapping[str, Decimal] = field(default_factory=lambda: {"USD": Decimal(1)})
    grace_seconds: int = 2 * 86400
    #: 13 months and some: the API's months and the 90-day window
    keep_days: int = 400
    #: spend channels that are retention spend (kept; not in CAC)
    retention_channels: frozenset[str] = frozenset()


class SpendLedger:
    def __init__(self, config: SpendConfig, days: MutableMapping[str, Any], meta: MutableMapping[str, Any]) -> None:
        self.config = config
        self.store, self.meta = days, meta
        #: "YYYY-MM-DD" -> channel -> spend (the store holds the amounts as strings)
        self.days: dict[str, dict[str, Decimal]] = {
            d: {c: Decimal(v) for c, v in spend.items()} for d, spend in days.items()
        }
        self.watermark: float | None = meta.get(WATERMARK)
        self.changed: set[str] = set()

    def apply(self, event: Any) -> ApplyResult:
        at = event.occurred_at.astimezone(UTC)
        ts = at.timestamp()
        if self.watermark is not None and ts < self.watermark - self.config.grace_seconds:
            return late(event.occurred_at)
        try:
            amount = convert(event.amount, event.currency, self.config.fx_rates)
        except MissingRate:
            return Refused(RejectReason.CURRENCY, f"currency: {event.currency} has no rate in PULSE_FX_RATES")
        if self.watermark is None or ts > self.watermark:
            self._advance(ts, at.date().toordinal())
        day = at.date().isoformat()
        spend = self.days.setdefault(day, {})
        spend[event.channel] = spend.get(event.channel, Decimal(0)) + amount
        self.changed.add(day)
        return APPLIED

    def _advance(self, ts: float, today: int) -> None:
        from datetime import date

        previous, self.watermark = self.watermark, ts
        self.meta[WATERMARK] = ts
        if previous is not None and int(previous // 86400) == int(ts // 86400):
            return
        oldest = date.fromordinal(max(1, today - self.config.keep_days)).isoformat()
        for day in [d for d in self.days if d < oldest]:
            del self.days[day]
            self.store.pop(day, None)
            self.changed.discard(day)

    def flush(self) -> None:
        for day in sorted(self.changed):
            if day in self.days:
                self.store[day] = {c: str(v) for c, v in self.days[day].items()}
        self.changed.clear()
