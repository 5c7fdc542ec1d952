"""Every engagement gauge's value on a small fixture, expected values worked out by hand from
docs/metrics.md ("Engagement"), never by calling consumers/engagement/definitions.py.

The watermark is 2026-03-30 16:00Z (day W); "d-3" below means W minus 3 days. Windows: 1d = W,
7d = d-6 .. W, 30d = d-29 .. W. Key features: dashboards, reports, alerts, integrations; one
more feature is exported (top_n = 1). Activation: 7 days, invite_sent or a key feature_used.
With a handful of distinct ids the HyperLogLog estimates are exact (to 1e-6).

Active users (an event other than page_view, with a user_id) by day:
  d-31 d1 | d-30 u9 | d-29 u8, g1 | d-28 .. d-15 g1 daily, g2 on d-20 | d-9 q1 | d-8 s1 s2 s3 s4
  d-7 u7, p1 | d-6 u6, s1 | d-5 s3, u10 | d-3 u5, u1, u2 (u2 in the other partition) | d-1 s2, s4
  W u1, u2, u4
Page views: g3 d-20, v3 and u3 d-10, v2 d-2, v4 d-1 23:50 and W 00:10, u1 u3 v1 on W.
Signups: q1 d-9, s1..s4 d-8, p1 d-7, u10 d-5, u4 W.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumers.engagement.collector import EngagementCollector
from consumers.engagement.facts import ProductFacts
from consumers.engagement.ledger import EngagementLedger
from consumers.engagement.view import EngagementView

EventFactory = Callable[..., ProductFacts]
LedgerFactory = Callable[..., EngagementLedger]
ViewFactory = Callable[..., EngagementView]
RegistryFactory = Callable[..., CollectorRegistry]

W = date(2026, 3, 30)
KEY_FEATURES = ("dashboards", "reports", "alerts", "integrations")
WINDOWS = ("1d", "7d", "30d")


def at(day: int, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    """UTC instant on day W + ``day``."""
    return datetime.combine(W + timedelta(days=day), time(hh, mm, ss), UTC)


def value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


def approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-6, abs=1e-9)


def partition_0(ev: EventFactory) -> list[ProductFacts]:
    """Accounts acme, beta, delta; anonymous visitors; the watermark day's sessions."""
    return [
        ev(at(-31), "login", "d1", account="delta"),  # dormant: nothing in the 30 days
        ev(at(-10), "page_view", "u3", account="beta"),
        ev(at(-3), "login", "u5", account="beta"),
        ev(at(-3, 11), "login", "u1", account="acme"),
        ev(at(-2), "page_view", anon="v2"),
        ev(at(-1, 23, 50), "page_view", anon="v4", session="x"),  # a session across midnight
        ev(at(0, 0, 10), "page_view", anon="v4", session="x"),
        ev(at(0, 9), "login", "u1", account="acme", session="s-1"),
        ev(at(0, 9, 10), "feature_used", "u1", account="acme", feature="dashboards", session="s-1"),
        ev(at(0, 9, 15), "feature_used", "u1", account="acme", feature="reports", session="s-1"),
        ev(at(0, 9, 20), "feature_used", "u1", account="acme", feature="alerts", session="s-1"),
        ev(at(0, 9, 30), "page_view", "u1", account="acme", session="s-1"),
        ev(at(0, 11), "page_view", "u3", account="beta"),
        ev(at(0, 12), "page_view", anon="v1"),
        ev(at(0, 13), "signed_up", "u4"),
        ev(at(0, 14), "feature_used", "u2", account="acme", feature="dashboards"),
        ev(at(0, 14, 5), "feature_used", "u2", account="acme", feature="dashboards"),
        ev(at(0, 14, 10), "feature_used", "u2", account="acme", feature="chat"),
        ev(at(0, 14, 20), "feature_used", "u2", account="acme", feature="chat"),
        ev(at(0, 14, 40), "feature_used", "u2", account="acme", feature="chat"),
        ev(at(0, 16), "feature_used", "u2", account="acme", feature="chat"),  # 80 min later: a new session
    ]


def partition_1(ev: EventFactory) -> list[ProductFacts]:
    """Account gamma, users without an account, the signup cohorts; watermark d-1."""
    gamma = [ev(at(d, 12), "login", "g1", account="gamma") for d in range(-29, -14)]  # 15 days
    return gamma + [
        ev(at(-30), "login", "u9"),  # one day before the 30-day window
        ev(at(-29), "login", "u8"),  # first day of the 30-day window
        ev(at(-29, 10, 5), "feature_used", "u8", feature="dashboards"),
        ev(at(-20, 12, 30), "login", "g2", account="gamma"),
        ev(at(-20, 12, 40), "page_view", "g3", account="gamma"),  # seen, never active
        ev(at(-10), "page_view", anon="v3"),
        ev(at(-9), "signed_up", "q1"),
        *(ev(at(-8), "signed_up", s) for s in ("s1", "s2", "s3", "s4")),
        ev(at(-7), "login", "u7"),
        ev(at(-7, 10, 5), "feature_used", "u7", feature="alerts"),
        ev(at(-7, 10, 10), "feature_used", "u7", feature="dashboards"),
        ev(at(-7, 11), "signed_up", "p1"),
        ev(at(-7, 11, 30), "invite_sent", "p1"),
        ev(at(-6), "login", "u6"),
        ev(at(-6, 10, 5), "feature_used", "u6", feature="export"),
        ev(at(-6, 10, 10), "feature_used", "u6", feature="export"),
        ev(at(-6, 12), "invite_sent", "s1"),  # activates s1
        ev(at(-5), "feature_used", "s3", feature="chat"),  # not a key feature: s3 stays inactive
        ev(at(-5, 11), "signed_up", "u10"),
        ev(at(-5, 11, 5), "feature_used", "u10", feature="reports"),
        ev(at(-3, 15), "login", "u2"),  # u2 again, in another partition: counted once
        ev(at(-1, 10, 0, 0), "feature_used", "s2", feature="reports"),  # exactly 7 days after signup
        ev(at(-1, 10, 0, 1), "invite_sent", "s4"),  # 7 days and 1 second: too late
    ]


@pytest.fixture
def main_registry(
    product_event: EventFactory,
    engagement_ledger: LedgerFactory,
    engagement_view: ViewFactory,
    registry_of: RegistryFactory,
) -> CollectorRegistry:
    """The two-partition fixture behind an EngagementCollector."""
    view = engagement_view(
        engagement_ledger(partition_0(product_event)),
        engagement_ledger(partition_1(product_event)),
        key_features=KEY_FEATURES,
        top_n=1,
    )
    return registry_of(EngagementCollector(view))


ACTIVE = {
    "1d": 3,  # u1 u2 u4 (u4's signed_up is an active event)
    "7d": 10,  # u1 u2 u4 + u5 (d-3) u6 s1 (d-6) s3 u10 (d-5) s2 s4 (d-1)
    "30d": 10 + 6,  # + u8 g1 (d-29) g2 (d-20) q1 (d-9) u7 p1 (d-7); s1..s4 already; not u9 (d-30), d1
}


@pytest.mark.parametrize("window", WINDOWS)
def test_active_users_by_window(main_registry: CollectorRegistry, window: str) -> None:
    """DAU / WAU / MAU: distinct active users over 1, 7 and 30 UTC days ending with the watermark day."""
    assert value(main_registry, "pulse_active_users", {"window": window}) == approx(ACTIVE[window])


def test_stickiness_is_dau_over_mau(main_registry: CollectorRegistry) -> None:
    assert value(main_registry, "pulse_stickiness_ratio") == approx(3 / 16)


@pytest.mark.parametrize(
    "window, expected",
    [
        ("1d", 4),  # u1 u3 v1 v4
        ("7d", 4 + 1),  # + v2 (v4 again on d-1)
        ("30d", 5 + 2),  # + v3 (d-10; u3 again) and g3 (d-20)
    ],
)
def test_unique_visitors_by_window(main_registry: CollectorRegistry, window: str, expected: int) -> None:
    """Distinct anonymous_id or user_id with a page_view."""
    assert value(main_registry, "pulse_unique_visitors", {"window": window}) == approx(expected)


@pytest.mark.parametrize(
    "window, expected",
    [
        ("1d", 1),  # u4
        ("7d", 1 + 1),  # + u10 (d-5)
        ("30d", 2 + 1 + 4 + 1),  # + q1 (d-9), s1..s4 (d-8), p1 (d-7)
    ],
)
def test_signups_by_window(main_registry: CollectorRegistry, window: str, expected: int) -> None:
    assert value(main_registry, "pulse_signups", {"window": window}) == approx(expected)


FEATURES = {
    # feature: (users 1d, 7d, 30d, feature_used events on W)
    "dashboards": (2, 2, 4, 1 + 2),  # W: u1, u2 (twice); d-7 u7, d-29 u8
    "reports": (1, 3, 3, 1),  # W: u1; d-1 s2, d-5 u10
    "alerts": (1, 1, 2, 1),  # W: u1; d-7 u7
    "integrations": (0, 0, 0, 0),  # a key feature nobody used: still exported
    "chat": (1, 2, 2, 4),  # W: u2 (4 events); d-5 s3. 30-day usage 5 > export's 2: the top 1 extra
}


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_active_users_adoption_and_events(main_registry: CollectorRegistry, feature: str) -> None:
    """Key features plus the top N others by 30-day usage: users per window, 30-day users / MAU,
    and the watermark day's feature_used events."""
    d1, d7, d30, events = FEATURES[feature]
    for window, users in zip(WINDOWS, (d1, d7, d30), strict=True):
        assert value(main_registry, "pulse_feature_active_users", {"feature": feature, "window": window}) == approx(
            users
        )
    assert value(main_registry, "pulse_feature_adoption_ratio", {"feature": feature}) == approx(d30 / 16)
    assert value(main_registry, "pulse_feature_events", {"feature": feature}) == events


def test_features_beyond_the_top_n_are_not_exported(main_registry: CollectorRegistry) -> None:
    """export (2 events in 30 days) loses to chat (5) for the single extra slot."""
    assert value(main_registry, "pulse_feature_active_users", {"feature": "export", "window": "30d"}) is None
    assert value(main_registry, "pulse_feature_adoption_ratio", {"feature": "export"}) is None
    assert value(main_registry, "pulse_feature_events", {"feature": "export"}) is None


# Sessions whose last event is on W:
#   v4 "x" d-1 23:50 -> W 00:10 (1200 s) | u1 "s-1" 09:00 -> 09:30 (1800 s) | u3 11:00 (single)
#   v1 12:00 (single) | u4 13:00 (single) | u2 14:00 -> 14:40, gaps <= 30 min (2400 s) | u2 16:00 (single)
SESSIONS = 7
SINGLE = 4
SECONDS = 1200 + 1800 + 2400


def test_sessions_and_single_event_sessions(main_registry: CollectorRegistry) -> None:
    assert value(main_registry, "pulse_sessions") == SESSIONS
    assert value(main_registry, "pulse_single_event_sessions") == SINGLE


def test_average_session_duration(main_registry: CollectorRegistry) -> None:
    """Total duration / sessions of the day, single-event sessions as 0 s: 5400 / 7 = 771.43 s
    (docs give no rounding for the gauge)."""
    assert value(main_registry, "pulse_session_duration_seconds_avg") == pytest.approx(SECONDS / SESSIONS, rel=1e-9)


def test_accounts_at_risk(main_registry: CollectorRegistry) -> None:
    """Health = 100 × (0.4 frequency + 0.3 breadth + 0.3 depth) over d-29 .. W, at risk below 40:
    acme : days d-3, W; u1 u2 both active; dashboards reports alerts of 4
           -> 100 × (0.4 × 2/30 + 0.3 × 1 + 0.3 × 3/4) = 55.2
    beta : u5 active on d-3; u3 only page views -> 100 × (0.4 × 1/30 + 0.3 × 1/2) = 16.3  (at risk)
    gamma: g1 on 15 days, g2 active, g3 only a page view -> 100 × (0.4 × 15/30 + 0.3 × 2/3) = 40,
           not below 40
    delta: nothing in the 30 days -> 0  (at risk)
    """
    assert value(main_registry, "pulse_accounts_at_risk") == 2  # beta, delta


def test_activation_ratio_of_the_latest_final_cohort(main_registry: CollectorRegistry) -> None:
    """The latest final cohort is d-8 (its 7-day window ends d-1 < W; d-7's ends on W: provisional).
    s1..s4 signed up; s1 (invite, d-6) and s2 (key feature at exactly 7 days) activated; s3 used only
    a non-key feature; s4's invite came 1 second too late."""
    assert value(main_registry, "pulse_activation_ratio", {"cohort": "latest_final"}) == approx(2 / 4)


# --- edge cases --------------------------------------------------------------------------------


def test_nobody_active_stickiness_0_ratios_absent(
    product_event: EventFactory,
    engagement_ledger: LedgerFactory,
    engagement_view: ViewFactory,
    registry_of: RegistryFactory,
) -> None:
    """Only page views: MAU 0, so stickiness is 0 (docs), feature adoption has a 0 denominator
    (absent) and the latest final cohort has no signup (absent); u1's account is seen but never
    active, so its health is 0 and it is at risk."""
    ledger = engagement_ledger(
        [
            product_event(at(0, 9), "page_view", anon="v1"),
            product_event(at(0, 10), "page_view", "u1", account="acme"),
        ]
    )
    reg = registry_of(EngagementCollector(engagement_view(ledger, key_features=KEY_FEATURES, top_n=1)))
    for window in WINDOWS:
        assert value(reg, "pulse_active_users", {"window": window}) == 0
        assert value(reg, "pulse_unique_visitors", {"window": window}) == approx(2)  # v1, u1
        assert value(reg, "pulse_signups", {"window": window}) == 0
    assert value(reg, "pulse_stickiness_ratio") == 0
    for feature in KEY_FEATURES:
        assert value(reg, "pulse_feature_active_users", {"feature": feature, "window": "30d"}) == 0
        assert value(reg, "pulse_feature_events", {"feature": feature}) == 0
        assert value(reg, "pulse_feature_adoption_ratio", {"feature": feature}) is None
    assert value(reg, "pulse_sessions") == 2
    assert value(reg, "pulse_single_event_sessions") == 2
    assert value(reg, "pulse_session_duration_seconds_avg") == 0
    assert value(reg, "pulse_accounts_at_risk") == 1
    assert value(reg, "pulse_activation_ratio", {"cohort": "latest_final"}) is None


def test_no_partition_no_watermark_no_samples(engagement_view: ViewFactory, registry_of: RegistryFactory) -> None:
    """Before any event there is no watermark day to report on: every family, no sample."""
    reg = registry_of(EngagementCollector(engagement_view(key_features=KEY_FEATURES)))
    families = list(reg.collect())
    assert len(families) == 13
    assert all(f.samples == [] for f in families)


async def test_days_the_workers_no_longer_keep_are_404_and_short_windows_say_incomplete(
    product_event: EventFactory, engagement_ledger: LedgerFactory, engagement_view: ViewFactory
) -> None:
    from consumers.engagement.routes import engagement_routes
    from stream.family import Request

    lg = engagement_ledger(
        [
            product_event(at(-40), "login", "gone"),  # expired once the watermark reached W
            product_event(at(-20), "login", "kept"),
            product_event(at(0), "login", "now"),
        ]
    )
    daily = {r.path: r for r in engagement_routes(engagement_view(lg))}["/api/v1/engagement/daily"]

    async def get(day: int) -> tuple[int, dict[str, Any]]:
        reply = await daily.handler(Request({"date": (W + timedelta(days=day)).isoformat()}))
        return reply.status, reply.body

    status, body = await get(-36)  # the workers keep W-35 .. W
    assert status == 404 and f"(from {W - timedelta(days=35)})" in body["error"]
    status, body = await get(-35)
    assert status == 200 and body["complete"] is False  # its MAU reads days no longer held
    status, body = await get(-7)
    assert status == 200 and body["complete"] is False
    status, body = await get(-6)
    assert status == 200 and body["complete"] is True and body["mau"] == 1  # "kept"
    status, body = await get(0)
    assert status == 200 and body["complete"] is True and body["mau"] == 2


def test_viral_coefficient_is_invites_per_active_user_times_acceptance(
    product_event: EventFactory,
    engagement_ledger: LedgerFactory,
    engagement_view: ViewFactory,
    registry_of: RegistryFactory,
) -> None:
    """4 active users in the 30 days; 6 invites sent, 3 accepted (one by an anonymous invitee,
    one 31 days ago: outside): (6 / 4) x (3 / 6) = 0.75."""
    events = [product_event(at(-31), "invite_accepted", "old")]
    for n, user in enumerate(("a", "b", "c", "d")):
        events.append(product_event(at(-n), "login", user))
    for n in range(6):
        events.append(product_event(at(-n, 11), "invite_sent", ("a", "b")[n % 2]))
    events += [product_event(at(-1, 12), "invite_accepted", "c"), product_event(at(0, 12), "invite_accepted", "d"),
               product_event(at(0, 13), "invite_accepted", anon="v9")]  # fmt: skip
    reg = registry_of(EngagementCollector(engagement_view(engagement_ledger(events), key_features=KEY_FEATURES)))
    assert value(reg, "pulse_active_users", {"window": "30d"}) == approx(4)
    assert value(reg, "pulse_viral_coefficient") == approx(0.75)
    quiet = engagement_ledger([product_event(at(0), "login", "a")])
    assert value(registry_of(EngagementCollector(engagement_view(quiet))), "pulse_viral_coefficient") is None
