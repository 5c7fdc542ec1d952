"""One partition's counters per UTC day (``"YYYY-MM-DD"`` -> name -> number) on the
partition's clock, as the spend and leads ledgers keep them: an event more than the grace
period behind the watermark is late; days older than ``keep_days`` behind the watermark's are
dropped (a replay keeps every day); changed days go to the store (the changelog) on flush."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = ["DayCounters"]

WATERMARK = "watermark"
_EPOCH_DAY = date(1970, 1, 1).toordinal()

Number = int | Decimal


class DayCounters:
    def __init__(
        self,
        days: MutableMapping[str, Any],
        meta: MutableMapping[str, Any],
        grace_seconds: int,
        keep_days: int,
        number: Callable[[Any], Number] = int,
    ) -> None:
        self.store, self.meta = days, meta
        self.grace_seconds, self.keep_days = grace_seconds, keep_days
        self.days: dict[str, dict[str, Any]] = {d: {k: number(v) for k, v in c.items()} for d, c in days.items()}
        self.watermark: float | None = meta.get(WATERMARK)
        self.changed: set[str] = set()

    def is_late(self, ts: float) -> bool:
        return self.watermark is not None and ts < self.watermark - self.grace_seconds

    def advance(self, ts: float) -> bool:
        """Move the watermark to ``ts`` if it is later; True when that starts a new UTC day
        (the days too old to keep are dropped then)."""
        previous = self.watermark
        if previous is not None and ts <= previous:
            return False
        self.watermark = ts
        self.meta[WATERMARK] = ts
        if previous is not None and int(previous // 86400) == int(ts // 86400):
            return False
        today = _EPOCH_DAY + int(ts // 86400)
        oldest = date.fromordinal(max(1, today - self.keep_days)).isoformat()
        for day in [d for d in self.days if d < oldest]:
            del self.days[day]
            self.store.pop(day, None)
            self.changed.discard(day)
        return True

    def add(self, day: str, name: str, n: Number) -> None:
        counters = self.days.setdefault(day, {})
        counters[name] = counters.get(name, 0) + n
        self.changed.add(day)

    def flush(self) -> None:
        for day in sorted(self.changed):
            if day in self.days:
                self.store[day] = {k: str(v) if isinstance(v, Decimal) else v for k, v in self.days[day].items()}
        self.changed.clear()
