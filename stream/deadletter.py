"""The dead-letter record: what a rejected message becomes, so nothing is lost."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson

from stream.decoding import Rejected

__all__ = ["deadletter_record", "read_deadletter_record", "MAX_ORIGINAL_BYTES", "DEADLETTER_MAX_MESSAGE_BYTES"]

#: Original bytes kept in a dead letter; beyond, the record keeps this much, with the whole
#: payload's size and SHA-256 (base64 grows it by 4/3: a kept original fits the topic's limit).
MAX_ORIGINAL_BYTES = 1024 * 1024
#: ``max.message.bytes`` of the dead-letter topic Pulse creates.
DEADLETTER_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
MAX_ERROR_CHARS = 4000


def deadletter_record(
    rejected: Rejected,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    now: datetime | None = None,
) -> bytes:
    """JSON with the original bytes (base64) and enough coordinates to find and replay it;
    an original over :data:`MAX_ORIGINAL_BYTES` is cut, with its full size and hash."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    original = rejected.raw
    cut = len(original) > MAX_ORIGINAL_BYTES
    return orjson.dumps(
        {
            "source_topic": source_topic,
            "partition": partition,
            "offset": offset,
            "batch_index": rejected.index,
            "key_base64": base64.b64encode(key).decode() if key is not None else None,
            "reason": rejected.reason.value,
            "error": rejected.error[:MAX_ERROR_CHARS],
            "original_base64": base64.b64encode(original[:MAX_ORIGINAL_BYTES]).decode(),
            "original_bytes": len(original),
            "original_truncated": cut,
            "original_sha256": hashlib.sha256(original).hexdigest(),
            "rejected_at": when.isoformat().replace("+00:00", "Z"),
        }
    )


def read_deadletter_record(raw: bytes) -> dict[str, object]:
    """Parse a record and decode its original bytes into ``original``."""
    record: dict[str, object] = orjson.loads(raw)
    record["original"] = base64.b64decode(str(record["original_base64"]))
    return record
