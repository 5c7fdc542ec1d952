"""stream/kafka_signals.py against the real broker: lag from the group's committed offsets, the
dead-letter count and rate from the topic's end offsets, and a broker that cannot be reached.
Each test has its own topic prefix and app id (a fresh Deployment), so nothing collides."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from stream.kafka_signals import KafkaSignals, ingest_group
from stream.settings import PulseSettings
from stream.topics import DEADLETTER, SOURCE_TOPICS
from tests.integration.harness import BROKER, Deployment

PARTITIONS = 2


def settings_of(deployment: Deployment) -> PulseSettings:
    env = deployment.env
    return PulseSettings(
        kafka_broker=BROKER,
        topic_prefix=env["PULSE_TOPIC_PREFIX"],
        topic_partitions=PARTITIONS,
        app_id=env["PULSE_APP_ID"],
    )


async def create_topics(settings: PulseSettings) -> None:
    """The topics the signals read (the sources and the dead letters), as `pulse worker` creates
    them (stream/admin.py) but without the rest of its layout, and wait for their leaders."""
    names = [settings.topic(n) for n in (*SOURCE_TOPICS, DEADLETTER)]
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
        deadline = time.monotonic() + 20
        while True:
            described = await admin.describe_topics(names)
            if all(t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
                return
            assert time.monotonic() < deadline, described
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def produce(topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=b"{}", partition=partition) for _ in range(count)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_in_transactions(topic: str, partition: int, transactions: int, committed: bool = True) -> None:
    """One record per transaction, as the engine writes a batch's dead letters; each commit
    (or abort) marker takes an offset of its own."""
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, transactional_id=f"t-{time.monotonic_ns()}")
    await producer.start()
    try:
        for _ in range(transactions):
            await producer.begin_transaction()
            await producer.send_and_wait(topic, value=b"{}", partition=partition)
            await (producer.commit_transaction() if committed else producer.abort_transaction())
    finally:
        await producer.stop()


async def commit(group: str, tp: TopicPartition, offset: int) -> None:
    """What the engine does after a batch: commit the group's offset of a source partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BROKER, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


def registered(signals: KafkaSignals) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(signals)
    return registry


def test_lag_and_deadletters_are_read_from_kafka(stack: None, tmp_path: Path) -> None:
    settings = settings_of(Deployment(tmp_path, partitions=PARTITIONS))
    source = settings.topic("subscriptions")
    deadletter = settings.topic("deadletter")
    K, J, WHOLE, D, MORE = 10, 3, 2, 4, 6

    async def run() -> None:
        await create_topics(settings)
        await produce(source, 0, K)
        await produce(source, 1, WHOLE)  # nothing committed on partition 1
        await commit(ingest_group(settings), TopicPartition(source, 0), J)
        await produce(deadletter, 0, D - 1)
        await produce(deadletter, 1, 1)
        signals = KafkaSignals(settings, timeout=10.0)
        registry = registered(signals)
        value = registry.get_sample_value
        await signals.start()
        try:
            await signals.poll()
            assert value("pulse_kafka_signals_up") == 1
            assert value("pulse_consumer_lag", {"topic": "subscriptions", "partition": "0"}) == K - J
            assert value("pulse_consumer_lag", {"topic": "subscriptions", "partition": "1"}) == WHOLE
            assert value("pulse_consumer_lag_records", {"topic": "subscriptions"}) == K - J + WHOLE
            assert value("pulse_consumer_lag_records", {"topic": "leads"}) == 0
            assert value("pulse_deadletter_records") == D
            assert value("pulse_deadletter_rate") is None  # one reading
            first = signals.reading
            assert first is not None

            await produce(deadletter, 1, MORE)
            await asyncio.sleep(0.5)
            await signals.poll()
            second = signals.reading
            assert second is not None
            assert value("pulse_deadletter_records") == D + MORE
            rate = value("pulse_deadletter_rate")
            assert rate is not None and rate > 0
            assert rate == pytest.approx(MORE / (second.at - first.at))

            # dead letters written in transactions count once each; an aborted batch's not at all
            await produce_in_transactions(deadletter, 0, 5)
            await produce_in_transactions(deadletter, 1, 2, committed=False)
            await signals.poll()
            assert value("pulse_deadletter_records") == D + MORE + 5

            await commit(ingest_group(settings), TopicPartition(source, 0), K)  # caught up
            await signals.poll()
            assert value("pulse_consumer_lag", {"topic": "subscriptions", "partition": "0"}) == 0
            assert value("pulse_consumer_lag_records", {"topic": "subscriptions"}) == WHOLE
        finally:
            await signals.stop()

    asyncio.run(run())


def test_an_unreachable_broker_withdraws_the_signals(stack: None) -> None:
    settings = PulseSettings(kafka_broker="127.0.0.1:1", topic_prefix="unused.", app_id="pulse-unreachable")
    signals = KafkaSignals(settings, timeout=2.0)
    registry = registered(signals)

    async def run() -> None:
        started = time.monotonic()
        await signals.start()  # does not raise either
        await signals.poll()
        await signals.stop()
        assert time.monotonic() - started < 10

    asyncio.run(run())
    assert registry.get_sample_value("pulse_kafka_signals_up") == 0
    assert registry.get_sample_value("pulse_consumer_lag_records", {"topic": "subscriptions"}) is None
    assert registry.get_sample_value("pulse_deadletter_records") is None
    assert [m.name for m in registry.collect()] == ["pulse_kafka_signals_up"]


def test_missing_topics_withdraw_the_signals(stack: None, tmp_path: Path) -> None:
    """A deployment whose topics were never created: no partial figures."""
    settings = settings_of(Deployment(tmp_path, partitions=PARTITIONS))
    signals = KafkaSignals(settings, timeout=5.0)
    registry = registered(signals)

    async def run() -> None:
        await signals.start()
        try:
            await signals.poll()
        finally:
            await signals.stop()

    asyncio.run(run())
    assert [m.name for m in registry.collect()] == ["pulse_kafka_signals_up"]
    assert registry.get_sample_value("pulse_kafka_signals_up") == 0
