from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from stream.decoding import MAX_BATCH, Accepted, Rejected, decode_record
from stream.topics import SOURCE_TOPICS, TopicSpec, spec_for
from tests.factories import make_subscription

SUBS = spec_for("subscriptions")


def one(raw: bytes, spec: TopicSpec = SUBS, currencies: frozenset[str] = frozenset()) -> Accepted | Rejected:
    results = decode_record(spec, raw, currencies)
    assert len(results) == 1
    return results[0]


def test_valid_subscription_keeps_money_as_decimal_and_extra_fields() -> None:
    result = one(orjson.dumps(make_subscription(amount="49.90", note="kept")))
    assert isinstance(result, Accepted)
    assert result.event.amount == Decimal("49.90")
    assert result.event.model_extra == {"note": "kept"}


def test_json_number_amount_is_exact_decimal() -> None:
    result = one(orjson.dumps(make_subscription(amount=49.9)))
    assert isinstance(result, Accepted)
    assert result.event.amount == Decimal("49.9")


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (orjson.dumps(make_subscription(type="subscription_paused")), "unknown_type"),
        (orjson.dumps(make_subscription(occurred_at="2026-01-15T10:00:00")), "timestamp"),
        (orjson.dumps(make_subscription(occurred_at="yesterday")), "timestamp"),
        (orjson.dumps(make_subscription(occurred_at=1768471200)), "timestamp"),
        (orjson.dumps(make_subscription(amount="-1")), "schema"),
        (orjson.dumps(make_subscription(interval="fortnight")), "schema"),
        (orjson.dumps(make_subscription(event_id="")), "schema"),
        (orjson.dumps(make_subscription(event_id="x" * 129)), "schema"),
        (orjson.dumps(make_subscription(currency="usd")), "schema"),
        (orjson.dumps(make_subscription(discount_percent=101)), "schema"),
    ],
)
def test_invalid_records_are_rejected_with_reason_and_original_bytes(raw: bytes, reason: str) -> None:
    result = one(raw)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.raw == raw
    assert result.error


def test_unknown_currency_rejected_only_once_currencies_are_configured() -> None:
    raw = orjson.dumps(make_subscription(currency="JPY"))
    assert isinstance(one(raw), Accepted)
    rejected = one(raw, currencies=frozenset({"USD", "EUR"}))
    assert isinstance(rejected, Rejected) and rejected.reason == "currency"


def test_offset_timestamps_are_normalised_to_the_same_instant() -> None:
    a = one(orjson.dumps(make_subscription(occurred_at="2026-01-15T12:00:00+02:00")))
    b = one(orjson.dumps(make_subscription(occurred_at="2026-01-15T10:00:00Z")))
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert a.event.occurred_at == b.event.occurred_at


def test_survey_score_range_depends_on_kind() -> None:
    spec = spec_for("surveys")
    base = {"event_id": "s", "type": "survey_response", "occurred_at": "2026-01-01T00:00:00Z", "account_id": "a"}
    assert isinstance(one(orjson.dumps({**base, "kind": "nps", "score": 10}), spec), Accepted)
    assert isinstance(one(orjson.dumps({**base, "kind": "csat", "score": 0}), spec), Rejected)
    assert isinstance(one(orjson.dumps({**base, "kind": "ces", "score": 8}), spec), Rejected)


def test_product_event_batch_validates_each_element_on_its_own() -> None:
    spec = spec_for("product-events")
    good = {"event_id": "p1", "type": "track", "occurred_at": "2026-01-01T00:00:00Z", "name": "login", "user_id": "u"}
    bad = {**good, "event_id": "p2", "occurred_at": "2026-01-01T00:00:00"}
    results = decode_record(spec, orjson.dumps([good, bad, 7]))
    assert [type(r).__name__ for r in results] == ["Accepted", "Rejected", "Rejected"]
    assert results[1].index == 1 and orjson.loads(results[1].raw) == bad
    assert results[2].reason == "not_object"


def test_batch_over_limit_is_rejected_whole() -> None:
    spec = spec_for("product-events")
    good = {"event_id": "p", "type": "track", "occurred_at": "2026-01-01T00:00:00Z", "name": "x", "user_id": "u"}
    results = decode_record(spec, orjson.dumps([good] * (MAX_BATCH + 1)))
    assert len(results) == 1 and results[0].reason == "batch_too_large"


def test_arrays_are_not_accepted_on_topics_without_batches() -> None:
    results = decode_record(SUBS, orjson.dumps([make_subscription()]))
    assert len(results) == 1 and results[0].reason == "not_object"


def test_every_topic_has_a_key_field() -> None:
    assert SUBS.key_for(make_subscription(customer_id="c-9")) == b"c-9"
    product = spec_for("product-events")
    assert product.key_for({"account_id": "a", "anonymous_id": "x"}) == b"a"
    assert product.key_for({"anonymous_id": "x"}) == b"x"
    assert set(SOURCE_TOPICS) == {
        "subscriptions",
        "product-events",
        "support-tickets",
        "surveys",
        "marketing-spend",
        "leads",
    }
