"""Leads and their qualification: created daily, some become MQLs then SQLs, or PQLs."""

from __future__ import annotations

import random
from typing import Any

from stream.simulate.clock import DAY, HOUR, local_time, weekday
from stream.simulate.common import Weighted, poisson
from stream.simulate.sink import Sink

_LEAD_CHANNELS = Weighted(
    (("google_ads", 30), ("linkedin", 20), ("meta", 15), ("events", 8), ("organic", 17), ("referral", 10))
)


def leads(rng: random.Random, sink: Sink, customers: int) -> None:
    """Leads every day; a third become MQLs, some of those SQLs; product-led ones become PQLs."""
    number = 0
    for day in sink.window.days():
        weekend = weekday(day) >= 5
        created = sorted(
            local_time(rng, day, rng.choice((-5, 0, 1, 8)))
            for _ in range(poisson(rng, customers * (0.1 if weekend else 0.25)))
        )
        for t in created:
            number += 1
            lead_id = f"lead-{number:06d}"
            channel = _LEAD_CHANNELS.pick(rng)
            sink.add(t, "leads", {"type": "lead_created", "lead_id": lead_id, "channel": channel})
            if channel in ("organic", "referral") and rng.random() < 0.12:
                t += rng.randint(DAY, 5 * DAY)
                sink.add(t, "leads", _qualified(lead_id, channel, "pql"))
                continue
            if rng.random() >= 0.35:
                continue
            t += HOUR + int(rng.expovariate(1 / (1.5 * DAY)))
            sink.add(t, "leads", _qualified(lead_id, channel, "mql"))
            if rng.random() < 0.4:
                t += rng.randint(DAY, 10 * DAY)
                sink.add(t, "leads", _qualified(lead_id, channel, "sql"))


def _qualified(lead_id: str, channel: str, stage: str) -> dict[str, Any]:
    return {"type": "lead_qualified", "lead_id": lead_id, "channel": channel, "stage": stage}
