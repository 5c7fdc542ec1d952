"""Every revenue gauge's value on a small fixture, expected values worked out by hand from
docs/metrics.md ("Revenue"), never by calling consumers/revenue/definitions.py.

The main fixture spans January to 20 March 2026 over two partitions. "Now" is the event-time
watermark 2026-03-20T12:00Z, so `day` = 2026-03-20, `month` = 2026-03 (to date), `last_month` =
2026-02 and `30d` = 2026-02-19 .. 2026-03-20. Money is USD (EUR at 1.10).

Customers (plan, country; MRR over time):
  A team US, channel ads : 100 (Jan 10) -> 150 (Feb 18 23:59:59) -> 200 (Mar 20 09:00)
  B team DE, organic     : 200 (Jan 10) -> 150 (Feb 19 00:00)    -> 120 (Mar 20 10:00); renewed Mar 15
  C pro  FR, channel ads : 300 (Jan 10) -> 360 (Mar 3); renewed Feb 10 and Mar 15
  D pro  US              : 400 (Jan 10); renewed Feb 10; cancelled Mar 5
  E team GB              : 100 (Jan 10); cancelled Feb 10; back on pro at 80 (Mar 20 12:00)
  G team UK then US      : 60 (Jan 10); cancelled Jan 20; back at 60 (Feb 25, now country US)
  F team DE              : 50 (Feb 12); cancelled Mar 20 11:00
  H pro  FR              : trial Feb 1; 120 (Feb 26, converts it) -> 100 (Mar 10)
  N team DE              : 30 (Mar 6); cancelled Mar 9 (joins and churns within the month)
  K pro 40 + team 10, US : trial Mar 1; both started Mar 12 (one movement: new 50, converts it)
  I team JP              : 100 EUR = 110 USD (Mar 20 08:00)
  T2, T3                 : trials Feb 2 / Feb 3, expired Feb 16 / Feb 17
  L                      : trial Mar 2, expired Mar 8
  M                      : trial Mar 15, still open
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumers.revenue.collector import RevenueCollector
from consumers.revenue.ledger import RevenueLedger
from consumers.revenue.view import RevenueView

LedgerFactory = Callable[..., RevenueLedger]
ViewFactory = Callable[..., RevenueView]
RegistryFactory = Callable[..., CollectorRegistry]

START, CHANGE, CANCEL, RENEW = (
    "subscription_started",
    "subscription_changed",
    "subscription_cancelled",
    "subscription_renewed",
)
TRIAL, EXPIRED = "trial_started", "trial_expired"
KINDS = ("new", "expansion", "contraction", "churn", "reactivation")
USD = {"currency": "USD"}


def price(amount: str, plan: str = "team", **fields: Any) -> dict[str, Any]:
    """Fields of a priced event: a monthly price on a plan."""
    return {"amount": amount, "plan": plan, "interval": "month", **fields}


def country(code: str, **more: str) -> dict[str, Any]:
    return {"attributes": {"country": code, **more}}


# Partition 0 and partition 1: the view sums them (consumers.revenue.buckets.merge).
PARTITION_0 = [
    (START, "2026-01-10T00:00:00Z", "A", "A-s", {**price("100"), **country("US"), "acquisition_channel": "ads"}),
    (CHANGE, "2026-02-18T23:59:59Z", "A", "A-s", price("150")),  # one second before the 30d window
    (CHANGE, "2026-03-20T09:00:00Z", "A", "A-s", price("200")),
    (START, "2026-01-10T00:00:00Z", "B", "B-s", {**price("200"), **country("DE"), "acquisition_channel": "organic"}),
    (CHANGE, "2026-02-19T00:00:00Z", "B", "B-s", price("150")),  # first instant of the 30d window
    (RENEW, "2026-03-15T00:00:00Z", "B", "B-s", {"plan": "team"}),
    (CHANGE, "2026-03-20T10:00:00Z", "B", "B-s", price("120")),
    (START, "2026-01-10T00:00:00Z", "C", "C-s", {**price("300", "pro"), **country("FR"), "acquisition_channel": "ads"}),
    (RENEW, "2026-02-10T00:00:00Z", "C", "C-s", {"plan": "pro"}),
    (CHANGE, "2026-03-03T00:00:00Z", "C", "C-s", price("360", "pro")),
    (RENEW, "2026-03-15T00:00:00Z", "C", "C-s", {"plan": "pro"}),
    (START, "2026-01-10T00:00:00Z", "D", "D-s", {**price("400", "pro"), **country("US")}),
    (RENEW, "2026-02-10T00:00:00Z", "D", "D-s", {"plan": "pro"}),
    (CANCEL, "2026-03-05T00:00:00Z", "D", "D-s", {"plan": "pro"}),
    (START, "2026-01-10T00:00:00Z", "E", "E-s", {**price("100"), **country("GB")}),
    (CANCEL, "2026-02-10T00:00:00Z", "E", "E-s", {"plan": "team"}),
    (START, "2026-03-20T12:00:00Z", "E", "E-s2", price("80", "pro")),  # the watermark
    (TRIAL, "2026-02-02T00:00:00Z", "T2", "T2-t", {"plan": "team"}),
    (EXPIRED, "2026-02-16T00:00:00Z", "T2", "T2-t", {"plan": "team"}),
]
PARTITION_1 = [
    (START, "2026-01-10T00:00:00Z", "G", "G-s", {**price("60"), **country("UK")}),
    (CANCEL, "2026-01-20T00:00:00Z", "G", "G-s", {"plan": "team"}),
    (START, "2026-02-25T00:00:00Z", "G", "G-s2", {**price("60"), **country("US")}),  # latest attribute wins
    (START, "2026-02-12T00:00:00Z", "F", "F-s", {**price("50"), **country("DE")}),
    (CANCEL, "2026-03-20T11:00:00Z", "F", "F-s", {"plan": "team"}),
    (TRIAL, "2026-02-01T00:00:00Z", "H", "H-t", {"plan": "pro"}),
    (START, "2026-02-26T00:00:00Z", "H", "H-s", {**price("120", "pro"), **country("FR")}),
    (CHANGE, "2026-03-10T00:00:00Z", "H", "H-s", price("100", "pro")),
    (START, "2026-03-06T00:00:00Z", "N", "N-s", {**price("30"), **country("DE")}),
    (CANCEL, "2026-03-09T00:00:00Z", "N", "N-s", {"plan": "team"}),
    (TRIAL, "2026-03-01T00:00:00Z", "K", "K-t", {"plan": "pro"}),
    (START, "2026-03-12T00:00:00Z", "K", "K-pro", {**price("40", "pro"), **country("US")}),
    (START, "2026-03-12T00:00:00Z", "K", "K-team", price("10", "team")),
    (START, "2026-03-20T08:00:00Z", "I", "I-s", {**price("100", currency="EUR"), **country("JP")}),
    (TRIAL, "2026-02-03T00:00:00Z", "T3", "T3-t", {"plan": "team"}),
    (EXPIRED, "2026-02-17T00:00:00Z", "T3", "T3-t", {"plan": "team"}),
    (TRIAL, "2026-03-02T00:00:00Z", "L", "L-t", {"plan": "team"}),
    (EXPIRED, "2026-03-08T00:00:00Z", "L", "L-t", {"plan": "team"}),
    (TRIAL, "2026-03-15T00:00:00Z", "M", "M-t", {"plan": "team"}),
]


def value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


def approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.fixture
def main_registry(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> CollectorRegistry:
    """The two-partition fixture behind a RevenueCollector; gross margin 0.8, top 2 segments."""
    view = revenue_view(revenue_ledger(PARTITION_0), revenue_ledger(PARTITION_1), gross_margin=Decimal("0.8"), top_n=2)
    return registry_of(RevenueCollector(view))


def test_mrr_arr_arpa_and_active_customers_now(main_registry: CollectorRegistry) -> None:
    """Snapshot gauges: the sum over active customers now (D, F, N churned; I converted from EUR)."""
    # A 200 + B 120 + C 360 + E 80 + G 60 + H 100 + I 100 × 1.10 + K (40 + 10)
    mrr = 200 + 120 + 360 + 80 + 60 + 100 + 110 + 50
    assert mrr == 1080
    assert value(main_registry, "pulse_mrr", USD) == approx(1080)
    assert value(main_registry, "pulse_arr", USD) == approx(12 * 1080)
    assert value(main_registry, "pulse_customers_active") == 8  # A B C E G H I K
    assert value(main_registry, "pulse_arpa", USD) == approx(1080 / 8)
    assert value(main_registry, "pulse_mrr", {"currency": "EUR"}) is None  # one reporting currency


# kind -> (day, month, 30d) movement amounts
MOVEMENTS = {
    # day 03-20: I 110 | month adds K 50 (03-12), N 30 (03-06) | 30d adds H 120 (02-26)
    "new": (110, 110 + 50 + 30, 110 + 50 + 30 + 120),
    # day: A 150->200 | month adds C 300->360 | 30d: A's Feb expansion is at 02-18 23:59:59, outside
    "expansion": (50, 50 + 60, 50 + 60),
    # day: B 150->120 | month adds H 120->100 | 30d adds B 200->150 at 02-19 00:00, inside
    "contraction": (30, 30 + 20, 30 + 20 + 50),
    # day: F 50 | month adds D 400 (03-05), N 30 (03-09) | 30d: E's churn 02-10 is outside
    "churn": (50, 50 + 400 + 30, 50 + 400 + 30),
    # day: E 0->80 | month: the same | 30d adds G 0->60 (02-25)
    "reactivation": (80, 80, 80 + 60),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("index, window", [(0, "day"), (1, "month"), (2, "30d")])
def test_mrr_movement_by_kind_and_window(main_registry: CollectorRegistry, kind: str, index: int, window: str) -> None:
    """Each kind in each window, as a positive amount (docs: day, month to date, rolling 30 days)."""
    labels = {"kind": kind, "window": window, "currency": "USD"}
    assert value(main_registry, "pulse_mrr_movement", labels) == approx(MOVEMENTS[kind][index])


def test_net_new_mrr_by_window(main_registry: CollectorRegistry) -> None:
    """new + expansion + reactivation - contraction - churn of the same window."""
    assert value(main_registry, "pulse_net_new_mrr", {"window": "day", **USD}) == approx(110 + 50 + 80 - 30 - 50)
    assert value(main_registry, "pulse_net_new_mrr", {"window": "month", **USD}) == approx(190 + 110 + 80 - 50 - 480)
    assert value(main_registry, "pulse_net_new_mrr", {"window": "30d", **USD}) == approx(310 + 110 + 140 - 100 - 480)
    # the MRR identity: end of February (A150 B150 C300 D400 F50 G60 H120 = 1230) + March's net = now
    assert 1230 + (190 + 110 + 80 - 50 - 480) == 1080


# March starts with A150 B150 C300 D400 F50 G60 H120: 7 customers, MRR 1230.
# February starts with A100 B200 C300 D400 E100: 5 customers, MRR 1100.
RATIOS = {
    # name: (month = March, last_month = February)
    "pulse_customer_churn_ratio": (
        2 / 7,  # 1 - retention: D and F of the 7; N joined and churned in March, so it is not counted
        1 / 5,  # E
    ),
    "pulse_customer_retention_ratio": (
        5 / 7,  # all but D and F are still active
        4 / 5,  # E churned and came back only in March
    ),
    "pulse_nrr_ratio": (
        # the cohort's MRR at the end of March: A200 B120 C360 D0 F0 G60 H100
        (200 + 120 + 360 + 0 + 0 + 60 + 100) / 1230,
        (150 + 150 + 300 + 400 + 0) / 1100,  # end of February: A150 B150 C300 D400 E0
    ),
    "pulse_grr_ratio": (
        # min(end, start) per cohort customer: A150 B120 C300 D0 F0 G60 H100
        (150 + 120 + 300 + 0 + 0 + 60 + 100) / 1230,
        (100 + 150 + 300 + 400 + 0) / 1100,  # A100 B150 C300 D400 E0
    ),
    "pulse_mrr_churn_ratio": (
        (480 + 50) / 1230,  # churn D400 F50 N30 + contraction B30 H20, joiner N included
        (100 + 50) / 1100,  # churn E100 + contraction B50
    ),
    "pulse_quick_ratio": (
        (190 + 110 + 80) / (50 + 480),  # (new + expansion + reactivation) / (contraction + churn)
        ((50 + 120) + 50 + 60) / (50 + 100),  # new F, H; expansion A; reactivation G / contraction B; churn E
    ),
    "pulse_trial_conversion_ratio": (
        1 / (1 + 1),  # K converted, L expired (M still open)
        1 / (1 + 2),  # H converted, T2 and T3 expired
    ),
}


@pytest.mark.parametrize("name", sorted(RATIOS))
@pytest.mark.parametrize("index, window", [(0, "month"), (1, "last_month")])
def test_month_ratios(main_registry: CollectorRegistry, name: str, index: int, window: str) -> None:
    """Customer churn/retention, NRR, GRR, quick and trial conversion for both months."""
    assert value(main_registry, name, {"window": window}) == approx(RATIOS[name][index])


def test_revenue_churn_ratio_gross_and_net(main_registry: CollectorRegistry) -> None:
    """gross = 1 - GRR, net = 1 - NRR, of the month's start cohort (N, E and G are not in it)."""

    def g(kind: str, window: str) -> float | None:
        return value(main_registry, "pulse_revenue_churn_ratio", {"kind": kind, "window": window})

    assert g("gross", "month") == approx((1230 - 730) / 1230)  # D400 F50 B30 H20 lost
    assert g("net", "month") == approx((1230 - 840) / 1230)  # less A's +50 and C's +60
    assert g("gross", "last_month") == approx((1100 - 950) / 1100)  # E100 B50
    assert g("net", "last_month") == approx((1100 - 1000) / 1100)  # less A's +50


def test_trials_started(main_registry: CollectorRegistry) -> None:
    """Trials opened in the month, whatever became of them."""
    assert value(main_registry, "pulse_trials_started", {"window": "month"}) == 3  # K, L, M
    assert value(main_registry, "pulse_trials_started", {"window": "last_month"}) == 3  # H, T2, T3


def test_renewal_ratio_by_count_and_amount(main_registry: CollectorRegistry) -> None:
    """Renewals / (renewals + cancellations), the amount at each subscription's MRR of the moment."""

    def r(by: str, window: str) -> float | None:
        return value(main_registry, "pulse_renewal_ratio", {"by": by, "window": window})

    # March: renewed B (150), C (360); cancelled D (400), N (30), F (50)
    assert r("count", "month") == approx(2 / (2 + 3))
    assert r("amount", "month") == approx((150 + 360) / (150 + 360 + 400 + 30 + 50))
    # February: renewed C (300), D (400); cancelled E (100)
    assert r("count", "last_month") == approx(2 / (2 + 1))
    assert r("amount", "last_month") == approx((300 + 400) / (300 + 400 + 100))


def test_ltv_and_lifetime_use_last_months_churn(main_registry: CollectorRegistry) -> None:
    """LTV = ARPA now × gross margin / February's customer churn (1/5); lifetime = 1 / churn."""
    assert value(main_registry, "pulse_ltv", USD) == approx((1080 / 8) * 0.8 / (1 / 5))  # 540
    assert value(main_registry, "pulse_customer_lifetime_months") == approx(1 / (1 / 5))  # 5 months
    assert value(main_registry, "pulse_ltv_undefined") == 0


def test_mrr_and_customers_by_plan(main_registry: CollectorRegistry) -> None:
    """By plan now; K counts on both of its plans; plans with no active subscription are absent."""
    assert value(main_registry, "pulse_mrr_by_plan", {"plan": "team", **USD}) == approx(200 + 120 + 60 + 110 + 10)
    assert value(main_registry, "pulse_mrr_by_plan", {"plan": "pro", **USD}) == approx(360 + 80 + 100 + 40)
    assert value(main_registry, "pulse_customers_active_by_plan", {"plan": "team"}) == 5  # A B G I K
    assert value(main_registry, "pulse_customers_active_by_plan", {"plan": "pro"}) == 4  # C E H K
    assert value(main_registry, "pulse_mrr_by_plan", {"plan": "enterprise", **USD}) is None


SEGMENTS = {
    # (attribute, value): (MRR, customers); top 2 values by MRR per attribute, the rest as other
    ("country", "FR"): (360 + 100, 2),  # C H
    ("country", "US"): (200 + 60 + 50, 3),  # A G K (G's latest country is US)
    ("country", "other"): (120 + 110 + 80, 3),  # DE: B, JP: I, GB: E
    ("acquisition_channel", "ads"): (200 + 360, 2),  # A C
    ("acquisition_channel", "unknown"): (80 + 60 + 100 + 110 + 50, 5),  # E G H I K
    ("acquisition_channel", "other"): (120, 1),  # organic: B
    ("segment", "unknown"): (1080, 8),  # nobody gave a segment: a single value, no other
}


@pytest.mark.parametrize("attribute, label", sorted(SEGMENTS))
def test_mrr_and_customers_by_segment(main_registry: CollectorRegistry, attribute: str, label: str) -> None:
    """MRR and active customers by customer attribute value, top N kept, the rest rolled up."""
    mrr, customers = SEGMENTS[(attribute, label)]
    labels = {"attribute": attribute, "value": label}
    assert value(main_registry, "pulse_mrr_by_segment", {**labels, **USD}) == approx(mrr)
    assert value(main_registry, "pulse_customers_active_by_segment", labels) == customers


@pytest.mark.parametrize(
    "attribute, label",
    [
        ("country", "DE"),
        ("country", "JP"),
        ("country", "GB"),
        ("country", "UK"),  # rolled up / superseded
        ("acquisition_channel", "organic"),
        ("segment", "other"),
    ],
)
def test_segments_outside_the_top_n_have_no_series(
    main_registry: CollectorRegistry, attribute: str, label: str
) -> None:
    """Values beyond the top N are only in `other` (bounded label cardinality)."""
    labels = {"attribute": attribute, "value": label}
    assert value(main_registry, "pulse_mrr_by_segment", {**labels, **USD}) is None
    assert value(main_registry, "pulse_customers_active_by_segment", labels) is None


# --- edge cases --------------------------------------------------------------------------------


def test_first_month_only_ratios_with_zero_denominators_are_absent(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> None:
    """Nobody was active when March began and February is empty: every start-based ratio, the
    quick ratio (nothing lost), trial conversion and renewals have a 0 denominator -> no sample."""
    ledger = revenue_ledger(
        [
            (START, "2026-03-02T00:00:00Z", "X", "X-s", price("100")),
            (START, "2026-03-05T00:00:00Z", "Y", "Y-s", price("50", "pro")),
        ]
    )
    reg = registry_of(RevenueCollector(revenue_view(ledger)))
    assert value(reg, "pulse_mrr", USD) == approx(100 + 50)
    assert value(reg, "pulse_arr", USD) == approx(12 * 150)
    assert value(reg, "pulse_customers_active") == 2
    assert value(reg, "pulse_arpa", USD) == approx(150 / 2)
    assert value(reg, "pulse_mrr_movement", {"kind": "new", "window": "day", **USD}) == approx(50)  # Y on 03-05
    assert value(reg, "pulse_mrr_movement", {"kind": "new", "window": "month", **USD}) == approx(150)
    assert value(reg, "pulse_mrr_movement", {"kind": "churn", "window": "30d", **USD}) == 0
    assert value(reg, "pulse_net_new_mrr", {"window": "30d", **USD}) == approx(150)
    for window in ("month", "last_month"):
        for name in (
            "pulse_customer_churn_ratio",
            "pulse_customer_retention_ratio",
            "pulse_nrr_ratio",
            "pulse_grr_ratio",
            "pulse_quick_ratio",
            "pulse_trial_conversion_ratio",
        ):
            assert value(reg, name, {"window": window}) is None, (name, window)
        for kind in ("gross", "net"):
            assert value(reg, "pulse_revenue_churn_ratio", {"kind": kind, "window": window}) is None
        for by in ("count", "amount"):
            assert value(reg, "pulse_renewal_ratio", {"by": by, "window": window}) is None
        assert value(reg, "pulse_trials_started", {"window": window}) == 0
    # February's churn is unknown (nobody at its start): LTV is not defined
    assert value(reg, "pulse_ltv", USD) is None
    assert value(reg, "pulse_customer_lifetime_months") is None
    assert value(reg, "pulse_ltv_undefined") == 1


def test_no_churn_last_month_leaves_ltv_undefined(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> None:
    """February began with X and Y and lost nobody: churn ratio 0 is exported (its denominator is
    2), so LTV and lifetime are absent and pulse_ltv_undefined is 1, although ARPA exists."""
    ledger = revenue_ledger(
        [
            (START, "2026-01-05T00:00:00Z", "X", "X-s", price("100")),
            (START, "2026-01-05T00:00:00Z", "Y", "Y-s", price("50")),
            (CANCEL, "2026-03-10T00:00:00Z", "X", "X-s", {"plan": "team"}),
        ]
    )
    reg = registry_of(RevenueCollector(revenue_view(ledger)))
    assert value(reg, "pulse_mrr", USD) == approx(50)
    assert value(reg, "pulse_arpa", USD) == approx(50 / 1)
    assert value(reg, "pulse_customer_churn_ratio", {"window": "last_month"}) == 0  # 0 / 2, present
    assert value(reg, "pulse_customer_retention_ratio", {"window": "last_month"}) == 1  # 2 / 2
    assert value(reg, "pulse_grr_ratio", {"window": "last_month"}) == 1  # 150 / 150
    assert value(reg, "pulse_nrr_ratio", {"window": "last_month"}) == 1
    assert value(reg, "pulse_revenue_churn_ratio", {"kind": "gross", "window": "last_month"}) == 0
    assert value(reg, "pulse_quick_ratio", {"window": "last_month"}) is None  # nothing lost: 0 / 0
    assert value(reg, "pulse_ltv", USD) is None
    assert value(reg, "pulse_customer_lifetime_months") is None
    assert value(reg, "pulse_ltv_undefined") == 1
    # March: X of the two churned; quick ratio 0 / 100 is a present 0; renewals 0 / 1 cancellation
    assert value(reg, "pulse_customer_churn_ratio", {"window": "month"}) == approx(1 / 2)
    assert value(reg, "pulse_customer_retention_ratio", {"window": "month"}) == approx(1 / 2)
    assert value(reg, "pulse_revenue_churn_ratio", {"kind": "gross", "window": "month"}) == approx(100 / 150)
    assert value(reg, "pulse_nrr_ratio", {"window": "month"}) == approx((150 - 100) / 150)
    assert value(reg, "pulse_quick_ratio", {"window": "month"}) == 0
    assert value(reg, "pulse_renewal_ratio", {"by": "count", "window": "month"}) == 0
    assert value(reg, "pulse_renewal_ratio", {"by": "amount", "window": "month"}) == 0


@pytest.fixture
def everyone_gone(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> CollectorRegistry:
    """X paid from January and cancelled on 10 February; a trial on 3 March moves the watermark
    into March. So February's churn ratio is 1 / 1 and nobody is active now."""
    ledger = revenue_ledger(
        [
            (START, "2026-01-05T00:00:00Z", "X", "X-s", price("100")),
            (CANCEL, "2026-02-10T00:00:00Z", "X", "X-s", {"plan": "team"}),
            (TRIAL, "2026-03-03T00:00:00Z", "Z", "Z-t", {"plan": "team"}),
        ]
    )
    return registry_of(RevenueCollector(revenue_view(ledger)))


def test_no_active_customer_has_no_arpa_ltv_or_plan_series(everyone_gone: CollectorRegistry) -> None:
    """ARPA = MRR / 0 customers is absent, so LTV (ARPA × margin / churn) is too; by-plan and
    by-segment gauges have no series."""
    assert value(everyone_gone, "pulse_mrr", USD) == 0
    assert value(everyone_gone, "pulse_arr", USD) == 0
    assert value(everyone_gone, "pulse_customers_active") == 0
    assert value(everyone_gone, "pulse_arpa", USD) is None
    assert value(everyone_gone, "pulse_ltv", USD) is None
    assert value(everyone_gone, "pulse_customer_churn_ratio", {"window": "last_month"}) == 1  # 1 / 1
    assert value(everyone_gone, "pulse_trials_started", {"window": "month"}) == 1
    assert value(everyone_gone, "pulse_trial_conversion_ratio", {"window": "month"}) is None  # none ended
    for name in (
        "pulse_mrr_by_plan",
        "pulse_customers_active_by_plan",
        "pulse_mrr_by_segment",
        "pulse_customers_active_by_segment",
    ):
        families = [f for f in everyone_gone.collect() if f.name == name]
        assert len(families) == 1 and families[0].samples == [], name


def test_lifetime_is_defined_by_churn_alone(everyone_gone: CollectorRegistry) -> None:
    """docs: lifetime = 1 / last month's customer churn ratio, absent only when that churn is 0.
    February's churn is 1 / 1, so the expected lifetime is 1 month even with no active customer."""
    assert value(everyone_gone, "pulse_customer_lifetime_months") == approx(1 / 1)


def test_ltv_undefined_when_nobody_is_active(everyone_gone: CollectorRegistry) -> None:
    """docs (HELP): pulse_ltv_undefined is 1 when pulse_ltv is not defined: February's churn is 1,
    but with no active customer there is no ARPA, so no LTV."""
    assert value(everyone_gone, "pulse_ltv", USD) is None
    assert value(everyone_gone, "pulse_ltv_undefined") == 1


def test_empty_view_before_any_event(revenue_view: ViewFactory, registry_of: RegistryFactory) -> None:
    """No event yet, so no watermark: MRR 0, no ARPA, and no window or ratio series at all."""
    reg = registry_of(RevenueCollector(revenue_view()))
    assert value(reg, "pulse_mrr", USD) == 0
    assert value(reg, "pulse_arr", USD) == 0
    assert value(reg, "pulse_customers_active") == 0
    assert value(reg, "pulse_arpa", USD) is None
    assert value(reg, "pulse_committed_mrr", USD) == 0 and value(reg, "pulse_scheduled_churn_mrr", USD) == 0
    now = ("pulse_mrr", "pulse_arr", "pulse_customers_active", "pulse_committed_mrr", "pulse_scheduled_churn_mrr")
    for family in reg.collect():
        if family.name not in (*now, "pulse_ltv_undefined"):
            assert family.samples == [], family.name


def test_empty_view_ltv_is_undefined(revenue_view: ViewFactory, registry_of: RegistryFactory) -> None:
    """docs (HELP): pulse_ltv_undefined is 1 when last month's churn ratio is 0 *or unknown*;
    with no event at all it is unknown."""
    reg = registry_of(RevenueCollector(revenue_view()))
    assert value(reg, "pulse_ltv_undefined") == 1


def test_plans_beyond_the_top_n_are_summed_as_other_and_long_labels_are_cut(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> None:
    """Label values come from events: bounded in number (top N by MRR, the rest `other`, a real
    plan named `other` included) and in length (64 characters, a hash keeping them apart)."""
    huge = "x" * 300_000  # the 300 KB attribute of the finding, had the contract let it through
    long_a, long_b = "enterprise-" + "a" * 100, "enterprise-" + "a" * 99 + "b"
    rows = [
        (START, "2026-03-01T00:00:00Z", "P1", "s1", {**price("500", long_a), **country(huge[:256])}),
        (START, "2026-03-01T00:00:00Z", "P2", "s2", price("400", long_b)),
        (START, "2026-03-01T00:00:00Z", "P3", "s3", price("30", "other")),
        (START, "2026-03-01T00:00:00Z", "P4", "s4", price("20", "basic")),
        (START, "2026-03-01T00:00:00Z", "P5", "s5", price("10", "starter")),
    ]
    registry = registry_of(RevenueCollector(revenue_view(revenue_ledger(rows), top_n=2)))
    samples = [s for m in registry.collect() if m.name == "pulse_mrr_by_plan" for s in m.samples]
    plans = {s.labels["plan"]: s.value for s in samples}
    assert len(plans) == 3 and all(len(p) <= 64 for p in plans)
    assert plans["other"] == 30 + 20 + 10
    (a,) = [p for p, v in plans.items() if v == 500]
    (b,) = [p for p, v in plans.items() if v == 400]
    assert a != b and a.startswith("enterprise-aaa") and b.startswith("enterprise-aaa")
    assert sum(plans.values()) == value(registry, "pulse_mrr", USD)
    segments = [s for m in registry.collect() if m.name == "pulse_mrr_by_segment" for s in m.samples]
    assert segments and all(len(s.labels["value"]) <= 64 for s in segments)


def test_a_scheduled_cancellation_is_committed_now_and_churn_at_its_effective_date(
    revenue_ledger: LedgerFactory, revenue_view: ViewFactory, registry_of: RegistryFactory
) -> None:
    """Issue 11 #9: A pays 100; on Mar 5 a cancellation is announced, effective Mar 31; on
    Mar 10 A upgrades to 150 (before the effective date: it counts, it is not late); B pays 50.
    At the watermark Mar 20: MRR now 200 (A150 B50), committed 50, scheduled churn 150; March's
    row already holds A's churn of 150 on Mar 31, this month's movements to date do not."""
    ledger = revenue_ledger(
        [
            (START, "2026-02-01T00:00:00Z", "A", "a", price("100")),
            (START, "2026-02-01T00:00:00Z", "B", "b", price("50")),
            (CANCEL, "2026-03-05T00:00:00Z", "A", "a", {"effective_at": "2026-03-31T00:00:00Z"}),
            (CHANGE, "2026-03-10T00:00:00Z", "A", "a", price("150")),
            (RENEW, "2026-03-20T12:00:00Z", "B", "b"),
        ]
    )
    assert ledger.watermark is not None and ledger.watermark.startswith("2026-03-20")  # announcements only
    view = revenue_view(ledger)
    reg = registry_of(RevenueCollector(view))
    assert value(reg, "pulse_mrr", USD) == 200 and value(reg, "pulse_customers_active") == 2
    assert value(reg, "pulse_committed_mrr", USD) == 50
    assert value(reg, "pulse_scheduled_churn_mrr", USD) == 150
    assert value(reg, "pulse_mrr_movement", {"kind": "churn", "window": "month", **USD}) == 0  # not yet
    assert value(reg, "pulse_mrr_movement", {"kind": "expansion", "window": "month", **USD}) == 50
    march = view.month("2026-03")["row"]
    assert (march["mrr"], march["churned_mrr"], march["expansion_mrr"]) == ("50.00", "150.00", "50.00")
    # once the watermark passes Mar 31 the churn has happened: now = committed
    later = revenue_ledger(
        [
            (START, "2026-02-01T00:00:00Z", "A", "a", price("100")),
            (CANCEL, "2026-03-05T00:00:00Z", "A", "a", {"effective_at": "2026-03-31T00:00:00Z"}),
            (START, "2026-04-02T00:00:00Z", "C", "c", price("70")),
        ]
    )
    reg = registry_of(RevenueCollector(revenue_view(later)))
    assert value(reg, "pulse_mrr", USD) == 70 == value(reg, "pulse_committed_mrr", USD)
    assert value(reg, "pulse_scheduled_churn_mrr", USD) == 0
