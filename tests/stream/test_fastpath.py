"""The fast product-event validator never accepts what pydantic refuses, and agrees on values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
from pydantic import TypeAdapter, ValidationError

from stream.events import ProductEvent
from stream.fastpath import facts_of, fast_product

ADAPTER = TypeAdapter(ProductEvent)

text = st.one_of(st.none(), st.just(""), st.text(max_size=5), st.text(min_size=250, max_size=260), st.integers(0, 3))
timestamps = st.sampled_from([
    "2026-01-15T10:00:00Z", "2026-01-15T10:00:00.123456+02:00", "2026-01-15T10:00:00", "2026-13-15T10:00:00Z",
    "2026-01-15 10:00:00z", "2026-01-15T10:00:00.123456789Z", "yesterday", "2026-02-30T00:00:00Z", 17, None,
])
events = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(text, st.text(min_size=1, max_size=3), st.text(min_size=127, max_size=130)),
        "type": st.sampled_from(["track", "page", 1]),
        "occurred_at": timestamps,
        "name": st.one_of(text, st.just("login")),
        "user_id": text, "account_id": text, "anonymous_id": text, "feature": text, "session_id": text,
        "properties": st.one_of(st.none(), st.just({}), st.just({"a": 1}), st.just([1])),
        "extra": st.integers(),
    },
)


def assert_fast_agrees(obj: dict[str, Any]) -> Any:
    """Whatever the fast path accepts, pydantic accepts with the same facts; returns its verdict."""
    fast = fast_product(obj)
    try:
        slow = facts_of(ADAPTER.validate_python(obj))
    except ValidationError:
        slow = None
    if fast is not None:
        assert slow is not None, f"fast path accepted what pydantic refuses: {obj}"
        assert fast == slow
    return fast


@settings(max_examples=1500, deadline=None)
@given(events)
def test_fast_path_is_a_subset_of_pydantic_with_equal_values(obj: dict[str, Any]) -> None:
    assert_fast_agrees(obj)


def test_fast_path_takes_the_common_event() -> None:
    obj = {"event_id": "e", "type": "track", "occurred_at": "2026-01-15T10:00:00.5Z", "name": "login",
           "user_id": "u", "account_id": "a", "properties": {}}
    facts = fast_product(obj)
    assert facts is not None and facts == facts_of(ADAPTER.validate_python(obj))


BASE = {"event_id": "e-1", "type": "track", "occurred_at": "2026-01-15T10:00:00Z", "name": "login",
        "user_id": "u", "properties": {}}
mutations = st.tuples(
    st.sampled_from(sorted(BASE) + ["account_id", "anonymous_id", "feature", "session_id"]),
    st.one_of(text, timestamps, st.just("ok")),
    st.booleans(),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(mutations, max_size=3))
def test_near_valid_events_agree(changes: list[tuple[str, Any, bool]]) -> None:
    obj: dict[str, Any] = dict(BASE)
    for key, value, drop in changes:
        if drop:
            obj.pop(key, None)
        else:
            obj[key] = value
    fast = assert_fast_agrees(obj)
    if not changes:
        assert fast is not None
