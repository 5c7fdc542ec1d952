"""What each channel sends, as pure functions of a :class:`Notification` (and the send time
where the destination needs one), and the notification's own JSON form for the outbox and the
Kafka channel.

Choices worth knowing:

- One notification is one alert: a webhook message carries exactly one alert, so its
  ``commonLabels``/``commonAnnotations`` are that alert's and its ``groupKey`` names the
  alert's fingerprint (firing and resolved of one series share it; two series of a rule do not).
- Nothing Pulse-specific is added to the webhook or Alertmanager bodies: annotations are what
  the rule rendered (its summary can carry ``{value}`` and ``{baseline}``); the notification id
  travels in the ``X-Pulse-Notification-Id`` header; the full record (value, baseline,
  severity) is on the Kafka channel. Existing Alertmanager receivers therefore parse the body
  unchanged.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from alerts.model import Notification, NotificationStatus

__all__ = [
    "ZERO_TIME",
    "iso",
    "parse_iso",
    "encode_notification",
    "decode_notification",
    "notification_json",
    "webhook_payload",
    "slack_payload",
    "alertmanager_payload",
    "dumps",
]

#: Alertmanager's "no end" (Go's zero time), the ``endsAt`` of a firing alert in a webhook
ZERO_TIME = "0001-01-01T00:00:00Z"

#: version of :func:`encode_notification`'s object (its ``version`` field)
NOTIFICATION_VERSION = 1

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def dumps(payload: Any) -> bytes:
    """The exact bytes sent (and signed)."""
    return orjson.dumps(payload)


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, microseconds when there are any (a naive time is UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _float_out(x: float | None) -> float | str | None:
    # JSON has no NaN or infinity (orjson would write null): keep them as strings
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _float_in(x: object) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        return _NON_FINITE[x]
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


def notification_json(n: Notification) -> dict[str, Any]:
    """The notification as a JSON object: its fields by name, times as :func:`iso`."""
    return {
        "version": NOTIFICATION_VERSION,
        "id": n.id,
        "rule": n.rule,
        "status": n.status.value,
        "severity": n.severity,
        "labels": n.labels,
        "annotations": n.annotations,
        "starts_at": iso(n.starts_at),
        "ends_at": None if n.ends_at is None else iso(n.ends_at),
        "fingerprint": n.fingerprint,
        "value": _float_out(n.value),
        "baseline": _float_out(n.baseline),
        "channels": list(n.channels),
        "url": n.url,
        "series": [list(pair) for pair in n.series],
    }


def encode_notification(n: Notification) -> bytes:
    """JSON bytes that :func:`decode_notification` turns back into an equal notification."""
    return orjson.dumps(notification_json(n))


def _strings(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{what}: expected an object of strings")
    return dict(value)


def decode_notification(data: bytes | str) -> Notification:
    """The notification :func:`encode_notification` wrote; ``ValueError`` on anything else."""
    try:
        o = orjson.loads(data)
        if not isinstance(o, dict):
            raise TypeError("expected an object")
        if o.get("version", NOTIFICATION_VERSION) != NOTIFICATION_VERSION:
            raise ValueError(f"unknown version {o.get('version')!r}")
        return Notification(
            id=str(o["id"]),
            rule=str(o["rule"]),
            status=NotificationStatus(o["status"]),
            severity=str(o["severity"]),
            labels=_strings(o["labels"], "labels"),
            annotations=_strings(o["annotations"], "annotations"),
            starts_at=parse_iso(o["starts_at"]),
            ends_at=None if o["ends_at"] is None else parse_iso(o["ends_at"]),
            fingerprint=str(o["fingerprint"]),
            value=_float_in(o["value"]),
            baseline=_float_in(o["baseline"]),
            channels=tuple(str(c) for c in o["channels"]),
            url=str(o.get("url", "")),
            series=tuple((str(k), str(v)) for k, v in o.get("series", ())),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an encoded notification: {type(exc).__name__}: {exc}") from None


def _ends(n: Notification, now: datetime) -> datetime:
    """When a resolved notification ended (its ``ends_at``, else the send time), never before
    it started (Alertmanager refuses an end before the start)."""
    ends = n.ends_at if n.ends_at is not None else now
    return max(ends, n.starts_at)


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


# --- webhook (Alertmanager's format, version 4) ----------------------------------------------


def webhook_payload(n: Notification, receiver: str, now: datetime) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) with this one alert."""
    firing = n.status is NotificationStatus.FIRING
    return {
        "version": "4",
        "groupKey": f"{{}}:{{alertname={_quoted(n.rule)}, fingerprint={_quoted(n.fingerprint)}}}",
        "truncatedAlerts": 0,
        "status": n.status.value,
        "receiver": receiver,
        "groupLabels": {"alertname": n.rule},
        "commonLabels": dict(n.labels),
        "commonAnnotations": dict(n.annotations),
        "externalURL": n.url,
        "alerts": [
            {
                "status": n.status.value,
                "labels": dict(n.labels),
                "annotations": dict(n.annotations),
                "startsAt": iso(n.starts_at),
                "endsAt": ZERO_TIME if firing else iso(_ends(n, now)),
                "generatorURL": n.url,
                "fingerprint": n.fingerprint,
            }
        ],
    }


# --- Slack incoming webhook ------------------------------------------------------------------

_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_RESOLVED_EMOJI = ":large_green_circle:"
#: Slack's limits: a section's text, a field, the fallback text
_SECTION_MAX, _FIELD_MAX, _TEXT_MAX = 3000, 2000, 4000


def _esc(text: str) -> str:
    """Slack mrkdwn escaping (only these three characters are control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, label: str) -> str:
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{_esc(label)}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_MAX)}}


def number(x: float) -> str:
    """A figure for humans: 6 significant digits, thousands separated from 100,000 on."""
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1e5:
        return f"{x:,.2f}"
    return f"{x:.6g}"


def slack_payload(n: Notification) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (the notification's one line, shown where blocks
    are not) and blocks with status, severity, rule, value, baseline, labels and links."""
    status = n.status.value.upper()
    emoji = _RESOLVED_EMOJI if n.status is NotificationStatus.RESOLVED else _EMOJI.get(n.severity, ":bell:")
    summary = n.annotations.get("summary", "")
    text = f"[{status}] {n.severity} {n.rule}" + (f": {summary}" if summary else "")
    head = f"{emoji} *{status}* · *{_esc(n.severity)}* · `{_esc(n.rule)}`" + (f"\n{_esc(summary)}" if summary else "")
    fields = [("Status", n.status.value), ("Severity", n.severity), ("Rule", n.rule)]
    if n.value is not None:
        fields.append(("Value", number(n.value)))
    if n.baseline is not None:
        fields.append(("Baseline", number(n.baseline)))
    fields.append(("Started", iso(n.starts_at)))
    if n.ends_at is not None:
        fields.append(("Resolved", iso(n.ends_at)))
    blocks: list[dict[str, Any]] = [
        _section(head),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{_esc(v)}", _FIELD_MAX)} for k, v in fields],
        },
    ]
    description = n.annotations.get("description", "")
    if description:
        blocks.append(_section(_esc(description)))
    if n.labels:
        labels = "  ".join(f"`{_esc(k)}={_esc(v)}`" for k, v in sorted(n.labels.items()))
        blocks.append(_section(f"*Labels*\n{labels}"))
    links = []
    if n.url:
        links.append(_link(n.url, "Open in Pulse"))
    runbook = n.annotations.get("runbook_url", "")
    if runbook:
        links.append(_link(runbook, "Runbook"))
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": _cut(text, _TEXT_MAX), "blocks": blocks}


# --- Alertmanager API v2 ---------------------------------------------------------------------


def alertmanager_payload(n: Notification, now: datetime, firing_ttl: timedelta) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts``: this one alert.

    A firing alert carries ``endsAt = now + firing_ttl``: Alertmanager keeps it active that
    long, so it must be re-sent before then (as Prometheus does, every minute with a TTL of
    four minutes); without an ``endsAt`` it would resolve after ``resolve_timeout`` instead,
    a setting of Alertmanager's, not ours. A resolved one carries its ``ends_at``, so
    Alertmanager resolves it at once. Empty label values are left out (an empty label is no
    label, as in Prometheus)."""
    alert: dict[str, Any] = {
        "labels": {k: v for k, v in n.labels.items() if v != ""},
        "annotations": dict(n.annotations),
        "startsAt": iso(n.starts_at),
        "endsAt": iso(now + firing_ttl if n.status is NotificationStatus.FIRING else _ends(n, now)),
    }
    if n.url:  # Alertmanager validates it as a URI: an empty one is left out
        alert["generatorURL"] = n.url
    return [alert]
