"""Support definitions of docs/metrics.md ("Support") on small hand-computed inputs: first
response and resolution times, FCR, reopens, backlog, events out of order; every gauge's value."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from consumers.support.collector import SupportCollector
from consumers.support.definitions import daily_row, merge_days, window_figures, window_sum
from consumers.support.ledger import SupportConfig, SupportLedger
from consumers.support.quantiles import ALPHA, BucketIndex, bucket_key, quantile
from consumers.support.view import SupportView
from stream.decoding import Accepted, decode_record
from stream.outcomes import APPLIED, RejectReason
from stream.snapshots import SnapshotStore
from stream.topics import spec_for

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)  # a Monday
D0 = T0.date().toordinal()
_n = 0


def ticket(kind: str, ticket_id: str, at: datetime, **fields: Any) -> Any:
    global _n
    _n += 1
    raw: dict[str, Any] = {"event_id": f"t{_n}", "type": kind, "occurred_at": at.isoformat(), "ticket_id": ticket_id,
                           "account_id": "acme", **fields}  # fmt: skip
    if kind == "ticket_opened":
        raw = {"channel": "email", "category": "bug", "priority": "high", **raw}
    (result,) = decode_record(spec_for("support-tickets"), orjson.dumps(raw))
    assert isinstance(result, Accepted), result
    return result.event


def ledger(*events: Any) -> SupportLedger:
    lg = SupportLedger(SupportConfig(), {}, {}, {})
    for e in events:
        assert lg.apply(e) is APPLIED, e
    lg.flush()
    return lg


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def test_first_response_and_resolution_times_of_the_day() -> None:
    lg = ledger(
        ticket("ticket_opened", "a", T0), ticket("agent_replied", "a", T0 + hours(1)),
        ticket("agent_replied", "a", T0 + hours(2)), ticket("ticket_resolved", "a", T0 + hours(3)),
        ticket("ticket_opened", "b", T0), ticket("agent_replied", "b", T0 + hours(3)),
    )  # fmt: skip
    f = window_figures(lg.days[D0])
    assert f["frt_avg"] == 2 * 3600  # (1 h + 3 h) / 2
    assert f["resolution_avg"] == 3 * 3600
    assert f["fcr"] == 0  # a was resolved after two agent replies
    row = daily_row(lg.days, D0, {}, None, None)
    assert (row["tickets_opened"], row["tickets_resolved"], row["backlog_end_of_day"]) == (2, 1, 1)


def test_fcr_and_reopen_edge_cases() -> None:
    lg = ledger(
        ticket("ticket_opened", "one", T0), ticket("agent_replied", "one", T0 + hours(1)),
        ticket("ticket_resolved", "one", T0 + hours(2)),  # one reply, never reopened: FCR
        ticket("ticket_opened", "back", T0), ticket("agent_replied", "back", T0 + hours(1)),
        ticket("ticket_resolved", "back", T0 + hours(2)),
        ticket("ticket_reopened", "back", T0 + hours(30)),  # next day: takes back's FCR away
        ticket("ticket_resolved", "back", T0 + hours(31)),
        ticket("ticket_opened", "none", T0), ticket("ticket_resolved", "none", T0 + hours(1)),  # no reply: not FCR
    )  # fmt: skip
    day0, day1 = lg.days[D0], lg.days[D0 + 1]
    assert window_figures(day0)["fcr"] == pytest.approx(1 / 3)
    assert window_figures(day1)["reopen"] == 1.0  # one reopening, one resolution that day
    both = window_sum(lg.days, D0 + 1, 2)
    assert both["resolved"] == 4 and both["reopened"] == 1 and both["res_n"] == 3
    assert window_figures(both)["reopen"] == pytest.approx(1 / 4)
    backlog = [daily_row(lg.days, d, {}, None, None)["backlog_end_of_day"] for d in (D0, D0 + 1)]
    assert backlog == [0, 0]


def test_full_resolution_time_runs_to_the_last_resolution_of_a_ticket_resolved_now() -> None:
    lg = ledger(
        ticket("ticket_opened", "back", T0), ticket("ticket_resolved", "back", T0 + hours(2)),
        ticket("ticket_reopened", "back", T0 + hours(30)), ticket("ticket_resolved", "back", T0 + hours(31)),
        ticket("ticket_opened", "still", T0), ticket("ticket_resolved", "still", T0 + hours(1)),
        ticket("ticket_reopened", "still", T0 + hours(3)),  # open again: no full resolution time
    )  # fmt: skip
    day0, day1 = window_figures(lg.days[D0]), window_figures(lg.days[D0 + 1])
    assert day0["resolution_avg"] == pytest.approx(1.5 * 3600)  # back 2 h, still 1 h: first resolutions
    assert day0["full_resolution_avg"] is None  # neither ticket's last resolution is on day 0
    assert day1["full_resolution_avg"] == 31 * 3600 and day1["resolution_avg"] is None
    assert lg.apply(ticket("ticket_resolved", "still", T0 + hours(4))) is APPLIED
    assert window_figures(lg.days[D0])["full_resolution_avg"] == 4 * 3600


def test_events_out_of_order_within_grace_give_the_in_order_figures() -> None:
    in_order = ledger(
        ticket("ticket_opened", "x", T0), ticket("agent_replied", "x", T0 + hours(1)),
        ticket("agent_replied", "x", T0 + hours(5)), ticket("ticket_resolved", "x", T0 + hours(6)),
    )  # fmt: skip
    shuffled = ledger(
        ticket("agent_replied", "x", T0 + hours(5)),  # before its ticket_opened: waits in the record
        ticket("ticket_resolved", "x", T0 + hours(6)),
        ticket("ticket_opened", "x", T0), ticket("agent_replied", "x", T0 + hours(1)),  # an earlier first reply
    )  # fmt: skip
    assert shuffled.days == in_order.days
    waiting = ledger(ticket("agent_replied", "y", T0))
    assert not any(waiting.days.values()) and waiting.tickets["y"]["ev"]  # nothing counted yet


def test_a_second_ticket_opened_and_a_late_event_are_refused() -> None:
    lg = ledger(ticket("ticket_opened", "z", T0 + timedelta(days=5)))
    again = lg.apply(ticket("ticket_opened", "z", T0 + timedelta(days=5, hours=1)))
    assert getattr(again, "reason", None) is RejectReason.SCHEMA and "opens once" in again.error  # type: ignore[union-attr]
    old = lg.apply(ticket("agent_replied", "z", T0 + timedelta(days=2, hours=-1)))
    assert getattr(old, "reason", None) is RejectReason.LATE


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 3e6, allow_nan=False), min_size=1, max_size=300), st.sampled_from([0.5, 0.9, 0.99]))
def test_quantiles_are_within_one_percent_of_the_exact_ones(values: list[float], q: float) -> None:
    fields: dict[str, float] = {}
    for v in values:
        fields[bucket_key("frt", v)] = fields.get(bucket_key("frt", v), 0) + 1
    exact = sorted(values)[math.floor(q * (len(values) - 1))]
    got = quantile(fields, "frt", q)
    assert got is not None
    assert got == pytest.approx(exact, rel=ALPHA, abs=1.0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["frt", "frtb", "frt@channel:email", "res@priority:urgent"]), st.floats(0, 3e6)),
        max_size=200,
    ),
    st.dictionaries(st.sampled_from(["frt_n", "frt_sum", "opened:category:bug", "backlog"]), st.floats(0, 100)),
)
def test_one_bucket_index_reads_every_prefix_as_a_scan_per_quantile_does(
    timings: list[tuple[str, float]], other: dict[str, float]
) -> None:
    fields: dict[str, float] = dict(other)
    for prefix, v in timings:
        fields[bucket_key(prefix, v)] = fields.get(bucket_key(prefix, v), 0) + 1
    index = BucketIndex(fields)
    for prefix in ("frt", "frtb", "frt@channel:email", "res@priority:urgent", "res", "full"):
        for q in (0.5, 0.9, 0.99):
            assert index.quantile(prefix, q) == quantile(fields, prefix, q)


_day_counters = st.dictionaries(
    st.integers(D0, D0 + 5).map(str),
    st.dictionaries(st.sampled_from(["opened", "frt_n", "frt#3", "backlog"]), st.integers(0, 9), min_size=1),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_day_counters, min_size=2, max_size=3), min_size=1, max_size=6))
def test_absorbing_payloads_in_turn_sums_the_days_a_fresh_view_sums(states: list[list[dict[str, Any]]]) -> None:
    """The view re-sums only the days some partition changed: after each refresh its days
    equal a fresh merge of every partition's, days no partition holds any more gone too."""
    view = SupportView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
    for parts in states:
        view.absorb([{"days": days} for days in parts])
        fresh = SupportView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
        fresh.absorb([{"days": days} for days in parts])
        assert view.days == fresh.days == merge_days({int(d): c for d, c in days.items()} for days in parts)


_float_days = st.dictionaries(
    st.integers(D0, D0 + 12).map(str),
    st.dictionaries(st.sampled_from(["frt_n", "frt_sum", "frt#3"]), st.floats(0, 1e6), min_size=1),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_float_days, min_size=2, max_size=2), min_size=1, max_size=6), st.integers(D0, D0 + 12))
def test_a_views_window_sums_are_the_fresh_sums_to_the_last_bit(states: list[list[dict[str, Any]]], end: int) -> None:
    """Sums of older days kept across refreshes add every float in the order a fresh sum does."""
    view = SupportView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
    for parts in states:
        view.absorb([{"days": days} for days in parts])
        for length in (1, 7, 30):
            assert view.window_sum(end, length) == window_sum(view.days, end, length)
            assert view.window_sum(end - 1, length) == window_sum(view.days, end - 1, length)
        view.forget_old_sums(end)


def test_every_support_gauge() -> None:
    """Two partitions. Today (D0 + 1, watermark 12:00): a opened 08:00, answered 09:00,
    resolved 10:00; b opened 11:00, unanswered; c (urgent) opened the day before 09:00, answered
    2 h later, still open."""
    day = T0 + timedelta(days=1)
    p1 = ledger(
        ticket("ticket_opened", "a", day.replace(hour=8)), ticket("agent_replied", "a", day.replace(hour=9)),
        ticket("ticket_resolved", "a", day.replace(hour=10)), ticket("ticket_opened", "b", day.replace(hour=11)),
    )  # fmt: skip
    p2 = ledger(
        ticket("ticket_opened", "c", T0, priority="urgent", category="complaint"),
        ticket("agent_replied", "c", T0 + hours(2)), ticket("customer_replied", "c", day.replace(hour=12)),
    )  # fmt: skip
    view = SupportView(SnapshotStore("redis://127.0.0.1:1/0", "unit-tests"))
    view.absorb([
        {"days": {str(d): c for d, c in lg.days.items()}, "backlog_before": lg.backlog_before, "now": lg.now,
         "oldest_awaiting": lg.oldest_awaiting(), "watermark": lg.watermark}
        for lg in (p1, p2)
    ])  # fmt: skip
    reg = CollectorRegistry()
    reg.register(SupportCollector(view))

    def v(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    every = {"channel": "all", "priority": "all"}
    assert v("pulse_first_response_seconds_avg", window="1d", clock="calendar", **every) == 3600  # a only
    assert v("pulse_first_response_seconds_avg", window="7d", clock="calendar", **every) == pytest.approx(5400)
    assert v("pulse_first_response_seconds", quantile="0.5", window="1d", clock="calendar", **every) == pytest.approx(
        3600, rel=ALPHA
    )
    assert v("pulse_first_response_seconds_avg", window="1d", clock="business", **every) is None  # no schedule set
    # by priority: a is high (1 h), c urgent (2 h); by channel both email
    by = "pulse_first_response_seconds_avg"
    assert v(by, window="7d", clock="calendar", channel="all", priority="urgent") == 7200
    assert v(by, window="7d", clock="calendar", channel="all", priority="high") == 3600
    assert v(by, window="7d", clock="calendar", channel="email", priority="all") == pytest.approx(5400)
    assert v(by, window="7d", clock="calendar", channel="chat", priority="all") is None
    assert v("pulse_resolution_seconds_avg", window="1d", clock="calendar", **every) == 7200
    assert v("pulse_resolution_seconds_avg", window="7d", clock="calendar", channel="all", priority="high") == 7200
    assert v("pulse_resolution_seconds_avg", window="7d", clock="calendar", channel="all", priority="urgent") is None
    assert v("pulse_resolution_seconds", quantile="0.9", window="1d", clock="calendar", channel="email",
             priority="all") == pytest.approx(7200, rel=ALPHA)  # fmt: skip
    assert v("pulse_full_resolution_seconds_avg", window="1d") == 7200  # a, never reopened
    assert v("pulse_full_resolution_seconds", quantile="0.5", window="7d") == pytest.approx(7200, rel=ALPHA)
    assert v("pulse_fcr_ratio", window="1d") == 1 and v("pulse_reopen_ratio", window="1d") == 0
    assert v("pulse_tickets_open", priority="high") == 1 and v("pulse_tickets_open", priority="urgent") == 1
    assert v("pulse_tickets_opened", category="bug", window="1d") == 2
    assert v("pulse_tickets_opened", category="complaint", window="7d") == 1
    assert v("pulse_tickets_opened", category="complaint", window="1d") == 0
    assert v("pulse_tickets_opened_trailing_mean", category="complaint") == pytest.approx(1 / 7)  # c, the day before
    assert v("pulse_tickets_opened_trailing_mean", category="bug") == 0
    assert v("pulse_tickets_awaiting_first_response") == 1
    assert v("pulse_oldest_unanswered_ticket_age_seconds") == 3600  # b, opened 11:00, watermark 12:00
    assert merge_days([p1.days, p2.days]) == view.days


def test_business_frt_skips_nights_a_weekend_and_a_public_holiday() -> None:
    """New York, Mon-Fri 09:00-17:00, US holidays: opened Friday 22 May 2026 16:00, answered
    Tuesday 26 May 10:00 (Monday 25 is Memorial Day): 1 h on Friday + 1 h on Tuesday."""
    from zoneinfo import ZoneInfo

    from consumers.support.settings import SupportSettings

    ny = ZoneInfo("America/New_York")
    schedule = SupportSettings(business_timezone="America/New_York", business_holidays_country="US").schedule()
    assert schedule is not None
    lg = SupportLedger(SupportConfig(schedule=schedule), {}, {}, {})
    opened, answered = datetime(2026, 5, 22, 16, tzinfo=ny), datetime(2026, 5, 26, 10, tzinfo=ny)
    assert lg.apply(ticket("ticket_opened", "w", opened)) is APPLIED
    assert lg.apply(ticket("agent_replied", "w", answered)) is APPLIED
    f = window_figures(lg.days[answered.astimezone(UTC).date().toordinal()])
    assert f["frt_business_avg"] == 2 * 3600
    assert f["frt_avg"] == (answered - opened).total_seconds()  # calendar: 3 days 18 h
    extra = SupportSettings(business_timezone="America/New_York", business_extra_holidays="2026-05-26").schedule()
    assert extra is not None and extra.seconds(opened.timestamp(), answered.timestamp()) == 3600 + 8 * 3600


def test_a_priority_or_channel_schedule_overrides_the_main_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Urgent tickets are answered around the clock, phone 08:00-20:00; the rest 09:00-17:00.
    Opened Saturday 9 May 2026 10:00 UTC, answered 14:00."""
    from consumers.support.settings import SupportSettings

    monkeypatch.setenv("PULSE_BUSINESS_TIMEZONE", "UTC")
    monkeypatch.setenv("PULSE_BUSINESS_OVERRIDES", orjson.dumps({
        "priority:urgent": {"days": "mon,tue,wed,thu,fri,sat,sun", "hours": "00:00-24:00"},
        "channel:phone": {"days": "mon,tue,wed,thu,fri,sat", "hours": "08:00-20:00"},
    }).decode())  # fmt: skip
    section = SupportSettings.load()
    lg = SupportLedger(SupportConfig(schedule=section.schedule(), overrides=section.schedule_overrides()), {}, {}, {})
    sat = datetime(2026, 5, 9, 10, tzinfo=UTC)
    tickets = {"urgent-phone": {"priority": "urgent", "channel": "phone"},
               "phone": {"priority": "normal", "channel": "phone"}, "mail": {"priority": "normal"}}  # fmt: skip
    for name, attrs in tickets.items():
        assert lg.apply(ticket("ticket_opened", name, sat, **attrs)) is APPLIED
        assert lg.apply(ticket("agent_replied", name, sat + hours(4))) is APPLIED
    day = lg.days[sat.date().toordinal()]
    assert day["frtb@priority:urgent_sum"] == 4 * 3600  # the priority's schedule wins over the channel's
    assert day["frtb@priority:normal_sum"] == 4 * 3600  # phone: Saturday is a working day; mail: not
    assert day["frtb@channel:email_n"] == 1 and day.get("frtb@channel:email_sum", 0) == 0
    # all day long, around midnight too
    assert section.schedule_overrides()[0][0] == "channel:phone"
    every_day = dict(section.schedule_overrides())["priority:urgent"]
    assert every_day.seconds(sat.timestamp() - 3600 * 12, sat.timestamp()) == 12 * 3600
    monkeypatch.setenv("PULSE_BUSINESS_OVERRIDES", '{"priority:critical": {"hours": "00:00-24:00"}}')
    from stream.settings import SettingsError

    with pytest.raises(SettingsError, match="PULSE_BUSINESS_OVERRIDES.*priority:critical"):
        SupportSettings.load()


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("business_timezone", "Mars/Olympus", "unknown time zone"),
        ("business_hours", "17:00-09:00", "opening first"),
        ("business_days", "mon,funday", "expected days"),
        ("business_holidays_country", "XX", "no public holidays"),
        ("business_extra_holidays", "2026-13-01", "YYYY-MM-DD"),
    ],
)
def test_a_bad_schedule_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, says: str
) -> None:
    from consumers.support.settings import SupportSettings
    from stream.settings import SettingsError

    monkeypatch.setenv(f"PULSE_{field.upper()}", value)
    with pytest.raises(SettingsError, match=f"PULSE_{field.upper()}.*{says}"):
        SupportSettings.load()


def test_events_whose_ticket_never_opens_are_dead_lettered_as_orphans_after_grace(tmp_path: Any) -> None:
    from stream.jsonl import dump_line
    from stream.replay import replay_file
    from stream.settings import PulseSettings

    def line(kind: str, ticket_id: str, at: datetime) -> bytes:
        event = ticket(kind, ticket_id, at)
        return dump_line("support-tickets", ticket_id, orjson.loads(event.model_dump_json()))

    path = tmp_path / "tickets.jsonl"
    path.write_bytes(
        line("agent_replied", "ghost", T0)  # its ticket_opened never comes
        + line("ticket_resolved", "ghost", T0 + hours(1))
        + line("agent_replied", "early", T0 + hours(60))  # waits: within grace at the end
        + line("ticket_opened", "real", T0 + hours(50))  # the watermark passes ghost's grace
    )
    result = replay_file(path, PulseSettings(topic_partitions=1), ("support-tickets",))
    assert result.rejected == {("support-tickets", RejectReason.ORPHAN): 2}
    assert result.processed["support-tickets"] == 4  # accepted (held), then given up on
    ledger_of = result.pipelines["support-tickets"].processor.ledgers[0]  # type: ignore[attr-defined]
    assert "ghost" not in ledger_of.tickets and "early" in ledger_of.waiting
