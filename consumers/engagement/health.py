"""Engagement and health scores of an account, as of a UTC day (docs/metrics.md).

engagement = sum of the weights of the account's actions over the 30 days ending that day;
health = 100 × (0.4 × frequency + 0.3 × breadth + 0.3 × depth), where
  frequency = days with at least one active user among those 30 / 30,
  breadth   = users active in those 30 days / users seen in them,
  depth     = key features used in them / number of key features.
(Open urgent tickets and NPS join the formula once those metrics exist.)
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["account_scores"]


def account_scores(days: Mapping[int, Mapping[str, Any]], today: int, key_features: int) -> dict[str, Any]:
    """``days``: the account's records by UTC day ordinal ({"w", "u", "f"}, see the ledger)."""
    window = [r for d, r in days.items() if today - 29 <= d <= today]
    active = {u for r in window for u, on in r["u"].items() if on}
    seen = {u for r in window for u in r["u"]}
    frequency = sum(1 for r in window if any(r["u"].values())) / 30
    breadth = len(active) / len(seen) if seen else 0.0
    depth = len({f for r in window for f in r["f"]}) / key_features if key_features else 0.0
    return {
        "engagement_score": sum(r["w"] for r in window),
        "health_score": round(100 * (0.4 * frequency + 0.3 * breadth + 0.3 * depth), 1),
        "frequency": round(frequency, 4),
        "breadth": round(breadth, 4),
        "depth": round(depth, 4),
        "active_users_30d": len(active),
    }
