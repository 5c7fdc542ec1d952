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


_UTC = timezone.utc
_match = RFC3339.match
_parse = datetime.fromisoformat


def fast_product(obj: Any) -> ProductFacts | None:
    if type(obj) is not dict:
        return None
    get = obj.get
    event_id, name, ts = get("event_id"), get("name"), get("occurred_at")
    if (
        type(event_id) is not str or not 0 < len(event_id) <= 128
        or type(name) is not str or not 0 < len(name) <= 256
        or get("type") != "track" or type(ts) is not str or _match(ts) is None
    ):
        return None
    try:
        at = _parse(ts)
    except ValueError:
        return None
    if at.tzinfo is not _UTC:
        at = at.astimezone(_UTC)
    user, account, anon, feature, session = (
        get("user_id"), get("account_id"), get("anonymous_id"), get("feature"), get("session_id")
    )
    for value in (user, account, anon, feature, session):
        if value is not None and (type(value) is not str or not 0 < len(value) <= 256):
            return None
    if user is None and anon is None:
        return None
    if "properties" in obj and type(obj["properties"]) is not dict:
        return None
    return ProductFacts(event_id, at, name, user, account, anon, feature, session)


def facts_of(model: Any) -> ProductFacts:
    """The same facts from a validated pydantic ProductEvent (the slow path's result)."""
    return ProductFacts(
        model.event_id, model.occurred_at.astimezone(timezone.utc), model.name, model.user_id,
        model.account_id, model.anonymous_id, model.feature, model.session_id,
    )
