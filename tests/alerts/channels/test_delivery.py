"""Channels and the dispatcher against real HTTP receivers on 127.0.0.1 (aiohttp servers in
the test's loop), with the in-memory outbox."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerts import rules
from alerts.channels import ChannelConfigError, DeliveryError, Dispatcher, MemoryOutbox, build_channels
from alerts.channels.alertmanager import AlertmanagerSender
from alerts.channels.base import Channel
from alerts.channels.kafka import KafkaSender
from alerts.channels.slack import SlackSender
from alerts.channels.webhook import WebhookSender
from alerts.model import Notification, NotificationStatus
from stream.settings import PulseSettings
from tests.alerts.channels.conftest import StartReceiver
from tests.alerts.channels.receiver import free_port, notification

SECRET = "unit-test-secret"


def webhook(name: str, url: str, secret: bool = False, timeout: float = 2.0) -> WebhookSender:
    config = rules.WebhookChannel(type="webhook", url=url, secret_env="HOOK_SECRET" if secret else None,
                                  timeout_seconds=timeout)  # fmt: skip
    return WebhookSender(name, config, {"HOOK_SECRET": SECRET})


def dispatcher(
    channels: dict[str, Channel[Any]], backoff_seconds: float = 0.01
) -> tuple[Dispatcher, MemoryOutbox, CollectorRegistry]:
    outbox, registry = MemoryOutbox(), CollectorRegistry()
    return Dispatcher(channels, outbox, registry, attempts=3, backoff_seconds=backoff_seconds), outbox, registry


def count(registry: CollectorRegistry, channel: str, outcome: str) -> float | None:
    return registry.get_sample_value("pulse_alert_notifications_total", {"channel": channel, "outcome": outcome})


async def test_webhook_posts_version_4_signed_over_the_exact_body(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory()
    sender = webhook("hook", f"{r.url}/hook", secret=True)
    n = notification()
    try:
        await sender.send(n)
    finally:
        await sender.close()
    [got] = r.received
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Pulse-Notification-Id"] == n.id
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Pulse-Signature"], expected)
    body = got.json()
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    [alert] = body["alerts"]
    assert alert["labels"] == n.labels and alert["annotations"] == n.annotations
    assert alert["startsAt"] == "2025-03-04T05:06:07.123456Z" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == n.fingerprint


async def test_without_a_secret_nothing_is_signed(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory()
    sender = webhook("hook", r.url)
    await sender.send(notification(status=NotificationStatus.RESOLVED))
    await sender.close()
    [got] = r.received
    assert "X-Pulse-Signature" not in got.headers and got.json()["alerts"][0]["endsAt"] == "2025-03-04T09:00:00Z"


def test_a_missing_secret_variable_fails_at_construction_naming_channel_and_variable() -> None:
    config = rules.WebhookChannel(type="webhook", url="http://x", secret_env="NOT_SET_ANYWHERE")
    with pytest.raises(ChannelConfigError, match="channel 'pager': secret_env: .* NOT_SET_ANYWHERE is not set"):
        WebhookSender("pager", config, {})
    with pytest.raises(ChannelConfigError, match="NOT_SET_ANYWHERE"):
        build_channels({"pager": config}, PulseSettings(), {"NOT_SET_ANYWHERE": ""})


def test_build_channels_makes_one_sender_per_type() -> None:
    parsed = rules.parse_rules({"channels": {
        "hook": {"type": "webhook", "url": "http://h"},
        "slack": {"type": "slack", "url": "http://s"},
        "am": {"type": "alertmanager", "url": "http://am:9093/"},
        "kafka": {"type": "kafka", "topic": "alerts"},
    }})  # fmt: skip
    built = build_channels(dict(parsed.channels), PulseSettings(topic_prefix="t."))
    assert {k: type(v) for k, v in built.items()} == {
        "hook": WebhookSender, "slack": SlackSender, "am": AlertmanagerSender, "kafka": KafkaSender}  # fmt: skip
    am, kafka = built["am"], built["kafka"]
    assert isinstance(am, AlertmanagerSender) and am.endpoint == "http://am:9093/api/v2/alerts"
    assert isinstance(kafka, KafkaSender) and kafka.topic == "t.alerts"
    assert all(c.name == k for k, c in built.items())


async def test_slack_message_over_http(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory()
    sender = SlackSender("slack", rules.SlackChannel(type="slack", url=f"{r.url}/services/T/B/X"))
    await sender.send(notification(severity="critical"))
    await sender.close()
    [got] = r.received
    body = got.body.decode()
    assert got.path == "/services/T/B/X" and got.json()["text"].startswith("[FIRING] critical cac_drift")
    for shown in ("*Severity*\\ncritical", "*Value*\\n1300", "*Baseline*\\n1000", "|Open in Pulse>"):
        assert shown in body, shown


async def test_alertmanager_post_for_firing_and_resolved(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory()
    sender = AlertmanagerSender("am", rules.AlertmanagerChannel(type="alertmanager", url=r.url + "/"),
                                firing_ttl_seconds=240)  # fmt: skip
    before = time.time()
    await sender.send(notification())
    await sender.send(notification(status=NotificationStatus.RESOLVED))
    await sender.close()
    firing, resolved = r.received
    assert firing.path == resolved.path == "/api/v2/alerts"
    [a] = firing.json()
    from alerts.channels.payloads import parse_iso

    assert before + 239 <= parse_iso(a["endsAt"]).timestamp() <= time.time() + 241
    assert a["labels"]["alertname"] == "cac_drift" and a["startsAt"] == "2025-03-04T05:06:07.123456Z"
    [b] = resolved.json()
    assert b["endsAt"] == "2025-03-04T09:00:00Z" and b["labels"] == a["labels"]


async def test_500_twice_then_200_is_delivered_on_the_third_attempt(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory(statuses=[500, 500])
    d, outbox, registry = dispatcher({"hook": webhook("hook", r.url)})
    await d.submit(notification())
    await d.close()
    assert len(r.received) == 3
    assert count(registry, "hook", "retried") == 2
    assert count(registry, "hook", "delivered") == 1
    assert count(registry, "hook", "failed") == 0
    assert await outbox.pending() == []


async def test_a_failing_channel_does_not_delay_another(receiver_factory: StartReceiver) -> None:
    bad, good = await receiver_factory(statuses=[503] * 10), await receiver_factory()
    d, outbox, registry = dispatcher({"bad": webhook("bad", bad.url), "good": webhook("good", good.url)},
                                     backoff_seconds=0.2)  # fmt: skip
    n = notification(channels=("bad", "good"))
    await d.submit(n)
    await d.close()
    assert len(bad.received) == 3 and len(good.received) == 1
    assert good.received[0].at < bad.received[-1].at  # the good one did not wait for the retries
    assert count(registry, "bad", "failed") == 1 and count(registry, "bad", "retried") == 2
    assert count(registry, "good", "delivered") == 1 and count(registry, "bad", "delivered") == 0
    assert [(p.id, channels) for p, channels in await outbox.pending()] == [(n.id, ["bad"])]


async def test_a_slow_receiver_times_out_as_a_failed_delivery(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory(delay=2.0)
    sender = webhook("hook", r.url, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="timeout after 0.2s"):
        await sender.send(notification())
    await sender.close()
    assert time.monotonic() - started < 1.5


async def test_one_line_per_failed_round_and_one_on_recovery(
    receiver_factory: StartReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    r = await receiver_factory(statuses=[500] * 6)
    d, outbox, registry = dispatcher({"hook": webhook("hook", r.url)})
    caplog.set_level(logging.INFO, logger="pulse.alerts")
    n = notification()
    await d.submit(n)  # 3 attempts, all 500
    await d.retry_pending()  # 3 more, all 500
    await d.retry_pending()  # delivered
    await d.retry_pending()  # nothing left
    await d.close()
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "pulse.alerts"]
    failed = [line for line in lines if "delivery failed" in line]
    assert len(failed) == 2 and all(f"notification={n.id}" in line and "HTTP 500" in line for line in failed)
    assert "failed_rounds=2" in failed[1]
    [recovered] = [line for line in lines if "delivery recovered" in line]
    assert "channel=hook" in recovered and "failed_rounds=2" in recovered
    assert len(r.received) == 7 and count(registry, "hook", "failed") == 2 and await outbox.pending() == []


async def test_a_down_channel_keeps_its_order_and_stops_its_round_at_the_first_failure(
    receiver_factory: StartReceiver,
) -> None:
    port = free_port()
    d, outbox, registry = dispatcher({"hook": webhook("hook", f"http://127.0.0.1:{port}", timeout=1)})
    firing, resolved = notification(), notification(status=NotificationStatus.RESOLVED)
    await d.submit(firing)
    await d.submit(resolved)  # firing first again, which fails: resolved not even attempted
    assert count(registry, "hook", "failed") == 2 and count(registry, "hook", "retried") == 4
    assert [n.id for n, _ in await outbox.pending()] == [firing.id, resolved.id]
    r = await receiver_factory(port=port)
    await d.retry_pending()
    await d.close()
    assert [x.json()["status"] for x in r.received] == ["firing", "resolved"]
    assert await outbox.pending() == []


async def test_a_permanent_rejection_is_not_retried_and_does_not_hold_up_the_next(
    receiver_factory: StartReceiver,
) -> None:
    r = await receiver_factory(statuses=[400])
    d, outbox, registry = dispatcher({"hook": webhook("hook", r.url)})
    rejected, other = notification(seq=0), notification(seq=1)
    await outbox.put(rejected)
    await outbox.put(other)
    await d.retry_pending()
    await d.close()
    assert len(r.received) == 2 and count(registry, "hook", "retried") == 0
    assert count(registry, "hook", "failed") == 1 and count(registry, "hook", "delivered") == 1
    assert [n.id for n, _ in await outbox.pending()] == [rejected.id]


async def test_submit_and_retry_pending_overlapping_deliver_once(receiver_factory: StartReceiver) -> None:
    r = await receiver_factory(delay=0.3)
    d, outbox, registry = dispatcher({"hook": webhook("hook", r.url)})
    n = notification()
    submit = asyncio.create_task(d.submit(n))
    await asyncio.sleep(0.1)  # submit's delivery is in flight
    await asyncio.gather(d.retry_pending(), d.retry_pending(), submit)
    await d.close()
    assert len(r.received) == 1 and count(registry, "hook", "delivered") == 1


async def test_a_channel_no_longer_configured_is_dropped_from_the_outbox(caplog: pytest.LogCaptureFixture) -> None:
    d, outbox, _ = dispatcher({})
    await outbox.put(notification(channels=("gone",)))
    await d.retry_pending()
    assert await outbox.pending() == []
    assert any("channel=gone unknown" in rec.getMessage() for rec in caplog.records)


async def test_memory_outbox_keeps_order_progress_and_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    outbox = MemoryOutbox(max_entries=3)
    ns = [notification(seq=i, channels=("a", "b")) for i in range(4)]
    for n in ns:
        await outbox.put(n)
    assert [n.id for n, _ in await outbox.pending()] == [n.id for n in ns[1:]]
    assert any(f"dropped={ns[0].id}" in rec.getMessage() for rec in caplog.records)
    await outbox.done(ns[1].id, "a")
    await outbox.put(ns[1])  # again: its progress stays
    assert (await outbox.pending())[0] == (ns[1], ["b"])
    await outbox.done(ns[1].id, "b")
    assert [n.id for n, _ in await outbox.pending()] == [ns[2].id, ns[3].id]
    await outbox.put(notification(seq=9, channels=()))
    assert len(await outbox.pending()) == 2


class Recording(Channel[None]):
    """A channel that records what it is sent, expiring like Alertmanager."""

    refresh_interval = 3600.0

    def __init__(self, name: str) -> None:
        super().__init__(name, None)
        self.sent: list[Notification] = []
        self.fail = False

    async def send(self, notification: Notification) -> None:
        if self.fail:
            raise DeliveryError("down")
        self.sent.append(notification)


async def test_refresh_resends_firing_alerts_once_per_interval_and_not_past_pending_ones() -> None:
    am = Recording("am")
    d, outbox, registry = dispatcher({"am": am})
    a, b = notification(channels=("am",)), notification(rule="churn_high", channels=("am",))
    other = notification(rule="nrr", channels=("hook",))
    am.fail = True
    await d.refresh([a, b, other, notification(status=NotificationStatus.RESOLVED, channels=("am",))])
    assert am.sent == []  # failed: due again at the next call
    am.fail = False
    await outbox.put(b)  # b's own notification is still to go out: it brings Alertmanager up to date
    await d.refresh([a, b, other])
    assert am.sent == [a]
    await d.refresh([a])
    assert len(am.sent) == 1  # not due yet
    assert count(registry, "am", "delivered") == 0  # refreshes are not notifications


async def test_kafka_unreachable_fails_within_its_timeout() -> None:
    settings = PulseSettings(kafka_broker=f"127.0.0.1:{free_port()}")
    sender = KafkaSender("kafka", rules.KafkaChannel(type="kafka"), settings, timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(DeliveryError):
        await sender.send(notification())
    await sender.close()
    assert time.monotonic() - started < 3
