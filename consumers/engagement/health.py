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


def account_scores(a: Mapping[str, Mapping[str, int]], today: int, key_features: int) -> dict[str, Any]:
    first = today - 29
    actions = {int(d): n for d, n in a["d"].items() if first <= int(d) <= today}
    active_users = [u for u, d in a["u"].items() if first <= d <= today]
    seen_users = [u for u, d in a["s"].items() if first <= d <= today]
    frequency = len([d for d in a["a"] if first <= int(d) <= today]) / 30
    breadth = len(active_users) / len(seen_users) if seen_users else 0.0
    depth = len([f for f, d in a["f"].items() if first <= d <= today]) / key_features if key_features else 0.0
    return {
        "engagement_score": sum(actions.values()),
        "health_score": round(100 * (0.4 * frequency + 0.3 * breadth + 0.3 * depth), 1),
        "frequency": round(frequency, 4),
        "breadth": round(breadth, 4),
        "depth": round(depth, 4),
        "active_users_30d": len(active_users),
    }
