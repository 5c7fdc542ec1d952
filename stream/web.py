"""HTTP endpoints on the Faust web port: /metrics, /health and every family's routes."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from stream.exporter import render
from stream.family import FamilyView, Reply, Request, Route
from stream.health import Dependency, WorkerState

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["register_views", "is_ready"]

log = logging.getLogger("pulse.web")


async def refresh_views(views: Mapping[str, FamilyView]) -> tuple[Exception | None, dict[str, str]]:
    """Refresh every family's view from Redis: (the Redis failure that stopped it, or None;
    family -> the error of a view that failed on what it read). A view that cannot read its
    snapshots (a bug, or data of another version) keeps its last figures and the others go on:
    it is not Redis being down."""
    failed: dict[str, str] = {}
    for name, view in views.items():
        try:
            await view.refresh()
        except (RedisError, OSError) as exc:  # unreachable or timed out: no view can read
            return exc, failed
        except Exception as exc:  # noqa: BLE001 - one family's view must not blind the others
            failed[name] = f"{type(exc).__name__}: {exc}"
    return None, failed


REFRESH_INTERVAL = 0.5  # seconds: at most two snapshot reads a second, whatever the traffic


def is_ready(runtime: Runtime) -> bool:
    """Ready once the engine holds an assignment whose partitions have recovered their state."""
    return runtime.engine.ready


def register_views(runtime: Runtime) -> None:
    app = runtime.app
    clock = runtime.clock
    health = runtime.engine.health
    last_try = [float("-inf")]
    last_problem: list[str | None] = [None]
    failing: dict[str, str] = {}  # family -> the error its view last failed with

    async def refresh() -> str | None:
        """Read every family's snapshots from Redis, at most twice a second; the problem of
        the last read, if it failed."""
        now = time.monotonic()
        if now - last_try[0] < REFRESH_INTERVAL:
            return last_problem[0]
        last_try[0] = now
        down, failed = await refresh_views(runtime.views)
        for name in set(failed) | set(failing):
            if failed.get(name) != failing.get(name):  # once per change, not per refresh
                if name in failed:
                    log.error("view=%s state=failing reason=%r (its figures are the last it read)", name, failed[name])
                else:
                    log.info("view=%s state=ok", name)
        failing.clear()
        failing.update(failed)
        if down is not None:  # Redis unreachable: the gauges go absent once stale
            health.down(Dependency.REDIS, down)
            last_problem[0] = str(down) or type(down).__name__
            return last_problem[0]
        clock.mark()  # (up again is the engine's to say: its writes every 5 s at least)
        last_problem[0] = None
        return None

    def status() -> tuple[WorkerState, dict[str, str]]:
        reasons = {**health.down_reasons(), **{f"view:{name}": why for name, why in failing.items()}}
        if runtime.background is not None:
            reasons.update({f"background:{name}": why for name, why in runtime.background.failing.items()})
        age = clock.age()
        if is_ready(runtime) and not clock.fresh:
            reasons["snapshots"] = "never read from Redis" if age is None else f"last read from Redis {age:.0f}s ago"
        state = health.state(is_ready(runtime))
        if state is WorkerState.READY and reasons:
            state = WorkerState.DEGRADED
        return state, reasons

    last_scrape = [0.0]  # seconds the previous /metrics answer took

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        started = time.perf_counter()
        await refresh()
        state, _ = status()
        runtime.metrics.ready.set(1 if state is WorkerState.READY else 0)
        age = clock.age()
        runtime.metrics.snapshot_age.set(age if age is not None else float("inf"))
        # this answer's own duration is known only once it is rendered: the next one carries it
        runtime.metrics.scrape_duration.set(last_scrape[0])
        body = render(runtime.metrics.registry)
        last_scrape[0] = time.perf_counter() - started
        return web.bytes(
            body,
            # aiohttp refuses parameters in content_type; Prometheus reads plain text/plain.
            content_type=CONTENT_TYPE_LATEST.split(";")[0],
        )

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        """Everything: the worker's state with its reasons, each dependency, the partitions."""
        await refresh()
        state, reasons = status()
        body = {
            "status": state.value,
            "reasons": reasons,
            "dependencies": health.report(),
            "app_id": runtime.settings.app_id,
            "partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in runtime.engine.states),
            "processed": {
                sample.labels["topic"]: int(sample.value)
                for metric in runtime.metrics.processed.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            },
        }
        return web.json(body, status=200 if state is WorkerState.READY else 503)

    @app.page("/health/live")
    async def health_live(web: Any, request: Any) -> Any:
        """Kubernetes liveness: the process serves and its engine runs (restart it otherwise)."""
        alive = not runtime.engine.crashed and not runtime.engine.should_stop
        return web.json({"live": alive}, status=200 if alive else 503)

    @app.page("/health/ready")
    async def health_ready(web: Any, request: Any) -> Any:
        """Kubernetes readiness: state recovered and every dependency up (figures current)."""
        await refresh()
        state, reasons = status()
        return web.json({"status": state.value, "reasons": reasons}, status=200 if state is WorkerState.READY else 503)

    for view in runtime.views.values():
        for route in view.routes():
            _register_route(app, route, refresh)
    for service in runtime.services:
        for route in service.routes():
            _register_route(app, route, refresh)


def _register_route(app: Any, route: Route, refresh: Any) -> None:
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{") and part.endswith("}")]

    async def page(web: Any, request: Any, **params: str) -> Any:
        if route.fresh:
            problem = await refresh()
            if problem is not None:
                return _reply(web, Reply({"error": f"snapshots unavailable: {problem}"}, 503))
        body = await request.read() if route.method != "GET" else b""
        reply = await route.handler(Request(dict(request.query), {n: params[n] for n in names}, body))
        return _reply(web, reply)

    name = "route_" + "_".join(p.strip("{}") for p in route.path.split("/") if p)  # faust names views by it
    page.__name__ = name
    if route.method == "GET":
        app.page(route.path)(page)
    else:
        from faust.web import View

        app.page(route.path)(type(name, (View,), {route.method.lower(): page}))


def _reply(web: Any, reply: Reply) -> Any:
    return web.bytes(orjson.dumps(reply.body), content_type="application/json", status=reply.status)
