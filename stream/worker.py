"""Runs one worker for the settings: the long-running job behind `pulse worker`."""

from __future__ import annotations

import gc
import logging
from typing import Any

import faust

from stream.app import create_app
from stream.logformat import LogFormat, apply_log_format
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings

__all__ = ["run_worker"]


def run_worker(settings: PulseSettings, registry: FamilyRegistry | None = None) -> None:
    # State is millions of long-lived objects; the default thresholds (700 allocations) run
    # full collections over all of them far too often under a batch of 20,000 records.
    gc.set_threshold(100_000, 50, 100)
    runtime = create_app(settings, registry)
    worker = _Worker(
        runtime.app,
        runtime.engine,
        *([runtime.signals] if runtime.signals is not None else []),
        *([runtime.background] if runtime.background is not None else []),
        *runtime.services,
        log_format=settings.log_format,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


class _Worker(faust.Worker):
    def __init__(self, *args: Any, log_format: LogFormat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_format = log_format

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        apply_log_format(logger, self.log_format)
