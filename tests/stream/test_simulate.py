from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone

import orjson

from stream.simulate import generate_history
from stream.topics import SOURCE_TOPICS

END = datetime(2026, 6, 1, tzinfo=timezone.utc)


def digest(customers: int, days: int, seed: int) -> str:
    h = hashlib.sha256()
    for ev in generate_history(customers=customers, days=days, end=END, seed=seed):
        h.update(orjson.dumps([ev.topic, ev.key, ev.event], option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def test_same_seed_same_stream_in_another_process() -> None:
    here = digest(20, 20, 3)
    assert here == digest(20, 20, 3)
    assert here != digest(20, 20, 4)
    code = (
        "from tests.stream.test_simulate import digest; print(digest(20, 20, 3))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here


def test_events_are_valid_keyed_ordered_unique_and_cover_every_type() -> None:
    events = list(generate_history(customers=60, days=120, end=END, seed=5))
    ids = set()
    previous = ""
    types: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        spec = SOURCE_TOPICS[ev.topic]
        spec.adapter.validate_python(ev.event)
        assert ev.key == spec.key_of(ev.event)
        assert ev.event["occurred_at"] >= previous
        previous = ev.event["occurred_at"]
        assert ev.event["event_id"] not in ids
        ids.add(ev.event["event_id"])
        types[ev.topic].add(ev.event["type"])
    assert "2026-02-01" <= events[0].event["occurred_at"][:10] and events[-1].event["occurred_at"] < "2026-06-01"
    for name, spec in SOURCE_TOPICS.items():
        assert types[name] == set(spec.types), name


def test_subscription_lifecycles_are_causal_and_rich() -> None:
    events = [e.event for e in generate_history(customers=60, days=150, end=END, seed=5) if e.topic == "subscriptions"]
    state: dict[str, str] = {}
    cancelled_then_started = same_instant_switch = eur = yearly = 0
    last_cancel: dict[str, str] = {}
    for e in events:
        sub, kind = e["subscription_id"], e["type"]
        if kind in ("subscription_changed", "subscription_renewed", "subscription_cancelled"):
            assert state.get(sub) == "active", (kind, e)
        if kind == "subscription_started":
            assert sub not in state
            state[sub] = "active"
            if e["customer_id"] in last_cancel:
                cancelled_then_started += 1
                same_instant_switch += last_cancel[e["customer_id"]] == e["occurred_at"]
            eur += e["currency"] == "EUR"
            yearly += e["interval"] == "year"
        if kind == "subscription_cancelled":
            state[sub] = "cancelled"
            last_cancel[e["customer_id"]] = e["occurred_at"]
    assert cancelled_then_started and same_instant_switch and eur and yearly


def test_product_use_has_weekly_seasonality() -> None:
    per_weekday: dict[bool, int] = defaultdict(int)
    for ev in generate_history(customers=30, days=28, end=END, seed=2):
        if ev.topic == "product-events" and "user_id" in ev.event:
            day = datetime.fromisoformat(ev.event["occurred_at"].replace("Z", "+00:00"))
            per_weekday[day.weekday() < 5] += 1
    assert per_weekday[True] / 20 > 2 * per_weekday[False] / 8
