from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.alerts.channels.receiver import Receiver

StartReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receiver_factory() -> AsyncIterator[StartReceiver]:
    """Starts real HTTP receivers on free ports; all stopped after the test."""
    started: list[Receiver] = []

    async def start(statuses: list[int] | None = None, delay: float = 0.0, port: int = 0) -> Receiver:
        r = await Receiver(statuses=list(statuses or []), delay=delay).start(port)
        started.append(r)
        return r

    yield start
    for r in started:
        await r.stop()
