"""Notification channels: webhook (Alertmanager's format, signed), Slack, Alertmanager's API
and a Kafka topic, behind a durable outbox and a dispatcher that retries."""

from alerts.channels.base import Channel, ChannelConfigError, DeliveryError, Outcome
from alerts.channels.dispatcher import Dispatcher, build_channels
from alerts.channels.outbox import MemoryOutbox, Outbox, RedisOutbox

__all__ = [
    "Channel",
    "ChannelConfigError",
    "DeliveryError",
    "Outcome",
    "Dispatcher",
    "build_channels",
    "Outbox",
    "MemoryOutbox",
    "RedisOutbox",
]
