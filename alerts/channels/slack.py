"""A Slack incoming webhook (its URL is the credential: keep it in the environment, as
``url: ${SLACK_WEBHOOK_URL}`` in the rules file)."""

from __future__ import annotations

from alerts import rules
from alerts.channels.base import HttpChannel
from alerts.channels.payloads import dumps, slack_payload
from alerts.model import Notification

__all__ = ["SlackSender"]


class SlackSender(HttpChannel[rules.SlackChannel]):
    def __init__(self, name: str, config: rules.SlackChannel) -> None:
        super().__init__(name, config, config.timeout_seconds)

    async def send(self, notification: Notification) -> None:
        await self.post(self.config.url, dumps(slack_payload(notification)))
