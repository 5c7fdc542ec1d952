"""Support tickets of active accounts: opened, answered, resolved, sometimes reopened, then CSAT.

Tickets are drawn per account but numbered across all of them in order of opening, so they are
collected before any is emitted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from stream.simulate.accounts import Account
from stream.simulate.clock import DAY, HOUR, MINUTE, local_time, weekday
from stream.simulate.common import Weighted, seeded
from stream.simulate.sink import Sink
from stream.simulate.surveys import draw_score, survey_fields

_TICKET_CHANNELS = Weighted((("email", 35), ("chat", 30), ("web", 20), ("phone", 10), ("other", 5)))
_TICKET_CATEGORIES = Weighted(
    (
        ("question", 40),
        ("bug", 25),
        ("feature_request", 12),
        ("complaint", 8),
        ("suggestion", 8),
        ("other", 7),
    )
)
_PRIORITIES = Weighted((("low", 25), ("normal", 50), ("high", 18), ("urgent", 7)))
#: First-reply delay bounds in seconds by priority: urgent tickets are answered in minutes.
_REPLY_DELAY = {
    "low": (HOUR, 24 * HOUR),
    "normal": (30 * MINUTE, 8 * HOUR),
    "high": (15 * MINUTE, 2 * HOUR),
    "urgent": (5 * MINUTE, 30 * MINUTE),
}
_TICKET_RATE = {"smb": 0.02, "mid": 0.04, "enterprise": 0.08}  # per active weekday


@dataclass(slots=True)
class _Ticket:
    account: Account
    opened: int
    order: int  # tie-break for numbering
    steps: list[tuple[int, str, dict[str, Any]]]
    csat: tuple[int, int] | None = None  # (when, score) of the survey after resolution


def support(accounts: list[Account], seed: int, sink: Sink) -> None:
    """Tickets of active accounts, numbered t-1, t-2, ... in order of opening."""
    tickets: list[_Ticket] = []
    for acct in accounts:
        rng = seeded(seed, "tickets", acct.number)
        for day in sink.window.days():
            rate = _TICKET_RATE[acct.segment] * (0.3 if weekday(day) >= 5 else 1.0)
            if rng.random() >= rate:
                continue
            opened = local_time(rng, day, acct.utc_offset)
            if acct.activity(opened) >= 1.0 and sink.window.lo <= opened < sink.window.hi:
                tickets.append(_ticket(rng, acct, opened, len(tickets)))
    tickets.sort(key=lambda t: (t.opened, t.order))
    rng = seeded(seed, "csat", 0)
    for number, ticket in enumerate(tickets, start=1):
        ticket_id = f"t-{number}"
        for ts, kind, extra in ticket.steps:
            fields = {"type": kind, "ticket_id": ticket_id, "account_id": ticket.account.id, **extra}
            sink.add(ts, "support-tickets", fields)
        if ticket.csat is not None:
            when, score = ticket.csat
            survey = survey_fields(rng, ticket.account, when, "csat", score, "support")
            survey["ticket_id"] = ticket_id
            sink.add(when, "surveys", survey)


def _ticket(rng: random.Random, acct: Account, opened: int, order: int) -> _Ticket:
    """Opened, answered, maybe a back-and-forth, resolved, sometimes reopened and resolved again."""
    priority = _PRIORITIES.pick(rng)
    low, high = _REPLY_DELAY[priority]
    opening = {
        "channel": _TICKET_CHANNELS.pick(rng),
        "category": _TICKET_CATEGORIES.pick(rng),
        "priority": priority,
    }
    steps: list[tuple[int, str, dict[str, Any]]] = [(opened, "ticket_opened", opening)]
    t = opened + rng.randint(low, high)
    first_reply = t - opened
    steps.append((t, "agent_replied", {}))
    for _ in range(3):
        if rng.random() >= 0.5:
            break
        t += rng.randint(10 * MINUTE, DAY)
        steps.append((t, "customer_replied", {}))
        t += rng.randint(low, high)
        steps.append((t, "agent_replied", {}))
    t += rng.randint(5 * MINUTE, 36 * HOUR)
    steps.append((t, "ticket_resolved", {}))
    reopened = rng.random() < 0.1
    if reopened:
        t += rng.randint(HOUR, 5 * DAY)
        steps.append((t, "ticket_reopened", {}))
        t += rng.randint(low, high)
        steps.append((t, "agent_replied", {}))
        t += rng.randint(10 * MINUTE, 2 * DAY)
        steps.append((t, "ticket_resolved", {}))
    csat = None
    if rng.random() < 0.45:
        mean = 4.4 - (1.2 if reopened else 0.0) - (0.6 if first_reply > 6 * HOUR else 0.0)
        csat = (t + rng.randint(MINUTE, DAY), draw_score(rng, mean, 0.8, "csat"))
    return _Ticket(acct, opened, order, steps, csat)
