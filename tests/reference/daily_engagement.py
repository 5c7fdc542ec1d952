"""An independent, exact DAU/WAU/MAU computation with plain sets (imports nothing from Pulse)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta


def exact_daily(path: str, inactive: frozenset[str] = frozenset({"page_view"})) -> list[dict[str, object]]:
    active: dict[date, set[str]] = defaultdict(set)
    visitors: dict[date, set[str]] = defaultdict(set)
    days: set[date] = set()
    with open(path) as fh:
        for line in fh:
            obj = json.loads(line)
            if obj.get("topic") != "product-events":
                continue
            e = obj["event"]
            day = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).date()
            days.add(day)
            if e.get("user_id") and e["name"] not in inactive:
                active[day].add(e["user_id"])
            if e["name"] == "page_view":
                visitors[day].add(e.get("anonymous_id") or e["user_id"])
    rows = []
    if not days:
        return rows
    day = min(days)
    while day <= max(days):

        def window(n: int, day: date = day) -> set[str]:
            return set().union(*(active[day - timedelta(days=i)] for i in range(n)))

        rows.append(
            {
                "date": day.isoformat(),
                "dau": len(active[day]),
                "wau": len(window(7)),
                "mau": len(window(30)),
                "unique_visitors": len(visitors[day]),
            }
        )
        day += timedelta(days=1)
    return rows
