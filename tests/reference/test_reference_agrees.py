"""`pulse report monthly-mrr`'s reducer against the independent reference, on random streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.revenue.definitions import monthly_rows
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from stream.decoding import Accepted, decode_record
from stream.outcomes import APPLIED
from stream.topics import spec_for
from tests.reference.monthly_mrr import monthly

RATES = {"USD": Decimal(1), "EUR": Decimal("1.08")}
START = datetime(2026, 1, 1, tzinfo=UTC)

event = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
        "subscription_id": st.sampled_from(["a", "b"]),
        "type": st.sampled_from(
            [
                "subscription_started",
                "subscription_changed",
                "subscription_cancelled",
                "subscription_renewed",
                "trial_started",
            ]
        ),
        "hours": st.integers(0, 24 * 150),
        "amount": st.sampled_from(["0", "19.99", "100", "1200"]),
        "interval": st.sampled_from(["month", "year", "quarter", "week", "day"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "quantity": st.integers(1, 3),
        "discount_percent": st.sampled_from([0, 10, 50]),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.lists(event, min_size=1, max_size=50))
def test_reducer_matches_the_independent_reference(drawn: list[dict[str, Any]]) -> None:
    events = []
    for n, d in enumerate(sorted(drawn, key=lambda d: d["hours"])):
        e = {
            "event_id": f"e{n}",
            "type": d["type"],
            "customer_id": d["customer_id"],
            "subscription_id": f"{d['customer_id']}-{d['subscription_id']}",
            "plan": "p",
            "occurred_at": (START + timedelta(hours=d["hours"])).isoformat().replace("+00:00", "Z"),
        }
        if d["type"] in ("subscription_started", "subscription_changed"):
            e.update({k: d[k] for k in ("amount", "interval", "currency", "quantity", "discount_percent")})
        events.append(e)
    ledger = RevenueLedger(RevenueConfig(fx_rates=RATES))
    for e in events:
        (result,) = decode_record(spec_for("subscriptions"), orjson.dumps(e))
        assert isinstance(result, Accepted)
        assert ledger.apply(result.event) is APPLIED
    expected = monthly(events, RATES)
    if not expected:
        return
    got = monthly_rows(ledger.buckets, expected[0]["month"], expected[-1]["month"])
    assert [{k: row[k] for k in want} for row, want in zip(got, expected, strict=True)] == expected
