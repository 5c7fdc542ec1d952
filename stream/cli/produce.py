"""`pulse produce`: publish the events of a file, as an upstream service would."""

from __future__ import annotations

from pathlib import Path

import typer

from stream.cli.common import fail, guard, settings_with
from stream.cli.simulate import send
from stream.jsonl import iter_file_records
from stream.publish import Record

__all__ = ["produce"]


def produce(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON-lines event file"),
    topic: str | None = typer.Option(None, help="Every line is a bare event for this topic"),
) -> None:
    """Publish the events of a file (lines as written by `pulse simulate --out`)."""
    from stream.topics import SOURCE_TOPICS

    if topic is not None and topic not in SOURCE_TOPICS:
        raise fail(f"--topic: unknown topic {topic!r}; expected one of {', '.join(SOURCE_TOPICS)}")
    records: list[Record] = guard(
        lambda: [(r.topic, r.key, r.value, r.timestamp) for r in iter_file_records(file, topic)]
    )
    send(settings_with(), records, f"publishing {file.name}")
