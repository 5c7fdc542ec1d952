"""Folding a customer's settled history, and extending the derived state for an event that
comes after it, give the very figures a full rebuild gives, however the stream goes: random
streams (late events, same-instant changes, trials, cancellations, a grouping window) through
a ledger that folds at every chance, one that only appends and one that re-derives
everything, with recoveries from the changelog format in between."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.revenue.codec import FOLDED_CODEC, decode_history, encode_history
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from consumers.revenue.model import SubscriptionEventType
from stream.decoding import Accepted, decode_record
from stream.topics import spec_for

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = spec_for("subscriptions")


class Eager(RevenueLedger):
    FOLD_AT = 3
    FOLD_MIN = 1


class Never(RevenueLedger):
    """The reference: every event re-derives the customer's whole history."""

    FOLD_AT = 10**9
    INCREMENTAL = False


class Incremental(RevenueLedger):
    FOLD_AT = 10**9


step = st.tuples(
    st.sampled_from(["c1", "c2"]),
    st.sampled_from(["s1", "s2", "s3"]),
    st.sampled_from([kind.value for kind in SubscriptionEventType]),
    st.integers(0, 24 * 200),  # hours after START, forward mostly (see below)
    st.sampled_from(["0", "10", "49.90", "100"]),
    st.sampled_from(["month", "year"]),
    st.booleans(),  # an attribute change
)


def events_of(steps: list[tuple[Any, ...]]) -> list[Any]:
    out = []
    clock = 0
    for n, (cust, sub, kind, hours, amount, interval, attribute) in enumerate(steps):
        # mostly forward in time, sometimes back (late or within grace), sometimes the same instant
        clock = clock + hours % 97 if n % 5 else max(0, clock - hours % 80)
        raw: dict[str, Any] = {
            "event_id": f"e{n}",
            "type": kind,
            "customer_id": cust,
            "subscription_id": f"{cust}-{sub}",
            "plan": interval,
            "occurred_at": (START + timedelta(hours=clock)).isoformat().replace("+00:00", "Z"),
        }
        if attribute:
            raw["attributes"] = {"segment": f"seg{n % 3}"}
        if kind in ("subscription_started", "subscription_changed"):
            raw.update(amount=amount, interval=interval, currency="USD")
        (result,) = decode_record(SPEC, orjson.dumps(raw))
        assert isinstance(result, Accepted)
        out.append(result.event)
    return out


def recovered(ledger: RevenueLedger, cls: type[RevenueLedger]) -> RevenueLedger:
    """A new owner of the partition: the ledger rebuilt from the changelog's records."""
    customers = {cid: decode_history(encode_history(h)) for cid, h in ledger.customers.items()}
    folded = {bucket: FOLDED_CODEC.decode(FOLDED_CODEC.encode(f)) for bucket, f in ledger.folded.items()}
    return cls(ledger.config, customers, folded)


def view(ledger: RevenueLedger, cid: str) -> Any:
    found = ledger.customer_view(cid)
    return None if found is None else {k: v for k, v in found.items() if k != "movements"}


@settings(max_examples=250, deadline=None)
@given(
    st.lists(step, min_size=1, max_size=60),
    st.sampled_from([0, 1800]),
    st.sampled_from([86400, 2 * 86400]),
    st.lists(st.integers(0, 59), max_size=3),
)
def test_folding_changes_no_figure(steps: list[tuple[Any, ...]], grouping: int, grace: int, cuts: list[int]) -> None:
    config = RevenueConfig(fx_rates={"USD": Decimal(1)}, grace_seconds=grace, grouping_seconds=grouping)
    eager, never, incremental = Eager(config), Never(config), Incremental(config)
    for n, event in enumerate(events_of(steps)):
        if n in cuts:
            eager = recovered(eager, Eager)
        a, b, c = eager.apply(event), never.apply(event), incremental.apply(event)
        assert a == b == c, (n, a, b, c)
        assert incremental.buckets == never.buckets, n
    assert eager.buckets == never.buckets
    assert eager.watermark == never.watermark
    assert eager.months_spanned() == never.months_spanned()
    for cid in never.customers:
        assert view(eager, cid) == view(never, cid)
        full = never.customer_view(cid)
        mine = eager.customer_view(cid)
        assert full is not None and mine is not None
        shown = mine["movements"]  # the folded part keeps its latest movements
        assert shown == full["movements"][len(full["movements"]) - len(shown) :]
    assert recovered(eager, Eager).buckets == never.buckets


def seat_change(n: int, minutes: int = 30) -> Any:
    at = (START + timedelta(minutes=minutes * n)).isoformat().replace("+00:00", "Z")
    raw = {"event_id": f"e{n}", "type": "subscription_changed" if n else "subscription_started",
           "customer_id": "c1", "subscription_id": "s1", "plan": "team", "occurred_at": at,
           "amount": "10", "currency": "USD", "interval": "month", "quantity": 1 + n % 7}  # fmt: skip
    (result,) = decode_record(SPEC, orjson.dumps(raw))
    assert isinstance(result, Accepted)
    return result.event


def test_a_long_history_folds_and_keeps_its_tail_short() -> None:
    config = RevenueConfig(fx_rates={"USD": Decimal(1)})
    eager, never = RevenueLedger(config), Never(config)
    for n in range(2000):  # seat changes every 30 minutes for six weeks
        event = seat_change(n)
        assert eager.apply(event) == never.apply(event)
    history = eager.customers["c1"]
    assert history.folded is not None and len(history.events) < 2 * 48 * 3 + RevenueLedger.FOLD_AT
    assert eager.buckets == never.buckets
    assert len(encode_history(history)) < len(encode_history(never.customers["c1"])) / 4


def test_a_customers_record_does_not_grow_with_its_days_of_history() -> None:
    """Its folded figures go to the partition's ``folded`` store, one record per bucket."""
    ledger = RevenueLedger(RevenueConfig(fx_rates={"USD": Decimal(1)}))
    sizes = {}
    for n in range(1, 4 * 400):  # a seat change every 6 hours for 400 days
        ledger.apply(seat_change(n if n > 1 else 0, minutes=360))
        if n in (400, 1599):  # 100 and 400 days in
            sizes[n] = len(encode_history(ledger.customers["c1"]))
    assert sizes[1599] < 1.1 * sizes[400]
    assert len(ledger.folded) > 390  # d: buckets of the folded days, and their months
    assert recovered(ledger, RevenueLedger).buckets == ledger.buckets


def test_a_format_2_record_with_its_own_folded_figures_is_recovered_then_migrated() -> None:
    config = RevenueConfig(fx_rates={"USD": Decimal(1)})
    reference = RevenueLedger(config)
    for n in range(600):
        reference.apply(seat_change(n))
    history = reference.customers["c1"]
    assert history.folded is not None and history.folded.contributions == {} and reference.folded
    # what format 2 wrote: the same, with the folded figures in the customer's record
    as_v2 = orjson.loads(
        encode_history(replace(history, folded=replace(history.folded, contributions=dict(reference.folded))))
    )
    as_v2["v"] = 2
    old = RevenueLedger(config, {"c1": decode_history(orjson.dumps(as_v2))}, {})
    assert old.buckets == reference.buckets
    for n in range(600, 1200):
        event = seat_change(n)
        assert old.apply(event) == reference.apply(event)
    migrated = old.customers["c1"].folded
    assert migrated is not None and migrated.contributions == {}  # moved to the store at its next fold
    assert old.folded == reference.folded and old.buckets == reference.buckets
    assert recovered(old, RevenueLedger).buckets == reference.buckets
