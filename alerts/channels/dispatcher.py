"""Delivery: the outbox first, then every channel of a notification at once, each with a few
quick retries; what still fails stays in the outbox for the next round.

Per channel, notifications go out one at a time in creation order (a per-channel lock), so a
receiver never sees an alert's ``resolved`` before its ``firing``; channels run concurrently,
so a slow or failing one never delays another. A channel's round stops at its first
notification that still fails after every attempt (the receiver is down: the rest would only
wait for the same timeouts), except after a permanent rejection (a 4xx), which does not hold
up the notifications behind it. A round therefore lasts at most about
``attempts x timeout + backoff`` per channel (3 x 5 s + 1.5 s with the defaults).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from alerts import rules
from alerts.channels.alertmanager import AlertmanagerSender
from alerts.channels.base import Channel, DeliveryError, Outcome
from alerts.channels.kafka import KafkaSender
from alerts.channels.outbox import Outbox
from alerts.channels.slack import SlackSender
from alerts.channels.webhook import WebhookSender
from alerts.model import Notification, NotificationStatus
from stream.settings import PulseSettings

__all__ = ["Dispatcher", "build_channels", "NOTIFICATIONS_HELP"]

log = logging.getLogger("pulse.alerts")

NOTIFICATIONS_HELP = (
    "Alert notifications by channel and outcome: delivered, retried (an attempt failed and is retried) or failed "
    "(every attempt of a round failed; kept in the outbox and retried later)."
)


def build_channels(
    configs: Mapping[str, rules.Channel],
    settings: PulseSettings,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Channel[Any]]:
    """The senders of the rules file's ``channels``; raises ``ChannelConfigError`` (a
    ``SettingsError``) naming the channel when one cannot be built (e.g. its secret unset).
    ``environ`` (default ``os.environ``) is where webhook secrets are read."""
    out: dict[str, Channel[Any]] = {}
    for name, config in configs.items():
        if isinstance(config, rules.WebhookChannel):
            out[name] = WebhookSender(name, config, environ)
        elif isinstance(config, rules.SlackChannel):
            out[name] = SlackSender(name, config)
        elif isinstance(config, rules.AlertmanagerChannel):
            out[name] = AlertmanagerSender(name, config)
        elif isinstance(config, rules.KafkaChannel):
            out[name] = KafkaSender(name, config, settings)
        else:  # pragma: no cover - the union is exhaustive
            raise TypeError(f"channel {name!r}: unknown channel type {type(config).__name__}")
    return out


@dataclass
class _Trouble:
    """A channel whose last round failed: since when, and how many rounds in a row."""

    since: float
    rounds: int = 0


class Dispatcher:
    """Delivers notifications (see the module's docstring); ``attempts`` per notification and
    round, waiting ``backoff_seconds`` after the first failed attempt and ``backoff_factor``
    times longer after each next one (0.5 s, then 1 s with the defaults)."""

    def __init__(
        self,
        channels: Mapping[str, Channel[Any]],
        outbox: Outbox,
        registry: CollectorRegistry,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        backoff_factor: float = 2.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.channels = dict(channels)
        self.outbox = outbox
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_factor = backoff_factor
        self.counter = Counter(
            "pulse_alert_notifications", NOTIFICATIONS_HELP, ["channel", "outcome"], registry=registry
        )
        for name in self.channels:  # every series exists from the start (rate() sees the first one)
            for outcome in Outcome:
                self.counter.labels(name, outcome.value)
        #: (notification id, channel) being delivered now, by submit or retry_pending
        self._inflight: set[tuple[str, str]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._trouble: dict[str, _Trouble] = {}
        #: channel -> monotonic time of its last refresh
        self._refreshed: dict[str, float] = {}

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        for channel in self.channels.values():
            try:
                await channel.start()
            except Exception as exc:  # noqa: BLE001 - a channel that cannot start fails its deliveries
                log.warning("alerts: channel=%s start failed: %s: %s", channel.name, type(exc).__name__, exc)

    async def close(self) -> None:
        for channel in self.channels.values():
            try:
                await channel.close()
            except Exception as exc:  # noqa: BLE001 - closing the others matters more
                log.warning("alerts: channel=%s close failed: %s: %s", channel.name, type(exc).__name__, exc)

    # --- delivery --------------------------------------------------------------------------

    async def submit(self, notification: Notification) -> None:
        """Make it durable, then deliver it to each of its channels (after whatever each of
        them still has pending: order per channel is kept)."""
        await self.outbox.put(notification)
        await self._rounds(dict.fromkeys(notification.channels))

    async def retry_pending(self) -> None:
        """One round over what the outbox holds (every tick, and at start-up: what a previous
        process could not deliver is delivered now)."""
        pending = await self.outbox.pending()
        names: dict[str, None] = {}
        for _, channels in pending:
            names.update(dict.fromkeys(channels))
        if names:
            await self._rounds(names)

    async def _rounds(self, names: Iterable[str]) -> None:
        results = await asyncio.gather(*(self._round(name) for name in names), return_exceptions=True)
        for result in results:  # an outbox (Redis) error, after every channel had its round
            if isinstance(result, BaseException):
                raise result

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _round(self, name: str) -> None:
        async with self._lock(name):
            entries = [n for n, channels in await self.outbox.pending() if name in channels]
            channel = self.channels.get(name)
            if channel is None:
                for n in entries:  # e.g. the rules file lost the channel since it was made
                    log.warning("alerts: channel=%s unknown (not in the rules file): notification=%s dropped for it",
                                name, n.id)  # fmt: skip
                    await self.outbox.done(n.id, name)
                return
            failures: list[tuple[Notification, DeliveryError]] = []
            delivered = 0
            for n in entries:
                key = (n.id, name)
                if key in self._inflight:
                    continue
                self._inflight.add(key)
                try:
                    error = await self._deliver(channel, n)
                finally:
                    self._inflight.discard(key)
                if error is None:
                    delivered += 1
                    continue
                failures.append((n, error))
                if not error.permanent:
                    break
            self._report(name, len(entries), delivered, failures)

    async def _deliver(self, channel: Channel[Any], n: Notification) -> DeliveryError | None:
        """Up to ``attempts`` sends; None when delivered (and marked done in the outbox)."""
        error = DeliveryError("not attempted")
        for attempt in range(1, self.attempts + 1):
            try:
                await channel.send(n)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a channel's bug is a failed delivery, not a dead loop
                error = DeliveryError(f"{type(exc).__name__}: {exc}")
            else:
                self.counter.labels(channel.name, Outcome.DELIVERED.value).inc()
                await self.outbox.done(n.id, channel.name)
                return None
            if error.permanent or attempt == self.attempts:
                break
            self.counter.labels(channel.name, Outcome.RETRIED.value).inc()
            await asyncio.sleep(self.backoff_seconds * self.backoff_factor ** (attempt - 1))
        self.counter.labels(channel.name, Outcome.FAILED.value).inc()
        return error

    def _report(
        self, name: str, entries: int, delivered: int, failures: list[tuple[Notification, DeliveryError]]
    ) -> None:
        """One line per channel round that failed, one when a failing channel recovers."""
        now = time.monotonic()
        if failures:
            trouble = self._trouble.setdefault(name, _Trouble(now))
            trouble.rounds += 1
            n, error = failures[0]
            log.warning(
                "alerts: delivery failed channel=%s notification=%s rule=%s status=%s reason=%r failed=%d "
                "delivered=%d pending=%d failed_rounds=%d (kept in the outbox, retried next round)",
                name, n.id, n.rule, n.status.value, error.reason, len(failures), delivered, entries - delivered,
                trouble.rounds,
            )  # fmt: skip
        elif delivered and name in self._trouble:
            trouble = self._trouble.pop(name)
            log.info("alerts: delivery recovered channel=%s delivered=%d failed_rounds=%d after=%.0fs",
                     name, delivered, trouble.rounds, now - trouble.since)  # fmt: skip

    # --- keeping firing alerts alive where they expire --------------------------------------

    async def refresh(self, firing: Iterable[Notification]) -> None:
        """Re-send the firing alerts to the channels that expire them (Alertmanager), at most
        once per channel's ``refresh_interval``: call it every tick with the notifications of
        every alert firing now. One attempt, no outbox, not counted; skipped for an alert that
        still has a notification pending in the outbox for that channel (that one brings it up
        to date, in order)."""
        now = time.monotonic()
        firing = [n for n in firing if n.status is NotificationStatus.FIRING]
        due = [
            c
            for c in self.channels.values()
            if c.refresh_interval is not None and now - self._refreshed.get(c.name, -float("inf")) >= c.refresh_interval
        ]
        await asyncio.gather(*(self._refresh(c, [n for n in firing if c.name in n.channels], now) for c in due))

    async def _refresh(self, channel: Channel[Any], firing: list[Notification], now: float) -> None:
        self._refreshed[channel.name] = now
        if not firing:
            return
        async with self._lock(channel.name):
            try:
                behind = {n.fingerprint for n, names in await self.outbox.pending() if channel.name in names}
            except Exception as exc:  # noqa: BLE001 - without the outbox, refresh what we have
                log.warning("alerts: refresh channel=%s cannot read the outbox: %s", channel.name, exc)
                behind = set()
            failed: list[tuple[Notification, str]] = []
            for n in firing:
                if n.fingerprint in behind:
                    continue
                try:
                    await channel.send(n)
                except DeliveryError as exc:
                    failed.append((n, exc.reason))
                except Exception as exc:  # noqa: BLE001
                    failed.append((n, f"{type(exc).__name__}: {exc}"))
            if failed:
                self._refreshed.pop(channel.name, None)  # due again at the next call
                log.warning("alerts: refresh failed channel=%s alerts=%d failed=%d first=%s reason=%r",
                            channel.name, len(firing), len(failed), failed[0][0].id, failed[0][1])  # fmt: skip
