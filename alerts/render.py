"""Notifications from alert records: labels, rendered annotations and a deterministic id."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.machine import AlertRecord
from alerts.model import Notification, NotificationStatus, fingerprint
from alerts.rules import DriftCondition, Rule

__all__ = ["render_text", "notification_of"]


class _Labels(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fields(rule: Rule, record: AlertRecord) -> dict[str, object]:
    c = rule.condition
    threshold = c.threshold if isinstance(c, DriftCondition) else (c.above if c.above is not None else c.below)
    nan = float("nan")
    return {
        "value": record.value if record.value is not None else nan,
        "baseline": record.baseline if record.baseline is not None else nan,
        "deviation": record.deviation if record.deviation is not None else nan,
        "threshold": threshold if threshold is not None else nan,
        "rule": rule.name,
        "metric": rule.metric,
        "severity": rule.severity,
        "labels": _Labels(record.labels),
    }


def render_text(template: str, rule: Rule, record: AlertRecord) -> str:
    """A summary or description with ``{value}``, ``{baseline:.0f}``, ``{labels[channel]}``
    (validated when the rules file was loaded, so this does not fail)."""
    return template.format_map(_fields(rule, record))


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def notification_of(rule: Rule, record: AlertRecord, status: NotificationStatus, url: str = "") -> Notification:
    """The notification of ``record``'s change. Its id is a function of the incident (rule,
    labels, start), the status and the repeat count, so a re-made notification is known."""
    assert record.fired_at is not None
    fp = fingerprint(rule.name, record.labels)
    labels = rule.alert_labels(dict(record.labels))
    annotations = {
        name: render_text(text, rule, record) if name != "runbook_url" else text
        for name, text in (
            ("summary", rule.annotations.summary),
            ("description", rule.annotations.description),
            ("runbook_url", rule.annotations.runbook_url),
        )
        if text
    }
    sequence = record.notifications if status is NotificationStatus.FIRING else 0
    return Notification(
        id=f"{fp}-{int(record.fired_at * 1000)}-{status.value}-{sequence}",
        rule=rule.name,
        status=status,
        severity=rule.severity,
        labels=labels,
        annotations=annotations,
        starts_at=_utc(record.fired_at),
        ends_at=_utc(record.resolved_at) if status is NotificationStatus.RESOLVED and record.resolved_at else None,
        fingerprint=fp,
        value=record.value,
        baseline=record.baseline,
        channels=rule.channels,
        url=url,
        series=record.labels,
    )
