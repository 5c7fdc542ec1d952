"""Drop resent events by ``event_id``, with memory bounded by a retention window in event time.

The store (one per source partition; the same event_id always arrives on the same partition
because it has the same key) maps ``event_id`` to the UTC day ordinal until which it is
remembered. The partition's event-time watermark (latest day seen) drives expiry: when it
crosses into a new day, ids whose retention ended are deleted. Event time, not wall-clock time,
keeps replay and streaming identical. (product-events, the high-volume topic, is deduplicated
by the engagement kernel instead: 64-bit hashes, one changelog record per batch.)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["Deduper", "WATERMARK_KEY"]

WATERMARK_KEY = "\x00watermark"


class Deduper:
    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days

    def beyond_memory(self, store: MutableMapping[str, Any], occurred_at: datetime) -> bool:
        """True when an id of that day may already have been forgotten (its day is more than the
        retention behind the watermark): a resend could not be told from a new event, so the
        caller refuses it rather than count it twice. Ids of later days are all still held."""
        mark = store.get(WATERMARK_KEY)
        return mark is not None and occurred_at.astimezone(UTC).toordinal() < mark - self.retention_days

    def seen(self, store: MutableMapping[str, Any], event_id: str, occurred_at: datetime) -> bool:
        """True when ``event_id`` is a resend; otherwise remember it and return False."""
        day = occurred_at.astimezone(UTC).toordinal()
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
