"""Runs one worker for the settings: the long-running job behind `pulse worker`."""

from __future__ import annotations

import gc

import faust

from stream.app import create_app
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings

__all__ = ["run_worker"]


def run_worker(settings: PulseSettings, registry: FamilyRegistry | None = None) -> None:
    # State is millions of long-lived objects; the default thresholds (700 allocations) run
    # full collections over all of them far too often under a batch of 20,000 records.
    gc.set_threshold(100_000, 50, 100)
    runtime = create_app(settings, registry)
    worker = faust.Worker(
        runtime.app,
        runtime.engine,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
