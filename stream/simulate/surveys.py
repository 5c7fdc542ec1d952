"""Survey responses: NPS from paying accounts, CES after onboarding and after a feature launch.

CSAT answers a resolved ticket, so the support domain asks for it with :func:`survey_fields`.
"""

from __future__ import annotations

import random
from typing import Any

from stream.events import SCORE_RANGES
from stream.simulate.accounts import Account
from stream.simulate.clock import DAY, HOUR, local_time
from stream.simulate.common import seeded
from stream.simulate.sink import Sink

_COMMENTS = ("Great product", "Reports are slow", "Love the dashboards", "Pricing is high", "Support was quick")


def draw_score(rng: random.Random, mean: float, sd: float, kind: str) -> int:
    """A score around ``mean``, clamped into the contract's range for the kind."""
    low, high = SCORE_RANGES[kind]
    return max(low, min(high, round(rng.gauss(mean, sd))))


def survey_fields(
    rng: random.Random, acct: Account, ts: int, kind: str, score: int, touchpoint: str | None
) -> dict[str, Any]:
    """A response from one of the account's users at that time."""
    fields: dict[str, Any] = {"type": "survey_response", "account_id": acct.id, "kind": kind, "score": score}
    users = acct.users_at(ts)
    if users:
        fields["user_id"] = rng.choice(users).id
    if touchpoint is not None:
        fields["touchpoint"] = touchpoint
    return fields


def surveys(accounts: list[Account], seed: int, sink: Sink) -> None:
    """NPS from paying accounts (happier ones score higher), CES after onboarding and after a
    feature launch in the middle of the window. CSAT comes with the tickets."""
    window = sink.window
    launch = window.lo + (window.hi - window.lo) * 2 // 5
    for acct in accounts:
        rng = seeded(seed, "surveys", acct.number)
        for day in window.days():
            if rng.random() < 0.012 * (1 + len(acct.users) / 8):
                ts = local_time(rng, day, acct.utc_offset)
                if acct.paying(ts):
                    score = draw_score(rng, 3.5 + 6 * acct.health, 1.6, "nps")
                    fields = survey_fields(rng, acct, ts, "nps", score, None)
                    if rng.random() < 0.2:
                        fields["comment"] = rng.choice(_COMMENTS)
                    sink.add(ts, "surveys", fields)
        if not acct.spans:
            continue
        if not acct.preexisting and rng.random() < 0.4:
            ts = acct.spans[0].start + rng.randint(2 * DAY, 7 * DAY)
            if acct.activity(ts) >= 1.0:
                score = draw_score(rng, 5.2, 1.2, "ces")
                sink.add(ts, "surveys", survey_fields(rng, acct, ts, "ces", score, "onboarding"))
        if rng.random() < 0.2:
            ts = launch + rng.randint(HOUR, 7 * DAY)
            if acct.activity(ts) >= 1.0:
                score = draw_score(rng, 4.5 + acct.health, 1.3, "ces")
                sink.add(ts, "surveys", survey_fields(rng, acct, ts, "ces", score, "feature_launch"))
