"""Runs every view's background refresh (``FamilyView.refresh_background``) while a worker runs.

What grows with the entities a deployment holds (every account's health) cannot be computed
on each /metrics request without holding the worker's event loop for seconds; each view that
has such work gets a task here, on its own interval, and its gauges serve the last result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mode import Service
from redis.exceptions import RedisError

from stream.family import FamilyView

__all__ = ["BackgroundRefresh"]

log = logging.getLogger("pulse.background")


class BackgroundRefresh(Service):
    """One loop per view with a ``background_interval``: refresh, sleep, again. A failure is
    logged once per change and retried on the next round; the view keeps its last result."""

    def __init__(self, views: Mapping[str, FamilyView], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.views = {name: v for name, v in views.items() if v.background_interval > 0}
        #: view -> the error of its last round (absent when it succeeded)
        self.failing: dict[str, str] = {}

    async def on_start(self) -> None:
        for name, view in self.views.items():
            self.add_future(self._rounds(name, view))

    async def run_once(self, name: str, view: FamilyView) -> None:
        try:
            await view.refresh_background()
        except (RedisError, OSError) as exc:
            self._failed(name, f"Redis: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug in one view must not stop the worker
            self._failed(name, f"{type(exc).__name__}: {exc}")
        else:
            if self.failing.pop(name, None) is not None:
                log.info("view=%s background=ok", name)

    def _failed(self, name: str, why: str) -> None:
        if self.failing.get(name) != why:
            log.error("view=%s background=failing reason=%r (its figures are the last it computed)", name, why)
        self.failing[name] = why

    async def _rounds(self, name: str, view: FamilyView) -> None:
        while not self.should_stop:
            await self.run_once(name, view)
            await self.sleep(view.background_interval)
