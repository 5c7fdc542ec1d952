"""The surveys reducer: one partition's answers as daily tallies by kind, touchpoint and score.

State (store ``days``: one JSON record per UTC day ordinal; store ``meta``: the watermark) is
additive, so partitions merge by summing. Lateness follows the partition's clock
(docs/metrics.md, "Lateness"); days older than ``keep_days`` behind the watermark's are dropped
(a replay keeps every day).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from consumers.account_signals import SignalBook
from consumers.surveys.definitions import ALL, LINKED, SATISFIED, Kind, tally_key
from stream.events import SCORE_RANGES
from stream.outcomes import APPLIED, ApplyResult, late

__all__ = ["SurveysConfig", "SurveysLedger", "DAYS_STORE", "META_STORE", "SIGNALS_STORE"]

DAYS_STORE = "days"
META_STORE = "meta"
#: per-account CSAT answers, for the health score
SIGNALS_STORE = "account_signals"
WATERMARK = "watermark"


@dataclass(frozen=True)
class SurveysConfig:
    grace_seconds: int = 2 * 86400
    #: days kept behind the watermark's: the longest window (90 days) and some
    keep_days: int = 120


class SurveysLedger:
    def __init__(
        self,
        config: SurveysConfig,
        days: MutableMapping[str, Any],
        meta: MutableMapping[str, Any],
        signals: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.store, self.meta = days, meta
        self.signals = SignalBook(signals if signals is not None else {})
        #: day ordinal -> tally key -> counts by score (the store holds the same, by str(day))
        self.days: dict[int, dict[str, list[int]]] = {
            int(d): {k: list(v) for k, v in t.items()} for d, t in days.items()
        }
        self.watermark: float | None = meta.get(WATERMARK)
        self.changed: set[int] = set()

    def apply(self, event: Any) -> ApplyResult:
        at = event.occurred_at.astimezone(UTC)
        ts = at.timestamp()
        if self.watermark is not None and ts < self.watermark - self.config.grace_seconds:
            return late(event.occurred_at)
        if self.watermark is None or ts > self.watermark:
            self._advance(ts, at.toordinal())
        kind = Kind(event.kind)
        size = SCORE_RANGES[kind.value][1] + 1
        day = at.toordinal()
        tallies = self.days.setdefault(day, {})
        groups = [ALL, event.touchpoint or "unknown"]
        if kind is Kind.CSAT and event.ticket_id is not None:
            groups.append(LINKED)
        for group in groups:
            tallies.setdefault(tally_key(kind, group), [0] * size)[event.score] += 1
        if kind is Kind.CSAT:
            self.signals.add(event.account_id, "csat_n", 1, day)
            self.signals.add(event.account_id, "csat_ok", int(event.score in SATISFIED[Kind.CSAT]), day)
        self.changed.add(day)
        return APPLIED

    def _advance(self, ts: float, day: int) -> None:
        previous = self.watermark
        self.watermark = ts
        self.meta[WATERMARK] = ts
        if previous is None or int(previous // 86400) != int(ts // 86400):
            self.signals.expire(day)
            for old in [d for d in self.days if d < day - self.config.keep_days]:
                del self.days[old]
                self.store.pop(str(old), None)

    def flush(self) -> None:
        """Write the days changed since the last flush into the store (the changelog)."""
        for day in sorted(self.changed):
            if day in self.days:
                self.store[str(day)] = self.days[day]
        self.changed.clear()
