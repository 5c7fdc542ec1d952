"""Customer accounts: who they are, when they arrive, and the users who work in them.

The profile is drawn first; the subscription domain then records the account's trial and paid
spans, which decide when the account is active for every other domain.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from stream.simulate.clock import DAY, HOUR, Window, local_time, weekday
from stream.simulate.common import Weighted

_COUNTRIES = Weighted((("US", 40), ("DE", 15), ("GB", 11), ("FR", 10), ("RO", 6), ("PL", 7), ("CN", 11)))
_UTC_OFFSET = {"US": -5, "DE": 1, "GB": 0, "FR": 1, "RO": 2, "PL": 1, "CN": 8}
_EUR_SHARE = {"DE": 0.75, "FR": 0.75, "RO": 0.3, "PL": 0.3}
_SEGMENTS = Weighted((("smb", 60), ("mid", 30), ("enterprise", 10)))
#: the paid ones are marketing's spend channels (stream/simulate/marketing.py), so CAC by channel has both sides
_CHANNELS = Weighted(
    (("organic", 30), ("google_ads", 25), ("linkedin", 14), ("meta", 11), ("events", 5), ("referral", 15))
)
_USERS = {"smb": (2, 6), "mid": (4, 10), "enterprise": (8, 15)}
PREEXISTING_SHARE = 0.6  # paying before the window opens
TAPER_DAYS = 21  # usage fades out over this long after a churn or an expired trial


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int  # exclusive; the window's end when still running
    paid: bool


@dataclass(slots=True)
class User:
    id: str
    joined: int | None  # None: signed up before the window
    engagement: float  # chance of using the product on a weekday


@dataclass(slots=True)
class Account:
    """One customer account: profile, and what the subscription domain decided about it."""

    number: int
    id: str
    country: str
    segment: str
    channel: str
    currency: str
    health: float  # 0 (unhappy, churn-prone) .. 1 (happy)
    preexisting: bool
    arrival: int  # first instant the account exists in the window
    spans: list[Span] = field(default_factory=list)  # trial and paid periods, in time order
    users: list[User] = field(default_factory=list)

    @classmethod
    def draw(cls, number: int, rng: random.Random, window: Window) -> Account:
        country = _COUNTRIES.pick(rng)
        if country == "GB":
            currency = "GBP" if rng.random() < 0.4 else "USD"
        else:
            currency = "EUR" if rng.random() < _EUR_SHARE.get(country, 0.0) else "USD"
        preexisting = rng.random() < PREEXISTING_SHARE
        if preexisting:
            arrival = window.lo + rng.randrange(min(DAY, window.hi - window.lo))
        else:  # newcomers sign up in local office hours, on weekdays rather than weekends
            while True:
                instant = window.lo + rng.randrange(window.hi - window.lo)
                day = instant - instant % DAY
                if weekday(day) >= 5 and rng.random() >= 0.4:
                    continue
                arrival = local_time(rng, day, _UTC_OFFSET[country])
                if window.lo <= arrival < window.hi:
                    break
        return cls(
            number=number,
            id=f"c{number:04d}",
            country=country,
            segment=_SEGMENTS.pick(rng),
            channel=_CHANNELS.pick(rng),
            currency=currency,
            health=rng.betavariate(4, 2),
            preexisting=preexisting,
            arrival=arrival,
        )

    @property
    def utc_offset(self) -> int:
        return _UTC_OFFSET[self.country]

    @property
    def attributes(self) -> dict[str, str]:
        return {"country": self.country, "segment": self.segment}

    def activity(self, ts: int) -> float:
        """1 during a trial or paid period, fading to 0 over TAPER_DAYS after one ends, else 0."""
        last_end: int | None = None
        for span in self.spans:
            if span.start <= ts < span.end:
                return 1.0
            if span.end <= ts:
                last_end = span.end
        if last_end is None:
            return 0.0
        age = (ts - last_end) / (TAPER_DAYS * DAY)
        return 0.5 * (1.0 - age) if age < 1.0 else 0.0

    def paying(self, ts: int) -> bool:
        return any(s.paid and s.start <= ts < s.end for s in self.spans)

    def users_at(self, ts: int) -> list[User]:
        return [u for u in self.users if u.joined is None or u.joined <= ts]

    def draw_users(self, rng: random.Random) -> None:
        """Users of the account: most already there if it predates the window, else invited over
        time. An account that never had a span gets none; any other gets at least its first user."""
        if not self.spans:
            return
        low, high = _USERS[self.segment]
        count = rng.randint(low, high)
        start = self.spans[0].start
        first_new = max(1, round(count * rng.uniform(0.6, 1.0))) if self.preexisting else 0
        for n in range(1, count + 1):
            if n <= first_new:
                joined: int | None = None
            elif n == 1:
                joined = start + rng.randint(5, 90)
            else:
                joined = start + rng.randint(HOUR, 3 * DAY) + int(rng.expovariate(1 / (12 * DAY)))
                if self.activity(joined) < 1.0:
                    continue  # the account was not in use then: this colleague never joins
            self.users.append(User(f"u-{self.id}-{n}", joined, rng.uniform(0.25, 0.75)))
