"""The life of one rule's alert for one label set: inactive -> pending -> firing -> resolved.

Pure: a record and a verdict in, the next record and what to notify out. The record is what
Redis keeps, so a restarted worker neither re-notifies nor forgets an open incident.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from alerts.conditions import Verdict
from alerts.model import AlertState, LabelSet, NotificationStatus
from alerts.rules import Rule

__all__ = ["AlertRecord", "Step", "step"]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    rule: str
    labels: LabelSet
    state: AlertState = AlertState.INACTIVE
    #: when the condition started to hold (pending since), epoch seconds
    active_since: float | None = None
    #: when it started firing (the incident's startsAt)
    fired_at: float | None = None
    #: when it last resolved
    resolved_at: float | None = None
    value: float | None = None
    baseline: float | None = None
    deviation: float | None = None
    #: when the last notification of this incident was made (None: none yet, e.g. silenced)
    notified_at: float | None = None
    #: notifications made for this incident (the firing one, repeats)
    notifications: int = 0
    #: why the rule cannot judge now (too few baseline points), or None
    silent: str | None = None
    evaluated_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = [list(pair) for pair in self.labels]
        out["state"] = self.state.value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertRecord:
        fields = dict(data)
        fields["labels"] = tuple((str(k), str(v)) for k, v in fields["labels"])
        fields["state"] = AlertState(fields["state"])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Step:
    record: AlertRecord
    #: FIRING or RESOLVED when the state changed to it (a backtest's transition), else None
    transition: AlertState | None = None
    #: the notification to make now, if any
    notify: NotificationStatus | None = None


def step(record: AlertRecord, verdict: Verdict, value: float | None, now: float, rule: Rule, silenced: bool) -> Step:
    """The next state of ``record`` given the verdict at ``now``. A silenced alert changes
    state as usual but notifies nothing; once the silence ends, a firing alert that was never
    notified is, and a resolution is notified only if its firing was."""
    record = replace(
        record,
        value=value,
        baseline=verdict.baseline if verdict.baseline is not None else record.baseline,
        deviation=verdict.deviation,
        silent=verdict.silent,
        evaluated_at=now,
    )
    state = record.state
    if verdict.active is None:  # cannot judge: hold whatever holds
        if state is AlertState.FIRING:
            return _maybe_notify(record, now, rule, silenced)
        return Step(record)
    if verdict.active:
        if state in (AlertState.INACTIVE, AlertState.RESOLVED):
            record = replace(record, state=AlertState.PENDING, active_since=now)
            state = AlertState.PENDING
        if state is AlertState.PENDING:
            assert record.active_since is not None
            if now - record.active_since < rule.for_:
                return Step(record)
            record = replace(record, state=AlertState.FIRING, fired_at=now, notified_at=None, notifications=0)
            out = _maybe_notify(record, now, rule, silenced)
            return Step(out.record, AlertState.FIRING, out.notify)
        return _maybe_notify(record, now, rule, silenced)
    if state is AlertState.FIRING:
        notified = record.notifications > 0
        record = replace(record, state=AlertState.RESOLVED, resolved_at=now, active_since=None)
        if notified and not silenced:
            return Step(replace(record, notified_at=now), AlertState.RESOLVED, NotificationStatus.RESOLVED)
        return Step(replace(record, notifications=0), AlertState.RESOLVED)
    if state is AlertState.PENDING:
        return Step(replace(record, state=AlertState.INACTIVE, active_since=None))
    return Step(record)


def _maybe_notify(record: AlertRecord, now: float, rule: Rule, silenced: bool) -> Step:
    """A firing alert: notify if it never was, or when its repeat interval has passed."""
    if silenced:
        return Step(record)
    due = record.notified_at is None or (
        rule.repeat_interval is not None and now - record.notified_at >= rule.repeat_interval
    )
    if not due:
        return Step(record)
    return Step(
        replace(record, notified_at=now, notifications=record.notifications + 1), notify=NotificationStatus.FIRING
    )
