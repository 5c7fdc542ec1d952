"""HTTP endpoints on the Faust web port: /metrics, /health and the JSON API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST

from stream.exporter import render

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["register_views", "is_ready"]


def is_ready(runtime: "Runtime") -> bool:
    """Ready once the engine holds an assignment whose partitions have recovered their state."""
    return runtime.engine.ready


def register_views(runtime: "Runtime") -> None:
    app = runtime.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        runtime.metrics.ready.set(1 if is_ready(runtime) else 0)
        return web.bytes(
            render(runtime.metrics.registry),
            # aiohttp refuses parameters in content_type; Prometheus reads plain text/plain.
            content_type=CONTENT_TYPE_LATEST.split(";")[0],
        )

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        ready = is_ready(runtime)
        body = {
            "status": "ready" if ready else "starting",
            "app_id": runtime.settings.app_id,
            "partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in runtime.engine.states),
        }
        return web.json(body, status=200 if ready else 503)
