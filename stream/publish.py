"""Publishing events to Kafka with a plain idempotent aiokafka producer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from stream.admin import unreachable
from stream.settings import PulseSettings

__all__ = ["Record", "publish", "open_producer"]

#: (unprefixed topic, key bytes or None, value bytes[, record timestamp in epoch ms or None])
Record = tuple[str, bytes | None, bytes] | tuple[str, bytes | None, bytes, int | None]


async def open_producer(settings: PulseSettings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_broker,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    try:
        await asyncio.wait_for(producer.start(), 30)
    except (TimeoutError, KafkaConnectionError, OSError):
        await producer.stop()
        raise unreachable(settings) from None
    return producer


async def publish(
    settings: PulseSettings,
    records: Iterable[Record],
    on_sent: Callable[[int], None] | None = None,
    window: int = 5000,
) -> int:
    """Send every record in order per key; wait for all acknowledgements. Returns the count."""
    producer = await open_producer(settings)
    sent = 0
    pending: list[asyncio.Future[object]] = []
    try:
        for record in records:
            topic, key, value = record[0], record[1], record[2]
            stamp = record[3] if len(record) > 3 else None
            pending.append(await producer.send(settings.topic(topic), value=value, key=key, timestamp_ms=stamp))
            if len(pending) >= window:
                await asyncio.gather(*pending)
                sent += len(pending)
                if on_sent:
                    on_sent(len(pending))
                pending = []
        await asyncio.gather(*pending)
        sent += len(pending)
        if on_sent and pending:
            on_sent(len(pending))
    finally:
        await producer.stop()
    return sent
