"""HTTP endpoints on the Faust web port: /metrics, /health and the JSON API."""

from __future__ import annotations

import logging
import time
from datetime import date
import re
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST

from stream.exporter import render

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["register_views", "is_ready"]

log = logging.getLogger("pulse.web")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def is_ready(runtime: "Runtime") -> bool:
    """Ready once the engine holds an assignment whose partitions have recovered their state."""
    return runtime.engine.ready


def register_views(runtime: "Runtime") -> None:
    app = runtime.app
    view = runtime.revenue

    last_refresh = [0.0]

    async def refresh() -> str | None:
        """Read every partition's snapshot from Redis, at most twice a second."""
        now = time.monotonic()
        if now - last_refresh[0] < 0.5:
            return None
        try:
            await view.refresh()
            await runtime.engagement.refresh()
            last_refresh[0] = now
            return None
        except Exception as exc:  # Redis unreachable: serve what we have, say so
            log.warning("revenue snapshot refresh failed: %s", exc)
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

    @app.page("/api/v1/revenue")
    async def revenue(web: Any, request: Any) -> Any:
        month = request.query.get("month", "")
        if not MONTH.match(month):
            return web.json({"error": "query parameter month=YYYY-MM is required"}, status=400)
        problem = await refresh()
        if problem is not None:
            return web.json({"error": f"snapshots unavailable: {problem}"}, status=503)
        figures = view.month(month)
        return web.json(
            {
                **figures["row"],
                "currency": runtime.settings.reporting_currency,
                "ratios": figures["ratios"],
                "watermark": view.watermark,
                "partitions_checkpoint": {str(k): v for k, v in sorted(view.partitions.items())},
            }
        )

    @app.page("/api/v1/engagement/daily")
    async def engagement_daily(web: Any, request: Any) -> Any:
        try:
            day = date.fromisoformat(request.query.get("date", ""))
        except ValueError:
            return web.json({"error": "query parameter date=YYYY-MM-DD is required"}, status=400)
        problem = await refresh()
        if problem is not None:
            return web.json({"error": f"snapshots unavailable: {problem}"}, status=503)
        return web.json(runtime.engagement.daily(day))

    @app.page("/api/v1/accounts/at-risk")
    async def accounts_at_risk(web: Any, request: Any) -> Any:
        problem = await refresh()
        if problem is not None:
            return web.json({"error": f"snapshots unavailable: {problem}"}, status=503)
        view = runtime.engagement
        return web.json({"threshold": view.health_threshold, "accounts": view.at_risk()})

    @app.page("/api/v1/accounts/{account_id}")
    async def account(web: Any, request: Any, account_id: str) -> Any:
        problem = await refresh()
        if problem is not None:
            return web.json({"error": f"snapshots unavailable: {problem}"}, status=503)
        found = runtime.engagement.account(account_id)
        if found is None:
            return web.json({"error": f"no account {account_id}"}, status=404)
        return web.json(found)

    @app.page("/api/v1/customers/{customer_id}")
    async def customer(web: Any, request: Any, customer_id: str) -> Any:
        found = await view.snapshots.entity("customers", customer_id)
        if found is None:
            return web.json({"error": f"no customer {customer_id}"}, status=404)
        return web.json({**found, "currency": runtime.settings.reporting_currency})
