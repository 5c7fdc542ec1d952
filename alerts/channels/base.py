"""What every notification channel is: a name, its config, and ``send`` that either delivers
or raises :class:`DeliveryError`. Retries, the outbox and counting live in the dispatcher, so a
channel does one attempt and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

import aiohttp

from alerts.model import Notification
from stream.settings import SettingsError

__all__ = ["Channel", "HttpChannel", "DeliveryError", "ChannelConfigError", "Outcome"]

C = TypeVar("C")


class DeliveryError(Exception):
    """One attempt did not deliver; the message is a short reason (``HTTP 500``, ``timeout
    after 5s``). ``permanent``: retrying the same payload cannot help (a 4xx other than 408,
    425 or 429), so the dispatcher does not retry it within the round."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class ChannelConfigError(SettingsError):
    """A channel cannot be built (e.g. its secret's environment variable is unset); raised at
    construction, so the worker fails at start-up naming the channel and the variable."""


class Outcome(StrEnum):
    """The ``outcome`` label of ``pulse_alert_notifications_total``."""

    DELIVERED = "delivered"
    #: an attempt failed and will be retried within the round
    RETRIED = "retried"
    #: every attempt of a round failed: kept in the outbox, retried in a later round
    FAILED = "failed"


class Channel(Generic[C]):
    """One configured destination. Subclasses implement :meth:`send` (one attempt)."""

    #: seconds between re-sends of a firing alert the destination needs to keep it active
    #: (Alertmanager expires alerts not re-sent); None: once per notification is enough
    refresh_interval: float | None = None

    def __init__(self, name: str, config: C) -> None:
        self.name = name
        self.config = config

    async def start(self) -> None:
        """Acquire connections (an HTTP session, a producer). No I/O that can fail: a
        destination down at start-up is a failed delivery later, not a failed worker."""

    async def close(self) -> None:
        """Release what :meth:`start` (or a lazy first send) acquired; safe to call twice."""

    async def send(self, notification: Notification) -> None:
        """Deliver once, or raise :class:`DeliveryError` with a short reason."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class HttpChannel(Channel[C]):
    """A channel that POSTs JSON: one ``aiohttp.ClientSession`` per channel (its connections
    reused), created in :meth:`start` (or by the first send), with the channel's timeout for
    the whole request."""

    def __init__(self, name: str, config: C, timeout_seconds: float) -> None:
        super().__init__(name, config)
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_seconds))

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """POST ``body``; a 2xx delivers, anything else raises :class:`DeliveryError`."""
        await self.start()
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers={**_JSON, **(headers or {})}) as response:
                if 200 <= response.status < 300:
                    return
                said = (await response.content.read(_REASON_BYTES)).decode(errors="replace").strip()
                status = response.status
        except TimeoutError:
            raise DeliveryError(f"timeout after {self.timeout_seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        reason = f"HTTP {status}" + (f": {' '.join(said.split())}" if said else "")
        raise DeliveryError(reason, permanent=400 <= status < 500 and status not in _TRANSIENT_4XX)


_JSON = {"Content-Type": "application/json"}
#: how much of an error response's body goes into the reason
_REASON_BYTES = 200
#: client errors that may pass: request timeout, too early, too many requests
_TRANSIENT_4XX = frozenset({408, 425, 429})
