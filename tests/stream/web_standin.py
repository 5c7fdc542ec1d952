"""A stand-in for the Faust app and web driver, so tests call stream/web.py's pages directly."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from stream.engine import IngestEngine
from stream.exporter import IngestMetrics, SnapshotClock
from stream.settings import PulseSettings
from stream.web import register_views

__all__ = ["Web", "registered_pages"]


class Web:
    """What a page handler calls on Faust's web driver: the body it would answer."""

    def bytes(self, body: bytes, content_type: str) -> bytes:
        return body

    def json(self, body: Any, status: int = 200) -> tuple[int, Any]:
        return status, body


def registered_pages(
    metrics: IngestMetrics, engine: IngestEngine, settings: PulseSettings, clock: SnapshotClock
) -> dict[str, Callable[..., Any]]:
    """path -> handler of every page register_views adds for a runtime without families or services."""
    pages: dict[str, Callable[..., Any]] = {}

    class App:
        def page(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def register(handler: Callable[..., Any]) -> Callable[..., Any]:
                pages[path] = handler
                return handler

            return register

    runtime = SimpleNamespace(
        app=App(),
        views={},
        metrics=metrics,
        engine=engine,
        settings=settings,
        clock=clock,
        services=[],
        background=None,
    )
    register_views(runtime)  # type: ignore[arg-type]  # a stand-in Runtime: only these eight are read
    return pages
