"""What engagement metrics read of a product event, from a pydantic-validated model.

Most product events never become Python objects: the compiled kernel
(consumers.engagement._kernel) decodes and validates them from the record bytes. Records it
does not take for sure go through pydantic; this is what the kernel then receives of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["ProductFacts", "facts_of"]


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


def facts_of(model: Any) -> ProductFacts:
    """The same facts from a validated pydantic ProductEvent (the slow path's result)."""
    return ProductFacts(
        model.event_id,
        model.occurred_at.astimezone(UTC),
        model.name,
        model.user_id,
        model.account_id,
        model.anonymous_id,
        model.feature,
        model.session_id,
    )
