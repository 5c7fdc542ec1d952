"""Raw Kafka bytes -> validated events or rejections, before any metric sees them.

Pure code: the agents and ``pulse report`` both call :func:`decode_record`, so a record that
the worker dead-letters is refused by replay for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from stream.outcomes import RejectReason
from stream.topics import TopicSpec

__all__ = ["Accepted", "Rejected", "decode_record", "validate_event", "MAX_BATCH"]

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Accepted:
    event: Any  # one of the stream.events models
    index: int | None  # position inside a batched record, None for a single event


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: RejectReason
    error: str
    raw: bytes  # the original bytes (the element's bytes for one element of a batch)
    index: int | None


def _reason(error: ValidationError, spec: TopicSpec, obj: dict[str, Any]) -> RejectReason:
    if obj.get("type") not in spec.types:
        return RejectReason.UNKNOWN_TYPE
    if any("occurred_at" in item["loc"] for item in error.errors()):
        return RejectReason.TIMESTAMP
    return RejectReason.SCHEMA


def _short(error: ValidationError, tag: Any) -> str:
    parts = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        if loc and loc[0] == tag:  # a discriminated union puts the type tag first
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or "event"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def validate_event(
    spec: TopicSpec,
    obj: Any,
    raw: bytes,
    index: int | None,
    currencies: frozenset[str] = frozenset(),
) -> Accepted | Rejected:
    """Validate one decoded JSON value against the topic's contract."""
    if not isinstance(obj, dict):
        return Rejected(RejectReason.NOT_OBJECT, f"expected a JSON object, got {type(obj).__name__}", raw, index)
    try:
        event = spec.adapter.validate_python(obj)
    except ValidationError as exc:
        return Rejected(_reason(exc, spec, obj), _short(exc, obj.get("type")), raw, index)
    currency = getattr(event, "currency", None)
    if currency is not None and currencies and currency not in currencies:
        return Rejected(RejectReason.CURRENCY, f"currency {currency} is not configured (PULSE_CURRENCIES)", raw, index)
    return Accepted(event, index)


def decode_record(
    spec: TopicSpec, raw: bytes | None, currencies: frozenset[str] = frozenset()
) -> list[Accepted | Rejected]:
    """Decode one Kafka record; a batch topic may carry a JSON array of up to MAX_BATCH events."""
    if raw is None:
        return [Rejected(RejectReason.INVALID_JSON, "empty record (null value)", b"", None)]
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [Rejected(RejectReason.INVALID_JSON, f"not valid UTF-8 JSON: {exc}", raw, None)]
    if isinstance(obj, list) and spec.allow_batch:
        if len(obj) > MAX_BATCH:
            return [
                Rejected(
                    RejectReason.BATCH_TOO_LARGE,
                    f"batch of {len(obj)} events exceeds {MAX_BATCH}",
                    raw,
                    None,
                )
            ]
        return [validate_event(spec, item, orjson.dumps(item), i, currencies) for i, item in enumerate(obj)]
    return [validate_event(spec, obj, raw, None, currencies)]
