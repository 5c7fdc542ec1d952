"""Engagement definitions of docs/metrics.md on small, exact inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.engagement.definitions import EngagementFigures, Partition
from consumers.engagement.facts import ProductFacts
from consumers.engagement.ledger import EngagementConfig, EngagementLedger
from stream.outcomes import APPLIED, DUPLICATE, late
from stream.state import PartitionState

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
D0 = T0.date().toordinal()
EPOCH = date(1970, 1, 1).toordinal()
_n = 0


def ev(
    at: datetime,
    name: str = "login",
    user: str | None = "u1",
    anon: str | None = None,
    feature: str | None = None,
    session: str | None = None,
    account: str | None = "a1",
) -> ProductFacts:
    global _n
    _n += 1
    return ProductFacts(f"e{_n}", at, name, user, account, anon, feature, session)


def ledger(**config: Any) -> EngagementLedger:
    return EngagementLedger(EngagementConfig(**config), PartitionState(0, codecs=EngagementLedger.STORES))


def figures(*ledgers: EngagementLedger) -> EngagementFigures:
    return EngagementFigures([Partition(lg.sketches, lg.days, lg.watermark) for lg in ledgers])


def test_dau_counts_distinct_active_users_not_page_views() -> None:
    lg = ledger()
    for user in ("u1", "u2", "u1"):
        lg.apply(ev(T0, user=user))
    lg.apply(ev(T0, name="page_view", user="u3"))
    row = figures(lg).daily_row(D0)
    assert row["dau"] == 2 and row["unique_visitors"] == 1


def test_rolling_windows_edges_day_30_vs_31() -> None:
    lg = ledger()
    lg.apply(ev(T0, user="early"))
    lg.apply(ev(T0 + timedelta(days=29), user="late"))
    lg.apply(ev(T0 + timedelta(days=30), user="late"))
    f = figures(lg)
    assert f.daily_row(D0 + 29)["mau"] == 2  # day 30 of the window still holds day 1
    assert f.daily_row(D0 + 30)["mau"] == 1  # day 31: day 1 has left
    assert f.daily_row(D0 + 6)["wau"] == 1 and f.daily_row(D0 + 7)["wau"] == 0
    assert f.daily_row(D0 + 30)["stickiness"] == 1.0


def test_signups_and_visitors_by_anonymous_id() -> None:
    lg = ledger()
    lg.apply(ev(T0, name="page_view", user=None, anon="v1", account=None))
    lg.apply(ev(T0, name="page_view", user=None, anon="v1", account=None))
    lg.apply(ev(T0, name="signed_up", user="u1"))
    row = figures(lg).daily_row(D0)
    assert row["unique_visitors"] == 1 and row["signups"] == 1 and row["dau"] == 1


def test_sessions_with_session_id_run_first_to_last_event() -> None:
    lg = ledger()
    lg.apply(ev(T0, session="s1"))
    lg.apply(ev(T0 + timedelta(hours=2), session="s1"))  # long gap, same session id
    lg.apply(ev(T0 + timedelta(minutes=5), session="s2"))
    f = figures(lg)
    assert f.counter(D0, "sessions") == 2
    assert f.counter(D0, "single_event_sessions") == 1
    assert f.daily_row(D0)["avg_session_seconds"] == 3600.0  # (7200 + 0) / 2


def test_sessions_without_session_id_split_on_the_gap() -> None:
    lg = ledger(session_gap_seconds=1800)
    for minutes in (0, 10, 39, 70, 200):  # 0-39 one session; 70 alone; 200 alone (gap 31, 130)
        lg.apply(ev(T0 + timedelta(minutes=minutes)))
    f = figures(lg)
    assert f.counter(D0, "sessions") == 3
    assert f.counter(D0, "single_event_sessions") == 2
    assert f.counter(D0, "session_seconds") == 39 * 60


def test_a_late_event_between_two_sessions_merges_them() -> None:
    lg = ledger(session_gap_seconds=1800)
    for minutes in (0, 50, 25):  # 0 and 50 are 50 min apart; 25 arrives last, 25 min from both
        lg.apply(ev(T0 + timedelta(minutes=minutes)))
    f = figures(lg)
    assert f.counter(D0, "sessions") == 1 and f.counter(D0, "single_event_sessions") == 0
    assert f.counter(D0, "session_seconds") == 50 * 60
    assert list(lg.sessions.values()) == [(int(T0.timestamp()), int(T0.timestamp()) + 3000, 3)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["u1", "u2", "u:1"]), st.integers(0, 12 * 60)), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_gap_sessions_do_not_depend_on_the_arrival_order(events: list[tuple[str, int]], rnd: Any) -> None:
    """Within the grace period any order gives the sessions of the definition: per user, the
    sorted events cut where two neighbours are more than the gap apart (computed here)."""
    gap = 1800
    expected: dict[int, dict[str, int]] = {}
    for user in {u for u, _ in events}:
        times = sorted(60 * m for u, m in events if u == user)
        runs = [[times[0]]]
        for t in times[1:]:
            if t - runs[-1][-1] > gap:
                runs.append([])
            runs[-1].append(t)
        for run in runs:
            day = expected.setdefault((int(T0.timestamp()) + run[-1]) // 86400, {})
            day["sessions"] = day.get("sessions", 0) + 1
            if len(run) == 1:
                day["single_event_sessions"] = day.get("single_event_sessions", 0) + 1
            else:
                day["session_seconds"] = day.get("session_seconds", 0) + run[-1] - run[0]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    lg = ledger(session_gap_seconds=gap, grace_seconds=86400)
    for user, minute in shuffled:
        assert lg.apply(ev(T0 + timedelta(minutes=minute), user=user)) is APPLIED
    fields = ("sessions", "single_event_sessions", "session_seconds")
    got = {int(day) - EPOCH: {f: v for f in fields if (v := row.get(f))} for day, row in lg.days.items()}
    want = {day: {f: v for f, v in row.items() if v} for day, row in expected.items()}
    assert {d: r for d, r in got.items() if r} == want


def test_a_changelog_from_before_merging_sessions_is_read_and_rewritten() -> None:
    """Earlier builds kept one ``u:<who>`` session per user; it becomes a ``g:`` session."""
    start = int(T0.timestamp())
    old = PartitionState(0, codecs=EngagementLedger.STORES)
    old.apply_record(b"session_log\x1f7:0", b'v1|[["u:u1",%d,%d,2]]' % (start, start + 600))
    old.apply_record(b"meta\x1fwatermark", b"v1|%d" % (start + 600))
    lg = EngagementLedger(EngagementConfig(session_gap_seconds=1800), old)
    assert lg.sessions == {f"g:2:u1:{start}": (start, start + 600, 2)}
    lg.apply(ev(T0 + timedelta(minutes=20)))  # joins the migrated session
    assert list(lg.sessions.values()) == [(start, start + 1200, 3)]
    lg.flush()
    log = [v for k, v in lg.state.drain_changes() if k.startswith(b"session_log")]
    assert log and b'["u:u1"]' in log[0]  # the old key is deleted in the changelog


def test_a_session_counts_on_the_day_of_its_last_event() -> None:
    lg = ledger()
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    lg.apply(ev(midnight - timedelta(minutes=10), session="s"))
    lg.apply(ev(midnight + timedelta(minutes=10), session="s"))
    f = figures(lg)
    assert f.counter(D0, "sessions") == 0 and f.counter(D0 + 1, "sessions") == 1


def test_activation_cohorts_provisional_then_final() -> None:
    lg = ledger(activation_days=7)
    lg.apply(ev(T0, name="signed_up", user="a"))
    lg.apply(ev(T0, name="signed_up", user="b"))
    lg.apply(ev(T0, name="signed_up", user="c"))
    lg.apply(ev(T0 + timedelta(days=2), name="invite_sent", user="a"))
    lg.apply(ev(T0 + timedelta(days=3), name="feature_used", feature="reports", user="b"))
    lg.apply(ev(T0 + timedelta(days=3), name="feature_used", feature="not-key", user="c"))
    f = figures(lg)
    cohort = f.activation(D0)
    assert (cohort["signups"], cohort["activated"], cohort["status"]) == (3, 2, "provisional")
    lg.apply(ev(T0 + timedelta(days=9), name="invite_sent", user="c"))  # too late for c
    final = figures(lg).activation(D0)
    assert (final["activated"], final["status"]) == (2, "final")
    assert abs(final["ratio"] - 2 / 3) < 1e-12


def test_late_beyond_grace_is_rejected_within_grace_lands_in_its_day() -> None:
    lg = ledger()
    lg.apply(ev(T0 + timedelta(days=5), user="now"))
    assert lg.apply(ev(T0 + timedelta(days=3, hours=1), user="ok")) is APPLIED
    assert lg.apply(ev(T0 + timedelta(days=2), user="old")) == late(T0 + timedelta(days=2))
    f = figures(lg)
    assert f.daily_row(D0 + 3)["dau"] == 1 and f.daily_row(D0 + 2)["dau"] == 0


def test_days_older_than_35_are_dropped() -> None:
    lg = ledger()
    lg.apply(ev(T0, user="x"))
    lg.apply(ev(T0 + timedelta(days=36), user="y"))
    assert not any(k.endswith(f":{D0}") for k in lg.sketches)
    assert str(D0) not in lg.days


def test_flushed_state_recovers_to_the_same_figures() -> None:
    lg = ledger()
    for i in range(50):
        lg.apply(
            ev(T0 + timedelta(minutes=i), user=f"u{i % 7}", session=f"s{i % 3}", name="feature_used", feature="reports")
        )
    lg.apply(ev(T0, name="signed_up", user="u1"))
    lg.flush()
    recovered = PartitionState(0, codecs=EngagementLedger.STORES)
    for key, value in lg.state.drain_changes():  # what a new owner reads from the changelog
        recovered.apply_record(key, value)
    again = EngagementLedger(lg.config, recovered)
    assert figures(again).daily_row(D0) == figures(lg).daily_row(D0)
    assert again.sessions == lg.sessions and again.days == lg.days and again.signups == lg.signups
    assert again.accounts == lg.accounts and again.watermark == lg.watermark


def test_partitions_merge_without_double_counting_users() -> None:
    a, b = ledger(), ledger()
    for user in ("u1", "u2"):
        a.apply(ev(T0, user=user))
    for user in ("u2", "u3"):
        b.apply(ev(T0, user=user))
    assert figures(a, b).daily_row(D0)["dau"] == 3
    assert date.fromordinal(D0) == T0.date()


def test_engagement_and_health_scores() -> None:
    from consumers.engagement.definitions import account_scores

    lg = ledger(key_features=("reports", "alerts"))
    for day in range(10):  # u1 active 10 days; u2 seen once (a page view), never active
        lg.apply(ev(T0 + timedelta(days=day), name="feature_used", feature="reports", user="u1"))
    lg.apply(ev(T0 + timedelta(days=9), name="page_view", user="u2"))
    lg.apply(ev(T0 + timedelta(days=9), name="invite_sent", user="u1"))
    lg.flush()  # account figures are applied per batch
    days = {int(k.rsplit("|", 1)[1]): r for k, r in lg.accounts.items() if k.startswith("a1|")}
    scores = account_scores(days, D0 + 9, 2)
    assert scores["engagement_score"] == 10 * 2 + 5
    assert (scores["frequency"], scores["breadth"], scores["depth"]) == (round(10 / 30, 4), 0.5, 0.5)
    # no support or survey data: the three engagement parts, their weights scaled up
    assert scores["health_score"] == round(100 * (0.3 * 10 / 30 + 0.2 * 0.5 + 0.2 * 0.5) / 0.7, 1)
    assert scores["open_tickets"] is None and "tickets" not in scores
    later = account_scores(days, D0 + 9 + 30, 2)  # the window has moved past it all
    assert later["health_score"] == 0 and later["engagement_score"] == 0


def test_open_tickets_response_time_and_csat_weigh_in_the_health_score() -> None:
    """2 open tickets (tickets part 0.6), a 30-day mean FRT of 8 h against a 4 h target
    (response 1 - 4/12 = 0.6667), 3 of 4 CSAT answers satisfied (0.75)."""
    from consumers.account_signals import AccountSignals
    from consumers.engagement.definitions import account_scores

    day = {"w": 1, "u": {"u1": True, "u2": False}, "f": ["reports"]}
    days = {D0 - d: day for d in range(15)}  # active 15 of 30 days, 1 of 2 users, 1 of 2 key features
    signals = AccountSignals(open_tickets=2, frt_n=2, frt_sum=2 * 8 * 3600, csat_n=4, csat_satisfied=3)
    scores = account_scores(days, D0, 2, signals, frt_target_seconds=4 * 3600)
    parts = (0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5) + 0.1 * 0.6 + 0.1 * (1 - 4 / 12) + 0.1 * 0.75
    assert scores["health_score"] == round(100 * parts, 1)
    assert (scores["tickets"], scores["response"], scores["satisfaction"]) == (0.6, 0.6667, 0.75)
    assert (scores["open_tickets"], scores["frt_avg_seconds_30d"], scores["csat_30d"]) == (2, 28800.0, 75.0)
    # 5 or more open tickets and an FRT of 4x the target zero their parts; no CSAT: left out
    worst = account_scores(days, D0, 2, AccountSignals(open_tickets=9, frt_n=1, frt_sum=16 * 3600), 4 * 3600)
    assert (worst["tickets"], worst["response"], "satisfaction" in worst) == (0.0, 0.0, False)
    assert worst["health_score"] == round(100 * (0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5) / 0.9, 1)


def test_every_changelog_value_carries_its_format_version_and_unknown_ones_are_refused() -> None:
    """The kernel frames each value ``v1|…`` (stream/state.py, ``framed``); a recovery that meets
    a version it does not know, or no version at all, stops with the record's name."""
    lg = ledger()
    lg.apply(ev(T0, user="u1", feature="reports", name="feature_used", session="s1"))
    lg.apply(ev(T0 + timedelta(minutes=5), user="u2", name="signed_up"))
    lg.flush()
    changes = dict(lg.state.drain_changes())
    stores = {k.split(b"\x1f", 1)[0] for k in changes}
    assert {b"day", b"session_log", b"account", b"account_user", b"meta", b"dedupe_log", b"sketch"} <= stores
    assert all(v.startswith(b"v1|") for v in changes.values() if v is not None)
    recovered = PartitionState(0, codecs=EngagementLedger.STORES)
    for key, value in changes.items():
        recovered.apply_record(key, value)
    again = EngagementLedger(EngagementConfig(), recovered)
    assert again.days == lg.days and again.sessions == lg.sessions and again.accounts == lg.accounts
    for bad, why in ((b"v2|160", "format version 2; this build reads 1"), (b"160", "no format version")):
        state = PartitionState(0, codecs=EngagementLedger.STORES)
        state.apply_record(b"meta\x1fwatermark", bad)
        with pytest.raises(ValueError, match=f"meta/watermark: {why}"):
            EngagementLedger(EngagementConfig(), state)


def test_ids_with_colons_do_not_merge_sessions() -> None:
    lg = ledger()
    lg.apply(ev(T0, user="a:b", session="c"))
    lg.apply(ev(T0 + timedelta(minutes=5), user="a", session="b:c"))
    assert lg.days[str(D0)]["sessions"] == 2 and lg.days[str(D0)]["single_event_sessions"] == 2
    assert len(lg.sessions) == 2


def test_an_event_id_is_unique_within_its_account_and_a_late_event_is_not_remembered() -> None:
    lg = ledger()
    assert lg.apply(ProductFacts("same", T0, "login", "u1", "acme", None, None, None)) is APPLIED
    assert lg.apply(ProductFacts("same", T0, "login", "u2", "beta", None, None, None)) is APPLIED  # another account
    assert lg.apply(ProductFacts("same", T0, "login", "u1", "acme", None, None, None)) is DUPLICATE  # a resend
    lg.apply(ev(T0 + timedelta(days=5)))
    old = ProductFacts("old", T0 + timedelta(days=2), "login", "u3", "acme", None, None, None)
    assert lg.apply(old) == late(old.occurred_at)
    assert lg.apply(old) == late(old.occurred_at)  # judged again, not a duplicate of a refusal


def test_ids_remembered_by_an_earlier_build_stay_resends_until_they_expire() -> None:
    """Earlier builds hashed the bare event_id, in `dedupe_log` records keyed <day>:<batch>."""
    from xxhash import xxh3_64_intdigest

    day = T0.date().toordinal()
    old = PartitionState(0, codecs=EngagementLedger.STORES)
    bare = xxh3_64_intdigest(b"e-old").to_bytes(8, "little")
    old.apply_record(b"dedupe_log\x1f%d:3" % day, b"v1|" + bare)
    lg = EngagementLedger(EngagementConfig(dedupe_retention_days=7), old)
    resend = ProductFacts("e-old", T0, "login", "u1", "acme", None, None, None)
    assert lg.apply(resend) is DUPLICATE
    lg.apply(ev(T0 + timedelta(days=8)))  # past the retention: the old id is forgotten
    lg.flush()
    deleted = [k for k, v in lg.state.drain_changes() if k.startswith(b"dedupe_log") and v is None]
    assert deleted == [b"dedupe_log\x1f%d:3" % day]
