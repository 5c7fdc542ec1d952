"""The payloads as pure functions: the notification's JSON round trip and each channel's body."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from alerts.channels.payloads import (
    ZERO_TIME,
    alertmanager_payload,
    decode_notification,
    encode_notification,
    slack_payload,
    webhook_payload,
)
from alerts.model import NotificationStatus
from tests.alerts.channels.receiver import notification

NOW = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", list(NotificationStatus))
def test_encode_decode_round_trip_is_exact(status: NotificationStatus) -> None:
    n = notification(status=status, channels=("hook", "kafka"))
    data = encode_notification(n)
    assert decode_notification(data) == n
    raw = orjson.loads(data)
    assert raw["starts_at"] == "2025-03-04T05:06:07.123456Z"
    assert raw["ends_at"] == (None if status is NotificationStatus.FIRING else "2025-03-04T09:00:00Z")
    assert raw["status"] == status.value and raw["fingerprint"] == n.fingerprint and raw["labels"] == n.labels


def test_round_trip_of_missing_and_non_finite_figures_and_other_time_zones() -> None:
    n = notification(value=None, baseline=None, url="", series=())
    assert decode_notification(encode_notification(n)) == n
    odd = decode_notification(encode_notification(notification(value=float("nan"), baseline=-float("inf"))))
    assert odd.value is not None and math.isnan(odd.value) and odd.baseline == -math.inf
    paris = timezone(timedelta(hours=1))
    shifted = notification(starts_at=datetime(2025, 3, 4, 6, 6, 7, tzinfo=paris))
    back = decode_notification(encode_notification(shifted))
    assert back.starts_at == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC) and back.starts_at.tzinfo is UTC


@pytest.mark.parametrize("data", [b"", b"[]", b'{"id": "x"}', b'{"version": 2}'])
def test_decoding_anything_else_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an encoded notification"):
        decode_notification(data)


def test_webhook_payload_is_alertmanager_version_4() -> None:
    n = notification()
    assert webhook_payload(n, "hook", NOW) == {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="cac_drift", fingerprint="{n.fingerprint}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hook",
        "groupLabels": {"alertname": "cac_drift"},
        "commonLabels": n.labels,
        "commonAnnotations": n.annotations,
        "externalURL": "http://pulse.test/api/v1/alerts",
        "alerts": [
            {
                "status": "firing",
                "labels": n.labels,
                "annotations": n.annotations,
                "startsAt": "2025-03-04T05:06:07.123456Z",
                "endsAt": ZERO_TIME,
                "generatorURL": "http://pulse.test/api/v1/alerts",
                "fingerprint": n.fingerprint,
            }
        ],
    }
    resolved = notification(status=NotificationStatus.RESOLVED)
    body = webhook_payload(resolved, "hook", NOW)
    assert body["status"] == "resolved" and body["alerts"][0]["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2025-03-04T09:00:00Z"
    assert body["groupKey"] == webhook_payload(n, "hook", NOW)["groupKey"]  # one incident, one group
    # resolved without a recorded end: the send time
    assert (
        webhook_payload(notification(status=NotificationStatus.RESOLVED, ends_at=None), "h", NOW)["alerts"][0]["endsAt"]
        == "2025-03-04T10:00:00Z"
    )


def test_slack_payload_shows_severity_value_baseline_status_labels_and_link() -> None:
    n = notification(severity="critical", value=1234.5, baseline=987.25, annotations={"summary": "a <b> & c"})
    body = slack_payload(n)
    text = orjson.dumps(body["blocks"]).decode()
    assert body["text"] == "[FIRING] critical cac_drift: a <b> & c"
    shown = ("*Severity*\\ncritical", "*Value*\\n1234.5", "*Baseline*\\n987.25", "*Status*\\nfiring", "`channel=ads`",
             "<http://pulse.test/api/v1/alerts|Open in Pulse>", "a &lt;b&gt; &amp; c")  # fmt: skip
    for part in shown:
        assert part in text, part
    quiet = orjson.dumps(slack_payload(notification(baseline=None, url=""))).decode()
    assert "Baseline" not in quiet and "Open in Pulse" not in quiet and "*Value*\\n1300" in quiet
    resolved = slack_payload(notification(status=NotificationStatus.RESOLVED))
    assert (
        resolved["text"].startswith("[RESOLVED]")
        and "*Resolved*\\n2025-03-04T09:00:00Z" in orjson.dumps(resolved["blocks"]).decode()
    )


def test_alertmanager_payload_firing_expires_unless_resent_and_resolved_carries_its_end() -> None:
    n = notification(labels={"alertname": "cac_drift", "severity": "warning", "empty": ""})
    [firing] = alertmanager_payload(n, NOW, timedelta(minutes=4))
    assert firing == {
        "labels": {"alertname": "cac_drift", "severity": "warning"},
        "annotations": n.annotations,
        "startsAt": "2025-03-04T05:06:07.123456Z",
        "endsAt": "2025-03-04T10:04:00Z",
        "generatorURL": "http://pulse.test/api/v1/alerts",
    }
    [resolved] = alertmanager_payload(notification(status=NotificationStatus.RESOLVED, url=""), NOW, timedelta(1))
    assert resolved["endsAt"] == "2025-03-04T09:00:00Z" and "generatorURL" not in resolved
