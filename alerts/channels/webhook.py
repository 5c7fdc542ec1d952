"""A webhook in Alertmanager's format (version 4), HMAC-signed when the channel names a secret."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import UTC, datetime

from alerts import rules
from alerts.channels.base import ChannelConfigError, HttpChannel
from alerts.channels.payloads import dumps, webhook_payload
from alerts.model import Notification

__all__ = ["WebhookSender", "SIGNATURE_HEADER", "ID_HEADER", "sign"]

#: ``sha256=<hex HMAC-SHA256 of the exact body bytes>`` with the channel's secret
SIGNATURE_HEADER = "X-Pulse-Signature"
#: the notification's id, unique per message: receivers dedupe on it (delivery is at least once)
ID_HEADER = "X-Pulse-Notification-Id"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender(HttpChannel[rules.WebhookChannel]):
    """The secret is read once, here, from ``config.secret_env``: a missing or empty variable
    fails the worker's start naming the channel and the variable, not every delivery later."""

    def __init__(self, name: str, config: rules.WebhookChannel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(name, config, config.timeout_seconds)
        self.secret: bytes | None = None
        if config.secret_env is not None:
            value = (os.environ if environ is None else environ).get(config.secret_env, "")
            if not value:
                raise ChannelConfigError(
                    f"channel {name!r}: secret_env: the environment variable {config.secret_env} is not set"
                )
            self.secret = value.encode()

    async def send(self, notification: Notification) -> None:
        body = dumps(webhook_payload(notification, self.name, datetime.now(UTC)))
        headers = {ID_HEADER: notification.id}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        await self.post(self.config.url, body, headers)
