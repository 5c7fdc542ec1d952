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

from consumers.acquisition.days import DayCounters
from consumers.revenue.normalize import MissingRate, convert
from stream.outcomes import APPLIED, ApplyResult, Refused, RejectReason, late

__all__ = ["SpendConfig", "SpendLedger", "DAYS_STORE", "META_STORE"]

DAYS_STORE = "days"
META_STORE = "meta"


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
        #: channel spend per day (the store holds the amounts as strings)
        self.counters = DayCounters(days, meta, config.grace_seconds, config.keep_days, Decimal)

    @property
    def days(self) -> dict[str, dict[str, Decimal]]:
        return self.counters.days

    @property
    def watermark(self) -> float | None:
        return self.counters.watermark

    def apply(self, event: Any) -> ApplyResult:
        at = event.occurred_at.astimezone(UTC)
        if self.counters.is_late(at.timestamp()):
            return late(event.occurred_at)
        try:
            amount = convert(event.amount, event.currency, self.config.fx_rates)
        except MissingRate:
            return Refused(RejectReason.CURRENCY, f"currency: {event.currency} has no rate in PULSE_FX_RATES")
        self.counters.advance(at.timestamp())
        self.counters.add(at.date().isoformat(), event.channel, amount)
        return APPLIED

    def flush(self) -> None:
        self.counters.flush()
