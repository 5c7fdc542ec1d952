"""Event factories for tests (the pytest factory fixtures built on them are in tests/conftest.py)."""

from __future__ import annotations

from typing import Any


def make_subscription(**overrides: Any) -> dict[str, Any]:
    """A valid `subscription_started` event; a field set to None is left out."""
    event: dict[str, Any] = {
        "event_id": "e-1",
        "type": "subscription_started",
        "occurred_at": "2026-01-15T10:00:00Z",
        "customer_id": "c-1",
        "subscription_id": "s-1",
        "plan": "team",
        "amount": "99.00",
        "currency": "USD",
        "interval": "month",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}
