"""Properties of the revenue reducer on random streams (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.revenue.definitions import months_between, mrr_at_end
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from consumers.revenue.model import SubscriptionEventType
from stream.decoding import Accepted, decode_record
from stream.topics import spec_for

START = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = RevenueConfig(fx_rates={"USD": Decimal(1), "EUR": Decimal("1.1")})
SPEC = spec_for("subscriptions")

step = st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["s1", "s2"]),
    st.sampled_from([kind.value for kind in SubscriptionEventType]),
    st.integers(0, 24 * 120),  # hours after START: four months
    st.sampled_from(["0", "10", "49.90", "100", "960"]),
    st.sampled_from(["month", "year", "week", "quarter"]),
    st.sampled_from(["USD", "EUR"]),
)


def to_events(steps: list[tuple[Any, ...]]) -> list[Any]:
    out = []
    for n, (cust, sub, kind, hours, amount, interval, currency) in enumerate(steps):
        raw: dict[str, Any] = {
            "event_id": f"e{n}",
            "type": kind,
            "customer_id": cust,
            "subscription_id": f"{cust}-{sub}",
            "plan": interval,
            "occurred_at": (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
        }
        if kind in ("subscription_started", "subscription_changed"):
            raw.update(amount=amount, interval=interval, currency=currency)
        (result,) = decode_record(SPEC, orjson.dumps(raw))
        assert isinstance(result, Accepted)
        out.append(result.event)
    return out


def run(events: list[Any]) -> RevenueLedger:
    ledger = RevenueLedger(CONFIG)
    for e in events:
        ledger.apply(e)
    return ledger


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_movement_identity_holds_for_every_month(steps: list[tuple[Any, ...]]) -> None:
    events = sorted(to_events(steps), key=lambda e: e.occurred_at)
    ledger = run(events)
    months = months_between("2026-01", "2026-05")
    previous = Decimal(0)
    for month in months:
        b = ledger.buckets.get(f"m:{month}", {})

        def g(k: str, b: dict[str, Decimal] = b) -> Decimal:
            return b.get(k, Decimal(0))

        end, _ = mrr_at_end(ledger.buckets, month)
        assert end == previous + g("new_mrr") + g("expansion_mrr") + g("reactivation_mrr") - g("contraction_mrr") - g(
            "churn_mrr"
        )
        previous = end
    assert previous == ledger.buckets.get("now", {}).get("mrr", Decimal(0))
    assert all(tl.mrr >= 0 for tl in ledger.timelines.values())


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_any_arrival_order_within_grace_gives_the_in_order_result(steps: list[tuple[Any, ...]], rnd: Any) -> None:
    # Squeeze the stream into 36 hours so every permutation stays inside the 2-day grace period.
    squeezed = [(c, s, k, h % 36, a, i, cur) for (c, s, k, h, a, i, cur) in steps]
    events = to_events(squeezed)
    in_order = run(sorted(events, key=lambda e: (e.occurred_at, e.event_id)))
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert run(shuffled).buckets == in_order.buckets
