"""The support reducer: each ticket's state from its events, as additive daily counters.

A ticket's record (store ``tickets``) holds its events (time, type), the attributes of its
``ticket_opened`` and what it contributes to each UTC day's counters. Every event re-derives
the ticket's contributions from its events in time order and applies the difference, so the
figures do not depend on the order a ticket's events arrive in within the grace period, and
a ticket costs the same however long the partition's history is. Days (store ``days``) are
the sums over every ticket of the partition; a resolved ticket's record goes once nothing can
reopen it within ``keep_resolved_days`` (its figures stay in the days).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from consumers.account_signals import KEEP_DAYS, SignalBook
from consumers.support.business import Schedule
from consumers.support.quantiles import bucket_key
from stream.outcomes import APPLIED, ApplyResult, Refused, RejectReason, late

__all__ = ["SupportConfig", "SupportLedger", "TICKETS_STORE", "DAYS_STORE", "META_STORE", "SIGNALS_STORE", "derive"]

TICKETS_STORE = "tickets"
DAYS_STORE = "days"
META_STORE = "meta"
#: per-account open tickets and first response times, for the health score
SIGNALS_STORE = "account_signals"
#: what a ticket contributes to its account's signals (per day; "open" now)
SIGNAL_FIELDS = ("frt_n", "frt_sum")

#: ties at one instant: the ticket opens first, then replies, then resolutions, then reopens
ORDER = {"ticket_opened": 0, "agent_replied": 1, "customer_replied": 2, "ticket_resolved": 3, "ticket_reopened": 4}
Counters = dict[str, float]


@dataclass(frozen=True)
class SupportConfig:
    grace_seconds: int = 2 * 86400
    #: working schedule for business-hours FRT (None: calendar seconds only)
    schedule: Schedule | None = None
    #: ("priority:<p>" | "channel:<c>", its own schedule): a priority's wins over a channel's
    overrides: tuple[tuple[str, Schedule], ...] = ()
    keep_days: int = 120
    #: how long a resolved ticket is kept for a reopen (its record; its figures stay)
    keep_resolved_days: int = 30

    @cached_property
    def _overrides(self) -> dict[str, Schedule]:
        return dict(self.overrides)

    def schedule_for(self, attrs: dict[str, str]) -> Schedule | None:
        """The schedule a ticket's business seconds are counted in."""
        found = self._overrides
        return (
            found.get(f"priority:{attrs.get('priority')}")
            or found.get(f"channel:{attrs.get('channel')}")
            or self.schedule
        )


_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC).toordinal()


def _day(ts: float) -> int:
    """The UTC day ordinal of epoch seconds ``ts``."""
    return _EPOCH_DAY + int(ts // 86400)


def _add(days: dict[int, Counters], day: int, field: str, n: float = 1) -> None:
    counters = days.setdefault(day, {})
    value = counters.get(field, 0) + n
    if value:
        counters[field] = value
    else:
        counters.pop(field, None)


def _timing(
    days: dict[int, Counters], base: str, opened: float, at: float, attrs: dict[str, str], schedule: Schedule | None
) -> None:
    """Count one ticket's time from opening to ``at`` (its first reply, ``frt``, or first
    resolution, ``res``) on ``at``'s day: calendar seconds under ``base``, business seconds
    under ``base + "b"``; for every ticket, by channel (``@channel:<c>``) and by priority."""
    values = [(base, at - opened)]
    if schedule is not None:
        values.append((f"{base}b", schedule.seconds(opened, at)))
    day = _day(at)
    for clock, seconds in values:
        for prefix in (
            clock,
            f"{clock}@channel:{attrs.get('channel')}",
            f"{clock}@priority:{attrs.get('priority', 'unknown')}",
        ):
            _add(days, day, f"{prefix}_n")
            _add(days, day, f"{prefix}_sum", seconds)
            _add(days, day, bucket_key(prefix, seconds))


def derive(
    events: list[list[Any]], attrs: dict[str, str], schedule: Schedule | None = None
) -> tuple[dict[int, Counters], Counters]:
    """A ticket's contributions per day, and to "now", from its events ([ts, type]) — none
    before its ``ticket_opened`` arrives (its other events wait in the record)."""
    ordered = sorted(events, key=lambda e: (e[0], ORDER[e[1]]))
    opened = next((ts for ts, kind in ordered if kind == "ticket_opened"), None)
    if opened is None:
        return {}, {}
    days: dict[int, Counters] = {}
    priority = attrs.get("priority", "unknown")
    d0 = _day(opened)
    for field in ("opened", f"opened:channel:{attrs.get('channel')}", f"opened:priority:{priority}",
                  f"opened:category:{attrs.get('category')}", "backlog", f"backlog:{priority}"):  # fmt: skip
        _add(days, d0, field)
    is_open, replies, reopens = True, 0, 0
    first_reply: float | None = None
    first_resolution: float | None = None
    last_resolution: float | None = None
    replies_at_first_resolution = 0
    for ts, kind in ordered:
        at = max(ts, opened)  # an event timestamped before its ticket opened counts as at the opening
        if kind == "agent_replied":
            replies += 1
            if first_reply is None:
                first_reply = at
                _timing(days, "frt", opened, at, attrs, schedule)
        elif kind == "ticket_resolved" and is_open:
            is_open = False
            last_resolution = at
            _add(days, _day(at), "resolved")
            _add(days, _day(at), "backlog", -1)
            _add(days, _day(at), f"backlog:{priority}", -1)
            if first_resolution is None:
                first_resolution, replies_at_first_resolution = at, replies
                _timing(days, "res", opened, at, attrs, schedule)
        elif kind == "ticket_reopened" and not is_open:
            is_open = True
            reopens += 1
            _add(days, _day(at), "reopened")
            _add(days, _day(at), "backlog")
            _add(days, _day(at), f"backlog:{priority}")
    if first_resolution is not None and replies_at_first_resolution == 1 and reopens == 0:
        _add(days, _day(first_resolution), "fcr")
    if not is_open and last_resolution is not None:
        # full resolution time: to the last resolution of a ticket resolved now (a reopening
        # takes it out until the ticket is resolved again)
        seconds = last_resolution - opened
        _add(days, _day(last_resolution), "full_n")
        _add(days, _day(last_resolution), "full_sum", seconds)
        _add(days, _day(last_resolution), bucket_key("full", seconds))
    now: Counters = {}
    if is_open:
        now["open"] = 1
        now[f"open:{priority}"] = 1
    if first_reply is None:
        now["awaiting"] = 1
    return {d: {k: v for k, v in c.items() if v} for d, c in days.items()}, now


class SupportLedger:
    def __init__(
        self,
        config: SupportConfig,
        tickets: MutableMapping[str, Any],
        days: MutableMapping[str, Any],
        meta: MutableMapping[str, Any],
        signals: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.tickets, self.store, self.meta = tickets, days, meta
        self.signals = SignalBook(signals if signals is not None else {})
        self.days: dict[int, Counters] = {int(d): dict(c) for d, c in days.items()}
        self.watermark: float | None = meta.get("watermark")
        #: the days' backlog counters of days dropped from state (so backlog stays a running sum)
        self.backlog_before: Counters = dict(meta.get("backlog_before", {}))
        self.now: Counters = {}
        self.awaiting: dict[str, float] = {}  # ticket -> opened, while no agent has replied
        #: tickets whose events wait for their ticket_opened (their records hold the events' JSON)
        self.waiting: set[str] = {t for t, r in tickets.items() if r.get("w")}
        #: the JSON of waiting events given up on (no ticket_opened within grace), to dead-letter
        self.orphans: list[tuple[str, str]] = []
        for ticket, record in tickets.items():
            self._count_now(ticket, record, 1)
        if not self.signals.records and tickets:
            # state written before account signals existed: rebuild them from the tickets kept
            for record in tickets.values():
                if record.get("at", {}).get("account"):
                    new = {int(d): c for d, c in record["c"].items()}
                    self._signal(record["at"]["account"], {}, new, {}, record["now"])
        self.changed: set[int] = set()

    def apply(self, event: Any) -> ApplyResult:
        ts = event.occurred_at.astimezone(UTC).timestamp()
        if self.watermark is not None and ts < self.watermark - self.config.grace_seconds:
            return late(event.occurred_at)
        record = self.tickets.get(event.ticket_id)
        record = {"ev": [], "at": {}, "c": {}, "now": {}} if record is None else dict(record)
        if event.type == "ticket_opened":
            if any(kind == "ticket_opened" for _, kind in record["ev"]):
                return Refused(
                    RejectReason.SCHEMA,
                    f"schema: ticket {event.ticket_id!r} was already opened: a ticket opens once (a new "
                    "ticket needs a new ticket_id)",
                )
            record["at"] = {"channel": event.channel, "priority": event.priority, "category": event.category,
                            "account": event.account_id}  # fmt: skip
        if self.watermark is None or ts > self.watermark:
            self._advance(ts)
        record["ev"] = [*record["ev"], [ts, event.type]]
        if any(kind == "ticket_opened" for _, kind in record["ev"]):
            record.pop("w", None)
            self.waiting.discard(event.ticket_id)
        else:  # kept whole, to be dead-lettered if its ticket never opens
            record["w"] = [*record.get("w", []), event.model_dump_json()]
            self.waiting.add(event.ticket_id)
        old_days = {int(d): c for d, c in record["c"].items()}
        old_now = dict(record["now"])
        self._count_now(event.ticket_id, record, -1)
        new_days, now = derive(record["ev"], record["at"], self.config.schedule_for(record["at"]))
        for day in old_days.keys() | new_days.keys():
            old, new = old_days.get(day, {}), new_days.get(day, {})
            if old == new:  # most of a ticket's days do not change with one more event
                continue
            for field in old.keys() | new.keys():
                delta = new.get(field, 0) - old.get(field, 0)
                if delta:
                    _add(self.days, day, field, delta)
            self.changed.add(day)
        record["c"] = {str(d): c for d, c in new_days.items()}
        record["now"] = now
        if record["at"].get("account"):
            self._signal(record["at"]["account"], old_days, new_days, old_now, now)
        self.tickets[event.ticket_id] = record
        self._count_now(event.ticket_id, record, 1)
        return APPLIED

    def _signal(
        self, account: str, old: dict[int, Counters], new: dict[int, Counters], old_now: Counters, now: Counters
    ) -> None:
        """The change of one ticket's contribution to its account's signals (days no longer
        kept are left alone: their change is 0 or not counted)."""
        oldest = None if self.watermark is None else _day(self.watermark) - KEEP_DAYS
        for day in set(old) | set(new):
            if oldest is not None and day <= oldest:
                continue
            for field in SIGNAL_FIELDS:
                self.signals.add(account, field, new.get(day, {}).get(field, 0) - old.get(day, {}).get(field, 0), day)
        self.signals.add(account, "open", now.get("open", 0) - old_now.get("open", 0))

    def _count_now(self, ticket: str, record: dict[str, Any], sign: int) -> None:
        for field, n in record.get("now", {}).items():
            self.now[field] = self.now.get(field, 0) + sign * n
        opened = next((ts for ts, kind in record.get("ev", []) if kind == "ticket_opened"), None)
        if sign > 0 and record.get("now", {}).get("awaiting") and opened is not None:
            self.awaiting[ticket] = opened
        elif sign < 0:
            self.awaiting.pop(ticket, None)

    def _advance(self, ts: float) -> None:
        previous, self.watermark = self.watermark, ts
        self.meta["watermark"] = ts
        for ticket in sorted(self.waiting):
            record = self.tickets.get(ticket)
            if record is None or max(e[0] for e in record["ev"]) < ts - self.config.grace_seconds:
                self.waiting.discard(ticket)
                if record is not None:
                    self.orphans.extend((ticket, raw) for raw in record.get("w", []))
                    del self.tickets[ticket]
        if previous is not None and _day(previous) == _day(ts):
            return
        today = _day(ts)
        self.signals.expire(today)
        for day in [d for d in self.days if d < today - self.config.keep_days]:
            for field, n in self.days.pop(day).items():
                if field.startswith("backlog"):
                    self.backlog_before[field] = self.backlog_before.get(field, 0) + n
            self.store.pop(str(day), None)
            self.changed.discard(day)
        self.meta["backlog_before"] = dict(self.backlog_before)
        horizon = ts - self.config.grace_seconds - self.config.keep_resolved_days * 86400
        for ticket in [t for t, r in self.tickets.items() if not r["now"].get("open") and r["ev"]
                       and max(e[0] for e in r["ev"]) < horizon and r["c"]]:  # fmt: skip
            self._count_now(ticket, self.tickets[ticket], -1)
            del self.tickets[ticket]

    def flush(self) -> None:
        for day in sorted(self.changed):
            if day in self.days:
                self.store[str(day)] = {k: v for k, v in self.days[day].items() if v}
        self.changed.clear()

    def take_orphans(self) -> list[tuple[str, str]]:
        orphans, self.orphans = self.orphans, []
        return orphans

    def oldest_awaiting(self) -> float | None:
        return min(self.awaiting.values()) if self.awaiting else None
