"""The evaluator and its state machine: for, repeat, silences, templating, a restart."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.evaluator import Evaluator
from alerts.history import MemoryHistory
from alerts.model import AlertState, NotificationStatus, Sample
from alerts.rules import RulesFile, parse_rules
from alerts.store import MemoryAlertStore, Silence

DAY = 740_000  # a UTC day ordinal (2027)
T0 = 1_800_000_000.0


def rules(**rule: Any) -> RulesFile:
    base: dict[str, Any] = {
        "name": "cac_high",
        "metric": "pulse_cac",
        "match": {"window": "30d"},
        "condition": {"type": "threshold", "above": 100, "resolve": 90},
        "severity": "critical",
        "labels": {"team": "growth"},
        "annotations": {
            "summary": "CAC {labels[channel]} is {value:.1f} (over {threshold:.0f})",
            "description": "baseline {baseline}",
            "runbook_url": "https://runbooks/cac",
        },
        "channels": ["hook"],
    }
    return parse_rules({"external_url": "http://pulse/alerts", "channels": {"hook": {"type": "webhook", "url": "http://x"}},
                        "rules": [{**base, **rule}]})  # fmt: skip


def cac(value: float, channel: str = "ads", window: str = "30d") -> Sample:
    return Sample("pulse_cac", (("channel", channel), ("window", window)), value)


class Harness:
    """An evaluator over a store that outlives it (a worker restart builds a new evaluator)."""

    def __init__(self, r: RulesFile) -> None:
        self.rules, self.store, self.history = r, MemoryAlertStore(), MemoryHistory()
        self.evaluator = Evaluator(r, self.history, self.store)

    def restart(self) -> None:
        self.evaluator = Evaluator(self.rules, self.history, self.store)

    async def run(self, samples: list[Sample], at: float, day: int = DAY) -> list[Any]:
        changes = await self.evaluator.evaluate(samples, at, day)
        await self.store.save([c.record for c in changes])
        return [c.notification for c in changes if c.notification is not None]


async def test_fires_once_then_resolves_with_hysteresis_and_a_rendered_notification() -> None:
    h = Harness(rules())
    assert await h.run([cac(99)], T0) == []
    [fired] = await h.run([cac(120), cac(500, window="90d")], T0 + 15)  # the 90d series is not selected
    assert fired.status is NotificationStatus.FIRING and fired.rule == "cac_high"
    assert fired.labels == {
        "channel": "ads",
        "window": "30d",
        "team": "growth",
        "alertname": "cac_high",
        "severity": "critical",
    }
    assert fired.annotations == {"summary": "CAC ads is 120.0 (over 100)", "description": "baseline nan",
                                 "runbook_url": "https://runbooks/cac"}  # fmt: skip
    assert fired.starts_at.timestamp() == T0 + 15 and fired.ends_at is None and fired.value == 120
    assert fired.channels == ("hook",) and fired.url == "http://pulse/alerts"
    assert await h.run([cac(95)], T0 + 30) == []  # inside the hysteresis band: still firing
    [resolved] = await h.run([cac(85)], T0 + 45)
    assert resolved.status is NotificationStatus.RESOLVED and resolved.fingerprint == fired.fingerprint
    assert resolved.ends_at is not None and resolved.ends_at.timestamp() == T0 + 45
    assert resolved.id != fired.id
    assert await h.run([cac(85)], T0 + 60) == []


async def test_for_holds_it_pending_until_the_condition_lasted() -> None:
    h = Harness(rules(**{"for": "10m"}))
    assert await h.run([cac(120)], T0) == []
    assert (await h.store.records("cac_high"))[cac(1).labels].state is AlertState.PENDING
    assert await h.run([cac(120)], T0 + 599) == []
    [fired] = await h.run([cac(120)], T0 + 600)
    assert fired.status is NotificationStatus.FIRING


async def test_a_pending_alert_that_stops_holding_never_notifies() -> None:
    h = Harness(rules(**{"for": "10m"}))
    await h.run([cac(120)], T0)
    assert await h.run([cac(50)], T0 + 300) == []
    assert (await h.store.records("cac_high"))[cac(1).labels].state is AlertState.INACTIVE
    assert await h.run([cac(120)], T0 + 700) == []  # pending again from scratch


async def test_repeat_interval_resends_a_firing_alert_with_a_new_id() -> None:
    h = Harness(rules(repeat_interval="1h"))
    [first] = await h.run([cac(120)], T0)
    assert await h.run([cac(120)], T0 + 3599) == []
    [again] = await h.run([cac(120)], T0 + 3600)
    assert again.status is NotificationStatus.FIRING and again.id != first.id
    assert again.starts_at == first.starts_at


async def test_without_repeat_a_long_incident_notifies_once() -> None:
    h = Harness(rules())
    assert len(await h.run([cac(120)], T0)) == 1
    for i in range(1, 50):
        assert await h.run([cac(120)], T0 + i * 3600) == []


async def test_a_silence_suppresses_then_the_alert_notifies_when_it_ends() -> None:
    h = Harness(rules())
    await h.store.add_silence(Silence("cac_high", T0 + 100, {"channel": "ads"}))
    both = [cac(120), cac(130, channel="seo")]
    [seo] = await h.run(both, T0)  # seo is not silenced; ads fires silently
    assert seo.labels["channel"] == "seo"
    assert await h.run(both, T0 + 50) == []
    [late] = await h.run(both, T0 + 100)  # the silence ended, still firing: notified now
    assert late.labels["channel"] == "ads" and late.status is NotificationStatus.FIRING


async def test_a_resolution_of_a_silenced_incident_is_not_notified() -> None:
    h = Harness(rules())
    await h.store.add_silence(Silence("cac_high", T0 + 1000, {}))
    assert await h.run([cac(120)], T0) == []
    assert await h.run([cac(50)], T0 + 10) == []
    assert (await h.store.records("cac_high"))[cac(1).labels].state is AlertState.RESOLVED


async def test_a_restarted_evaluator_neither_renotifies_nor_forgets() -> None:
    h = Harness(rules())
    assert len(await h.run([cac(120)], T0)) == 1
    h.restart()
    assert await h.run([cac(120)], T0 + 15) == []  # still firing: nothing new
    h.restart()
    [resolved] = await h.run([cac(50)], T0 + 30)  # the open incident is remembered
    assert resolved.status is NotificationStatus.RESOLVED


async def test_a_series_that_disappears_resolves() -> None:
    h = Harness(rules())
    await h.run([cac(120)], T0)
    [resolved] = await h.run([], T0 + 15)
    assert resolved.status is NotificationStatus.RESOLVED and resolved.value is None


async def test_drift_needs_its_baseline_and_records_one_point_a_day() -> None:
    drift = {"type": "drift", "method": "relative", "threshold": 0.2, "resolve": 0.1,
             "baseline_points": 5, "min_baseline_points": 3}  # fmt: skip
    h = Harness(rules(condition=drift))
    for d, value in enumerate([100.0, 100.0]):
        await h.run([cac(value)], T0 + d * 86400, DAY + d)
    assert await h.run([cac(500)], T0 + 2 * 86400 - 60, DAY + 1) == []  # the same day again: 2 points
    record = (await h.store.records("cac_high"))[cac(1).labels]
    assert record.state is AlertState.INACTIVE and record.silent == "1 of the 3 baseline points needed"
    assert await h.history.points("pulse_cac", cac(1).labels, DAY + 10, 10) == [(DAY, 100.0), (DAY + 1, 500.0)]
    await h.run([cac(100)], T0 + 2 * 86400 - 30, DAY + 1)  # the day's last value is its point
    await h.run([cac(100)], T0 + 2 * 86400, DAY + 2)
    [fired] = await h.run([cac(125)], T0 + 3 * 86400, DAY + 3)
    assert fired.baseline == 100 and fired.value == 125


async def test_monthly_points_take_each_months_last_day() -> None:
    from datetime import date

    drift = {"type": "drift", "method": "zscore", "threshold": 3, "every": "month", "baseline_points": 12,
             "min_baseline_points": 3}  # fmt: skip
    h = Harness(rules(metric="pulse_customer_churn_ratio", match={}, condition=drift))
    series = (("window", "last_month"),)
    for month, value in [(1, 0.02), (2, 0.03), (3, 0.02), (4, 0.03)]:
        for day_of_month, noise in ((1, 9.0), (20, value)):  # a month's last point wins
            await h.history.put(
                "pulse_customer_churn_ratio", series, date(2027, month, day_of_month).toordinal(), noise
            )
    at = date(2027, 5, 3).toordinal()
    [fired] = await h.run([Sample("pulse_customer_churn_ratio", series, 0.09)], T0, at)
    assert fired.baseline == pytest.approx(0.025)


async def test_two_rules_on_one_metric_keep_their_own_state() -> None:
    r = parse_rules({"rules": [
        {"name": "high", "metric": "pulse_cac", "condition": {"type": "threshold", "above": 100}},
        {"name": "low", "metric": "pulse_cac", "condition": {"type": "threshold", "below": 10}},
    ]})  # fmt: skip
    h = Harness(r)
    notes = await h.run([cac(120), cac(5, channel="seo")], T0)
    assert sorted((n.rule, n.labels["channel"]) for n in notes) == [("high", "ads"), ("low", "seo")]
