"""A real HTTP receiver on 127.0.0.1 (aiohttp's server, in the test's loop) that records
what it receives and answers with the statuses it is told to."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from alerts.model import Notification, NotificationStatus, fingerprint


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: time.monotonic() when it arrived
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    #: statuses of the next answers, in order (then 200)
    statuses: list[int] = field(default_factory=list)
    #: seconds to wait before answering
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 300 else f"nope {status}")


def free_port() -> int:
    """A port nothing listens on (for a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def notification(
    rule: str = "cac_drift",
    status: NotificationStatus = NotificationStatus.FIRING,
    channels: tuple[str, ...] = ("hook",),
    seq: int = 0,
    **fields: Any,
) -> Notification:
    series = (("channel", "ads"), ("window", "30d"))
    fp = fingerprint(rule, series)
    starts = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": f"{fp}-{int(starts.timestamp() * 1000)}-{status.value}-{seq}",
        "rule": rule,
        "status": status,
        "severity": "warning",
        "labels": {"alertname": rule, "severity": "warning", "team": "growth", **dict(series)},
        "annotations": {"summary": "CAC (ads) is 1300.00, 30% above its mean 1000.00", "description": "it rose"},
        "starts_at": starts,
        "ends_at": datetime(2025, 3, 4, 9, 0, 0, tzinfo=UTC) if status is NotificationStatus.RESOLVED else None,
        "fingerprint": fp,
        "value": 1300.0,
        "baseline": 1000.0,
        "channels": channels,
        "url": "http://pulse.test/api/v1/alerts",
        "series": series,
    }
    values.update(fields)
    return Notification(**values)
