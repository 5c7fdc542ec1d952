from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.simulate import SimEvent, generate_history
from stream.topics import SOURCE_TOPICS

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 90


def ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


def digest(events: list[SimEvent]) -> str:
    h = hashlib.sha256()
    for ev in events:
        h.update(orjson.dumps([ev.topic, ev.key, ev.event], option=orjson.OPT_SORT_KEYS) + b"\n")
    return h.hexdigest()


@pytest.fixture(scope="module")
def history() -> list[SimEvent]:
    return list(generate_history(customers=60, days=DAYS, end=END, seed=7))


@pytest.fixture(scope="module")
def subscriptions(history: list[SimEvent]) -> list[dict[str, Any]]:
    return [ev.event for ev in history if ev.topic == "subscriptions"]


# --- determinism ------------------------------------------------------------------------------


def test_same_arguments_give_the_same_stream_and_another_seed_another() -> None:
    first = list(generate_history(customers=15, days=20, end=END, seed=3))
    again = list(generate_history(customers=15, days=20, end=END, seed=3))
    other = list(generate_history(customers=15, days=20, end=END, seed=4))
    assert first == again
    assert digest(first) == digest(again)
    assert digest(first) != digest(other)


def test_stream_does_not_depend_on_the_hash_seed_of_the_process() -> None:
    here = digest(list(generate_history(customers=15, days=20, end=END, seed=3)))
    code = (
        "from datetime import datetime, timezone\n"
        "import hashlib, orjson\n"
        "from stream.simulate import generate_history\n"
        "h = hashlib.sha256()\n"
        "for ev in generate_history(customers=15, days=20, end=datetime(2026, 6, 1, tzinfo=timezone.utc), seed=3):\n"
        "    h.update(orjson.dumps([ev.topic, ev.key, ev.event], option=orjson.OPT_SORT_KEYS) + b'\\n')\n"
        "print(h.hexdigest())\n"
    )
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
        )
        assert out.stdout.strip() == here, f"PYTHONHASHSEED={hash_seed}"


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_history(customers=1, days=1, end=datetime(2026, 6, 1), seed=1)
    with pytest.raises(ValueError, match="days"):
        generate_history(customers=1, days=0, end=END, seed=1)


# --- contracts, keys, window, order -----------------------------------------------------------


def test_every_event_is_valid_and_correctly_keyed(history: list[SimEvent]) -> None:
    assert set(ev.topic for ev in history) == set(SOURCE_TOPICS)
    for ev in history:
        spec = SOURCE_TOPICS[ev.topic]
        spec.adapter.validate_python(ev.event)
        assert ev.key == spec.key_of(ev.event), ev


def test_events_lie_in_the_window_sorted_by_time(history: list[SimEvent]) -> None:
    start = END - timedelta(days=DAYS)
    times = [ts(ev.event) for ev in history]
    assert all(start <= t < END for t in times)
    assert times == sorted(times)
    assert times[0] < start + timedelta(days=1) and times[-1] > END - timedelta(days=1)


def test_window_edges_with_an_offset_and_a_fraction_of_a_second() -> None:
    end = datetime(2026, 3, 10, 14, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=2)))
    events = list(generate_history(customers=10, days=3, end=end, seed=1))
    assert events
    for ev in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev.event["occurred_at"])
        assert end - timedelta(days=3) <= ts(ev.event) < end


def test_event_ids_are_unique_and_money_has_two_decimals(history: list[SimEvent]) -> None:
    ids = [ev.event["event_id"] for ev in history]
    assert len(ids) == len(set(ids))
    for ev in history:
        if "amount" in ev.event:
            assert re.fullmatch(r"\d+\.\d\d", ev.event["amount"]), ev.event


def test_volume_is_in_the_expected_range_and_scales_with_customers() -> None:
    small = Counter(ev.topic for ev in generate_history(customers=50, days=30, end=END, seed=11))
    double = Counter(ev.topic for ev in generate_history(customers=100, days=30, end=END, seed=11))
    assert 10_000 <= sum(small.values()) <= 40_000, small
    assert small["marketing-spend"] == 4 * 30
    assert 1.5 < double["product-events"] / small["product-events"] < 2.5


# --- subscriptions ----------------------------------------------------------------------------


def test_subscription_lifecycles_are_causal(subscriptions: list[dict[str, Any]]) -> None:
    state: dict[str, str] = {}  # subscription_id -> trial | active | cancelled | expired
    owner: dict[str, str] = {}
    for e in subscriptions:
        sub, kind = e["subscription_id"], e["type"]
        assert owner.setdefault(sub, e["customer_id"]) == e["customer_id"]
        before = state.get(sub)
        if kind == "trial_started":
            assert before is None, e
            state[sub] = "trial"
        elif kind == "trial_expired":
            assert before == "trial", e
            state[sub] = "expired"
        elif kind == "subscription_started":
            assert before in (None, "trial"), e  # a converted trial keeps its id
            state[sub] = "active"
        else:  # changed, renewed and cancelled only while active: never after a cancellation
            assert before == "active", e
            if kind == "subscription_cancelled":
                state[sub] = "cancelled"
    assert Counter(state.values())["cancelled"] > 0


def test_started_events_carry_channel_attributes_and_prices(subscriptions: list[dict[str, Any]]) -> None:
    for e in subscriptions:
        if e["type"] in ("trial_started", "subscription_started"):
            assert e["acquisition_channel"] in ("organic", "google_ads", "linkedin", "meta", "events", "referral")
            assert e["attributes"]["country"] in ("US", "DE", "GB", "FR", "RO", "PL", "CN")
            assert e["attributes"]["segment"] in ("smb", "mid", "enterprise")
        if e["type"] in ("subscription_started", "subscription_changed"):
            assert {"amount", "currency", "interval", "interval_count", "quantity", "discount_percent"} <= set(e)


def test_the_history_has_every_kind_of_event(history: list[SimEvent]) -> None:
    types: dict[str, set[str]] = defaultdict(set)
    for ev in history:
        types[ev.topic].add(ev.event["type"])
    for name, spec in SOURCE_TOPICS.items():
        assert types[name] == set(spec.types), name
    names = {ev.event["name"] for ev in history if ev.topic == "product-events"}
    assert names == {
        "page_view",
        "signed_up",
        "login",
        "feature_used",
        "invite_sent",
        "invite_accepted",
        "report_exported",
    }
    kinds = {ev.event["kind"] for ev in history if ev.topic == "surveys"}
    assert kinds == {"nps", "csat", "ces"}
    stages = {ev.event["stage"] for ev in history if ev.event["type"] == "lead_qualified"}
    assert stages == {"mql", "sql", "pql"}


def test_the_history_has_reactivations_plan_switches_currencies_and_yearly_plans(
    subscriptions: list[dict[str, Any]],
) -> None:
    active: dict[str, set[str]] = defaultdict(set)  # customer -> active subscription ids
    last_cancel: dict[str, str] = {}
    paid: set[str] = set()
    reactivations = switches = 0
    for e in subscriptions:
        customer = e["customer_id"]
        if e["type"] == "subscription_started":
            if last_cancel.get(customer) == e["occurred_at"]:
                switches += 1
            elif customer in paid and not active[customer]:
                reactivations += 1
            active[customer].add(e["subscription_id"])
            paid.add(customer)
        elif e["type"] == "subscription_cancelled":
            active[customer].discard(e["subscription_id"])
            last_cancel[customer] = e["occurred_at"]
    assert reactivations >= 1
    assert switches >= 1
    priced = [e for e in subscriptions if "currency" in e]
    assert any(e["currency"] == "EUR" for e in priced)
    assert Counter(e["currency"] for e in priced).most_common(1)[0][0] == "USD"
    assert any(e["interval"] == "year" for e in priced)
    assert any(e["discount_percent"] > 0 for e in priced)
    # some customers hold two subscriptions at once (a plan and an add-on)
    holding: dict[str, set[str]] = defaultdict(set)
    most = 0
    for e in subscriptions:
        if e["type"] == "subscription_started":
            holding[e["customer_id"]].add(e["subscription_id"])
        elif e["type"] == "subscription_cancelled":
            holding[e["customer_id"]].discard(e["subscription_id"])
        most = max(most, len(holding[e["customer_id"]]))
    assert most >= 2


# --- product, tickets, surveys ----------------------------------------------------------------


def test_weekdays_are_busier_than_weekends(history: list[SimEvent]) -> None:
    per_day: Counter[Any] = Counter()
    for ev in history:
        if ev.topic == "product-events":
            per_day[ts(ev.event).date()] += 1
    weekday = [n for day, n in per_day.items() if day.weekday() < 5]
    weekend = [n for day, n in per_day.items() if day.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.5 * sum(weekend) / len(weekend)


def test_product_events_follow_the_accounts(history: list[SimEvent]) -> None:
    first_seen: dict[str, datetime] = {}  # account -> first trial or subscription event
    signed_up: Counter[str] = Counter()
    seen_users: set[str] = set()
    without_session = total = 0
    for ev in history:
        e = ev.event
        if ev.topic == "subscriptions":
            first_seen.setdefault(e["customer_id"], ts(e))
        if ev.topic != "product-events":
            continue
        total += 1
        without_session += "session_id" not in e
        if "user_id" not in e:
            assert "account_id" not in e and e["name"] == "page_view" and e["anonymous_id"]
            continue
        assert e["account_id"] in first_seen and first_seen[e["account_id"]] <= ts(e), e
        if e["name"] == "signed_up":
            assert e["user_id"] not in seen_users, e  # signed_up is a user's first event, once
            signed_up[e["user_id"]] += 1
        seen_users.add(e["user_id"])
        if e["name"] == "feature_used":
            assert e["feature"] in ("dashboards", "reports", "alerts", "integrations", "api", "exports")
    assert signed_up and max(signed_up.values()) == 1
    assert 0.1 < without_session / total < 0.3


def test_tickets_run_their_course_and_csat_follows_a_resolution(history: list[SimEvent]) -> None:
    status: dict[str, str] = {}
    resolved_at: dict[str, datetime] = {}
    for ev in history:
        e = ev.event
        if ev.topic == "support-tickets":
            ticket, kind = e["ticket_id"], e["type"]
            if kind == "ticket_opened":
                assert ticket not in status
            else:
                assert ticket in status, e
            if kind == "ticket_reopened":
                assert status[ticket] == "ticket_resolved"
            if kind == "ticket_resolved":
                resolved_at[ticket] = ts(e)
            status[ticket] = kind
        elif ev.topic == "surveys" and e.get("ticket_id"):
            assert e["kind"] == "csat" and e["touchpoint"] == "support"
            assert resolved_at[e["ticket_id"]] <= ts(e)
    assert "ticket_reopened" in {ev.event["type"] for ev in history if ev.topic == "support-tickets"}


def test_one_spend_per_channel_per_day(history: list[SimEvent]) -> None:
    spend = Counter((ts(ev.event).date(), ev.event["channel"]) for ev in history if ev.topic == "marketing-spend")
    assert set(spend.values()) == {1}
    assert len(spend) == 4 * DAYS
    assert {channel for _, channel in spend} == {"google_ads", "linkedin", "meta", "events"}
