"""Engagement figures from the sketches and counters of every partition.

Distinct counts merge partition sketches (partition order, then day order) for a day or a
rolling window; replay partitions its events exactly as Kafka does, so both sides merge the
same sketches in the same order and report the same estimates.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping, Sequence

from datasketches import hll_sketch, hll_union

from consumers.engagement.ledger import SKETCH_TYPE

__all__ = ["Partition", "EngagementFigures", "DAILY_COLUMNS"]

_EPOCH = date(1970, 1, 1).toordinal()
DAILY_COLUMNS = ("date", "dau", "wau", "mau", "stickiness", "unique_visitors", "signups", "sessions",
                 "avg_session_seconds")


class Partition:
    """One partition's sketches (objects or serialized bytes) and per-day counters."""

    def __init__(self, sketches: Mapping[str, Any], days: Mapping[str, Mapping[str, Any]], watermark: int | None) -> None:
        self.sketches = {k: (v if isinstance(v, hll_sketch) else hll_sketch.deserialize(v)) for k, v in sketches.items()}
        self.days = days
        self.watermark = watermark


class EngagementFigures:
    def __init__(self, partitions: Sequence[Partition], lg_k: int = 16, feature_lg_k: int = 12,
                 activation_days: int = 7) -> None:
        self.partitions = list(partitions)
        self.lg_k = lg_k
        self.feature_lg_k = feature_lg_k
        self.activation_days = activation_days

    # --- primitives ---------------------------------------------------------------------------

    def distinct(self, prefix: str, days: Sequence[int], lg_k: int | None = None) -> float:
        union = hll_union(lg_k or self.lg_k)
        found = False
        for p in self.partitions:
            for day in days:
                sketch = p.sketches.get(f"{prefix}:{day}")
                if sketch is not None:
                    union.update(sketch)
                    found = True
        return union.get_result(SKETCH_TYPE).get_estimate() if found else 0.0

    def counter(self, day: int, name: str) -> int:
        return sum(int(p.days.get(str(day), {}).get(name, 0)) for p in self.partitions)

    def feature_events(self, days: Sequence[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.partitions:
            for day in days:
                for feature, n in p.days.get(str(day), {}).get("feature_events", {}).items():
                    out[feature] = out.get(feature, 0) + int(n)
        return out

    @property
    def watermark_day(self) -> int | None:
        marks = [p.watermark for p in self.partitions if p.watermark is not None]
        return None if not marks else max(marks) // 86400 + _EPOCH

    def days_with_data(self) -> list[int]:
        days = {int(k) for p in self.partitions for k in p.days}
        days |= {int(k.rsplit(":", 1)[1]) for p in self.partitions for k in p.sketches}
        return sorted(days)

    # --- figures --------------------------------------------------------------------------------

    def daily_row(self, day: int) -> dict[str, Any]:
        dau = self.distinct("dau", [day])
        wau = self.distinct("dau", range(day - 6, day + 1))
        mau = self.distinct("dau", range(day - 29, day + 1))
        sessions = self.counter(day, "sessions")
        seconds = self.counter(day, "session_seconds")
        return {
            "date": date.fromordinal(day).isoformat(),
            "dau": round(dau),
            "wau": round(wau),
            "mau": round(mau),
            "stickiness": round(dau / mau, 4) if mau else 0.0,
            "unique_visitors": round(self.distinct("vis", [day])),
            "signups": round(self.distinct("sig", [day])),
            "sessions": sessions,
            "avg_session_seconds": round(seconds / sessions, 1) if sessions else 0.0,
        }

    def activation(self, cohort_day: int) -> dict[str, Any]:
        signups = self.counter(cohort_day, "cohort_signups")
        activated = self.counter(cohort_day, "cohort_activated")
        mark = self.watermark_day
        final = mark is not None and mark > cohort_day + self.activation_days
        return {
            "cohort": date.fromordinal(cohort_day).isoformat(),
            "signups": signups,
            "activated": activated,
            "ratio": activated / signups if signups else None,
            "status": "final" if final else "provisional",
        }
