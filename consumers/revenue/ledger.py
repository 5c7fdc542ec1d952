"""Revenue state of a set of customers: one partition in a worker, everything in a replay.

``apply`` is the reducer (state + event -> new state) that both the streaming processor and
``pulse report monthly-mrr`` call. Durable state is only each customer's compact event list;
timelines, contributions and aggregates are derived and rebuilt on recovery.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Context, Decimal, localcontext
from typing import Any

from consumers.revenue.buckets import (
    NOW,
    BucketKind,
    Buckets,
    add_into,
    appended,
    carry_of,
    contributions,
    day_key,
    kind_of,
    month_of,
    plan_key,
    segment_key,
)
from consumers.revenue.codec import encode_folded, encode_tail
from consumers.revenue.definitions import money
from consumers.revenue.model import (
    RECENT_MOVEMENTS,
    CustomerHistory,
    Folded,
    SubscriptionEventType,
    SubscriptionFact,
    sort_key,
)
from consumers.revenue.normalize import MissingRate, convert, normalized_mrr
from consumers.revenue.settings import RevenueSettings
from consumers.revenue.timeline import (
    Timeline,
    build_timeline,
    extend_timeline,
    group_end,
    parse_at,
    track_subscriptions,
)
from stream.events import SubscriptionChanged, SubscriptionStarted
from stream.outcomes import APPLIED, DUPLICATE, ApplyResult, Refused, RejectReason, conflict, late
from stream.settings import PulseSettings
from stream.state import MAX_RECORD_BYTES

__all__ = ["RevenueConfig", "RevenueLedger", "compact"]

ZERO = Decimal(0)
#: Normalized MRR is fixed-point with 10 decimals: sums and differences of such values are then
#: exact (no 28-digit rounding), so aggregates do not depend on the order they were built in.
#: They stay exact below 10^18 in total; to the cent below 10^25.
MRR_QUANTUM = Decimal("1e-10")
#: The largest normalized MRR of one subscription (in the reporting currency) Pulse accepts; a
#: larger one is refused as `schema`, so no sum of them can leave exact decimal arithmetic.
MAX_SUBSCRIPTION_MRR = Decimal("1e15")
#: Room for amount × quantity × period factor × rate before the quantization to 10 decimals.
_WIDE = Context(prec=80)


@dataclass(frozen=True)
class RevenueConfig:
    fx_rates: Mapping[str, Decimal]
    grace_seconds: int = 2 * 86400
    grouping_seconds: int = 0
    segment_attributes: tuple[str, ...] = ("country", "acquisition_channel", "segment")
    reporting_currency: str = "USD"
    gross_margin: Decimal = Decimal(1)

    @classmethod
    def from_settings(cls, settings: PulseSettings, section: RevenueSettings) -> RevenueConfig:
        return cls(
            fx_rates=dict(section.fx_rates),
            grace_seconds=settings.grace_period_seconds,
            grouping_seconds=section.movement_grouping_seconds,
            segment_attributes=tuple(section.segment_attributes),
            reporting_currency=section.reporting_currency,
            gross_margin=section.gross_margin,
        )


def compact(event: Any, rates: Mapping[str, Decimal]) -> SubscriptionFact:
    """The few fields revenue needs of a validated event; MRR normalized and converted."""
    mrr = None
    if isinstance(event, (SubscriptionStarted, SubscriptionChanged)):
        with localcontext(_WIDE):
            monthly = normalized_mrr(
                event.amount, event.interval, event.interval_count, event.quantity, event.discount_percent
            )
            mrr = convert(monthly, event.currency, rates).quantize(MRR_QUANTUM)
        if mrr >= MAX_SUBSCRIPTION_MRR:
            raise MrrOutOfRange(mrr)
    attributes = dict(event.attributes)
    if event.acquisition_channel:
        attributes["acquisition_channel"] = event.acquisition_channel
    occurred = event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    effective = getattr(event, "effective_at", None)
    scheduled = effective.astimezone(UTC).isoformat(timespec="microseconds") if effective is not None else None
    return SubscriptionFact(
        at=scheduled if scheduled is not None and scheduled > occurred else occurred,
        type=SubscriptionEventType(event.type),
        subscription_id=event.subscription_id,
        plan=event.plan,
        event_id=event.event_id,
        mrr=mrr,
        attributes=attributes,
        announced=occurred if scheduled is not None and scheduled > occurred else None,
    )


#: The bucket kinds of the "now" snapshot (recomputed whole when a customer changes).
_NOW_KINDS = (BucketKind.NOW, BucketKind.PLAN, BucketKind.SEGMENT)


class MrrOutOfRange(ValueError):
    """A subscription's normalized MRR beyond :data:`MAX_SUBSCRIPTION_MRR`."""


class RevenueLedger:
    """Per-event cost does not grow with a customer's history: once a customer's open tail
    holds FOLD_AT events, what the grace period can no longer change is folded into a compact
    state (:class:`Folded`), and only the tail is re-derived per event."""

    #: tail length that triggers a fold, and the fewest events a fold takes
    FOLD_AT = 64
    FOLD_MIN = 16
    #: an event after the tail's last movement group extends the derived state instead of
    #: re-deriving the tail (the usual case: events arrive in order)
    INCREMENTAL = True

    def __init__(
        self,
        config: RevenueConfig,
        customers: MutableMapping[str, CustomerHistory] | None = None,
        folded: MutableMapping[str, dict[str, Decimal]] | None = None,
    ) -> None:
        self.config = config
        #: customer id -> history: the durable state (store ``customers``, consumers/revenue/codec.py)
        self.customers: MutableMapping[str, CustomerHistory] = customers if customers is not None else {}
        #: bucket -> the final figures every folded customer of the partition gave it (store
        #: ``folded``): kept here, not in each customer's record, so records stay bounded
        self.folded: MutableMapping[str, dict[str, Decimal]] = folded if folded is not None else {}
        self.timelines: dict[str, Timeline] = {}  # of each customer's open tail
        self._contrib: dict[str, Buckets] = {}  # of each customer's open tail (and the now snapshot)
        self._folded_bytes: dict[str, int] = {}
        self._tail_bytes: dict[str, int] = {}
        self._fold_tried: dict[str, int] = {}  # tail length at the last fold attempt
        self.buckets: Buckets = {}  # sum of every customer's contributions, folded and open
        self.watermark: str | None = None  # latest occurred_at applied (compact form)
        self.rebuild()

    # --- the reducer ----------------------------------------------------------------------

    def apply(self, event: Any) -> ApplyResult:
        """Apply one validated subscription event."""
        try:
            record = compact(event, self.config.fx_rates)
        except MissingRate:
            return Refused(RejectReason.CURRENCY, f"currency: {event.currency} has no rate in PULSE_FX_RATES")
        except MrrOutOfRange as exc:
            return Refused(
                RejectReason.SCHEMA,
                f"schema: normalized MRR {exc.args[0]:.4E} exceeds the limit {MAX_SUBSCRIPTION_MRR:.0E} a subscription",
            )
        cid = event.customer_id
        known = self.customers.get(cid)
        if known is not None:
            first = next((e for e in known.events if e.event_id == record.event_id), None)
            if first is not None:  # a resend older than the dedupe window: still exactly once
                return DUPLICATE if first == record else conflict(record.event_id)
            # (a resend of a folded event is older than the grace period: late, never counted)
            if self._too_late(record.announced_at, known.last_announced):
                return late(event.occurred_at)
        events = [*known.events] if known is not None else []
        bisect.insort(events, record, key=sort_key)
        history = CustomerHistory(events, known.folded if known is not None else None)
        tail_bytes = self._tail_bytes.get(cid, 2) + len(encode_tail([record]))
        size = self._folded_bytes.get(cid, 0) + tail_bytes + len(cid)
        if size > MAX_RECORD_BYTES:
            return Refused(
                RejectReason.STATE_LIMIT,
                f"state_limit: customer {cid[:64]!r} would need a state record of {size} bytes "
                f"(limit {MAX_RECORD_BYTES})",
            )
        appended = self._appended(cid, history, record) if known is not None and self.INCREMENTAL else None
        if appended is not None:  # computed without touching the ledger; now commit
            tl, delta = appended
            self.customers[cid] = history  # assigned: marks the key for the changelog
            self.timelines[cid] = tl
            add_into(self._contrib[cid], delta)
            add_into(self.buckets, delta)
        else:
            derived = self._derive(history)  # may raise: nothing has changed yet
            self.customers[cid] = history
            self._install(cid, *derived)
        self._tail_bytes[cid] = tail_bytes
        if len(events) >= self.FOLD_AT and len(events) - self._fold_tried.get(cid, 0) >= self.FOLD_MIN:
            self._fold_tried[cid] = len(events)
            self._fold(cid, history)
        if self.watermark is None or record.announced_at > self.watermark:
            self.watermark = record.announced_at
        return APPLIED

    def _too_late(self, at: str, last: str) -> bool:
        if at >= last:
            return False
        gap = parse_at(last) - parse_at(at)
        return gap.total_seconds() > self.config.grace_seconds

    def _appended(
        self, cid: str, history: CustomerHistory, record: SubscriptionFact
    ) -> tuple[Timeline, Buckets] | None:
        """The extended timeline and the change of contributions when ``record`` starts a new
        movement group after the tail's last one; None when it does not (it is re-derived)."""
        tl = self.timelines.get(cid)
        events = history.events
        if tl is None or tl.last_group_start is None or len(events) < 2 or events[-1] is not record:
            return None
        at = parse_at(record.at)
        if record.at <= events[-2].at or (at - tl.last_group_start).total_seconds() <= self.config.grouping_seconds:
            return None
        delta = extend_timeline(tl, record)
        month, day = month_of(at), day_key(at)
        state = tl.month_state if tl.month_state is not None and tl.month_state.month == month else None
        folded = history.folded
        if state is None and folded is not None and folded.month is not None and folded.month.month == month:
            state = folded.month  # the tail has no movement in the folded part's open month yet
        day_kinds = tl.day_state[1] if tl.day_state is not None and tl.day_state[0] == day else set()
        change = appended(delta, state, day, day_kinds)
        old_now = {b: f for b, f in self._contrib[cid].items() if kind_of(b) in _NOW_KINDS}
        add_into(change, old_now, -1)
        add_into(change, self._current(delta))
        extended = Timeline(
            movements=[*tl.movements, *delta.movements],
            trials=[*tl.trials, *delta.trials],
            terms=[*tl.terms, *delta.terms],
            mrr=delta.mrr,
            plans=delta.plans,
            ever_paid=delta.ever_paid,
            attributes=delta.attributes,
            last_at=delta.last_at,
            subs=delta.subs,
            open_trials=delta.open_trials,
            prior_opened=tl.prior_opened,
            prior_closed=tl.prior_closed,
            last_group_start=delta.last_group_start,
            month_state=tl.month_state,
            day_state=tl.day_state,
        )
        if delta.movements:
            extended.month_state = carry_of(delta, state, month)[1]
            extended.day_state = (day, {*day_kinds, *(mv.kind for mv in delta.movements)})
        return extended, change

    # --- folding --------------------------------------------------------------------------

    def _fold(self, cid: str, history: CustomerHistory) -> None:
        """Fold the tail's complete movement groups before the last UTC day start that no
        accepted event can precede (last event - grace - grouping window)."""
        grouping = self.config.grouping_seconds
        bound = parse_at(history.last_announced) - timedelta(seconds=self.config.grace_seconds + grouping + 1)
        until = bound.replace(hour=0, minute=0, second=0, microsecond=0)
        events = history.events
        for _ in range(3):  # a movement group across the day start: try the day before
            cut = bisect.bisect_left(events, until.isoformat(timespec="microseconds"), key=lambda e: e.at)
            if _whole_groups(events, cut, grouping, history.folded):
                break
            until -= timedelta(days=1)
        else:
            return
        if cut < self.FOLD_MIN:
            return
        old = history.folded
        prefix, tail = events[:cut], events[cut:]
        tl = build_timeline(prefix, grouping, old)
        until_at = until.isoformat(timespec="microseconds")
        part, carry = carry_of(tl, old.month if old is not None else None, until_at[:7])
        final = {b: dict(f) for b, f in old.contributions.items()} if old is not None else {}  # format 2's
        add_into(final, part)
        recent = [
            *(old.recent if old is not None else []),
            *((mv.at_iso, mv.kind, mv.before, mv.after) for mv in tl.movements),
        ]
        folded = Folded(
            until=until_at,
            first_at=old.first_at if old is not None else prefix[0].at,
            last_at=prefix[-1].at,
            subs=dict(tl.subs),
            open_trials=sorted(tl.open_trials),
            trials_opened=tl.trials_opened,
            trials_closed=tl.trials_closed,
            mrr=tl.mrr,
            ever_paid=tl.ever_paid,
            attributes=dict(tl.attributes),
            contributions={},
            month=carry,
            recent=recent[-RECENT_MOVEMENTS:],
        )
        folded_history = CustomerHistory(tail, folded)
        add_into(self.buckets, part)  # the folded events' final figures, once
        for bucket, fields in final.items():  # (a format-2 record's own figures move here too)
            total = {bucket: dict(self.folded.get(bucket) or {})}
            add_into(total, {bucket: fields})
            if total.get(bucket):
                self.folded[bucket] = total[bucket]  # assigned: marks the key for the changelog
            elif bucket in self.folded:
                del self.folded[bucket]
        self.customers[cid] = folded_history
        self._folded_bytes[cid] = len(encode_folded(folded))
        self._tail_bytes[cid] = len(encode_tail(tail))
        self._fold_tried[cid] = len(tail)
        self._install(cid, *self._derive(folded_history))

    # --- derived state --------------------------------------------------------------------

    def rebuild(self) -> None:
        self.timelines.clear()
        self._contrib.clear()
        self._folded_bytes.clear()
        self._tail_bytes.clear()
        self._fold_tried.clear()
        self.buckets = {}
        self.watermark = None
        add_into(self.buckets, {bucket: dict(fields) for bucket, fields in self.folded.items()})
        for cid in list(self.customers):
            history = self.customers[cid]
            if history.folded is not None:
                add_into(self.buckets, history.folded.contributions)  # format 2 records
                self._folded_bytes[cid] = len(encode_folded(history.folded))
            self._tail_bytes[cid] = len(encode_tail(history.events))
            self._refresh(cid)
            last = history.last_announced
            if self.watermark is None or last > self.watermark:
                self.watermark = last

    def _refresh(self, cid: str) -> None:
        self._install(cid, *self._derive(self.customers[cid]))

    def _derive(self, history: CustomerHistory) -> tuple[Timeline, Buckets]:
        """The open tail's timeline and contributions, computed without touching the ledger."""
        folded = history.folded
        carried = folded.month if folded is not None else None
        tl = build_timeline(history.events, self.config.grouping_seconds, folded)
        new = contributions(tl, carried)
        new.update(self._current(tl))
        if tl.movements:  # what appending a movement will need (see _appended)
            last = tl.movements[-1].at
            month, day = month_of(last), day_key(last)
            moves = [mv for mv in tl.movements if month_of(mv.at) == month]
            tl.month_state = carry_of(
                Timeline(movements=moves), carried if carried and carried.month == month else None, month
            )[1]
            tl.day_state = (day, {mv.kind for mv in moves if day_key(mv.at) == day})
        return tl, new

    def _install(self, cid: str, tl: Timeline, new: Buckets) -> None:
        old = self._contrib.get(cid)
        if old:
            add_into(self.buckets, old, -1)
        self.timelines[cid] = tl
        self._contrib[cid] = new
        add_into(self.buckets, new)

    def _current(self, tl: Timeline) -> Buckets:
        """Snapshot contributions: MRR and active customers now, in total and by segment."""
        if tl.mrr <= 0:
            return {}
        out: Buckets = {NOW: {"mrr": tl.mrr, "customers": Decimal(1)}}
        for plan, mrr in tl.plans.items():
            out[plan_key(plan)] = {"mrr": mrr, "customers": Decimal(1)}
        for name in self.config.segment_attributes:
            value = tl.attributes.get(name, "unknown")
            out[segment_key(name, value)] = {"mrr": tl.mrr, "customers": Decimal(1)}
        return out

    def months_spanned(self) -> tuple[str, str] | None:
        """UTC months (YYYY-MM) of the earliest and the latest event applied, or None."""
        if not self.customers:
            return None
        firsts = [c.first_at for c in self.customers.values()]
        lasts = [c.last_at for c in self.customers.values()]
        return min(firsts)[:7], max(lasts)[:7]

    def customer_view(self, cid: str) -> dict[str, Any] | None:
        tl = self.timelines.get(cid)
        if tl is None:
            return None
        history = self.customers[cid]
        folded = history.folded.recent if history.folded is not None else []
        moves = [*folded, *((mv.at_iso, mv.kind, mv.before, mv.after) for mv in tl.movements)]
        # scheduled changes after this partition's latest event have not happened yet
        mark = self.watermark or ""
        pending = [mv for mv in tl.movements if mv.scheduled and mv.at_iso > mark]
        now = pending[0].before if pending else tl.mrr
        return {
            "customer_id": cid,
            "mrr": money(now, self.config.reporting_currency),
            "committed_mrr": money(tl.mrr, self.config.reporting_currency),
            "status": tl.status,
            "plans": {p: money(m, self.config.reporting_currency) for p, m in sorted(tl.plans.items())},
            "attributes": dict(sorted(tl.attributes.items())),
            "movements": [
                {
                    "at": parse_at(at).isoformat().replace("+00:00", "Z"),
                    "kind": kind,
                    "before": money(before, self.config.reporting_currency),
                    "after": money(after, self.config.reporting_currency),
                    "amount": money(abs(after - before), self.config.reporting_currency),
                }
                for at, kind, before, after in moves
            ],
        }


def _whole_groups(events: list[SubscriptionFact], cut: int, grouping_seconds: int, folded: Folded | None) -> bool:
    """Whether ``events[:cut]`` ends with a whole movement group, as build_timeline forms them."""
    subs = dict(folded.subs) if folded is not None else {}
    i = 0
    while i < cut:
        j = group_end(events, i, grouping_seconds, subs)
        if j > cut:
            return False
        for event in events[i:j]:
            track_subscriptions(subs, event)
        i = j
    return True
