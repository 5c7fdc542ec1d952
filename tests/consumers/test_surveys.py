"""Survey definitions of docs/metrics.md ("Surveys") on small hand-computed inputs, and every
survey gauge's value on a fixture (expected values worked out by hand)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from consumers.surveys.collector import SurveysCollector
from consumers.surveys.definitions import Kind, daily_row, nps, satisfied_ratio
from consumers.surveys.ledger import SurveysConfig, SurveysLedger
from consumers.surveys.view import SurveysView, merge_days
from stream.decoding import Accepted, decode_record
from stream.outcomes import APPLIED, RejectReason
from stream.snapshots import SnapshotStore
from stream.topics import spec_for

W = datetime(2026, 6, 30, 12, tzinfo=UTC)
_n = 0


def answer(kind: str, score: int, at: datetime = W, touchpoint: str | None = None, ticket: str | None = None) -> Any:
    global _n
    _n += 1
    raw: dict[str, Any] = {"event_id": f"s{_n}", "type": "survey_response", "occurred_at": at.isoformat(),
                           "account_id": f"a{_n % 3}", "kind": kind, "score": score}  # fmt: skip
    if touchpoint:
        raw["touchpoint"] = touchpoint
    if ticket:
        raw["ticket_id"] = ticket
    (result,) = decode_record(spec_for("surveys"), orjson.dumps(raw))
    assert isinstance(result, Accepted), result
    return result.event


def ledger(*events: Any, **config: Any) -> SurveysLedger:
    lg = SurveysLedger(SurveysConfig(**config), {}, {})
    for e in events:
        assert lg.apply(e) is APPLIED
    lg.flush()
    return lg


def tally(counts: dict[int, int], size: int) -> list[int]:
    return [counts.get(score, 0) for score in range(size)]


def test_8_satisfied_of_10_csat_answers_is_80_percent() -> None:
    assert satisfied_ratio(Kind.CSAT, tally({5: 5, 4: 3, 3: 1, 1: 1}, 6)) == pytest.approx(0.8)


def test_50_percent_promoters_and_40_percent_detractors_is_nps_plus_10() -> None:
    assert nps(tally({10: 3, 9: 2, 8: 1, 6: 2, 0: 2}, 11)) == pytest.approx(10)


def test_nps_with_no_detractors_and_no_answers() -> None:
    assert nps(tally({9: 1, 7: 3}, 11)) == pytest.approx(25)
    assert nps(tally({}, 11)) is None and satisfied_ratio(Kind.CSAT, None) is None


def test_ces_counts_5_to_7_as_low_effort() -> None:
    assert satisfied_ratio(Kind.CES, tally({7: 1, 5: 1, 4: 1, 1: 1}, 8)) == pytest.approx(0.5)


def test_daily_row_and_30_days() -> None:
    day = W.date().toordinal()
    lg = ledger(
        answer("nps", 10), answer("nps", 0),  # today: +0
        answer("nps", 9, W - timedelta(days=29, hours=12)),  # the 30th day back: in
        answer("nps", 0, W - timedelta(days=30, hours=12)),  # the 31st: out
        answer("csat", 5), answer("csat", 2),
        answer("ces", 7), answer("ces", 3),
        grace_seconds=40 * 86400,
    )  # fmt: skip
    row = daily_row(merge_days([lg.days]), day)
    assert row == {
        "date": "2026-06-30", "nps_responses": 2, "nps": 0.0, "nps_30d": 33.3333,  # (2 - 1) / 3, to 4 decimals
        "csat_responses": 2, "csat": 50.0, "csat_30d": 50.0, "ces_responses": 2, "ces": 50.0, "ces_avg": 5.0,
    }  # fmt: skip


def test_late_beyond_grace_is_refused_and_old_days_are_dropped() -> None:
    lg = ledger(answer("nps", 9), keep_days=5)
    refused = lg.apply(answer("nps", 9, W - timedelta(days=3)))
    assert getattr(refused, "reason", None) is RejectReason.LATE
    assert lg.apply(answer("nps", 9, W - timedelta(days=1))) is APPLIED
    lg.apply(answer("nps", 9, W + timedelta(days=7)))
    assert sorted(lg.days) == [(W + timedelta(days=7)).date().toordinal()]
    lg.flush()
    assert sorted(lg.store) == [str((W + timedelta(days=7)).date().toordinal())]


def registry(*ledgers: SurveysLedger) -> CollectorRegistry:
    view = SurveysView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
    view.days = merge_days(lg.days for lg in ledgers)
    view.watermark = max(lg.watermark for lg in ledgers if lg.watermark is not None)
    reg = CollectorRegistry()
    reg.register(SurveysCollector(view))
    return reg


def test_every_survey_gauge_by_window_and_touchpoint() -> None:
    """Two partitions. 30d: NPS 10 (support), 9 (onboarding), 3 (no touchpoint) today and a 6
    (support) 40 days ago, inside 90d only; CSAT 5 and 1 linked to a ticket, 4 at onboarding;
    CES 6 and 2."""
    a = ledger(answer("nps", 10, touchpoint="support"), answer("nps", 9, touchpoint="onboarding"),
               answer("csat", 5, ticket="t1", touchpoint="support"), answer("ces", 6),
               grace_seconds=50 * 86400)  # fmt: skip
    a.apply(answer("nps", 6, W - timedelta(days=40), touchpoint="support"))
    b = ledger(answer("nps", 3), answer("csat", 1, ticket="t2"), answer("csat", 4, touchpoint="onboarding"),
               answer("ces", 2))  # fmt: skip
    reg = registry(a, b)

    def v(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    assert v("pulse_nps", window="30d", touchpoint="all") == pytest.approx(100 * (2 - 1) / 3)
    assert v("pulse_nps", window="90d", touchpoint="all") == pytest.approx(100 * (2 - 2) / 4)
    assert v("pulse_nps", window="30d", touchpoint="support") == 100
    assert v("pulse_nps", window="90d", touchpoint="support") == 0
    assert v("pulse_nps", window="30d", touchpoint="unknown") == -100
    assert v("pulse_nps", window="30d", touchpoint="feature_launch") is None  # no answers: absent
    assert v("pulse_nps_responses", window="90d", category="promoter") == 2
    assert v("pulse_nps_responses", window="90d", category="passive") == 0
    assert v("pulse_nps_responses", window="90d", category="detractor") == 2
    assert v("pulse_csat_ratio", window="30d", touchpoint="all") == pytest.approx(2 / 3)
    assert v("pulse_csat_ratio", window="30d", touchpoint="ticket") == pytest.approx(1 / 2)
    assert v("pulse_csat_ratio", window="30d", touchpoint="onboarding") == 1
    assert v("pulse_ces_ratio", window="30d") == pytest.approx(1 / 2)
    assert v("pulse_ces_score_avg", window="30d") == pytest.approx(4)


def test_a_view_without_answers_exports_no_series() -> None:
    view = SurveysView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
    reg = CollectorRegistry()
    reg.register(SurveysCollector(view))
    assert all(not family.samples for family in reg.collect())
    assert date.fromordinal(W.date().toordinal()) == W.date()
