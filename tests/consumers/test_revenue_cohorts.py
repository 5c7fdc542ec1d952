"""The cohort ratios' identities on random streams, and every monthly figure the same for 1, 6
and 12 partitions (replayed through the workers' pipelines, as `pulse report` does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.revenue.buckets import merge
from consumers.revenue.definitions import month_ratios, months_between
from consumers.revenue.processor import RevenueProcessor
from consumers.revenue.reports import monthly_mrr_rows
from stream.jsonl import dump_line
from stream.replay import replay_file
from stream.settings import PulseSettings

START = datetime(2026, 1, 1, tzinfo=UTC)

step = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
    st.sampled_from(["s1", "s2"]),
    st.sampled_from(["subscription_started", "subscription_changed", "subscription_cancelled", "trial_started"]),
    st.integers(0, 24 * 100),  # hours after START
    st.sampled_from(["0", "10", "49.90", "100", "960"]),
    st.sampled_from(["month", "year"]),
    st.integers(0, 25),  # event id: ids repeat across customers, and resends happen
)


def write_file(steps: list[tuple[Any, ...]], path: Path) -> None:
    lines = []
    for cust, sub, kind, hours, amount, interval, n in sorted(steps, key=lambda s: s[3]):
        event: dict[str, Any] = {
            "event_id": f"e{n}",
            "type": kind,
            "customer_id": cust,
            "subscription_id": f"{cust}-{sub}",
            "plan": interval,
            "occurred_at": (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
        }
        if kind in ("subscription_started", "subscription_changed"):
            event.update(amount=amount, interval=interval, currency="USD")
        lines.append(dump_line("subscriptions", cust, event))
    path.write_bytes(b"".join(lines))


def replayed(path: Path, partitions: int) -> RevenueProcessor:
    result = replay_file(path, PulseSettings(topic_partitions=partitions), ("subscriptions",))
    processor = result.pipelines["subscriptions"].processor
    assert isinstance(processor, RevenueProcessor)
    return processor


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(step, min_size=1, max_size=40))
def test_cohort_identities_and_the_same_figures_on_any_partition_count(
    tmp_path: Path, steps: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "events.jsonl"
    write_file(steps, path)
    by_count = {n: replayed(path, n) for n in (1, 6, 12)}
    rows = {n: monthly_mrr_rows(p) for n, p in by_count.items()}
    assert rows[1] == rows[6] == rows[12]
    processor = by_count[6]
    buckets = merge(lg.buckets for lg in processor.ledgers.values())
    one, zero = Decimal(1), Decimal(0)
    # new customers by acquisition channel add up to the new customers, in every month and day
    for fields in (f for b, f in buckets.items() if b.startswith(("m:", "d:"))):
        by_channel = [v for k, v in fields.items() if k.startswith("acq_customers:")]
        assert sum(by_channel, zero) == fields.get("new_customers", zero)
        assert sum((v for k, v in fields.items() if k.startswith("acq_mrr:")), zero) == fields.get("new_mrr", zero)
    for month in months_between("2026-01", "2026-05"):
        r = month_ratios(buckets, month)
        if r["customers_start"] == 0:
            assert r["customer_churn_ratio"] is None and r["nrr_ratio"] is None
            continue
        assert r["customer_retention_ratio"] + r["customer_churn_ratio"] == one
        assert zero <= r["customer_retention_ratio"] <= one
        assert r["grr_ratio"] + r["gross_revenue_churn_ratio"] == one
        assert r["nrr_ratio"] + r["net_revenue_churn_ratio"] == one
        assert zero <= r["grr_ratio"] <= min(one, r["nrr_ratio"])
        assert r["mrr_churn_ratio"] >= zero


def started(
    event_id: str, customer: str, amount: str, currency: str = "USD", at: str = "2026-03-01T00:00:00Z"
) -> bytes:
    event = {"event_id": event_id, "type": "subscription_started", "customer_id": customer, "plan": "team",
             "subscription_id": f"{customer}-s", "occurred_at": at, "amount": amount, "interval": "month",
             "currency": currency}  # fmt: skip
    return dump_line("subscriptions", customer, event)


def test_one_id_for_two_customers_counts_twice_on_any_partition_count(tmp_path: Path) -> None:
    """Issue 11 #3: 100 + 300 with 6 partitions, and 100 alone with 1, before."""
    path = tmp_path / "e.jsonl"
    path.write_bytes(started("same", "a", "100") + started("same", "b", "300"))
    for n in (1, 6, 12):
        assert [row["mrr"] for row in monthly_mrr_rows(replayed(path, n))] == ["400.00"], n


def test_a_conflicting_resend_is_dead_lettered_and_a_corrected_rejection_counts(tmp_path: Path) -> None:
    """Issue 11 #5 and #6: same id and customer, other amount: `conflict`, the first counts;
    an event refused for its currency (no rate) is not remembered, so its fix counts."""
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        started("e1", "a", "100")
        + started("e1", "a", "100")  # an identical resend: a quiet duplicate
        + started("e1", "a", "250")  # the same id with another amount
        + started("e2", "b", "90", currency="JPY")  # no rate for JPY
        + started("e2", "b", "90")  # the corrected resend
    )
    result = replay_file(path, PulseSettings(topic_partitions=6), ("subscriptions",))
    processor = result.pipelines["subscriptions"].processor
    assert isinstance(processor, RevenueProcessor)
    assert [row["mrr"] for row in monthly_mrr_rows(processor)] == ["190.00"]
    assert result.duplicates["subscriptions"] == 1 and result.processed["subscriptions"] == 2
    assert {reason.value: n for (_, reason), n in result.rejected.items()} == {"conflict": 1, "currency": 1}
