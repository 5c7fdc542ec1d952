"""What every `pulse` command shares: consoles, one-line failures, settings, progress bars.

Expected failures (broker down, bad flag, bad file, bad setting) print one line and exit 2;
tracebacks are for bugs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stream.admin import BrokerUnreachable
from stream.jsonl import FileFormatError
from stream.settings import PulseSettings, SettingsError, load_settings

__all__ = ["err", "out", "fail", "guard", "settings_with", "progress", "REPO"]

err = Console(stderr=True)
out = Console()
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    # the message may hold brackets (a URL's [/db]): not markup; one line, however long
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; an expected failure becomes one line on stderr and exit code 2."""
    try:
        return fn()
    except (SettingsError, BrokerUnreachable, FileFormatError) as exc:
        raise fail(str(exc)) from None
    except KafkaError as exc:  # e.g. the broker went away mid-send
        raise fail(
            f"kafka: {type(exc).__name__}: {exc} (not everything was published; publishing the file again is "
            "safe: resends are deduplicated by event_id)"
        ) from None


def settings_with(**overrides: Any) -> PulseSettings:
    """The environment's settings, with the command's options (those given) on top."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    base = guard(load_settings)
    if not overrides:
        return base
    try:
        return PulseSettings(**{**base.model_dump(), **overrides})
    except Exception as exc:  # pydantic.ValidationError
        raise fail(f"invalid option: {exc}") from None


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
