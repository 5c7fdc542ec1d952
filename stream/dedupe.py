"""Drop resent events by ``event_id``, with memory bounded by a retention window in event time.

**Scope**: an ``event_id`` is unique within its entity key (the record key a topic is
partitioned by: customer, account, ticket) on its topic. Every event of an entity is processed
on that entity's partition, so the answer is the same for any partition count: two events of
two customers that share an id are both counted, on 1 partition as on 12.

The store (one per source partition) maps ``<entity>\\x1f<event_id>`` to the UTC day ordinal
until which it is remembered, packed with a 44-bit fingerprint of the event's content: a
resend with the same id and different content is a *conflict* (a producer bug, dead-lettered),
an identical one a quiet duplicate. The partition's event-time watermark (latest day seen)
drives expiry: when it crosses into a new day, ids whose retention ended are deleted. Event
time, not wall-clock time, keeps replay and streaming identical. (product-events, the
high-volume topic, is deduplicated by the engagement kernel instead.)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from xxhash import xxh3_64_intdigest

__all__ = ["Deduper", "DedupeVerdict", "WATERMARK_KEY", "fingerprint"]

WATERMARK_KEY = "\x00watermark"
#: bits of the content fingerprint packed below the day in a stored value
_FP_BITS = 44
_FP_MASK = (1 << _FP_BITS) - 1


class DedupeVerdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    #: the id was seen with other content
    CONFLICT = "conflict"


def fingerprint(event: Any) -> int:
    """The event's content, whatever its JSON spelling (key order, offsets, trailing zeros)."""
    fields = event.model_dump()
    fields["occurred_at"] = event.occurred_at.astimezone(UTC)
    raw = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS, default=_plain)
    return xxh3_64_intdigest(raw) & _FP_MASK


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def _until(value: int) -> int:
    """The retention day of a stored value (values of earlier builds are the bare day)."""
    return value >> _FP_BITS if value > _FP_MASK else value


class Deduper:
    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days

    def beyond_memory(self, store: MutableMapping[str, Any], occurred_at: datetime) -> bool:
        """True when an id of that day may already have been forgotten (its day is more than the
        retention behind the watermark): a resend could not be told from a new event, so the
        caller refuses it rather than count it twice. Ids of later days are all still held."""
        mark = store.get(WATERMARK_KEY)
        return mark is not None and occurred_at.astimezone(UTC).toordinal() < mark - self.retention_days

    def check(
        self, store: MutableMapping[str, Any], entity: str, event_id: str, occurred_at: datetime, content: int
    ) -> DedupeVerdict:
        """NEW (and remembered), DUPLICATE (same content) or CONFLICT (same id, other content)."""
        day = occurred_at.astimezone(UTC).toordinal()
        mark = store.get(WATERMARK_KEY)
        if mark is None or day > mark:
            store[WATERMARK_KEY] = day
            if mark is not None:
                self.sweep(store, day)
        key = f"{entity}\x1f{event_id}"
        held = store.get(key)
        if held is None:
            held = store.get(event_id)  # remembered by a build that scoped ids by partition
        if held is not None:
            if held > _FP_MASK and held & _FP_MASK != content & _FP_MASK:
                return DedupeVerdict.CONFLICT
            return DedupeVerdict.DUPLICATE
        until = max(day, mark or day) + self.retention_days
        store[key] = until << _FP_BITS | (content & _FP_MASK)
        return DedupeVerdict.NEW

    def seen(self, store: MutableMapping[str, Any], event_id: str, occurred_at: datetime) -> bool:
        """True when ``event_id`` is a resend; otherwise remember it (no entity, no content)."""
        return self.check(store, "", event_id, occurred_at, 0) is not DedupeVerdict.NEW

    def forget(self, store: MutableMapping[str, Any], entity: str, event_id: str) -> None:
        """An event that was not accepted after all: a corrected resend must count."""
        store.pop(f"{entity}\x1f{event_id}", None)

    @staticmethod
    def sweep(store: MutableMapping[str, Any], today: int) -> int:
        """Forget ids whose retention ended before ``today``."""
        expired = [k for k, value in store.items() if k != WATERMARK_KEY and _until(value) < today]
        for k in expired:
            del store[k]
        return len(expired)
