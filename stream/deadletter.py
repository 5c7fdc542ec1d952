"""The dead-letter record: what a rejected message becomes, so nothing is lost."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

from stream.decoding import Rejected

__all__ = ["deadletter_record", "read_deadletter_record"]


def deadletter_record(
    rejected: Rejected,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    now: datetime | None = None,
) -> bytes:
    """JSON with the original bytes (base64) and enough coordinates to find and replay it."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return orjson.dumps(
        {
            "source_topic": source_topic,
            "partition": partition,
            "offset": offset,
            "batch_index": rejected.index,
            "key_base64": base64.b64encode(key).decode() if key is not None else None,
            "reason": rejected.reason.value,
            "error": rejected.error,
            "original_base64": base64.b64encode(rejected.raw).decode(),
            "rejected_at": when.isoformat().replace("+00:00", "Z"),
        }
    )


def read_deadletter_record(raw: bytes) -> dict[str, object]:
    """Parse a record and decode its original bytes into ``original``."""
    record: dict[str, object] = orjson.loads(raw)
    record["original"] = base64.b64decode(str(record["original_base64"]))
    return record
