"""Marketing spend: one record per channel per day, scaled to the company's size."""

from __future__ import annotations

import random

from stream.simulate.clock import HOUR, MINUTE, weekday
from stream.simulate.common import money
from stream.simulate.sink import Sink

#: Share of the daily budget; "events" spend is lumpy (a few conference days).
_SPEND_CHANNELS = (("google_ads", 0.45), ("linkedin", 0.25), ("meta", 0.20), ("events", 0.10))
SPEND_PER_CUSTOMER_DAY = 2.0  # USD per day per simulated customer, so CAC stays plausible (~1,000 USD)


def marketing_spend(rng: random.Random, sink: Sink, customers: int) -> None:
    """One spend_recorded per channel per UTC day, stamped late on that day."""
    budget = max(1, customers) * SPEND_PER_CUSTOMER_DAY
    for day in sink.window.days():
        weekend = weekday(day) >= 5
        for i, (channel, share) in enumerate(_SPEND_CHANNELS):
            if channel == "events":
                amount = budget * share * 8 * rng.uniform(0.7, 1.3) if rng.random() < 0.12 else 0.0
            else:
                amount = budget * share * (0.6 if weekend else 1.1) * rng.uniform(0.8, 1.2)
            cents = round(amount * 100)
            fields = {
                "type": "spend_recorded",
                "channel": channel,
                "amount": money(cents),
                "currency": "USD",
            }
            sink.add(day + 23 * HOUR + 50 * MINUTE + i * MINUTE, "marketing-spend", fields)
