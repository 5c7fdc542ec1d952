"""Spend, new customers and CAC per UTC month and channel computed directly from an event file,
as docs/metrics.md ("Acquisition") defines them, sharing no code with consumers/: spend
converted with the given rates; a new customer is the first time a customer has a paid
subscription (a positive price not fully discounted), counted under its acquisition_channel
as of then; CAC = spend / new customers."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson


def _at(e: dict[str, Any]) -> datetime:
    text = e.get("effective_at") or e["occurred_at"]
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def exact_monthly_acquisition(
    path: Path, rates: dict[str, Decimal], retention: frozenset[str] = frozenset()
) -> dict[tuple[str, str], dict[str, Any]]:
    spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_customer: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        wrapped = orjson.loads(line)
        e = wrapped["event"]
        if wrapped["topic"] == "marketing-spend" and e["channel"] not in retention:
            spend[(e["occurred_at"][:7], e["channel"])] += Decimal(str(e["amount"])) * rates[e["currency"]]
        elif wrapped["topic"] == "subscriptions":
            by_customer[e["customer_id"]].setdefault(e["event_id"], e)  # a resend is the same event
    new: dict[tuple[str, str], int] = defaultdict(int)
    for events in by_customer.values():
        paid: set[str] = set()
        channel = None
        for e in sorted(events.values(), key=_at):
            channel = e.get("acquisition_channel") or channel
            if e["type"] in ("subscription_started", "subscription_changed"):
                if Decimal(str(e["amount"])) > 0 and Decimal(str(e.get("discount_percent", 0))) < 100:
                    paid.add(e["subscription_id"])
                else:
                    paid.discard(e["subscription_id"])
                if paid:
                    new[(_at(e).strftime("%Y-%m"), channel or "unknown")] += 1
                    break
            elif e["type"] == "subscription_cancelled":
                paid.discard(e["subscription_id"])
    out: dict[tuple[str, str], dict[str, Any]] = {}
    months = {m for m, _ in spend} | {m for m, _ in new}
    for month in months:
        channels = {c for m, c in spend if m == month} | {c for m, c in new if m == month}
        for channel in [*channels, "all"]:
            s = sum((v for (m, c), v in spend.items() if m == month and channel in (c, "all")), Decimal(0))
            n = sum(v for (m, c), v in new.items() if m == month and channel in (c, "all"))
            out[(month, channel)] = {"spend": s, "new_customers": n, "cac": None if n == 0 else s / n}
    return out
