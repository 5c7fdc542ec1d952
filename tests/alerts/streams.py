"""Event streams for alert tests, generated with a seed: acquisition with a CAC rise."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from stream.jsonl import dump_line

__all__ = ["CacRise", "write_cac_stream"]


@dataclass(frozen=True)
class CacRise:
    """Channels with equal budgets and steady acquisition; one channel's spend rises by
    ``factor`` (so its CAC does) on days ``[rise_from, rise_to)`` of the stream."""

    start: date = date(2026, 1, 1)
    days: int = 230
    channels: tuple[str, ...] = ("ads", "seo", "events")
    rising: str = "ads"
    factor: float = 1.4
    rise_from: int = 150
    rise_to: int = 185
    customers_per_day: float = 20.0
    cac: float = 1000.0
    seed: int = 11


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _poisson(rng: random.Random, lam: float) -> int:
    # a sum of exponential gaps (no numpy needed): events in one unit of time
    n, t = 0, rng.expovariate(lam)
    while t < 1.0:
        n += 1
        t += rng.expovariate(lam)
    return n


def write_cac_stream(path: Path, s: CacRise = CacRise()) -> Path:
    """Spend (23:50 each day, per channel) and new customers (subscription_started with their
    acquisition channel during the day), in event-time order."""
    rng = random.Random(s.seed)
    n = 0
    with path.open("wb") as fh:
        for d in range(s.days):
            day = datetime.combine(s.start + timedelta(days=d), datetime.min.time(), UTC)
            starts: list[tuple[datetime, str]] = []
            for channel in s.channels:
                for _ in range(_poisson(rng, s.customers_per_day)):
                    starts.append((day + timedelta(seconds=rng.randrange(0, 23 * 3600)), channel))
            for at, channel in sorted(starts):
                n += 1
                customer = f"c{n:06d}"
                event = {"event_id": f"s{n}", "type": "subscription_started", "customer_id": customer,
                         "subscription_id": f"sub{n}", "plan": "team", "amount": "100.00", "currency": "USD",
                         "interval": "month", "acquisition_channel": channel, "occurred_at": _iso(at)}  # fmt: skip
                fh.write(dump_line("subscriptions", customer, event))
            for i, channel in enumerate(s.channels):
                budget = s.customers_per_day * s.cac * rng.uniform(0.95, 1.05)
                if channel == s.rising and s.rise_from <= d < s.rise_to:
                    budget *= s.factor
                n += 1
                at = day + timedelta(hours=23, minutes=50 + i)
                event = {"event_id": f"sp{n}", "type": "spend_recorded", "channel": channel,
                         "amount": f"{budget:.2f}", "currency": "USD", "occurred_at": _iso(at)}  # fmt: skip
                fh.write(dump_line("marketing-spend", channel, event))
    return path
