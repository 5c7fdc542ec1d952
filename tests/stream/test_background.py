"""The views' background refresh (stream/background.py): failures are kept, logged once per
change and cleared by the next success; views without background work get no task."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from stream.background import BackgroundRefresh
from stream.family import FamilyView


class Flaky(FamilyView):
    background_interval = 0.01

    def __init__(self, failures: list[Exception | None]) -> None:
        self.failures = failures
        self.rounds = 0

    async def refresh_background(self) -> None:
        self.rounds += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


def test_only_views_with_an_interval_get_a_loop() -> None:
    bg = BackgroundRefresh({"a": Flaky([]), "b": FamilyView()})
    assert list(bg.views) == ["a"]


def test_a_failure_is_kept_logged_once_and_cleared(caplog: pytest.LogCaptureFixture) -> None:
    view = Flaky([ValueError("bad record"), ValueError("bad record"), RedisConnectionError("down"), None])
    bg = BackgroundRefresh({"engagement": view})

    async def rounds() -> list[dict[str, str]]:
        seen = []
        for _ in range(4):
            await bg.run_once("engagement", view)
            seen.append(dict(bg.failing))
        return seen

    with caplog.at_level(logging.INFO, logger="pulse.background"):
        seen = asyncio.new_event_loop().run_until_complete(rounds())
    assert seen == [
        {"engagement": "ValueError: bad record"},
        {"engagement": "ValueError: bad record"},
        {"engagement": "Redis: ConnectionError: down"},
        {},
    ]
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if "background=failing" in line]) == 2  # once per change
    assert lines[-1] == "view=engagement background=ok"
    assert view.rounds == 4


def test_the_service_runs_rounds_until_stopped() -> None:
    view = Flaky([RuntimeError("first round fails")])

    async def main() -> int:
        bg = BackgroundRefresh({"engagement": view})
        await bg.start()
        await asyncio.sleep(0.2)
        await bg.stop()
        return view.rounds

    rounds = asyncio.new_event_loop().run_until_complete(main())
    assert rounds >= 3  # kept going after the failure
