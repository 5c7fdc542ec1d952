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
from hashlib import blake2b
from typing import Any

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
    """Dedupe for high-volume topics: 64-bit hashes of event_ids in per-day sets.

    Writing one changelog record per event (as :class:`Deduper` does) would cap throughput;
    here each batch appends one record per UTC day it touched, holding the packed hashes it
    added (store ``dedupe_log``, key ``<day>:<batch start offset>``). Recovery unions them.
    Memory is ~70 bytes per remembered id; two distinct ids collide with probability
    n²/2^65 (1e-7 for two million ids in the window).
    """

    STORE = "dedupe_log"

    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days
        self.days: dict[int, dict[int, set[int]]] = {}  # partition -> day -> hashes
        self.pending: dict[int, dict[int, array]] = {}  # partition -> day -> hashes of this batch
        self.watermark: dict[int, int] = {}

    @staticmethod
    def digest(event_id: str) -> int:
        return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")

    def seen_in(self, partition: int, event_id: str, occurred_at: datetime) -> bool:
        day = occurred_at.toordinal() if occurred_at.tzinfo is timezone.utc else (
            occurred_at.astimezone(timezone.utc).toordinal())
        h = self.digest(event_id)
        days = self.days.setdefault(partition, {})
        for ids in days.values():
            if h in ids:
                return True
        mark = self.watermark.get(partition)
        if mark is None or day > mark:
            self.watermark[partition] = mark = day
            for old in [d for d in days if d <= mark - self.retention_days - 1]:
                del days[old]
        # A late event is remembered as of the window's first day so it is kept for a window.
        bucket = max(day, mark - self.retention_days + 1)
        days.setdefault(bucket, set()).add(h)
        self.pending.setdefault(partition, {}).setdefault(bucket, array("Q")).append(h)
        return False

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
        days: dict[int, set[int]] = {}
        for key, packed in store.items():
            ids = array("Q")
            ids.frombytes(packed)
            days.setdefault(int(key.split(":")[0]), set()).update(ids)
        self.days[partition] = days
        self.pending.pop(partition, None)
        self.watermark[partition] = max(days) if days else None  # type: ignore[assignment]
        if self.watermark[partition] is None:
            del self.watermark[partition]

    def drop(self, partition: int) -> None:
        self.days.pop(partition, None)
        self.pending.pop(partition, None)
        self.watermark.pop(partition, None)
