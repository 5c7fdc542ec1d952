"""Drop resent events by ``event_id``, with memory bounded by a retention window in event time.

The store (one per source partition; the same event_id always arrives on the same partition
because it has the same key) maps ``event_id`` to the UTC day ordinal until which it is
remembered. The partition's event-time watermark (latest day seen) drives expiry: when it
crosses into a new day, ids whose retention ended are deleted. Event time, not wall-clock time,
keeps replay and streaming identical.
"""

from __future__ import annotations

from array import array
from collections.abc import MutableMapping
from datetime import datetime, timezone
from typing import Any

from xxhash import xxh3_64_intdigest

__all__ = ["Deduper", "BatchedDeduper", "WATERMARK_KEY"]

WATERMARK_KEY = "\x00watermark"


class Deduper:
    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days

    def seen(self, store: MutableMapping[str, Any], event_id: str, occurred_at: datetime) -> bool:
        """True when ``event_id`` is a resend; otherwise remember it and return False."""
        day = occurred_at.astimezone(timezone.utc).toordinal()
        mark = store.get(WATERMARK_KEY)
        if mark is None or day > mark:
            store[WATERMARK_KEY] = day
            if mark is not None:
                self.sweep(store, day)
        if event_id in store:
            return True
        store[event_id] = max(day, mark or day) + self.retention_days
        return False

    @staticmethod
    def sweep(store: MutableMapping[str, Any], today: int) -> int:
        """Forget ids whose retention ended before ``today``."""
        expired = [k for k, until in store.items() if k != WATERMARK_KEY and until < today]
        for k in expired:
            del store[k]
        return len(expired)


class BatchedDeduper:
    """Dedupe for high-volume topics: 64-bit xxh3 hashes of event_ids in one dict.

    Writing one changelog record per event (as :class:`Deduper` does) would cap throughput;
    here each batch appends one record per UTC day it touched, holding the packed hashes it
    added (store ``dedupe_log``, key ``<day>:<batch start offset>``). Recovery unions them.
    Memory is ~100 bytes per remembered id; two distinct ids collide with probability
    n²/2^65 (1e-7 for two million ids in the window).
    """

    STORE = "dedupe_log"

    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days
        self.ids: dict[int, dict[int, int]] = {}  # partition -> hash -> day it is remembered under
        self.by_day: dict[int, dict[int, array]] = {}  # partition -> day -> its hashes
        self.pending: dict[int, dict[int, array]] = {}  # partition -> day -> hashes of this batch
        self.watermark: dict[int, int] = {}

    def seen_in(self, partition: int, event_id: str, occurred_at: datetime) -> bool:
        h = xxh3_64_intdigest(event_id.encode())
        ids = self.ids.get(partition)
        if ids is None:
            ids = self.ids[partition] = {}
        if h in ids:
            return True
        day = occurred_at.toordinal()  # occurred_at is UTC on this path (ProductFacts)
        mark = self.watermark.get(partition)
        if mark is None or day > mark:
            self.watermark[partition] = mark = day
            self._expire(partition, mark)
        # A late event is remembered as of the window's first day so it is kept for a window.
        bucket = day if day > mark - self.retention_days else mark - self.retention_days + 1
        ids[h] = bucket
        by_day = self.by_day.setdefault(partition, {})
        (by_day.get(bucket) or by_day.setdefault(bucket, array("Q"))).append(h)
        pending = self.pending.setdefault(partition, {})
        (pending.get(bucket) or pending.setdefault(bucket, array("Q"))).append(h)
        return False

    def _expire(self, partition: int, mark: int) -> None:
        ids, by_day = self.ids.get(partition, {}), self.by_day.get(partition, {})
        for day in [d for d in by_day if d <= mark - self.retention_days - 1]:
            for h in by_day.pop(day):
                if ids.get(h) == day:
                    del ids[h]

    def flush(self, store: MutableMapping[str, Any], partition: int, batch: int) -> None:
        """Write this batch's new hashes; forget days that left the window."""
        for day, hashes in self.pending.pop(partition, {}).items():
            store[f"{day}:{batch}"] = hashes.tobytes()
        mark = self.watermark.get(partition)
        if mark is None:
            return
        for key in [k for k in store if int(k.split(":")[0]) <= mark - self.retention_days - 1]:
            del store[key]

    def load(self, store: MutableMapping[str, Any], partition: int) -> None:
        ids: dict[int, int] = {}
        by_day: dict[int, array] = {}
        for key in sorted(store, key=lambda k: tuple(int(x) for x in k.split(":"))):
            day = int(key.split(":")[0])
            packed = array("Q")
            packed.frombytes(store[key])
            by_day.setdefault(day, array("Q")).extend(packed)
            for h in packed:
                ids[h] = day
        self.ids[partition], self.by_day[partition] = ids, by_day
        self.pending.pop(partition, None)
        if by_day:
            self.watermark[partition] = max(by_day)
        else:
            self.watermark.pop(partition, None)

    def drop(self, partition: int) -> None:
        for table in (self.ids, self.by_day, self.pending, self.watermark):
            table.pop(partition, None)
