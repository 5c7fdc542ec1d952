"""Creates Pulse's topics with the partition counts it needs (auto-creation is off)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.deadletter import DEADLETTER_MAX_MESSAGE_BYTES
from stream.settings import PulseSettings, SettingsError
from stream.state import CHANGELOG_MAX_MESSAGE_BYTES
from stream.topics import DEADLETTER, SOURCE_TOPICS

__all__ = ["BrokerUnreachable", "TopicLayoutError", "ensure_topics", "probe_kafka", "pulse_topics", "records_in"]


class BrokerUnreachable(Exception):
    pass


class TopicLayoutError(SettingsError):
    """Existing topics disagree with the settings (partition counts); the message names them."""


def pulse_topics(settings: PulseSettings) -> dict[str, dict[str, str]]:
    """Every topic a worker needs, with its configs: sources, dead letters, state changelogs, and
    what its services write (alert notifications)."""
    from stream.engine import changelog_topic, repartition_topic

    topics: dict[str, dict[str, str]] = {settings.topic(n): {} for n in SOURCE_TOPICS}
    # Room for a dead letter of any record the broker accepted (its original is cut beyond).
    topics[settings.topic(DEADLETTER)] = {"max.message.bytes": str(DEADLETTER_MAX_MESSAGE_BYTES)}
    for name in SOURCE_TOPICS:
        # Forwarded events, read once into their partition's state: kept a week, like dedupe.
        topics[repartition_topic(settings, name)] = {"retention.ms": str(7 * 86400 * 1000)}
    for name in SOURCE_TOPICS:
        # Compacted, with a lag so a batch's tail beyond its checkpoint is never compacted
        # over the committed values it would shadow; records up to MAX_RECORD_BYTES.
        topics[changelog_topic(settings, name)] = {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(3600 * 1000),
            "max.message.bytes": str(CHANGELOG_MAX_MESSAGE_BYTES),
        }
    from stream.service import installed_services

    for service in installed_services():
        topics.update(service.topics(settings))
    return topics


def unreachable(settings: PulseSettings) -> BrokerUnreachable:
    return BrokerUnreachable(
        f"broker {settings.kafka_broker} is not reachable: start it with `scripts/stack up` "
        "or point PULSE_KAFKA_BROKER at your Kafka"
    )


async def _wait_until_led(admin: AIOKafkaAdminClient, topics: list[str], timeout: float) -> list[Any]:
    """Wait until every partition of every topic has a leader. A consumer that subscribes
    before that (a broker still loading its logs after a restart) is assigned none of the
    missing topics' partitions and only notices them at its next metadata refresh."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = await admin.describe_topics(topics)
        missing = [
            t["topic"]
            for t in described
            if t["error_code"] != 0
            or not t["partitions"]
            or any(p["error_code"] != 0 or p["leader"] < 0 for p in t["partitions"])
        ]
        if not missing:
            return list(described)
        if asyncio.get_running_loop().time() > deadline:
            raise BrokerUnreachable(f"topics without a partition leader after {timeout:.0f}s: {', '.join(missing)}")
        await asyncio.sleep(0.2)


async def _started(client: Any, close: Callable[[], Awaitable[Any]], settings: PulseSettings, timeout: float) -> None:
    """Start an aiokafka client, or close it and say which broker could not be reached."""
    try:
        await asyncio.wait_for(client.start(), timeout)
    except (TimeoutError, KafkaConnectionError, OSError):
        await close()
        raise unreachable(settings) from None


#: How long a bootstrap server may take to answer an ApiVersions request at start-up.
PROBE_SECONDS = 3.0


async def probe_kafka(settings: PulseSettings, timeout: float = PROBE_SECONDS) -> None:
    """Fail fast, naming the setting, when no bootstrap server answers as a Kafka broker: a
    server of another protocol (a Redis port) accepts the connection and never replies, which
    the Kafka client only gives up on after its request timeout."""
    failures = []
    for server in settings.kafka_broker.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            await asyncio.wait_for(_api_versions(host.strip("[]"), int(port)), timeout)
            return
        except TimeoutError:
            failures.append(f"{server} accepted the connection but did not answer as Kafka within {timeout:.0f}s")
        except (OSError, ValueError) as exc:
            failures.append(f"{server}: {exc}")
    if all("did not answer" in f or "Kafka broker?" in f for f in failures):
        why = "; ".join(failures)
        raise BrokerUnreachable(f"PULSE_KAFKA_BROKER={settings.kafka_broker} is not a Kafka broker: {why}")
    raise unreachable(settings)


async def _api_versions(host: str, port: int) -> None:
    """One ApiVersions v0 request; a reply of another correlation id or size is not Kafka."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        client = b"pulse-probe"
        body = struct.pack(">hhih", 18, 0, 0x50554C53, len(client)) + client
        writer.write(struct.pack(">i", len(body)) + body)
        await writer.drain()
        size, correlation = struct.unpack(">ii", await reader.readexactly(8))
        if correlation != 0x50554C53 or not 6 <= size <= 1 << 20:
            raise ValueError("the reply is not a Kafka response (not a Kafka broker?)")
    except asyncio.IncompleteReadError:
        raise ValueError("closed the connection without a Kafka response (not a Kafka broker?)") from None
    finally:
        writer.close()


async def ensure_topics(settings: PulseSettings, timeout: float = 30.0) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left alone."""
    await probe_kafka(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_broker, request_timeout_ms=int(timeout * 1000))
    await _started(admin, admin.close, settings, timeout)
    try:
        existing = set(await admin.list_topics())
        topics = pulse_topics(settings)
        wanted = [t for t in topics if t not in existing]
        if wanted:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            settings.topic_partitions,
                            settings.topic_replication,
                            topic_configs=topics[t],
                        )
                        for t in wanted
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # a second worker won the race
        described = await _wait_until_led(admin, list(topics), timeout)
        # An entity's partition is computed over PULSE_TOPIC_PARTITIONS, and a source partition
        # shares its state with the same partition of its repartition topic: all must agree.
        wrong = sorted(
            f"{t['topic']} ({len(t['partitions'])})"
            for t in described
            if t["topic"] in topics and len(t["partitions"]) != settings.topic_partitions
        )
        if wrong:
            raise TopicLayoutError(
                f"PULSE_TOPIC_PARTITIONS is {settings.topic_partitions} but these topics have another "
                f"partition count: {', '.join(wrong)}; set it to the source topics' count"
            )
        return wanted
    finally:
        await admin.close()


async def records_in(settings: PulseSettings, topic: str, timeout: float = 30.0) -> int:
    """How many records the topic holds (end minus beginning offsets, all partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_broker)
    await _started(admin, admin.close, settings, timeout)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_broker, enable_auto_commit=False)
    try:
        await _started(consumer, consumer.stop, settings, timeout)
    except BrokerUnreachable:
        await admin.close()
        raise
    try:
        described = await admin.describe_topics([topic])
        partitions = [
            TopicPartition(topic, p["partition"]) for t in described if t["error_code"] == 0 for p in t["partitions"]
        ]
        if not partitions:
            return 0
        first = await consumer.beginning_offsets(partitions)
        last = await consumer.end_offsets(partitions)
        return sum(last[tp] - first[tp] for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()
