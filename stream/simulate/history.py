"""The whole history: which domains run, in what order, and from which random streams.

The order matters: subscriptions decide when each account is in trial, paying or gone, and
users can only be drawn once that is known; every later domain reads both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from stream.simulate.accounts import Account
from stream.simulate.clock import Window
from stream.simulate.common import seeded
from stream.simulate.leads import leads
from stream.simulate.marketing import marketing_spend
from stream.simulate.product import ProductUsage, anonymous_visits, feature_taste
from stream.simulate.sink import SimEvent, Sink
from stream.simulate.subscriptions import SubscriptionLife
from stream.simulate.support import support
from stream.simulate.surveys import surveys


def generate_history(*, customers: int, days: int, end: datetime, seed: int) -> Iterator[SimEvent]:
    """Events with occurred_at in [end - days, end), sorted by (occurred_at, then a stable sequence number)."""
    if customers < 0:
        raise ValueError(f"customers must be >= 0, got {customers}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be a timezone-aware datetime")
    return _stream(Window.before(end, days), customers, seed)


def _stream(window: Window, customers: int, seed: int) -> Iterator[SimEvent]:
    """Lazy, so the arguments are checked at the call but nothing is simulated until iterated."""
    sink = Sink(window)
    accounts = [Account.draw(i, seeded(seed, "profile", i), window) for i in range(1, customers + 1)]
    for acct in accounts:
        SubscriptionLife(acct, seeded(seed, "subscriptions", acct.number), sink).run()
    for acct in accounts:
        people = seeded(seed, "users", acct.number)
        acct.draw_users(people)
        if acct.users:  # the account's taste in features follows its users in the same stream
            ProductUsage(acct, feature_taste(people), seeded(seed, "product", acct.number), sink).run()
    anonymous_visits(seeded(seed, "anonymous", 0), sink, customers)
    support(accounts, seed, sink)
    surveys(accounts, seed, sink)
    marketing_spend(seeded(seed, "spend", 0), sink, customers)
    leads(seeded(seed, "leads", 0), sink, customers)
    yield from sink.events(seed)
