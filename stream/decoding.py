"""Raw Kafka bytes -> validated events or rejections, before any metric sees them.

Pure code: the agents and ``pulse report`` both call :func:`decode_record`, so a record that
the worker dead-letters is refused by replay for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from stream.topics import TopicSpec

__all__ = ["Accepted", "Rejected", "decode_record", "validate_event", "MAX_BATCH"]

MAX_BATCH = 1000

# Reasons are a closed set: they become the `reason` label of pulse_events_rejected_total.
REASONS = (
    "invalid_json",
    "not_object",
    "batch_too_large",
    "unknown_type",
    "timestamp",
    "currency",
    "schema",
    "late",
)


@dataclass(frozen=True, slots=True)
class Accepted:
    event: Any  # one of the stream.events models
    index: int | None  # position inside a batched record, None for a single event


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    error: str
    raw: bytes  # the original bytes (the element's bytes for one element of a batch)
    index: int | None


def _reason(error: ValidationError, spec: TopicSpec, obj: dict[str, Any]) -> str:
    if obj.get("type") not in spec.types:
        return "unknown_type"
    if any("occurred_at" in item["loc"] for item in error.errors()):
        return "timestamp"
    return "schema"


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
        return Rejected("not_object", f"expected a JSON object, got {type(obj).__name__}", raw, index)
    try:
        event = spec.adapter.validate_python(obj)
    except ValidationError as exc:
        return Rejected(_reason(exc, spec, obj), _short(exc, obj.get("type")), raw, index)
    if spec.slow_to_fast is not None:
        event = spec.slow_to_fast(event)
    currency = getattr(event, "currency", None)
    if currency is not None and currencies and currency not in currencies:
        return Rejected(
            "currency", f"currency {currency} is not configured (PULSE_CURRENCIES)", raw, index
        )
    return Accepted(event, index)


def decode_record(
    spec: TopicSpec, raw: bytes | None, currencies: frozenset[str] = frozenset()
) -> list[Accepted | Rejected]:
    """Decode one Kafka record; a batch topic may carry a JSON array of up to MAX_BATCH events."""
    if raw is None:
        return [Rejected("invalid_json", "empty record (null value)", b"", None)]
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [Rejected("invalid_json", f"not valid UTF-8 JSON: {exc}", raw, None)]
    if isinstance(obj, list) and spec.allow_batch:
        if len(obj) > MAX_BATCH:
            return [
                Rejected(
                    "batch_too_large",
                    f"batch of {len(obj)} events exceeds {MAX_BATCH}",
                    raw,
                    None,
                )
            ]
        return [
            validate_event(spec, item, orjson.dumps(item), i, currencies)
            for i, item in enumerate(obj)
        ]
    return [validate_event(spec, obj, raw, None, currencies)]
