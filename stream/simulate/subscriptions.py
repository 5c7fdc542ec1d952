"""Subscriptions: the plans, and each customer's trials, paid episodes, changes and churn.

They run first because they decide when each account is in trial, paying or gone, which every
other domain of the account follows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from stream.simulate.accounts import Account, Span
from stream.simulate.clock import DAY, HOUR, add_months
from stream.simulate.common import Weighted, money
from stream.simulate.sink import Sink


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    prices: dict[str, int]  # whole currency units per billing period, by currency
    interval: str
    months: int  # length of one term
    tier: int  # position on the monthly upgrade ladder, -1 when not on it
    seats: bool = False


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("starter", {"USD": 29, "EUR": 27, "GBP": 24}, "month", 1, 0),
        Plan("team", {"USD": 99, "EUR": 92, "GBP": 79}, "month", 1, 1),
        Plan("business", {"USD": 299, "EUR": 279, "GBP": 249}, "month", 1, 2),
        Plan("team-annual", {"USD": 990, "EUR": 920, "GBP": 790}, "year", 12, -1),
        Plan("enterprise", {"USD": 240, "EUR": 220, "GBP": 190}, "quarter", 3, -1, seats=True),  # per seat
        Plan("addon-analytics", {"USD": 19, "EUR": 18, "GBP": 15}, "month", 1, -1),
    )
}
_LADDER = ("starter", "team", "business")
_PLAN_MIX = {
    "smb": Weighted((("starter", 55), ("team", 35), ("team-annual", 10))),
    "mid": Weighted((("team", 40), ("business", 35), ("team-annual", 25))),
    "enterprise": Weighted((("enterprise", 60), ("business", 25), ("team-annual", 15))),
}
#: Switching plan family = cancel the old subscription and start a new one at the same instant.
_SWITCH_TO = {"starter": "team-annual", "team": "team-annual", "business": "enterprise"}
_DISCOUNTS = Weighted(((10, 60), (20, 30), (50, 10)))
_TRIAL_PLANS = Weighted((("team", 60), ("business", 25), ("starter", 15)))
_CONVERTED_PLANS = Weighted((("starter", 20), ("team", 50), ("business", 20), ("team-annual", 10)))
_MONTHLY_CHURN = {"smb": 0.05, "mid": 0.035, "enterprise": 0.02}

TRIAL_DAYS = 14
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
    plan: Plan
    quantity: int
    discount: int  # percent
    anchor: int  # billing anchor: term k ends at anchor + k terms

    def term_end(self, k: int) -> int:
        return add_months(self.anchor, k * self.plan.months)


class SubscriptionLife:
    """One customer's subscriptions: trial, paid episodes (renewals, changes, plan switches,
    an add-on), churn at a term end and possibly a later comeback. Records the account's
    trial and paid spans, which drive product usage, tickets and surveys."""

    def __init__(self, account: Account, rng: random.Random, sink: Sink) -> None:
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
            self.acct.spans.append(Span(t, min(converted, self.hi), paid=False))
            plan = PLANS[_CONVERTED_PLANS.pick(rng)]
            sub.plan, sub.anchor = plan, converted
            return self._episode(converted, sub, fresh=True)
        self._emit(ends, "trial_expired", sub)
        self.acct.spans.append(Span(t, min(ends, self.hi), paid=False))
        if rng.random() < 0.1:
            return ends + rng.randint(10 * DAY, 40 * DAY)
        return None

    def _episode(self, start: int, sub: _Sub, fresh: bool = False, addon_from_start: bool = False) -> int | None:
        """A paid period from ``start``; returns when the customer comes back after churning.

        ``fresh``: the customer just bought, so the first term carries the early-life churn.
        """
        rng = self.rng
        self._emit(start, "subscription_started", sub, started=True, priced=True)
        end, involuntary = self._run_main(start, sub, EARLY_CHURN if fresh else 1.0)
        stop = end if end is not None else self.hi
        self.acct.spans.append(Span(start, stop, paid=True))
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

    def _new_sub(self, plan: Plan, anchor: int, discount: int | None = None) -> _Sub:
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
            fields["amount"] = money(sub.plan.prices[acct.currency] * 100)
            fields["currency"] = acct.currency
            fields["interval"] = sub.plan.interval
            fields["interval_count"] = 1
            fields["quantity"] = sub.quantity
            fields["discount_percent"] = sub.discount
        self.sink.add(ts, "subscriptions", fields)
