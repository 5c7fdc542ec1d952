"""The records every part of alerting shares: states, samples, notifications."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "AlertState",
    "NotificationStatus",
    "Sample",
    "LabelSet",
    "labels_key",
    "fingerprint",
    "Notification",
]

#: a label set as a sorted tuple of (name, value) pairs: hashable, in key order
LabelSet = tuple[tuple[str, str], ...]


class AlertState(StrEnum):
    """Where one rule's alert for one label set stands."""

    INACTIVE = "inactive"
    #: the condition holds, for less than the rule's ``for``
    PENDING = "pending"
    FIRING = "firing"
    #: was firing, the condition no longer holds (counts as inactive for the next evaluation)
    RESOLVED = "resolved"


class NotificationStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Sample:
    """One exported series' value: a metric name and its labels."""

    metric: str
    labels: LabelSet
    value: float


def labels_key(labels: LabelSet | dict[str, str]) -> str:
    """``key=value`` pairs joined by ``;`` in key order (the backtest's ``labels`` column)."""
    pairs = sorted(labels.items()) if isinstance(labels, dict) else sorted(labels)
    return ";".join(f"{k}={v}" for k, v in pairs)


def fingerprint(rule: str, labels: LabelSet) -> str:
    """A stable id of one rule's alert for one label set (Alertmanager's ``fingerprint``)."""
    return hashlib.sha256(f"{rule}\x1f{labels_key(labels)}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one incident's change (fired, re-sent, or resolved), to the channels
    its rule names. ``id`` is unique per message: channels and the outbox dedupe on it."""

    id: str
    rule: str
    status: NotificationStatus
    severity: str
    #: alertname, severity, the rule's labels and the series' labels
    labels: dict[str, str]
    #: summary, description (rendered), runbook_url when given
    annotations: dict[str, str]
    starts_at: datetime
    #: when it resolved (None while firing)
    ends_at: datetime | None
    fingerprint: str
    value: float | None
    baseline: float | None
    #: channel names (keys of the rules file's ``channels``)
    channels: tuple[str, ...]
    #: a link for humans (Pulse's alerts API or a dashboard)
    url: str = ""
    #: the series' labels alone (without the rule's), for the backtest and the list
    series: LabelSet = field(default=())
