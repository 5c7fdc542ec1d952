"""The channels on the real local stack (scripts/stack): the outbox in Redis across
instances, a receiver that comes back, Alertmanager's v2 API and a Kafka topic."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from alerts import rules
from alerts.channels import DeliveryError, Dispatcher, MemoryOutbox, RedisOutbox, build_channels
from alerts.channels.alertmanager import FIRING_TTL_SECONDS
from alerts.channels.kafka import KafkaSender
from alerts.channels.payloads import decode_notification, parse_iso
from alerts.channels.webhook import WebhookSender
from alerts.model import NotificationStatus, fingerprint
from stream.settings import PulseSettings
from tests.alerts.channels.conftest import StartReceiver
from tests.alerts.channels.receiver import free_port, notification

pytestmark = pytest.mark.integration

REDIS = "redis://127.0.0.1:6379/0"
ALERTMANAGER = "http://127.0.0.1:9093"
KAFKA = "127.0.0.1:9092"


def delivered(registry: CollectorRegistry, channel: str) -> float | None:
    return registry.get_sample_value("pulse_alert_notifications_total", {"channel": channel, "outcome": "delivered"})


@pytest.fixture
async def app_prefix() -> AsyncIterator[str]:
    """A unique ``pulse:<app_id>`` per test; its outbox keys are deleted afterwards."""
    prefix = f"pulse:test-outbox-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = aioredis.from_url(REDIS)
    keys = RedisOutbox(client, prefix).keys
    await client.delete(*keys)
    await client.aclose()


async def test_the_outbox_survives_a_new_instance_and_forgets_what_is_done(app_prefix: str) -> None:
    first = aioredis.from_url(REDIS)
    ns = [notification(seq=i, channels=("hook", "kafka")) for i in range(3)]
    outbox = RedisOutbox(first, app_prefix)
    for n in ns:
        await outbox.put(n)
    await outbox.done(ns[0].id, "hook")
    await outbox.put(ns[0])  # put again: its progress stays
    await first.aclose()

    second = aioredis.from_url(REDIS)  # as after a restart
    again = RedisOutbox(second, app_prefix)
    assert await again.pending() == [(ns[0], ["kafka"]), (ns[1], ["hook", "kafka"]), (ns[2], ["hook", "kafka"])]
    for n in ns:
        await again.done(n.id, "hook")
        await again.done(n.id, "kafka")
    assert await again.pending() == []
    _, order, items, channels = again.keys
    assert await second.exists(order, items, channels) == 0
    await second.aclose()


async def test_the_outbox_is_bounded_dropping_the_oldest(app_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    client = aioredis.from_url(REDIS)
    outbox = RedisOutbox(client, app_prefix, max_entries=3)
    ns = [notification(seq=i) for i in range(5)]
    for n in ns:
        await outbox.put(n)
    assert [n.id for n, _ in await outbox.pending()] == [n.id for n in ns[2:]]
    dropped = [rec.getMessage() for rec in caplog.records if "outbox full" in rec.getMessage()]
    assert [m.split("dropped=")[1].split()[0] for m in dropped] == [ns[0].id, ns[1].id]
    await client.aclose()


async def test_a_receiver_down_then_up_gets_it_from_retry_pending_after_a_restart_exactly_once(
    app_prefix: str, receiver_factory: StartReceiver
) -> None:
    port = free_port()
    config = rules.WebhookChannel(type="webhook", url=f"http://127.0.0.1:{port}/hook", timeout_seconds=1)
    n = notification()

    client = aioredis.from_url(REDIS)
    before = Dispatcher({"hook": WebhookSender("hook", config)}, RedisOutbox(client, app_prefix), CollectorRegistry(),
                        backoff_seconds=0.01)  # fmt: skip
    await before.submit(n)  # nobody listens
    await before.close()
    await client.aclose()

    receiver = await receiver_factory(port=port)
    client = aioredis.from_url(REDIS)
    registry = CollectorRegistry()
    outbox = RedisOutbox(client, app_prefix)
    after = Dispatcher({"hook": WebhookSender("hook", config)}, outbox, registry, backoff_seconds=0.01)
    await after.start()
    await after.retry_pending()
    await after.retry_pending()
    await after.close()
    assert [r.json()["alerts"][0]["fingerprint"] for r in receiver.received] == [n.fingerprint]
    assert receiver.received[0].headers["X-Pulse-Notification-Id"] == n.id
    assert delivered(registry, "hook") == 1
    assert await outbox.pending() == []
    await client.aclose()


async def _am_alerts(session: aiohttp.ClientSession, alertname: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    async with session.get(f"{ALERTMANAGER}/api/v2/alerts?{query}") as r:
        assert r.status == 200
        alerts: list[dict[str, Any]] = await r.json()
        return alerts


async def test_alertmanager_shows_the_firing_alert_then_resolves_it() -> None:
    name = f"pulse_test_{uuid.uuid4().hex[:10]}"
    series = (("channel", "ads"),)
    labels = {"alertname": name, "severity": "warning", "channel": "ads"}
    starts = datetime.now(UTC) - timedelta(minutes=1)
    firing = notification(rule=name, labels=labels, starts_at=starts, fingerprint=fingerprint(name, series),
                          channels=("am",))  # fmt: skip
    channels = build_channels({"am": rules.AlertmanagerChannel(type="alertmanager", url=ALERTMANAGER)}, PulseSettings())
    registry = CollectorRegistry()
    d = Dispatcher(channels, MemoryOutbox(), registry, backoff_seconds=0.2)
    await d.start()
    sent = time.time()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await d.submit(firing)
        assert delivered(registry, "am") == 1
        [alert] = await _am_alerts(session, name)
        assert alert["labels"] == labels and alert["annotations"] == firing.annotations
        assert alert["status"]["state"] in ("active", "unprocessed")
        assert abs(parse_iso(alert["startsAt"]).timestamp() - starts.timestamp()) < 0.001
        ends = parse_iso(alert["endsAt"]).timestamp()
        assert sent + FIRING_TTL_SECONDS - 5 <= ends <= time.time() + FIRING_TTL_SECONDS

        resolved = replace(firing, id=f"{firing.id}-resolved", status=NotificationStatus.RESOLVED,
                           ends_at=datetime.now(UTC))  # fmt: skip
        await d.submit(resolved)
        # v2 lists an alert until its endsAt passes: the resolved one is gone at once
        deadline = time.monotonic() + 10
        while (left := await _am_alerts(session, name)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert left == []
    await d.close()


@pytest.fixture
async def kafka_topic() -> AsyncIterator[tuple[PulseSettings, str]]:
    """A fresh ``<prefix>alerts`` topic (prefix unique to the test), deleted afterwards."""
    settings = PulseSettings(kafka_broker=KAFKA, topic_prefix=f"test-{uuid.uuid4().hex[:10]}.")
    topic = settings.topic("alerts")
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        yield settings, topic
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_kafka_gets_the_encoded_notification_keyed_by_fingerprint(
    kafka_topic: tuple[PulseSettings, str],
) -> None:
    settings, topic = kafka_topic
    channels = build_channels({"kafka": rules.KafkaChannel(type="kafka", topic="alerts")}, settings)
    registry = CollectorRegistry()
    d = Dispatcher(channels, MemoryOutbox(), registry, backoff_seconds=0.2)
    n = notification(channels=("kafka",))
    await d.submit(n)
    await d.close()
    assert delivered(registry, "kafka") == 1
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert record.key == n.fingerprint.encode()
    assert decode_notification(record.value) == n


async def test_kafka_without_its_topic_fails_cleanly_within_the_timeout() -> None:
    settings = PulseSettings(kafka_broker=KAFKA, topic_prefix=f"test-missing-{uuid.uuid4().hex[:10]}.")
    sender = KafkaSender("kafka", rules.KafkaChannel(type="kafka"), settings, timeout_seconds=2.0)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="timeout after 2s"):
        await sender.send(notification())
    await sender.close()
    assert time.monotonic() - started < 4
