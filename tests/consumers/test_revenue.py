"""Revenue definitions of docs/metrics.md, with the worked examples of the issue."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.revenue.buckets import MergedBuckets, merge
from consumers.revenue.definitions import ltv, money, month_ratios, month_row, window_sums
from consumers.revenue.ledger import RevenueConfig, RevenueLedger
from consumers.revenue.normalize import normalized_mrr
from stream.decoding import Accepted, decode_record
from stream.outcomes import APPLIED, DUPLICATE, Refused, RejectReason
from stream.topics import spec_for
from tests.factories import make_subscription

RATES = {"USD": Decimal(1), "EUR": Decimal("1.10")}
D = Decimal


def ledger(**config: Any) -> RevenueLedger:
    return RevenueLedger(RevenueConfig(fx_rates=RATES, **config))


_n = 0


def ev(kind: str, at: str, customer: str = "c1", sub: str = "s1", **fields: Any) -> Any:
    global _n
    _n += 1
    raw = make_subscription(
        event_id=f"e{_n}", type=kind, occurred_at=at, customer_id=customer, subscription_id=sub, **fields
    )
    if kind not in ("subscription_started", "subscription_changed"):
        for f in ("amount", "currency", "interval"):
            raw.pop(f, None)
    (result,) = decode_record(spec_for("subscriptions"), orjson.dumps(raw))
    assert isinstance(result, Accepted), result
    return result.event


def start(at: str, customer: str, amount: str, interval: str = "month", sub: str | None = None, **kw: Any) -> Any:
    return ev("subscription_started", at, customer, sub or f"{customer}-s", amount=amount, interval=interval, **kw)


def mrr(lg: RevenueLedger) -> Decimal:
    return lg.buckets.get("now", {}).get("mrr", D(0))


# --- normalized MRR -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, interval, count, qty, discount, expected",
    [
        ("2000", "year", 1, 1, "0", "166.67"),
        ("120", "year", 1, 1, "10", "9.00"),
        ("10", "month", 1, 1, "50", "5.00"),
        ("300", "quarter", 1, 1, "0", "100.00"),
        ("12", "week", 1, 1, "0", "52.00"),
        ("1", "day", 1, 1, "0", "30.42"),
        ("100", "month", 3, 1, "0", "33.33"),
        ("10", "month", 1, 7, "0", "70.00"),
    ],
)
def test_normalized_mrr(amount: str, interval: str, count: int, qty: int, discount: str, expected: str) -> None:
    assert money(normalized_mrr(D(amount), interval, count, qty, D(discount))) == expected


def test_three_at_100_one_at_200_one_at_960_per_year_is_580() -> None:
    lg = ledger()
    for i in range(3):
        lg.apply(start("2026-01-01T00:00:00Z", f"c{i}", "100"))
    lg.apply(start("2026-01-01T00:00:00Z", "c3", "200"))
    lg.apply(start("2026-01-01T00:00:00Z", "c4", "960", "year"))
    assert mrr(lg) == D(580)


def test_100_customers_at_100_monthly_and_50_at_600_yearly_is_12500() -> None:
    lg = ledger()
    for i in range(100):
        lg.apply(start("2026-01-01T00:00:00Z", f"m{i}", "100"))
    for i in range(50):
        lg.apply(start("2026-01-01T00:00:00Z", f"y{i}", "600", "year"))
    assert mrr(lg) == D(12500)
    row = month_ratios(lg.buckets, "2026-01")
    assert row["arr"] == D(150000) and row["arpa"] == D(12500) / 150


def test_currency_conversion_and_missing_rate() -> None:
    lg = ledger()
    assert lg.apply(start("2026-01-01T00:00:00Z", "c1", "100", currency="EUR")) is APPLIED
    assert mrr(lg) == D("110.00")
    refused = lg.apply(start("2026-01-01T00:00:00Z", "c2", "100", currency="JPY"))
    assert refused == Refused(RejectReason.CURRENCY, "currency: JPY has no rate in PULSE_FX_RATES")
    assert "c2" not in lg.customers


def test_trials_carry_no_mrr() -> None:
    lg = ledger()
    lg.apply(ev("trial_started", "2026-01-01T00:00:00Z"))
    assert mrr(lg) == 0 and lg.buckets.get("m:2026-01", {}).get("new_mrr") is None


# --- movements ------------------------------------------------------------------------------


def test_yearly_plus_monthly_cancel_one_then_other_then_return() -> None:
    lg = ledger()
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "1200", "year", sub="yearly"))
    lg.apply(start("2026-01-05T00:00:00Z", "c1", "50", sub="monthly"))
    lg.apply(ev("subscription_cancelled", "2026-02-05T00:00:00Z", "c1", "monthly"))
    lg.apply(ev("subscription_cancelled", "2026-03-01T00:00:00Z", "c1", "yearly"))
    lg.apply(start("2026-05-01T00:00:00Z", "c1", "100", sub="again"))
    kinds = [(m.kind, m.amount) for m in lg.timelines["c1"].movements]
    assert kinds == [
        ("new", D(100)),
        ("expansion", D(50)),
        ("contraction", D(50)),
        ("churn", D(100)),
        ("reactivation", D(100)),
    ]


def test_same_instant_cancel_and_start_is_one_expansion() -> None:
    lg = ledger()
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "100", sub="a"))
    lg.apply(ev("subscription_cancelled", "2026-02-01T00:00:00Z", "c1", "a"))
    lg.apply(start("2026-02-01T00:00:00Z", "c1", "150", sub="b"))
    assert [m.kind for m in lg.timelines["c1"].movements] == ["new", "expansion"]


def test_grouping_window_nets_changes_within_it() -> None:
    lg = ledger(grouping_seconds=3600)
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "100", sub="a"))
    lg.apply(ev("subscription_cancelled", "2026-02-01T10:00:00Z", "c1", "a"))
    lg.apply(start("2026-02-01T10:30:00Z", "c1", "80", sub="b"))
    assert [m.kind for m in lg.timelines["c1"].movements] == ["new", "contraction"]
    strict = ledger()
    strict.apply(start("2026-01-01T00:00:00Z", "c1", "100", sub="a"))
    strict.apply(ev("subscription_cancelled", "2026-02-01T10:00:00Z", "c1", "a"))
    strict.apply(start("2026-02-01T10:30:00Z", "c1", "80", sub="b"))
    assert [m.kind for m in strict.timelines["c1"].movements] == ["new", "churn", "reactivation"]


def test_a_renewal_neither_opens_nor_extends_a_grouping_window() -> None:
    """Issue 11 #7: renewal 10:00, cancel 10:30, new plan at 150 11:10 (window 1 h): one
    expansion of 50 from the cancel's window, not a contraction and an expansion."""
    lg = ledger(grouping_seconds=3600)
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "100", sub="a"))
    lg.apply(ev("subscription_renewed", "2026-02-01T10:00:00Z", "c1", "a"))
    lg.apply(ev("subscription_cancelled", "2026-02-01T10:30:00Z", "c1", "a"))
    lg.apply(start("2026-02-01T11:10:00Z", "c1", "150", sub="b"))
    moves = [(m.kind, m.before, m.after, m.at.isoformat()) for m in lg.timelines["c1"].movements]
    assert moves[1:] == [("expansion", D(100), D(150), "2026-02-01T10:30:00+00:00")]
    assert month_row(lg.buckets, "2026-02")["expansion_mrr"] == "50.00"
    assert month_ratios(lg.buckets, "2026-02")["renewal_ratio_count"] == D(0.5)  # renewed, then cancelled


def test_changes_quantity_and_discount() -> None:
    lg = ledger()
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "10", sub="a", quantity=5))
    lg.apply(
        ev(
            "subscription_changed",
            "2026-01-10T00:00:00Z",
            "c1",
            "a",
            amount="10",
            interval="month",
            quantity=5,
            discount_percent=20,
        )
    )
    assert [(m.kind, m.after) for m in lg.timelines["c1"].movements] == [("new", D(50)), ("contraction", D(40))]


def test_out_of_order_within_grace_equals_in_order() -> None:
    in_order = ledger()
    a = start("2026-01-01T00:00:00Z", "c1", "100", sub="a")
    b = ev("subscription_changed", "2026-01-02T00:00:00Z", "c1", "a", amount="200", interval="month")
    c = ev("subscription_cancelled", "2026-01-03T00:00:00Z", "c1", "a")
    for e in (a, b, c):
        assert in_order.apply(e) is APPLIED
    shuffled = ledger()
    for e in (a, c, b):
        assert shuffled.apply(e) is APPLIED
    assert shuffled.buckets == in_order.buckets
    assert [m.kind for m in shuffled.timelines["c1"].movements] == ["new", "expansion", "churn"]


def test_late_beyond_grace_is_rejected_and_changes_nothing() -> None:
    lg = ledger()
    lg.apply(start("2026-01-10T00:00:00Z", "c1", "100", sub="a"))
    before = dict(lg.buckets)
    refused = lg.apply(start("2026-01-07T23:59:59Z", "c1", "50", sub="b"))
    assert isinstance(refused, Refused) and refused.reason is RejectReason.LATE
    assert lg.buckets == before
    assert lg.apply(start("2026-01-08T00:00:00Z", "c1", "50", sub="b")) is APPLIED  # exactly 2 days


# --- monthly figures ------------------------------------------------------------------------


def base_of(n: int, lg: RevenueLedger, amount: str = "100", at: str = "2026-01-01T00:00:00Z") -> None:
    for i in range(n):
        lg.apply(start(at, f"c{i}", amount))


def test_customer_churn_rate_excludes_customers_who_joined_in_the_month() -> None:
    lg = ledger()
    base_of(100, lg)
    lg.apply(start("2026-02-03T00:00:00Z", "newbie", "100"))
    for i in range(10):
        lg.apply(ev("subscription_cancelled", "2026-02-10T00:00:00Z", f"c{i}", f"c{i}-s"))
    lg.apply(ev("subscription_cancelled", "2026-02-20T00:00:00Z", "newbie", "newbie-s"))
    r = month_ratios(lg.buckets, "2026-02")
    assert r["customer_churn_ratio"] == D("0.1")
    assert month_row(lg.buckets, "2026-02")["churned_customers"] == 11
    # issue 11 #2: the revenue churn of the same example adds up with GRR (was 11% beside 90%)
    assert r["grr_ratio"] == D("0.9") and r["gross_revenue_churn_ratio"] == D("0.1")
    assert r["nrr_ratio"] == D("0.9") and r["net_revenue_churn_ratio"] == D("0.1")
    assert r["mrr_churn_ratio"] == D("0.11")  # the movement-based figure counts the joiner


def test_retention_200_to_170_is_85_percent() -> None:
    lg = ledger()
    base_of(200, lg)
    for i in range(30):
        lg.apply(ev("subscription_cancelled", "2026-02-10T00:00:00Z", f"c{i}", f"c{i}-s"))
    assert month_ratios(lg.buckets, "2026-02")["customer_retention_ratio"] == D("0.85")


def test_revenue_churn_nrr_grr_quick_ratio() -> None:
    # MRR at start 100 (4 customers at 25): churn 10, contraction 10, expansion 10.
    lg = ledger()
    lg.apply(start("2026-01-01T00:00:00Z", "a", "10"))
    lg.apply(start("2026-01-01T00:00:00Z", "b", "30"))
    lg.apply(start("2026-01-01T00:00:00Z", "c", "30"))
    lg.apply(start("2026-01-01T00:00:00Z", "d", "30"))
    lg.apply(ev("subscription_cancelled", "2026-02-02T00:00:00Z", "a", "a-s"))
    lg.apply(ev("subscription_changed", "2026-02-03T00:00:00Z", "b", "b-s", amount="20", interval="month"))
    lg.apply(ev("subscription_changed", "2026-02-04T00:00:00Z", "c", "c-s", amount="40", interval="month"))
    r = month_ratios(lg.buckets, "2026-02")
    assert r["mrr_start"] == 100
    assert r["gross_revenue_churn_ratio"] == D("0.2")
    assert r["net_revenue_churn_ratio"] == D("0.1")
    assert r["nrr_ratio"] == D("0.9") and r["grr_ratio"] == D("0.8")
    assert r["quick_ratio"] == D("0.5")


def test_a_customer_who_cancels_and_returns_within_the_month_is_retained() -> None:
    """Issue 11 #1: pays 100 from January, cancels Feb 10, back at 100 on Feb 20."""
    lg = ledger()
    lg.apply(start("2026-01-05T00:00:00Z", "a", "100"))
    lg.apply(ev("subscription_cancelled", "2026-02-10T00:00:00Z", "a", "a-s"))
    lg.apply(start("2026-02-20T00:00:00Z", "a", "100", sub="a-s2"))
    r = month_ratios(lg.buckets, "2026-02")
    assert (r["mrr_start"], r["mrr_end"]) == (100, 100)
    assert r["customer_churn_ratio"] == 0 and r["customer_retention_ratio"] == 1
    assert r["nrr_ratio"] == 1 and r["grr_ratio"] == 1
    assert r["gross_revenue_churn_ratio"] == 0 and r["net_revenue_churn_ratio"] == 0
    assert r["ltv"] is None and r["lifetime_months"] is None  # no churn: LTV is not defined
    assert r["mrr_churn_ratio"] == 1  # the movement-based figure does see the 100 churned
    row = month_row(lg.buckets, "2026-02")
    assert (row["churned_mrr"], row["reactivation_mrr"]) == ("100.00", "100.00")


def test_a_joiner_who_churns_is_in_no_cohort_ratio() -> None:
    """Issue 11 #2: only a new joiner churns; the cohort (one customer at 100) is untouched."""
    lg = ledger()
    lg.apply(start("2026-01-05T00:00:00Z", "a", "100"))
    lg.apply(start("2026-02-03T00:00:00Z", "n", "50"))
    lg.apply(ev("subscription_cancelled", "2026-02-20T00:00:00Z", "n", "n-s"))
    r = month_ratios(lg.buckets, "2026-02")
    assert r["gross_revenue_churn_ratio"] == 0 and r["grr_ratio"] == 1
    assert r["net_revenue_churn_ratio"] == 0 and r["nrr_ratio"] == 1
    assert r["customer_churn_ratio"] == 0
    assert r["mrr_churn_ratio"] == D("0.5")  # 50 churned / 100 at the start


def test_ltv_and_lifetime() -> None:
    assert ltv(D(100), D("0.05"), D(1)) == D(2000)
    assert ltv(D(100), D(0), D(1)) is None
    lg = ledger()
    base_of(20, lg)
    lg.apply(ev("subscription_cancelled", "2026-02-10T00:00:00Z", "c0", "c0-s"))
    r = month_ratios(lg.buckets, "2026-02")
    assert r["lifetime_months"] == 20  # 5% a month
    assert D(1) / D("0.25") == 4  # 25% a year is a lifetime of 4 years


@pytest.mark.parametrize(
    "closing, outcome",
    [
        (("subscription_started", {"amount": "0"}), "free"),  # issue 11 #4: a 0 price
        (("subscription_started", {"amount": "100", "discount_percent": 100}), "free"),  # a 100% discount
        (("subscription_changed", {"amount": "100"}), "converted"),  # issue 11 #8
        (("subscription_started", {"amount": "100"}), "converted"),
        (("trial_expired", {}), "expired"),
        (("subscription_cancelled", {}), "expired"),
    ],
)
def test_every_trial_ends_once_with_one_outcome(closing: tuple[str, dict[str, Any]], outcome: str) -> None:
    kind, fields = closing
    lg = ledger()
    lg.apply(ev("trial_started", "2026-01-01T00:00:00Z", "t", "t-s"))
    priced = {"interval": "month", **fields} if "amount" in fields else {}
    lg.apply(ev(kind, "2026-01-05T00:00:00Z", "t", "t-s", **priced))
    lg.apply(ev("subscription_changed", "2026-01-09T00:00:00Z", "t", "t-s", amount="50", interval="month"))
    jan = lg.buckets["m:2026-01"]
    assert {k: v for k, v in jan.items() if k.startswith("trials_")} == {"trials_started": 1, f"trials_{outcome}": 1}
    assert month_ratios(lg.buckets, "2026-01")["trial_conversion_ratio"] == (1 if outcome == "converted" else 0)
    assert lg.timelines["t"].status != "trial"


def test_trial_conversion_and_renewals() -> None:
    lg = ledger()
    lg.apply(ev("trial_started", "2026-01-01T00:00:00Z", "t1", "t1-trial"))
    lg.apply(ev("trial_started", "2026-01-01T00:00:00Z", "t2", "t2-trial"))
    lg.apply(start("2026-01-10T00:00:00Z", "t1", "100"))
    lg.apply(ev("trial_expired", "2026-01-15T00:00:00Z", "t2", "t2-trial"))
    lg.apply(start("2026-01-01T00:00:00Z", "r1", "100"))
    lg.apply(start("2026-01-01T00:00:00Z", "r2", "300"))
    lg.apply(ev("subscription_renewed", "2026-02-01T00:00:00Z", "r1", "r1-s"))
    lg.apply(ev("subscription_cancelled", "2026-02-01T00:00:00Z", "r2", "r2-s"))
    jan, feb = month_ratios(lg.buckets, "2026-01"), month_ratios(lg.buckets, "2026-02")
    assert jan["trials_started"] == 2 and jan["trial_conversion_ratio"] == D("0.5")
    assert feb["renewal_ratio_count"] == D("0.5") and feb["renewal_ratio_amount"] == D("0.25")


def test_rolling_window_sums_daily_buckets() -> None:
    lg = ledger()
    lg.apply(start("2026-01-01T00:00:00Z", "a", "10"))
    lg.apply(start("2026-01-31T00:00:00Z", "b", "20"))
    assert window_sums(lg.buckets, date(2026, 1, 30), 30)["new_mrr"] == 10
    assert window_sums(lg.buckets, date(2026, 1, 31), 30)["new_mrr"] == 20  # day 1 is day 31 back
    assert window_sums(lg.buckets, date(2026, 1, 31), 31)["new_mrr"] == 30


def test_rebuild_from_stored_customers_gives_the_same_aggregates() -> None:
    lg = ledger()
    base_of(5, lg)
    lg.apply(ev("subscription_cancelled", "2026-02-10T00:00:00Z", "c0", "c0-s"))
    again = RevenueLedger(lg.config, dict(lg.customers))
    assert again.buckets == lg.buckets


def test_a_resend_beyond_any_window_is_still_a_duplicate() -> None:
    lg = ledger()
    first = ev("subscription_renewed", "2026-01-31T00:00:00Z", "c1", "c1-s")
    lg.apply(start("2026-01-01T00:00:00Z", "c1", "100"))
    assert lg.apply(first) is APPLIED
    assert lg.apply(first) is DUPLICATE
    assert month_ratios(lg.buckets, "2026-01")["renewal_ratio_count"] == 1
    other = ev("subscription_renewed", "2026-01-31T00:00:00Z", "c1", "c1-other")
    clash = type(other).model_validate({**other.model_dump(), "event_id": first.event_id})
    refused = lg.apply(clash)  # the same id with other content, past the runtime's dedupe memory
    assert isinstance(refused, Refused) and refused.reason is RejectReason.CONFLICT


def test_money_in_the_api_is_fixed_point_in_the_currencys_minor_units_and_ratios_are_numbers() -> None:
    from consumers.revenue.definitions import money
    from consumers.revenue.view import api_figures

    assert [money(Decimal(v)) for v in ("0E-10", "2E+1", "24474.754999999999999999999999", "-0.005")] == [
        "0.00", "20.00", "24474.75", "-0.01"
    ]  # fmt: skip
    assert money(Decimal("1234.5"), "JPY") == "1235" and money(Decimal("1.23456"), "KWD") == "1.235"
    figures = api_figures(
        {"mrr_end": Decimal("2E+1"), "arpa": Decimal("6.666666666666666666666666667"),
         "nrr_ratio": Decimal("0.9166666666666666666666666667"), "grr_ratio": None, "customers_end": 3},
        "USD",
    )  # fmt: skip
    assert figures == {"mrr_end": "20.00", "arpa": "6.67", "nrr_ratio": 0.9166666666666666, "grr_ratio": None,
                       "customers_end": 3}  # fmt: skip


@pytest.mark.parametrize(
    "effective, accepted",
    [("2026-03-31T00:00:00Z", True), ("2026-03-05T00:00:00Z", True), ("2026-03-04T23:59:59Z", False),
     ("2027-04-10T00:00:00Z", False), ("2026-03-31", False)],
)  # fmt: skip
def test_effective_at_runs_from_the_announcement_to_400_days_after(effective: str, accepted: bool) -> None:
    raw = make_subscription(type="subscription_cancelled", occurred_at="2026-03-05T00:00:00Z", effective_at=effective)
    for name in ("amount", "currency", "interval"):
        raw.pop(name, None)
    (result,) = decode_record(spec_for("subscriptions"), orjson.dumps(raw))
    assert isinstance(result, Accepted) is accepted, result


_raw_buckets = st.dictionaries(
    st.sampled_from(["d:2026-01-01", "d:2026-01-02", "m:2026-01", "now"]),
    st.dictionaries(
        st.sampled_from(["new_mrr", "churned_mrr", "customers"]),
        st.decimals(-500, 500, places=2, allow_nan=False, allow_infinity=False).map(str),
        min_size=1,
    ),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_raw_buckets, min_size=3, max_size=3), min_size=1, max_size=6))
def test_merged_buckets_kept_across_refreshes_equal_a_fresh_merge(states: list[list[dict[str, Any]]]) -> None:
    """Re-adding only the buckets some partition changed gives the fresh merge (fields that sum
    to zero dropped, buckets no partition holds gone)."""
    merged = MergedBuckets()
    for raws in states:
        got = merged.update(raws)
        assert got == merge({b: {k: Decimal(v) for k, v in f.items()} for b, f in raw.items()} for raw in raws)
