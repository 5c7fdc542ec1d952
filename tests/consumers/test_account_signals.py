"""Per-account signals (consumers/account_signals.py) as the support and surveys ledgers keep
them: open tickets and first response times by day, CSAT answers by day; merged over
partitions and families; forgotten past the window; the window's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from consumers.account_signals import (
    KEEP_DAYS,
    SUPPORT_KIND,
    SURVEYS_KIND,
    AccountSignals,
    SignalBook,
    merge_signals,
    signal_field,
    window_signals,
)
from consumers.support.ledger import SupportConfig, SupportLedger
from consumers.surveys.ledger import SurveysConfig, SurveysLedger
from stream.decoding import Accepted, decode_record
from stream.outcomes import APPLIED
from stream.topics import spec_for

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)
D0 = T0.date().toordinal()
_n = 0


def event(topic: str, **fields: Any) -> Any:
    global _n
    _n += 1
    (result,) = decode_record(spec_for(topic), orjson.dumps({"event_id": f"e{_n}", **fields}))
    assert isinstance(result, Accepted), result
    return result.event


def ticket(kind: str, ticket_id: str, at: datetime, account: str = "acme") -> Any:
    extra = {"channel": "chat", "category": "bug", "priority": "normal"} if kind == "ticket_opened" else {}
    return event("support-tickets", type=kind, ticket_id=ticket_id, account_id=account,
                 occurred_at=at.isoformat(), **extra)  # fmt: skip


def csat(score: int, at: datetime, account: str = "acme") -> Any:
    return event("surveys", type="survey_response", kind="csat", score=score, account_id=account,
                 occurred_at=at.isoformat())  # fmt: skip


def test_support_keeps_each_accounts_open_tickets_and_first_responses_by_day() -> None:
    store: dict[str, Any] = {}
    lg = SupportLedger(SupportConfig(), {}, {}, {}, store)
    for e in (
        ticket("ticket_opened", "a", T0), ticket("agent_replied", "a", T0 + timedelta(hours=2)),
        ticket("ticket_opened", "b", T0), ticket("ticket_opened", "c", T0, account="other"),
        ticket("ticket_resolved", "a", T0 + timedelta(hours=3)),
        ticket("agent_replied", "b", T0 + timedelta(hours=4)),
    ):  # fmt: skip
        assert lg.apply(e) is APPLIED
    assert store["acme"] == {"open": 1, "d": {str(D0): {"frt_n": 2, "frt_sum": 6 * 3600}}}
    assert store["other"] == {"open": 1, "d": {}}
    # an earlier first reply arriving late (within grace) replaces the later one
    assert lg.apply(ticket("agent_replied", "b", T0 + timedelta(hours=1))) is APPLIED
    assert store["acme"]["d"][str(D0)] == {"frt_n": 2, "frt_sum": 3 * 3600}
    # a reopening counts the ticket open again; resolving the last one empties "other"
    assert lg.apply(ticket("ticket_reopened", "a", T0 + timedelta(hours=5))) is APPLIED
    assert lg.apply(ticket("ticket_resolved", "c", T0 + timedelta(hours=5))) is APPLIED
    assert store["acme"]["open"] == 2 and "other" not in store
    records, gone = lg.signals.unpublished()
    assert set(records) == {"acme"} and gone == ["other"]
    lg.signals.published([*records, *gone])
    assert lg.signals.unpublished() == ({}, [])
    # a month later the day's first responses are forgotten; the open tickets stay
    assert lg.apply(ticket("ticket_opened", "d", T0 + timedelta(days=KEEP_DAYS + 1))) is APPLIED
    assert store["acme"] == {"open": 3, "d": {}}


def test_support_state_without_account_signals_rebuilds_them_from_its_tickets() -> None:
    tickets: dict[str, Any] = {}
    lg = SupportLedger(SupportConfig(), tickets, {}, {}, {})
    for e in (ticket("ticket_opened", "a", T0), ticket("agent_replied", "a", T0 + timedelta(hours=2))):
        assert lg.apply(e) is APPLIED
    older = SupportLedger(SupportConfig(), tickets, {}, {"watermark": lg.watermark}, {})  # as an older build left it
    assert (
        older.signals.records
        == lg.signals.records
        == {"acme": {"open": 1, "d": {str(D0): {"frt_n": 1, "frt_sum": 7200}}}}
    )


def test_surveys_keep_each_accounts_csat_answers_by_day() -> None:
    store: dict[str, Any] = {}
    lg = SurveysLedger(SurveysConfig(), {}, {}, store)
    for score in (5, 4, 2):
        assert lg.apply(csat(score, T0)) is APPLIED
    assert lg.apply(event("surveys", type="survey_response", kind="nps", score=3, account_id="acme",
                          occurred_at=T0.isoformat())) is APPLIED  # fmt: skip
    assert store == {"acme": {"open": 0, "d": {str(D0): {"csat_n": 3, "csat_ok": 2}}}}


def test_partitions_and_families_add_up_and_the_window_is_30_days() -> None:
    p0, p1 = SignalBook({}), SignalBook({})
    p0.add("acme", "open", 2)
    p0.add("acme", "frt_n", 1, D0)
    p0.add("acme", "frt_sum", 100, D0)
    p1.add("acme", "frt_n", 1, D0 - 29)
    p1.add("acme", "frt_sum", 300, D0 - 29)
    p1.add("acme", "frt_n", 1, D0 - 30)  # outside the 30 days ending D0
    p1.add("acme", "frt_sum", 1000, D0 - 30)
    surveys = SignalBook({})
    surveys.add("acme", "csat_n", 4, D0)
    surveys.add("acme", "csat_ok", 3, D0)
    surveys.add("quiet", "csat_n", 1, D0)
    merged = merge_signals({
        SUPPORT_KIND: {signal_field("acme", 0): p0.records["acme"], signal_field("acme", 1): p1.records["acme"]},
        SURVEYS_KIND: {signal_field(a, 3): r for a, r in surveys.records.items()},
    })  # fmt: skip
    acme = window_signals(merged["acme"], D0, support=True)
    assert acme == AccountSignals(open_tickets=2, frt_n=2, frt_sum=400, csat_n=4, csat_satisfied=3)
    assert acme.frt_mean == 200 and acme.csat_ratio == 0.75
    # only a survey answer: no open tickets where support reports, unknown where it does not
    assert window_signals(merged["quiet"], D0, support=True).open_tickets == 0
    assert window_signals(merged["quiet"], D0, support=False) == AccountSignals(csat_n=1)
    assert window_signals(None, D0, support=False) == AccountSignals()
