"""Alertmanager's v2 API: ``POST <url>/api/v2/alerts``.

Alertmanager forgets a firing alert at its ``endsAt``: each firing alert is sent with
``endsAt = now + FIRING_TTL_SECONDS`` and must be re-sent every ``RESEND_INTERVAL_SECONDS``
while it fires (Prometheus's own scheme: a minute, and four times that, so three lost re-sends
or a lease take-over do not resolve it). A resolved one carries its end, resolving it at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import rules
from alerts.channels.base import HttpChannel
from alerts.channels.payloads import alertmanager_payload, dumps
from alerts.model import Notification

__all__ = ["AlertmanagerSender", "RESEND_INTERVAL_SECONDS", "FIRING_TTL_SECONDS"]

#: how often a firing alert must be re-sent (``Dispatcher.refresh``)
RESEND_INTERVAL_SECONDS = 60.0
#: how long Alertmanager keeps a firing alert active after each send
FIRING_TTL_SECONDS = 4 * RESEND_INTERVAL_SECONDS


class AlertmanagerSender(HttpChannel[rules.AlertmanagerChannel]):
    refresh_interval = RESEND_INTERVAL_SECONDS

    def __init__(
        self, name: str, config: rules.AlertmanagerChannel, firing_ttl_seconds: float = FIRING_TTL_SECONDS
    ) -> None:
        super().__init__(name, config, config.timeout_seconds)
        self.endpoint = config.url.rstrip("/") + "/api/v2/alerts"
        self.firing_ttl = timedelta(seconds=firing_ttl_seconds)

    async def send(self, notification: Notification) -> None:
        await self.post(self.endpoint, dumps(alertmanager_payload(notification, datetime.now(UTC), self.firing_ttl)))
