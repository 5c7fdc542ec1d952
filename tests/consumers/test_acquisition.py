"""Acquisition definitions of docs/metrics.md ("Acquisition") on small hand-computed inputs,
through the same replay the report runs: CAC, undefined CAC, two currencies, reactivations
and trials not new customers, retention spend, a channel with spend and no customers, CAC
payback, channel ROI, LTV:CAC; and every gauge's value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumers.acquisition.collector import AcquisitionCollector
from consumers.acquisition.definitions import Inputs, cac, channel_figures, payback_months, roi
from consumers.acquisition.reports import monthly_acquisition_rows
from consumers.acquisition.view import AcquisitionView, Joined
from stream.jsonl import dump_line
from stream.replay import replay_file
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore

FX = '{"USD": 1, "EUR": 1.1}'
_n = 0


def spend(channel: str, amount: str, at: str, currency: str = "USD") -> bytes:
    global _n
    _n += 1
    event = {"event_id": f"sp{_n}", "type": "spend_recorded", "channel": channel, "amount": amount,
             "currency": currency, "occurred_at": at}  # fmt: skip
    return dump_line("marketing-spend", channel, event)


def start(customer: str, amount: str, at: str, channel: str | None = None, kind: str = "subscription_started") -> bytes:
    global _n
    _n += 1
    event: dict[str, Any] = {"event_id": f"s{_n}", "type": kind, "customer_id": customer, "plan": "team",
                             "subscription_id": f"{customer}-{_n}", "occurred_at": at}  # fmt: skip
    if kind == "subscription_started":
        event.update(amount=amount, interval="month", currency="USD")
    if channel is not None:
        event["acquisition_channel"] = channel
    return dump_line("subscriptions", customer, event)


def cancel(customer: str, subscription: str, at: str) -> bytes:
    global _n
    _n += 1
    event = {"event_id": f"c{_n}", "type": "subscription_cancelled", "customer_id": customer,
             "subscription_id": subscription, "plan": "team", "occurred_at": at}  # fmt: skip
    return dump_line("subscriptions", customer, event)


def report(
    tmp_path: Path, lines: list[bytes], monkeypatch: pytest.MonkeyPatch, **env: str
) -> dict[tuple[str, str], Any]:
    monkeypatch.setenv("PULSE_FX_RATES", FX)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    result = replay_file(path, PulseSettings(topic_partitions=3), ("marketing-spend", "subscriptions"))
    rows = monthly_acquisition_rows(
        result.pipelines["marketing-spend"].processor, {"subscriptions": result.pipelines["subscriptions"].processor}
    )
    return {(r["month"], r["channel"]): r for r in rows}


def test_cac_is_spend_over_new_customers_in_two_currencies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [spend("google", "1000", "2026-03-02T00:00:00Z"), spend("google", "1000", "2026-03-20T00:00:00Z", "EUR"),
             start("a", "100", "2026-03-05T00:00:00Z", "google"), start("b", "50", "2026-03-06T00:00:00Z", "google"),
             start("c", "30", "2026-03-07T00:00:00Z")]  # fmt: skip
    rows = report(tmp_path, lines, monkeypatch)
    google = rows[("2026-03", "google")]
    assert (google["spend"], google["new_customers"], google["cac"]) == ("2100.00", 2, "1050.00")  # 1000 + 1000 × 1.1
    assert google["payback_months"] == pytest.approx(1050 / 75, abs=1e-4)  # ARPA of the new: 75
    assert rows[("2026-03", "unknown")]["cac"] == "0.00"  # new customers without spend
    everyone = rows[("2026-03", "all")]
    assert (everyone["spend"], everyone["new_customers"], everyone["cac"]) == ("2100.00", 3, "700.00")
    assert everyone["ltv_to_cac"] is None  # no churn yet: LTV undefined


def test_reactivations_and_trials_are_not_new_customers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [start("a", "100", "2026-01-05T00:00:00Z", "ads"), cancel("a", "a-1", "2026-02-01T00:00:00Z"),
             start("t", "0", "2026-03-01T00:00:00Z", "ads", kind="trial_started"),
             start("a", "100", "2026-03-03T00:00:00Z", "ads"),  # back: a reactivation
             spend("ads", "500", "2026-03-04T00:00:00Z")]  # fmt: skip
    rows = report(tmp_path, lines, monkeypatch)
    assert rows[("2026-01", "ads")]["new_customers"] == 1
    march = rows[("2026-03", "ads")]
    assert (march["new_customers"], march["cac"], march["payback_months"]) == (0, None, None)  # undefined, not 0
    assert rows[("2026-03", "all")]["cac"] is None


def test_retention_spend_is_not_in_cac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [spend("ads", "600", "2026-03-02T00:00:00Z"), spend("crm", "400", "2026-03-02T00:00:00Z"),
             start("a", "100", "2026-03-05T00:00:00Z", "ads")]  # fmt: skip
    rows = report(tmp_path, lines, monkeypatch, PULSE_RETENTION_SPEND_CHANNELS="crm")
    assert ("2026-03", "crm") not in rows
    assert rows[("2026-03", "all")]["spend"] == "600.00" and rows[("2026-03", "all")]["cac"] == "600.00"


def test_payback_roi_and_ltv_to_cac_worked_examples() -> None:
    assert cac(Decimal(10_000), 20) == 500 and cac(Decimal(5000), 0) is None
    assert payback_months(Decimal(600), Decimal(100), Decimal("0.8")) == Decimal("7.5")
    assert roi(Decimal(1000), Decimal(6000), Decimal(1)) == 1  # (1000 × 12 − 6000) / 6000
    assert roi(Decimal(0), Decimal(500), Decimal(1)) == -1  # spend and no customers: all lost
    assert roi(Decimal(100), Decimal(0), Decimal(1)) is None
    inputs = Inputs({"ads": Decimal(600), "tv": Decimal(900)}, {"ads": (2, Decimal(200))})
    ads, tv, every = channel_figures(inputs, Decimal("0.05"), Decimal(3000), Decimal(1))
    assert (ads.cac, ads.ltv, ads.ltv_to_cac) == (300, 2000, Decimal(2000) / 300)  # LTV 100 / 0.05
    assert (tv.cac, tv.roi, tv.ltv_to_cac) == (None, -1, None)
    assert (every.channel, every.cac, every.ltv_to_cac) == ("all", 750, 4)  # the revenue LTV 3000 / 750


def test_every_acquisition_gauge() -> None:
    """Watermark 2026-03-31: ads spent 600 on 03-20 and acquired 2 customers (MRR 200) that
    day; tv spent 900 on 01-15 (in 90 days, not 30); crm is retention spend, 300."""
    from consumers.revenue.buckets import NOW

    buckets = {
        "d:2026-03-20": {"acq_customers:ads": Decimal(2), "acq_mrr:ads": Decimal(200)},
        "m:2026-03": {"acq_customers:ads": Decimal(2), "acq_mrr:ads": Decimal(200)},
        NOW: {"mrr": Decimal(200), "customers": Decimal(2)},
    }
    days = {"2026-03-20": {"ads": Decimal(600), "crm": Decimal(300)}, "2026-01-15": {"tv": Decimal(900)}}
    view = AcquisitionView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"), frozenset({"crm"}), Decimal(1))
    view.joined = Joined(days, buckets, frozenset({"crm"}), Decimal(1))
    view.watermark = 1774958400.0  # 2026-03-31T12:00:00Z
    reg = CollectorRegistry()
    reg.register(AcquisitionCollector(view))

    def v(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    assert v("pulse_marketing_spend", channel="ads", window="30d") == 600
    assert v("pulse_marketing_spend", channel="tv", window="90d") == 900
    assert v("pulse_marketing_spend", channel="tv", window="30d") is None  # no row: neither spend nor customers
    assert v("pulse_marketing_spend", channel="all", window="90d") == 1500
    assert v("pulse_marketing_spend", channel="crm", window="30d") is None  # retention spend
    assert v("pulse_new_customers", channel="ads", window="month") == 2
    assert v("pulse_cac", channel="ads", window="30d") == 300
    assert v("pulse_cac", channel="all", window="90d") == 750
    assert v("pulse_cac", channel="tv", window="90d") is None
    assert v("pulse_channel_roi_ratio", channel="ads", window="30d") == pytest.approx((200 * 12 - 600) / 600)
    assert v("pulse_channel_roi_ratio", channel="tv", window="90d") == -1
    assert v("pulse_cac_payback_months", channel="ads") == 3  # 300 / 100
    assert v("pulse_ltv_to_cac_ratio", channel="ads") is None  # no churn known: LTV undefined
    assert v("pulse_customer_retention_cost", window="30d") == 150  # 300 / 2 active customers


def lead(kind: str, lead_id: str, at: str, stage: str | None = None) -> Any:
    import orjson

    from stream.decoding import Accepted, decode_record
    from stream.topics import spec_for

    global _n
    _n += 1
    raw = {"event_id": f"l{_n}", "type": kind, "lead_id": lead_id, "channel": "ads", "occurred_at": at}
    if stage is not None:
        raw["stage"] = stage
    (result,) = decode_record(spec_for("leads"), orjson.dumps(raw))
    assert isinstance(result, Accepted), result
    return result.event


def test_a_lead_counts_once_per_stage_whatever_the_order() -> None:
    from consumers.acquisition.leads import LeadsConfig, LeadsLedger
    from stream.outcomes import APPLIED, RejectReason

    lg = LeadsLedger(LeadsConfig(), {}, {}, {})
    for e in (
        lead("lead_qualified", "x", "2026-03-03T10:00:00Z", "mql"),  # before its creation arrives
        lead("lead_created", "x", "2026-03-02T10:00:00Z"),
        lead("lead_qualified", "x", "2026-03-04T10:00:00Z", "mql"),  # again: counted once
        lead("lead_qualified", "x", "2026-03-05T10:00:00Z", "sql"),
        lead("lead_created", "y", "2026-03-05T11:00:00Z"),
    ):
        assert lg.apply(e) is APPLIED
    assert lg.days == {"2026-03-03": {"mql": 1}, "2026-03-02": {"created": 1}, "2026-03-05": {"sql": 1, "created": 1}}
    again = lg.apply(lead("lead_created", "y", "2026-03-05T12:00:00Z"))
    assert getattr(again, "reason", None) is RejectReason.SCHEMA
    old = lg.apply(lead("lead_qualified", "y", "2026-03-01T00:00:00Z", "mql"))
    assert getattr(old, "reason", None) is RejectReason.LATE


def test_lead_velocity_and_the_funnel() -> None:
    from consumers.acquisition.definitions import funnel, lead_velocity

    assert lead_velocity(1100, 1000) == pytest.approx(0.1)
    assert lead_velocity(900, 1000) == pytest.approx(-0.1) and lead_velocity(5, 0) is None
    f = funnel({"created": 200, "mql": 50, "sql": 10, "pql": 4},
               {"trials_started": Decimal(12), "trials_converted": Decimal(3), "trials_expired": Decimal(5),
                "trials_free": Decimal(2)}, signups=48, visitors=960.4)  # fmt: skip
    assert f["counts"] == {"created": 200, "mql": 50, "sql": 10, "pql": 4, "visitors": 960, "signups": 48,
                           "trials_started": 12, "trials_converted": 3, "trials_ended": 10}  # fmt: skip
    assert f["ratios"] == {"visitor_to_signup": pytest.approx(48 / 960.4), "signup_to_trial": 0.25,
                           "lead_to_mql": 0.25, "mql_to_sql": 0.2, "trial_to_paid": 0.3}  # fmt: skip
    assert set(funnel({}, {})["ratios"].values()) == {None}
    # the engagement family no longer holds the whole window: signups unknown, not 0
    assert funnel({}, {"trials_started": Decimal(3)}, None)["counts"]["signups"] is None


def test_lead_gauges() -> None:
    """Watermark 2026-03-31: 110 MQLs in March, 100 in February; 400 leads created in March."""
    leads = {"2026-03-10": {"created": 400, "mql": 110, "sql": 11}, "2026-02-10": {"mql": 100}}
    view = AcquisitionView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"), frozenset(), Decimal(1))
    view.joined = Joined({}, {"d:2026-03-10": {"trials_converted": Decimal(1), "trials_expired": Decimal(3)}},
                         frozenset(), Decimal(1), leads)  # fmt: skip
    view.watermark = 1774958400.0  # 2026-03-31T12:00:00Z
    reg = CollectorRegistry()
    reg.register(AcquisitionCollector(view))

    def v(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    assert v("pulse_leads", stage="created", window="month") == 400
    assert v("pulse_leads", stage="mql", window="90d") == 210
    assert v("pulse_funnel_conversion_ratio", step="lead_to_mql", window="30d") == pytest.approx(110 / 400)
    assert v("pulse_funnel_conversion_ratio", step="mql_to_sql", window="month") == pytest.approx(0.1)
    assert v("pulse_funnel_conversion_ratio", step="trial_to_paid", window="30d") == 0.25
    assert v("pulse_funnel_conversion_ratio", step="trial_to_paid", window="month") is None  # no month bucket
    assert v("pulse_funnel_conversion_ratio", step="signup_to_trial", window="30d") is None  # no engagement data
    assert v("pulse_lead_velocity_ratio", window="month") == pytest.approx(0.1)  # 110 vs 100
    assert v("pulse_lead_velocity_ratio", window="30d") == pytest.approx(0.1)  # 03-02..03-31 vs 01-31..03-01


def test_signup_to_trial_only_over_days_the_engagement_family_holds() -> None:
    from datetime import date, timedelta

    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(31)]
    buckets = {"m:2026-03": {"trials_started": Decimal(6)}}
    held = Joined({}, buckets, frozenset(), Decimal(1), {}, {"2026-03-05": 20, "2026-03-20": 4}, date(2026, 2, 20),
                  lambda days: 10.0 * len(days))  # fmt: skip
    f = held.funnel(days, "2026-03")
    assert f["counts"]["signups"] == 24 and f["ratios"]["signup_to_trial"] == 0.25
    assert f["counts"]["visitors"] == 310 and f["ratios"]["visitor_to_signup"] == pytest.approx(24 / 310)
    dropped = Joined({}, buckets, frozenset(), Decimal(1), {}, {"2026-03-20": 4}, date(2026, 3, 10))
    assert dropped.funnel(days, "2026-03")["ratios"]["signup_to_trial"] is None  # March 1-9 no longer held


def test_daily_points_are_the_rolling_30_days_of_each_day() -> None:
    from datetime import date

    buckets = {"d:2026-03-10": {"acq_customers:ads": Decimal(2), "acq_mrr:ads": Decimal(100)}}
    joined = Joined({"2026-03-01": {"ads": Decimal(300)}, "2026-03-31": {"ads": Decimal(100)}}, buckets,
                    frozenset(), Decimal(1))  # fmt: skip
    points = {(p["date"], p["channel"]): p for p in joined.daily_points(date(2026, 3, 30), date(2026, 3, 31))}
    assert points[("2026-03-30", "ads")]["cac_30d"] == "150.00"  # 300 / 2: March 1 is in the 30 days
    assert points[("2026-03-31", "ads")]["cac_30d"] == "50.00"  # March 1 has left, March 31 came: 100 / 2
    assert points[("2026-03-31", "all")]["roi_30d"] == pytest.approx((100 * 12 - 100) / 100)
