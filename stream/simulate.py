"""A deterministic synthetic history of a small SaaS company, for all six source topics.

Pure: no Kafka, no I/O, no wall clock, no global random state. Every domain of every customer
draws from its own ``random.Random`` seeded with a string (seeded through SHA-512, so the
result never depends on ``PYTHONHASHSEED``), and nothing iterates a set. The same arguments
therefore give the same events, byte for byte, in any process; adding customers leaves the
behaviour of the first ones unchanged.

Time is handled as integer UTC epoch seconds and formatted once at the end as RFC 3339 with
``Z``. Every domain appends raw events to one :class:`_Sink`, which keeps only those inside
the window; the sink is then sorted by ``(occurred_at, generation sequence)`` and event ids
are numbered per topic in that order.
"""

from __future__ import annotations

import bisect
import calendar
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

from stream.events import SCORE_RANGES

__all__ = ["SimEvent", "generate_history"]

MINUTE = 60
HOUR = 3600
DAY = 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SimEvent:
    topic: str  # unprefixed topic name, e.g. "subscriptions"
    key: str | None  # the message key per stream/topics.py
    event: dict[str, Any]  # JSON-ready: RFC 3339 'Z' timestamps, money as "49.90"


def generate_history(*, customers: int, days: int, end: datetime, seed: int) -> Iterator[SimEvent]:
    """Events with occurred_at in [end - days, end), sorted by (occurred_at, then a stable sequence number)."""
    if customers < 0:
        raise ValueError(f"customers must be >= 0, got {customers}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be a timezone-aware datetime")
    hi = -((_EPOCH - end) // _SECOND)  # ceil: integer seconds t < end  <=>  t < hi
    return _stream(_Window(hi - days * DAY, hi), customers, seed)


# --- time helpers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    lo: int  # inclusive, epoch seconds
    hi: int  # exclusive

    def days(self) -> range:
        """Start of every UTC day that overlaps the window."""
        return range(self.lo - self.lo % DAY, self.hi, DAY)


def _weekday(ts: int) -> int:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (ts // DAY + 3) % 7


def _add_months(ts: int, months: int) -> int:
    """Calendar-month arithmetic with the day clamped (Jan 31 + 1 month = Feb 28), as billing does."""
    dt = _EPOCH + timedelta(seconds=ts)
    total = dt.year * 12 + dt.month - 1 + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return (dt.replace(year=year, month=month + 1, day=day) - _EPOCH) // _SECOND


class _Clock:
    """Formats epoch seconds as RFC 3339 UTC; caches the date part, which repeats a lot."""

    def __init__(self) -> None:
        self._dates: dict[int, str] = {}

    def format(self, ts: int) -> str:
        day, sod = divmod(ts, DAY)
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        return f"{text}T{sod // HOUR:02d}:{sod // MINUTE % 60:02d}:{sod % 60:02d}Z"


# Local-hour weights: office hours dominate on weekdays; weekends are flatter and quieter.
_WEEKDAY_HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 17, 13, 16, 18, 17, 14, 10, 7, 5, 4, 3, 2, 1)
_WEEKEND_HOURS = (2, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 7, 6, 6, 6, 5, 4, 3, 3, 2)


class _Weighted:
    """A fixed weighted choice over ``((value, weight), ...)``: what ``random.choices`` does,
    without rebuilding the cumulative weights on each of the hundreds of thousands of calls."""

    __slots__ = ("values", "cum", "total")

    def __init__(self, table: Sequence[tuple[Any, float]]) -> None:
        self.values = tuple(value for value, _ in table)
        self.cum: list[float] = []
        total = 0.0
        for _, weight in table:
            total += weight
            self.cum.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect(self.cum, rng.random() * self.total, 0, len(self.cum) - 1)]


_WEEKDAY_HOUR = _Weighted(tuple(enumerate(_WEEKDAY_HOURS)))
_WEEKEND_HOUR = _Weighted(tuple(enumerate(_WEEKEND_HOURS)))


def _local_time(rng: random.Random, day_start: int, utc_offset: int) -> int:
    """An instant on a local calendar day, drawn from the daily rhythm of that weekday."""
    hour: int = (_WEEKEND_HOUR if _weekday(day_start) >= 5 else _WEEKDAY_HOUR).pick(rng)
    return day_start + hour * HOUR + _between(rng, 0, HOUR - 1) - utc_offset * HOUR


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` for the hot loops, at a third of its cost (fine for small ranges)."""
    return low + int(rng.random() * (high - low + 1))


def _one_of(rng: random.Random, options: Sequence[Any]) -> Any:
    """``rng.choice(options)`` for the hot loops."""
    return options[int(rng.random() * len(options))]


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


# --- the sink ---------------------------------------------------------------------------------

_KEY_FIELD = {
    "subscriptions": "customer_id",
    "support-tickets": "ticket_id",
    "surveys": "account_id",
    "marketing-spend": "channel",
    "leads": "lead_id",
}
_ID_PREFIX = {
    "subscriptions": "sub",
    "product-events": "prd",
    "support-tickets": "tkt",
    "surveys": "srv",
    "marketing-spend": "mkt",
    "leads": "lead",
}


class _Sink:
    """Collects raw events from every domain, dropping those outside the window.

    Each domain emits the events of one entity in causal order, so truncating at the window's
    end never leaves, say, a renewal without its subscription start.
    """

    def __init__(self, window: _Window) -> None:
        self.window = window
        self.rows: list[tuple[int, int, str, dict[str, Any]]] = []

    def add(self, ts: int, topic: str, fields: dict[str, Any]) -> None:
        if self.window.lo <= ts < self.window.hi:
            self.rows.append((ts, len(self.rows), topic, fields))


def _stream(window: _Window, customers: int, seed: int) -> Iterator[SimEvent]:
    sink = _Sink(window)
    _simulate(window, customers, seed, sink)

    sink.rows.sort()  # (occurred_at, sequence): sequences are unique, so fields never compare
    clock, counters = _Clock(), dict.fromkeys(_ID_PREFIX, 0)
    for ts, _, topic, fields in sink.rows:
        n = counters[topic] = counters[topic] + 1
        event_id = f"{_ID_PREFIX[topic]}-{seed}-{n:08d}"
        if topic == "product-events":
            key = fields.get("account_id") or fields.get("anonymous_id")
        else:
            key = fields[_KEY_FIELD[topic]]
        yield SimEvent(topic, key, {"event_id": event_id, "occurred_at": clock.format(ts), **fields})


def _simulate(window: _Window, customers: int, seed: int, sink: _Sink) -> None:
    """Subscriptions first: they decide when each account is in trial, paying or gone, which
    every other domain of the account follows."""
    accounts = [_Account.draw(i, _rng(seed, "profile", i), window) for i in range(1, customers + 1)]
    for acct in accounts:
        _SubscriptionLife(acct, _rng(seed, "subscriptions", acct.number), sink).run()
    for acct in accounts:
        acct.draw_users(_rng(seed, "users", acct.number))
        _ProductUsage(acct, _rng(seed, "product", acct.number), sink).run()
    _anonymous_visits(_rng(seed, "anonymous", 0), sink, customers)
    _support(accounts, seed, sink)
    _surveys(accounts, seed, sink)
    _marketing_spend(_rng(seed, "spend", 0), sink, customers)
    _leads(_rng(seed, "leads", 0), sink, customers)


def _rng(seed: int, domain: str, index: int) -> random.Random:
    """An independent stream per (domain, entity): a string seed goes through SHA-512."""
    return random.Random(f"pulse-sim/{seed}/{domain}/{index}")


# --- accounts ---------------------------------------------------------------------------------

_COUNTRIES = _Weighted((("US", 40), ("DE", 15), ("GB", 11), ("FR", 10), ("RO", 6), ("PL", 7), ("CN", 11)))
_UTC_OFFSET = {"US": -5, "DE": 1, "GB": 0, "FR": 1, "RO": 2, "PL": 1, "CN": 8}
_EUR_SHARE = {"DE": 0.75, "FR": 0.75, "RO": 0.3, "PL": 0.3}
_SEGMENTS = _Weighted((("smb", 60), ("mid", 30), ("enterprise", 10)))
_CHANNELS = _Weighted(
    (("organic", 35), ("paid_search", 25), ("social", 12), ("referral", 15), ("partner", 13))
)
_USERS = {"smb": (2, 6), "mid": (4, 10), "enterprise": (8, 15)}
_MONTHLY_CHURN = {"smb": 0.05, "mid": 0.035, "enterprise": 0.02}
PREEXISTING_SHARE = 0.6  # paying before the window opens
TRIAL_DAYS = 14
TAPER_DAYS = 21  # usage fades out over this long after a churn or an expired trial


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int  # exclusive; the window's end when still running
    paid: bool


@dataclass(slots=True)
class _User:
    id: str
    joined: int | None  # None: signed up before the window
    engagement: float  # chance of using the product on a weekday


@dataclass(slots=True)
class _Account:
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
    spans: list[_Span] = field(default_factory=list)  # trial and paid periods, in time order
    users: list[_User] = field(default_factory=list)
    features: _Weighted | None = None  # this account's taste in features

    @classmethod
    def draw(cls, number: int, rng: random.Random, window: _Window) -> "_Account":
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
                if _weekday(day) >= 5 and rng.random() >= 0.4:
                    continue
                arrival = _local_time(rng, day, _UTC_OFFSET[country])
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

    def users_at(self, ts: int) -> list[_User]:
        return [u for u in self.users if u.joined is None or u.joined <= ts]

    def draw_users(self, rng: random.Random) -> None:
        """Users of the account: most already there if it predates the window, else invited over time."""
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
            self.users.append(_User(f"u-{self.id}-{n}", joined, rng.uniform(0.25, 0.75)))
        self.features = _Weighted(tuple((name, w * rng.uniform(0.3, 1.7)) for name, w in _FEATURES))


# --- subscriptions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    prices: dict[str, int]  # whole currency units per billing period, by currency
    interval: str
    months: int  # length of one term
    tier: int  # position on the monthly upgrade ladder, -1 when not on it
    seats: bool = False


PLANS: dict[str, _Plan] = {
    p.name: p
    for p in (
        _Plan("starter", {"USD": 29, "EUR": 27, "GBP": 24}, "month", 1, 0),
        _Plan("team", {"USD": 99, "EUR": 92, "GBP": 79}, "month", 1, 1),
        _Plan("business", {"USD": 299, "EUR": 279, "GBP": 249}, "month", 1, 2),
        _Plan("team-annual", {"USD": 990, "EUR": 920, "GBP": 790}, "year", 12, -1),
        _Plan("enterprise", {"USD": 240, "EUR": 220, "GBP": 190}, "quarter", 3, -1, seats=True),  # per seat
        _Plan("addon-analytics", {"USD": 19, "EUR": 18, "GBP": 15}, "month", 1, -1),
    )
}
_LADDER = ("starter", "team", "business")
_PLAN_MIX = {
    "smb": _Weighted((("starter", 55), ("team", 35), ("team-annual", 10))),
    "mid": _Weighted((("team", 40), ("business", 35), ("team-annual", 25))),
    "enterprise": _Weighted((("enterprise", 60), ("business", 25), ("team-annual", 15))),
}
#: Switching plan family = cancel the old subscription and start a new one at the same instant.
_SWITCH_TO = {"starter": "team-annual", "team": "team-annual", "business": "enterprise"}
_DISCOUNTS = _Weighted(((10, 60), (20, 30), (50, 10)))
_TRIAL_PLANS = _Weighted((("team", 60), ("business", 25), ("starter", 15)))
_CONVERTED_PLANS = _Weighted((("starter", 20), ("team", 50), ("business", 20), ("team-annual", 10)))

TRIAL_CONVERSION = 0.5
MONTHLY_CHANGE = 0.08  # chance per month that a subscription is upgraded, downgraded or resized
MONTHLY_SWITCH = 0.05  # chance per term end that a monthly plan switches family
REACTIVATION = 0.3  # chance a customer who cancelled comes back within weeks
PAYMENT_FAILURE = 0.015  # chance per month a card fails at renewal: involuntary churn
WIN_BACK = 0.8  # chance a customer lost to a failed payment resubscribes within days
EARLY_CHURN = 2.5  # first-term churn multiplier of customers who just bought
ADDON_PREEXISTING = 0.15  # share of pre-existing customers that also hold the add-on
ADDON_MONTHLY = 0.03  # chance per month a paying customer buys the add-on
ADDON_CHURN = 0.06  # chance per term the add-on alone is cancelled


@dataclass(slots=True)
class _Sub:
    id: str
    plan: _Plan
    quantity: int
    discount: int  # percent
    anchor: int  # billing anchor: term k ends at anchor + k terms

    def term_end(self, k: int) -> int:
        return _add_months(self.anchor, k * self.plan.months)


class _SubscriptionLife:
    """One customer's subscriptions: trial, paid episodes (renewals, changes, plan switches,
    an add-on), churn at a term end and possibly a later comeback. Records the account's
    trial and paid spans, which drive product usage, tickets and surveys."""

    def __init__(self, account: _Account, rng: random.Random, sink: _Sink) -> None:
        self.acct, self.rng, self.sink = account, rng, sink
        self.hi = sink.window.hi
        self.serial = 0
        self.churn = _MONTHLY_CHURN[account.segment] * (2.0 - 1.6 * account.health)

    def run(self) -> None:
        rng, acct = self.rng, self.acct
        t = acct.arrival
        if acct.preexisting:
            plan = PLANS[_PLAN_MIX[acct.segment].pick(rng)]
            # Bought earlier: the billing anchor lies somewhere in the current term.
            anchor = t - rng.randrange(1, plan.months * 30) * DAY - rng.randrange(DAY)
            sub = self._new_sub(plan, anchor)
            back: int | None = self._episode(t, sub, addon_from_start=rng.random() < ADDON_PREEXISTING)
        elif rng.random() < (0.7 if acct.segment == "enterprise" else 0.25):  # sales-led, no trial
            back = self._episode(t, self._new_sub(PLANS[_PLAN_MIX[acct.segment].pick(rng)], t), fresh=True)
        else:
            back = self._trial(t)
        while back is not None and back < self.hi:  # comes back: a reactivation if they had paid
            plan = PLANS[_PLAN_MIX[acct.segment].pick(rng)]
            back = self._episode(back, self._new_sub(plan, back), fresh=True)

    def _trial(self, t: int) -> int | None:
        """14-day trial; half convert (same subscription id), a few expired ones come back later."""
        rng = self.rng
        plan = PLANS[_TRIAL_PLANS.pick(rng)]
        sub = self._new_sub(plan, t)
        self._emit(t, "trial_started", sub, started=True)
        ends = t + TRIAL_DAYS * DAY
        if rng.random() < TRIAL_CONVERSION:
            converted = t + rng.randint(DAY, ends - t - HOUR)
            self.acct.spans.append(_Span(t, min(converted, self.hi), paid=False))
            plan = PLANS[_CONVERTED_PLANS.pick(rng)]
            sub.plan, sub.anchor = plan, converted
            return self._episode(converted, sub, fresh=True)
        self._emit(ends, "trial_expired", sub)
        self.acct.spans.append(_Span(t, min(ends, self.hi), paid=False))
        if rng.random() < 0.1:
            return ends + rng.randint(10 * DAY, 40 * DAY)
        return None

    def _episode(
        self, start: int, sub: _Sub, fresh: bool = False, addon_from_start: bool = False
    ) -> int | None:
        """A paid period from ``start``; returns when the customer comes back after churning.

        ``fresh``: the customer just bought, so the first term carries the early-life churn.
        """
        rng = self.rng
        self._emit(start, "subscription_started", sub, started=True, priced=True)
        end, involuntary = self._run_main(start, sub, EARLY_CHURN if fresh else 1.0)
        stop = end if end is not None else self.hi
        self.acct.spans.append(_Span(start, stop, paid=True))
        if addon_from_start:
            addon_at = start + rng.randint(1, 3 * HOUR)
        else:
            addon_at = start + int(rng.expovariate(ADDON_MONTHLY / (30 * DAY)))
        if addon_at < stop:
            addon = self._new_sub(PLANS["addon-analytics"], addon_at)
            if addon_from_start:
                addon.anchor = addon_at - rng.randrange(30 * DAY)
            self._run_addon(addon_at, addon, end)
        if end is None:
            return None
        if involuntary and rng.random() < WIN_BACK:
            return end + rng.randint(DAY, 10 * DAY)
        if rng.random() < REACTIVATION:
            return end + rng.randint(7 * DAY, 45 * DAY)
        return None

    def _run_main(self, t: int, sub: _Sub, first_term_churn: float) -> tuple[int | None, bool]:
        """Terms of the main subscription: a change now and then, then renew, switch or cancel.

        Returns when it was cancelled (None if still running at the window's end) and whether
        that was a failed payment rather than the customer's decision.
        """
        rng, k, churn = self.rng, 1, self.churn * first_term_churn
        while True:
            while sub.term_end(k) <= t:
                k += 1
            term_end = sub.term_end(k)
            if rng.random() < 1 - (1 - MONTHLY_CHANGE) ** sub.plan.months and term_end - t > 2 * HOUR:
                changed_at = rng.randint(t + HOUR, term_end - HOUR)
                if changed_at < self.hi and self._change(sub):
                    self._emit(changed_at, "subscription_changed", sub, priced=True)
            if term_end >= self.hi:
                return None, False
            p_cancel = 1 - (1 - min(churn, 0.9)) ** sub.plan.months
            p_failed = 1 - (1 - PAYMENT_FAILURE) ** sub.plan.months
            churn = self.churn
            roll = rng.random()
            if roll < p_cancel + p_failed:
                self._emit(term_end, "subscription_cancelled", sub)
                return term_end, roll >= p_cancel
            if roll < p_cancel + p_failed + MONTHLY_SWITCH and sub.plan.name in _SWITCH_TO:
                self._emit(term_end, "subscription_cancelled", sub)
                sub = self._new_sub(PLANS[_SWITCH_TO[sub.plan.name]], term_end, discount=sub.discount)
                self._emit(term_end, "subscription_started", sub, started=True, priced=True)
                k = 1
            else:
                self._emit(term_end, "subscription_renewed", sub)
                k += 1
            t = term_end

    def _run_addon(self, t: int, sub: _Sub, churned_at: int | None) -> None:
        """The add-on renews monthly beside the main plan and ends with it at the latest."""
        self._emit(t, "subscription_started", sub, started=True, priced=True)
        limit = churned_at if churned_at is not None else self.hi
        k = 1
        while True:
            while sub.term_end(k) <= t:
                k += 1
            t = sub.term_end(k)
            if t >= limit:
                if churned_at is not None:
                    self._emit(churned_at, "subscription_cancelled", sub)
                return
            if self.rng.random() < ADDON_CHURN:
                self._emit(t, "subscription_cancelled", sub)
                return
            self._emit(t, "subscription_renewed", sub)

    def _change(self, sub: _Sub) -> bool:
        """Mutate ``sub`` into its new price: seats, discount end, or a step on the plan ladder."""
        rng = self.rng
        if sub.plan.seats:
            delta = rng.choice((-3, -2, -1, 1, 2, 3, 5, 8))
            sub.quantity = max(5, min(50, sub.quantity + delta))
            return True
        if sub.discount and rng.random() < 0.3:
            sub.discount = 0
            return True
        if sub.plan.tier < 0:
            return False
        up = rng.random() < (0.8 - 0.3 * sub.plan.tier)  # the higher the plan, the likelier a downgrade
        step = 1 if (up and sub.plan.tier < len(_LADDER) - 1) or sub.plan.tier == 0 else -1
        sub.plan = PLANS[_LADDER[sub.plan.tier + step]]
        return True

    def _new_sub(self, plan: _Plan, anchor: int, discount: int | None = None) -> _Sub:
        self.serial += 1
        if discount is None:
            discount = _DISCOUNTS.pick(self.rng) if self.rng.random() < 0.15 else 0
        quantity = min(50, 5 + int(self.rng.expovariate(1 / 10))) if plan.seats else 1
        return _Sub(f"sub-{self.acct.number:04d}-{self.serial}", plan, quantity, discount, anchor)

    def _emit(self, ts: int, kind: str, sub: _Sub, started: bool = False, priced: bool = False) -> None:
        acct = self.acct
        fields: dict[str, Any] = {
            "type": kind,
            "customer_id": acct.id,
            "subscription_id": sub.id,
            "plan": sub.plan.name,
        }
        if started:
            fields["acquisition_channel"] = acct.channel
            fields["attributes"] = acct.attributes
        if priced:
            fields["amount"] = _money(sub.plan.prices[acct.currency] * 100)
            fields["currency"] = acct.currency
            fields["interval"] = sub.plan.interval
            fields["interval_count"] = 1
            fields["quantity"] = sub.quantity
            fields["discount_percent"] = sub.discount
        self.sink.add(ts, "subscriptions", fields)


# --- product usage ----------------------------------------------------------------------------

_FEATURES = (
    ("dashboards", 30), ("reports", 22), ("alerts", 15), ("integrations", 10), ("api", 13), ("exports", 10)
)
_ACTIONS = _Weighted((("page_view", 52), ("feature_used", 40), ("report_exported", 8)))
_SESSIONS_PER_DAY = _Weighted(((1, 60), (2, 30), (3, 10)))
_EXPORT_FORMATS = ("csv", "pdf", "xlsx")
_PAGES = ("/dashboard", "/reports", "/alerts", "/integrations", "/settings", "/billing", "/docs")
_MARKETING_PAGES = ("/", "/pricing", "/features", "/blog/saas-metrics", "/customers", "/signup")
NO_SESSION_SHARE = 0.2  # events tracked server-side, without a session
WEEKEND_ACTIVITY = 0.2  # a user's weekend activity relative to a weekday


class _ProductUsage:
    """Sessions of an account's users: a few events minutes apart, in local office hours."""

    def __init__(self, account: _Account, rng: random.Random, sink: _Sink) -> None:
        self.acct, self.rng, self.sink = account, rng, sink
        self.sessions = 0

    def run(self) -> None:
        acct, rng = self.acct, self.rng
        if not acct.users:
            return
        self._onboarding()
        first = acct.spans[0].start - acct.spans[0].start % DAY - DAY
        last = max(s.end for s in acct.spans) + TAPER_DAYS * DAY
        for day in self.sink.window.days():
            if not first <= day <= last:
                continue
            weekend = _weekday(day) >= 5
            for user in acct.users:
                chance = user.engagement * (WEEKEND_ACTIVITY if weekend else 1.0)
                if rng.random() >= chance:
                    continue
                for _ in range(_SESSIONS_PER_DAY.pick(rng)):
                    start = _local_time(rng, day, acct.utc_offset)
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

    def _session(self, user: _User, start: int) -> None:
        rng, features = self.rng, self.acct.features
        assert features is not None
        self.sessions += 1
        session = f"s-{self.acct.id}-{self.sessions}"
        t = start
        if rng.random() < 0.75:
            self._track(t, user, "login", session)
        for _ in range(_between(rng, 3, 8)):
            t += _between(rng, 20, 7 * MINUTE)
            action = _ACTIONS.pick(rng)
            sid = None if rng.random() < NO_SESSION_SHARE else session
            if action == "feature_used":
                feature = features.pick(rng)
                self._track(t, user, action, sid, feature=feature)
            elif action == "page_view":
                self._track(t, user, action, sid, {"path": _one_of(rng, _PAGES)})
            else:
                self._track(t, user, action, sid, {"format": _one_of(rng, _EXPORT_FORMATS)})

    def _track(
        self,
        ts: int,
        user: _User,
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


def _anonymous_visits(rng: random.Random, sink: _Sink, customers: int) -> None:
    """Website visitors who never sign up: page_views keyed by anonymous_id only."""
    visitor = 0
    for day in sink.window.days():
        weekend = _weekday(day) >= 5
        for _ in range(_poisson(rng, customers * (0.15 if weekend else 0.4))):
            visitor += 1
            anonymous_id, session = f"anon-{visitor:06d}", f"s-anon-{visitor:06d}"
            t = _local_time(rng, day, rng.choice((-5, 0, 1, 8)))
            for _ in range(_between(rng, 1, 4)):
                fields: dict[str, Any] = {
                    "type": "track",
                    "name": "page_view",
                    "anonymous_id": anonymous_id,
                    "properties": {"path": _one_of(rng, _MARKETING_PAGES)},
                }
                if rng.random() >= NO_SESSION_SHARE:
                    fields["session_id"] = session
                sink.add(t, "product-events", fields)
                t += _between(rng, 10, 4 * MINUTE)


# --- support tickets --------------------------------------------------------------------------

_TICKET_CHANNELS = _Weighted((("email", 35), ("chat", 30), ("web", 20), ("phone", 10), ("other", 5)))
_TICKET_CATEGORIES = _Weighted(
    (
        ("question", 40),
        ("bug", 25),
        ("feature_request", 12),
        ("complaint", 8),
        ("suggestion", 8),
        ("other", 7),
    )
)
_PRIORITIES = _Weighted((("low", 25), ("normal", 50), ("high", 18), ("urgent", 7)))
#: First-reply delay bounds in seconds by priority: urgent tickets are answered in minutes.
_REPLY_DELAY = {
    "low": (HOUR, 24 * HOUR),
    "normal": (30 * MINUTE, 8 * HOUR),
    "high": (15 * MINUTE, 2 * HOUR),
    "urgent": (5 * MINUTE, 30 * MINUTE),
}
_TICKET_RATE = {"smb": 0.02, "mid": 0.04, "enterprise": 0.08}  # per active weekday


@dataclass(slots=True)
class _Ticket:
    account: _Account
    opened: int
    order: int  # tie-break for numbering
    steps: list[tuple[int, str, dict[str, Any]]]
    csat: tuple[int, int] | None = None  # (when, score) of the survey after resolution


def _support(accounts: list[_Account], seed: int, sink: _Sink) -> None:
    """Tickets of active accounts, numbered t-1, t-2, ... in order of opening."""
    tickets: list[_Ticket] = []
    for acct in accounts:
        rng = _rng(seed, "tickets", acct.number)
        for day in sink.window.days():
            rate = _TICKET_RATE[acct.segment] * (0.3 if _weekday(day) >= 5 else 1.0)
            if rng.random() >= rate:
                continue
            opened = _local_time(rng, day, acct.utc_offset)
            if acct.activity(opened) >= 1.0 and sink.window.lo <= opened < sink.window.hi:
                tickets.append(_ticket(rng, acct, opened, len(tickets)))
    tickets.sort(key=lambda t: (t.opened, t.order))
    rng = _rng(seed, "csat", 0)
    for number, ticket in enumerate(tickets, start=1):
        ticket_id = f"t-{number}"
        for ts, kind, extra in ticket.steps:
            fields = {"type": kind, "ticket_id": ticket_id, "account_id": ticket.account.id, **extra}
            sink.add(ts, "support-tickets", fields)
        if ticket.csat is not None:
            when, score = ticket.csat
            survey = _survey_fields(rng, ticket.account, when, "csat", score, "support")
            survey["ticket_id"] = ticket_id
            sink.add(when, "surveys", survey)


def _ticket(rng: random.Random, acct: _Account, opened: int, order: int) -> _Ticket:
    """Opened, answered, maybe a back-and-forth, resolved, sometimes reopened and resolved again."""
    priority = _PRIORITIES.pick(rng)
    low, high = _REPLY_DELAY[priority]
    opening = {
        "channel": _TICKET_CHANNELS.pick(rng),
        "category": _TICKET_CATEGORIES.pick(rng),
        "priority": priority,
    }
    steps: list[tuple[int, str, dict[str, Any]]] = [(opened, "ticket_opened", opening)]
    t = opened + rng.randint(low, high)
    first_reply = t - opened
    steps.append((t, "agent_replied", {}))
    for _ in range(3):
        if rng.random() >= 0.5:
            break
        t += rng.randint(10 * MINUTE, DAY)
        steps.append((t, "customer_replied", {}))
        t += rng.randint(low, high)
        steps.append((t, "agent_replied", {}))
    t += rng.randint(5 * MINUTE, 36 * HOUR)
    steps.append((t, "ticket_resolved", {}))
    reopened = rng.random() < 0.1
    if reopened:
        t += rng.randint(HOUR, 5 * DAY)
        steps.append((t, "ticket_reopened", {}))
        t += rng.randint(low, high)
        steps.append((t, "agent_replied", {}))
        t += rng.randint(10 * MINUTE, 2 * DAY)
        steps.append((t, "ticket_resolved", {}))
    csat = None
    if rng.random() < 0.45:
        mean = 4.4 - (1.2 if reopened else 0.0) - (0.6 if first_reply > 6 * HOUR else 0.0)
        csat = (t + rng.randint(MINUTE, DAY), _score(rng, mean, 0.8, "csat"))
    return _Ticket(acct, opened, order, steps, csat)


# --- surveys ----------------------------------------------------------------------------------

_COMMENTS = (
    "Great product", "Reports are slow", "Love the dashboards", "Pricing is high", "Support was quick"
)


def _score(rng: random.Random, mean: float, sd: float, kind: str) -> int:
    """A score around ``mean``, clamped into the contract's range for the kind."""
    low, high = SCORE_RANGES[kind]
    return max(low, min(high, round(rng.gauss(mean, sd))))


def _survey_fields(
    rng: random.Random, acct: _Account, ts: int, kind: str, score: int, touchpoint: str | None
) -> dict[str, Any]:
    """A response from one of the account's users at that time."""
    fields: dict[str, Any] = {"type": "survey_response", "account_id": acct.id, "kind": kind, "score": score}
    users = acct.users_at(ts)
    if users:
        fields["user_id"] = rng.choice(users).id
    if touchpoint is not None:
        fields["touchpoint"] = touchpoint
    return fields


def _surveys(accounts: list[_Account], seed: int, sink: _Sink) -> None:
    """NPS from paying accounts (happier ones score higher), CES after onboarding and after a
    feature launch in the middle of the window. CSAT comes with the tickets."""
    window = sink.window
    launch = window.lo + (window.hi - window.lo) * 2 // 5
    for acct in accounts:
        rng = _rng(seed, "surveys", acct.number)
        for day in window.days():
            if rng.random() < 0.012 * (1 + len(acct.users) / 8):
                ts = _local_time(rng, day, acct.utc_offset)
                if acct.paying(ts):
                    score = _score(rng, 3.5 + 6 * acct.health, 1.6, "nps")
                    fields = _survey_fields(rng, acct, ts, "nps", score, None)
                    if rng.random() < 0.2:
                        fields["comment"] = rng.choice(_COMMENTS)
                    sink.add(ts, "surveys", fields)
        if not acct.spans:
            continue
        if not acct.preexisting and rng.random() < 0.4:
            ts = acct.spans[0].start + rng.randint(2 * DAY, 7 * DAY)
            if acct.activity(ts) >= 1.0:
                score = _score(rng, 5.2, 1.2, "ces")
                sink.add(ts, "surveys", _survey_fields(rng, acct, ts, "ces", score, "onboarding"))
        if rng.random() < 0.2:
            ts = launch + rng.randint(HOUR, 7 * DAY)
            if acct.activity(ts) >= 1.0:
                score = _score(rng, 4.5 + acct.health, 1.3, "ces")
                sink.add(ts, "surveys", _survey_fields(rng, acct, ts, "ces", score, "feature_launch"))


# --- marketing spend and leads ----------------------------------------------------------------

#: Share of the daily budget; "events" spend is lumpy (a few conference days).
_SPEND_CHANNELS = (("google_ads", 0.45), ("linkedin", 0.25), ("meta", 0.20), ("events", 0.10))
SPEND_PER_CUSTOMER_DAY = 8.0  # USD per day per simulated customer, so CAC stays plausible


def _marketing_spend(rng: random.Random, sink: _Sink, customers: int) -> None:
    """One spend_recorded per channel per UTC day, stamped late on that day."""
    budget = max(1, customers) * SPEND_PER_CUSTOMER_DAY
    for day in sink.window.days():
        weekend = _weekday(day) >= 5
        for i, (channel, share) in enumerate(_SPEND_CHANNELS):
            if channel == "events":
                amount = budget * share * 8 * rng.uniform(0.7, 1.3) if rng.random() < 0.12 else 0.0
            else:
                amount = budget * share * (0.6 if weekend else 1.1) * rng.uniform(0.8, 1.2)
            cents = round(amount * 100)
            fields = {
                "type": "spend_recorded",
                "channel": channel,
                "amount": _money(cents),
                "currency": "USD",
            }
            sink.add(day + 23 * HOUR + 50 * MINUTE + i * MINUTE, "marketing-spend", fields)


_LEAD_CHANNELS = _Weighted(
    (("google_ads", 30), ("linkedin", 20), ("meta", 15), ("events", 8), ("organic", 17), ("referral", 10))
)


def _leads(rng: random.Random, sink: _Sink, customers: int) -> None:
    """Leads every day; a third become MQLs, some of those SQLs; product-led ones become PQLs."""
    number = 0
    for day in sink.window.days():
        weekend = _weekday(day) >= 5
        created = sorted(
            _local_time(rng, day, rng.choice((-5, 0, 1, 8)))
            for _ in range(_poisson(rng, customers * (0.1 if weekend else 0.25)))
        )
        for t in created:
            number += 1
            lead_id = f"lead-{number:06d}"
            channel = _LEAD_CHANNELS.pick(rng)
            sink.add(t, "leads", {"type": "lead_created", "lead_id": lead_id, "channel": channel})
            if channel in ("organic", "referral") and rng.random() < 0.12:
                t += rng.randint(DAY, 5 * DAY)
                sink.add(t, "leads", _qualified(lead_id, channel, "pql"))
                continue
            if rng.random() >= 0.35:
                continue
            t += HOUR + int(rng.expovariate(1 / (1.5 * DAY)))
            sink.add(t, "leads", _qualified(lead_id, channel, "mql"))
            if rng.random() < 0.4:
                t += rng.randint(DAY, 10 * DAY)
                sink.add(t, "leads", _qualified(lead_id, channel, "sql"))


def _qualified(lead_id: str, channel: str, stage: str) -> dict[str, Any]:
    return {"type": "lead_qualified", "lead_id": lead_id, "channel": channel, "stage": stage}
