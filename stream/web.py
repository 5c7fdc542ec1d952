"""HTTP endpoints on the Faust web port: /metrics, /health and every family's routes."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from stream.exporter import render
from stream.family import Reply, Request, Route

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["register_views", "is_ready"]

log = logging.getLogger("pulse.web")
REFRESH_INTERVAL = 0.5  # seconds: at most two snapshot reads a second, whatever the traffic


def is_ready(runtime: Runtime) -> bool:
    """Ready once the engine holds an assignment whose partitions have recovered their state."""
    return runtime.engine.ready


def register_views(runtime: Runtime) -> None:
    app = runtime.app
    last_refresh = [0.0]

    async def refresh() -> str | None:
        """Read every family's snapshots from Redis, at most twice a second."""
        now = time.monotonic()
        if now - last_refresh[0] < REFRESH_INTERVAL:
            return None
        try:
            for view in runtime.views.values():
                await view.refresh()
            last_refresh[0] = now
            return None
        except Exception as exc:  # Redis unreachable: serve what we have, say so
            log.warning("snapshot refresh failed: %s", exc)
            return str(exc)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        runtime.metrics.ready.set(1 if is_ready(runtime) else 0)
        await refresh()
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
            "processed": {
                sample.labels["topic"]: int(sample.value)
                for metric in runtime.metrics.processed.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            },
        }
        return web.json(body, status=200 if ready else 503)

    for view in runtime.views.values():
        for route in view.routes():
            _register_route(app, route, refresh)


def _register_route(app: Any, route: Route, refresh: Any) -> None:
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{") and part.endswith("}")]

    async def page(web: Any, request: Any, **params: str) -> Any:
        if route.fresh:
            problem = await refresh()
            if problem is not None:
                return _reply(web, Reply({"error": f"snapshots unavailable: {problem}"}, 503))
        reply = await route.handler(Request(dict(request.query), {n: params[n] for n in names}))
        return _reply(web, reply)

    page.__name__ = "route_" + "_".join(p.strip("{}") for p in route.path.split("/") if p)  # faust names views by it
    app.page(route.path)(page)


def _reply(web: Any, reply: Reply) -> Any:
    return web.bytes(orjson.dumps(reply.body), content_type="application/json", status=reply.status)
