"""`pulse worker`: run one worker of the deployment."""

from __future__ import annotations

import asyncio

import typer

from stream.admin import ensure_topics
from stream.cli.common import guard, settings_with
from stream.registry import FamilyRegistry

__all__ = ["worker"]


def worker(
    web_port: int | None = typer.Option(None, help="Port of /metrics and the API (PULSE_WEB_PORT)"),
    app_id: str | None = typer.Option(None, help="Faust app id / consumer group (PULSE_APP_ID)"),
    data_dir: str | None = typer.Option(None, help="Faust data dir (PULSE_DATA_DIR)"),
) -> None:
    """Run a Pulse worker: consume the source topics and serve /metrics."""
    settings = settings_with(web_port=web_port, app_id=app_id, data_dir=data_dir)
    registry = guard(lambda: FamilyRegistry.installed(settings))
    guard(lambda: asyncio.run(ensure_topics(settings)))
    from stream.worker import run_worker

    run_worker(settings, registry)
