"""An independent monthly-MRR reference, written without looking at consumers/revenue.

Deliberately naive: it walks every customer's events in time order with plain dicts, nets
same-instant changes, and reads month-end MRR off a running total. It imports nothing from
Pulse, so agreement with `pulse report monthly-mrr` means something.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PER_MONTH = {
    "day": Decimal(365) / 12,
    "week": Decimal(52) / 12,
    "month": Decimal(1),
    "quarter": Decimal(1) / 3,
    "year": Decimal(1) / 12,
}
ORDER = [
    "trial_started",
    "subscription_started",
    "subscription_changed",
    "subscription_renewed",
    "subscription_cancelled",
    "trial_expired",
]


def _when(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def monthly(events: Iterable[dict[str, Any]], rates: dict[str, Decimal]) -> list[dict[str, Any]]:
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen = set()
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        by_customer[e["customer_id"]].append(e)
    months: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    deltas: list[tuple[datetime, Decimal, int]] = []
    first = last = None
    for events_of in by_customer.values():
        events_of.sort(key=lambda e: (_when(e["occurred_at"]), ORDER.index(e["type"]), e["event_id"]))
        subs: dict[str, Decimal] = {}
        paid_before = False
        i = 0
        while i < len(events_of):
            at = _when(events_of[i]["occurred_at"])
            first = at if first is None or at < first else first
            before = sum(subs.values(), Decimal(0))
            while i < len(events_of) and _when(events_of[i]["occurred_at"]) == at:
                e = events_of[i]
                if e["type"] in ("subscription_started", "subscription_changed"):
                    m = (
                        Decimal(str(e["amount"]))
                        * e.get("quantity", 1)
                        * (1 - Decimal(str(e.get("discount_percent", 0))) / 100)
                        * PER_MONTH[e["interval"]]
                        / e.get("interval_count", 1)
                    )
                    subs[e["subscription_id"]] = (m * rates[e["currency"]]).quantize(Decimal("1e-10"))
                elif e["type"] == "subscription_cancelled":
                    subs.pop(e["subscription_id"], None)
                i += 1
            last = at if last is None or at > last else last
            after = sum(subs.values(), Decimal(0))
            if before == after:
                continue
            month = f"{at.year:04d}-{at.month:02d}"
            kind = (
                ("reactivation" if paid_before else "new")
                if before == 0
                else ("churn" if after == 0 else ("expansion" if after > before else "contraction"))
            )
            months[month][kind] += abs(after - before)
            months[month].setdefault(f"{kind}_who", set()).add(id(events_of))
            deltas.append((at, after - before, 1 if before == 0 else (-1 if after == 0 else 0)))
            if after > 0:
                paid_before = True
    rows = []
    if first is None or last is None:
        return rows
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        key = f"{y:04d}-{m:02d}"
        end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
        mrr = sum((d for t, d, _ in deltas if t < end), Decimal(0))
        active = sum(a for t, _, a in deltas if t < end)
        row = months.get(key, {})
        cents = lambda v: str(Decimal(v).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))  # noqa: E731
        rows.append(
            {
                "month": key,
                "mrr": cents(mrr),
                "active_customers": active,
                "new_mrr": cents(row.get("new", 0)),
                "expansion_mrr": cents(row.get("expansion", 0)),
                "contraction_mrr": cents(row.get("contraction", 0)),
                "churned_mrr": cents(row.get("churn", 0)),
                "reactivation_mrr": cents(row.get("reactivation", 0)),
                "new_customers": len(row.get("new_who", ())),
                "churned_customers": len(row.get("churn_who", ())),
                "reactivated_customers": len(row.get("reactivation_who", ())),
            }
        )
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return rows


def monthly_from_file(path: str, rates: dict[str, Decimal]) -> list[dict[str, Any]]:
    events = []
    with open(path) as fh:
        for line in fh:
            obj = json.loads(line)
            if obj.get("topic") == "subscriptions":
                events.append(obj["event"])
    return monthly(events, rates)
