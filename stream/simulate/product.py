"""Product usage: the sessions of each account's users, their onboarding, and anonymous visits.

By far the largest topic, so its loops use the cheap draws of ``common`` throughout.
"""

from __future__ import annotations

import random
from typing import Any

from stream.simulate.accounts import TAPER_DAYS, Account, User
from stream.simulate.clock import DAY, HOUR, MINUTE, local_time, weekday
from stream.simulate.common import Weighted, between, one_of, poisson
from stream.simulate.sink import Sink

_FEATURES = (("dashboards", 30), ("reports", 22), ("alerts", 15), ("integrations", 10), ("api", 13), ("exports", 10))
_ACTIONS = Weighted((("page_view", 52), ("feature_used", 40), ("report_exported", 8)))
_SESSIONS_PER_DAY = Weighted(((1, 60), (2, 30), (3, 10)))
_EXPORT_FORMATS = ("csv", "pdf", "xlsx")
_PAGES = ("/dashboard", "/reports", "/alerts", "/integrations", "/settings", "/billing", "/docs")
_MARKETING_PAGES = ("/", "/pricing", "/features", "/blog/saas-metrics", "/customers", "/signup")
NO_SESSION_SHARE = 0.2  # events tracked server-side, without a session
WEEKEND_ACTIVITY = 0.2  # a user's weekend activity relative to a weekday


def feature_taste(rng: random.Random) -> Weighted:
    """An account's taste in features: the overall popularity, reweighted for this account."""
    return Weighted(tuple((name, w * rng.uniform(0.3, 1.7)) for name, w in _FEATURES))


class ProductUsage:
    """Sessions of an account's users: a few events minutes apart, in local office hours."""

    def __init__(self, account: Account, features: Weighted, rng: random.Random, sink: Sink) -> None:
        self.acct, self.features, self.rng, self.sink = account, features, rng, sink
        self.sessions = 0

    def run(self) -> None:
        """Onboarding, then daily sessions from the day before the first span until usage has faded."""
        acct, rng = self.acct, self.rng
        self._onboarding()
        first = acct.spans[0].start - acct.spans[0].start % DAY - DAY
        last = max(s.end for s in acct.spans) + TAPER_DAYS * DAY
        for day in self.sink.window.days():
            if not first <= day <= last:
                continue
            weekend = weekday(day) >= 5
            for user in acct.users:
                chance = user.engagement * (WEEKEND_ACTIVITY if weekend else 1.0)
                if rng.random() >= chance:
                    continue
                for _ in range(_SESSIONS_PER_DAY.pick(rng)):
                    start = local_time(rng, day, acct.utc_offset)
                    if (user.joined is None or user.joined < start) and rng.random() < acct.activity(start):
                        self._session(user, start)

    def _onboarding(self) -> None:
        """signed_up when a user first appears; colleagues arrive through an accepted invite."""
        acct, rng = self.acct, self.rng
        for user in acct.users:
            if user.joined is None:
                continue
            n = int(user.id.rsplit("-", 1)[1])
            if n > 1:
                inviters = [u for u in acct.users_at(user.joined - HOUR) if u is not user]
                if inviters:
                    inviter = rng.choice(inviters)
                    earliest = max(acct.spans[0].start, inviter.joined or 0) + MINUTE
                    sent = max(user.joined - rng.randint(10 * MINUTE, 2 * DAY), earliest)
                    self._track(sent, inviter, "invite_sent", None, {"invitee": user.id})
                self._track(user.joined, user, "signed_up", None)
                self._track(user.joined + rng.randint(2, 20), user, "invite_accepted", None)
            else:  # the founder often browsed the website anonymously before signing up
                visits = rng.randint(0, 3)
                anonymous_id = f"anon-{acct.id}"
                for i in range(visits):
                    page = {"path": rng.choice(_MARKETING_PAGES)}
                    visited = user.joined - (3 - i) * rng.randint(MINUTE, 10 * MINUTE)
                    self._anonymous(visited, anonymous_id, page)
                stitched = anonymous_id if visits else None
                self._track(user.joined, user, "signed_up", None, anonymous_id=stitched)

    def _session(self, user: User, start: int) -> None:
        rng, features = self.rng, self.features
        self.sessions += 1
        session = f"s-{self.acct.id}-{self.sessions}"
        t = start
        if rng.random() < 0.75:
            self._track(t, user, "login", session)
        for _ in range(between(rng, 3, 8)):
            t += between(rng, 20, 7 * MINUTE)
            action = _ACTIONS.pick(rng)
            sid = None if rng.random() < NO_SESSION_SHARE else session
            if action == "feature_used":
                feature = features.pick(rng)
                self._track(t, user, action, sid, feature=feature)
            elif action == "page_view":
                self._track(t, user, action, sid, {"path": one_of(rng, _PAGES)})
            else:
                self._track(t, user, action, sid, {"format": one_of(rng, _EXPORT_FORMATS)})

    def _track(
        self,
        ts: int,
        user: User,
        name: str,
        session: str | None,
        properties: dict[str, Any] | None = None,
        feature: str | None = None,
        anonymous_id: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "type": "track",
            "name": name,
            "user_id": user.id,
            "account_id": self.acct.id,
        }
        if anonymous_id is not None:  # ties the pre-signup page views to the new user
            fields["anonymous_id"] = anonymous_id
        if session is not None:
            fields["session_id"] = session
        if feature is not None:
            fields["feature"] = feature
        if properties:
            fields["properties"] = properties
        self.sink.add(ts, "product-events", fields)

    def _anonymous(self, ts: int, anonymous_id: str, properties: dict[str, Any]) -> None:
        fields = {"type": "track", "name": "page_view", "anonymous_id": anonymous_id, "properties": properties}
        self.sink.add(ts, "product-events", fields)


def anonymous_visits(rng: random.Random, sink: Sink, customers: int) -> None:
    """Website visitors who never sign up: page_views keyed by anonymous_id only."""
    visitor = 0
    for day in sink.window.days():
        weekend = weekday(day) >= 5
        for _ in range(poisson(rng, customers * (0.15 if weekend else 0.4))):
            visitor += 1
            anonymous_id, session = f"anon-{visitor:06d}", f"s-anon-{visitor:06d}"
            t = local_time(rng, day, rng.choice((-5, 0, 1, 8)))
            for _ in range(between(rng, 1, 4)):
                fields: dict[str, Any] = {
                    "type": "track",
                    "name": "page_view",
                    "anonymous_id": anonymous_id,
                    "properties": {"path": one_of(rng, _MARKETING_PAGES)},
                }
                if rng.random() >= NO_SESSION_SHARE:
                    fields["session_id"] = session
                sink.add(t, "product-events", fields)
                t += between(rng, 10, 4 * MINUTE)
