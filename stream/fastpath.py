"""A fast validator for product events: the high-volume path cannot afford pydantic per event.

It accepts only events the pydantic model (stream.events.ProductEvent) accepts, with the same
values (a property test checks this); anything it is unsure of returns None and goes through
pydantic, which gives the error message or the verdict. Measured: ~1.5 µs per event against
~7 µs for ``TypeAdapter(ProductEvent).validate_python`` (docs/benchmarks.md).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

from stream.events import RFC3339

__all__ = ["ProductFacts", "fast_product", "facts_of"]


class ProductFacts(NamedTuple):
    """What engagement metrics read of a product event."""

    event_id: str
    occurred_at: datetime
    name: str
    user_id: str | None
    account_id: str | None
    anonymous_id: str | None
    feature: str | None
    session_id: str | None


_OPTIONAL = ("user_id", "account_id", "anonymous_id", "feature", "session_id")


def _short_str(value: Any, limit: int) -> bool:
    return type(value) is str and 0 < len(value) <= limit


def fast_product(obj: Any) -> ProductFacts | None:
    if type(obj) is not dict:
        return None
    get = obj.get
    event_id, name, ts = get("event_id"), get("name"), get("occurred_at")
    if not (_short_str(event_id, 128) and get("type") == "track" and _short_str(name, 256)):
        return None
    if type(ts) is not str or not RFC3339.match(ts):
        return None
    try:
        at = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    values = []
    for field in _OPTIONAL:
        value = get(field)
        if value is not None and not _short_str(value, 256):
            return None
        values.append(value)
    if values[0] is None and values[2] is None:
        return None
    props = get("properties", {})
    if type(props) is not dict:
        return None
    return ProductFacts(event_id, at.astimezone(timezone.utc), name, *values)


def facts_of(model: Any) -> ProductFacts:
    """The same facts from a validated pydantic ProductEvent (the slow path's result)."""
    return ProductFacts(
        model.event_id, model.occurred_at.astimezone(timezone.utc), model.name, model.user_id,
        model.account_id, model.anonymous_id, model.feature, model.session_id,
    )
