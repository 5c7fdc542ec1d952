"""A JSON record per notification (:func:`~alerts.channels.payloads.encode_notification`) on
``<PULSE_TOPIC_PREFIX><topic>``, keyed by the alert's fingerprint so one alert's notifications
stay in order on one partition. The topic is not created here (``AlertService.topics``
declares it). At least once: a send that timed out may still land, so consumers dedupe on
``id``."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from alerts import rules
from alerts.channels.base import Channel, DeliveryError
from alerts.channels.payloads import encode_notification
from alerts.model import Notification
from stream.settings import PulseSettings

__all__ = ["KafkaSender", "KAFKA_TIMEOUT_SECONDS"]

#: the whole budget of one send: connecting (the first time), metadata, the broker's ack
KAFKA_TIMEOUT_SECONDS = 10.0


class KafkaSender(Channel[rules.KafkaChannel]):
    """The producer starts with the first send (Kafka down at start-up is a failed delivery,
    retried from the outbox, not a failed worker) and is rebuilt after a failed start."""

    def __init__(
        self,
        name: str,
        config: rules.KafkaChannel,
        settings: PulseSettings,
        timeout_seconds: float = KAFKA_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(name, config)
        self.topic = settings.topic(config.topic)
        self.bootstrap = settings.kafka_broker
        self.timeout_seconds = timeout_seconds
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=f"pulse-alerts-{self.name}",
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=int(self.timeout_seconds * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def send(self, notification: Notification) -> None:
        value, key = encode_notification(notification), notification.fingerprint.encode()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                producer = await self._started()
                await producer.send_and_wait(self.topic, value, key=key)
        except TimeoutError:
            raise DeliveryError(f"timeout after {self.timeout_seconds:g}s (topic {self.topic})") from None
        except KafkaError as exc:
            said = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            raise DeliveryError(f"{said} (topic {self.topic})") from None

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
