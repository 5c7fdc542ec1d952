"""The revenue changelog format: versioned, and older records stay readable."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from consumers.revenue.codec import FORMAT_VERSION, UnknownFormat, decode_history, encode_history
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from consumers.revenue.model import CustomerHistory, SubscriptionEventType, SubscriptionFact
from consumers.revenue.processor import CUSTOMERS_STORE, RevenueProcessor
from stream.state import PartitionState

#: A customer record of format version 1, byte for byte: whatever later formats come, this
#: must keep decoding to the same history.
V1 = (
    b'{"v":1,"e":[{"t":"2026-01-15T10:00:00.000000+00:00","ty":"subscription_started","s":"s-1","p":"team",'
    b'"id":"e-1","m":"99.0000000000","a":{"segment":"smb"}},'
    b'{"t":"2026-02-01T00:00:00.000000+00:00","ty":"subscription_cancelled","s":"s-1","p":"team","id":"e-2"}]}'
)
HISTORY = CustomerHistory(
    [
        SubscriptionFact(
            "2026-01-15T10:00:00.000000+00:00",
            SubscriptionEventType.SUBSCRIPTION_STARTED,
            "s-1",
            "team",
            "e-1",
            Decimal("99.0000000000"),
            {"segment": "smb"},
        ),
        SubscriptionFact(
            "2026-02-01T00:00:00.000000+00:00", SubscriptionEventType.SUBSCRIPTION_CANCELLED, "s-1", "team", "e-2"
        ),
    ]
)


def test_a_version_1_record_still_decodes_and_is_rewritten_as_version_4() -> None:
    assert decode_history(V1) == HISTORY
    assert FORMAT_VERSION == 4
    written = orjson.loads(encode_history(HISTORY))
    assert written == {**orjson.loads(V1), "v": 4, "f": None}  # the same facts, nothing folded
    v3 = orjson.dumps({**written, "v": 3})
    assert decode_history(v3) == HISTORY  # version 3: version 4 without scheduled changes
    assert decode_history(encode_history(HISTORY)) == HISTORY


def test_records_of_unknown_or_no_format_are_refused_by_name() -> None:
    with pytest.raises(UnknownFormat, match="format version 5; this build reads 1, 2, 3, 4"):
        decode_history(b'{"v": 5, "customers": []}')
    with pytest.raises(UnknownFormat, match="without a format version"):
        decode_history(orjson.dumps({k: v for k, v in orjson.loads(V1).items() if k != "v"}))


def test_a_partition_recovered_from_version_1_records_has_the_figures() -> None:
    state = PartitionState(0, codecs=dict(RevenueProcessor.codecs))
    state.apply_record(f"{CUSTOMERS_STORE}\x1fc-1".encode(), V1)
    ledger = RevenueLedger(RevenueConfig(fx_rates={"USD": Decimal(1)}), state.store(CUSTOMERS_STORE))
    assert ledger.buckets["m:2026-01"]["new_mrr"] == Decimal(99)
    assert ledger.buckets["m:2026-02"]["churn_mrr"] == Decimal(99)
    assert ledger.watermark == "2026-02-01T00:00:00.000000+00:00"
    state.store(CUSTOMERS_STORE).touch("c-1")
    ((key, value),) = state.drain_changes()
    assert key == b"customers\x1fc-1" and value is not None and decode_history(value) == HISTORY


def test_folded_months_of_the_earlier_cohort_fields_are_read_in_todays() -> None:
    """A `folded` record written before the cohort ratios came from start and end MRR."""
    from consumers.revenue.codec import FOLDED_CODEC

    old = b'v1|{"net_mrr": "-30", "cohort_expansion_mrr": "20", "cohort_contraction_mrr": "10",' \
          b' "cohort_churn_mrr": "40", "cohort_churned_customers": "1", "cohort_lost_customers": "1"}'  # fmt: skip
    fields = FOLDED_CODEC.decode(old)
    assert fields == {
        "net_mrr": Decimal(-30),
        "cohort_net_mrr": Decimal(20 - 10 - 40),
        "cohort_decline_mrr": Decimal(10 + 40),
        "cohort_lost_customers": Decimal(1),
    }
    assert FOLDED_CODEC.decode(FOLDED_CODEC.encode(fields)) == fields  # today's are left alone


def test_a_scheduled_change_keeps_when_it_was_announced() -> None:
    fact = SubscriptionFact(
        at="2026-03-31T00:00:00.000000+00:00", type=SubscriptionEventType.SUBSCRIPTION_CANCELLED,
        subscription_id="s", plan="team", event_id="e9", announced="2026-03-05T00:00:00.000000+00:00",
    )  # fmt: skip
    history = CustomerHistory([fact])
    assert decode_history(encode_history(history)) == history
    assert history.last_at == fact.at and history.last_announced == fact.announced
