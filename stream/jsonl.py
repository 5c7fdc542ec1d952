"""The JSON-lines event file format shared by `simulate --out`, `produce` and `report`.

A line is ``{"topic": "subscriptions", "key": "c-1", "event": {...}}``, with an optional
``"timestamp"``: the Kafka record's time in epoch milliseconds (`pulse produce` sends it as the
record timestamp; `pulse report` checks ``occurred_at`` against it as a worker does, and
against the wall clock when it is absent). Files given with ``--topic`` hold bare events, one
per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from stream.topics import spec_for

__all__ = ["FileFormatError", "FileRecord", "dump_line", "iter_lines", "iter_records", "iter_file_records"]


class FileRecord(NamedTuple):
    """One line as the Kafka record it stands for."""

    topic: str
    key: bytes | None
    value: bytes
    #: record time, epoch milliseconds; None: none given
    timestamp: int | None = None


class FileFormatError(Exception):
    pass


def dump_line(topic: str, key: str | None, event: dict[str, Any]) -> bytes:
    return orjson.dumps({"topic": topic, "key": key, "event": event}, option=orjson.OPT_SORT_KEYS) + b"\n"


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def iter_records(path: Path, topic: str | None = None) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of each line (see :func:`iter_file_records`)."""
    for record in iter_file_records(path, topic):
        yield record.topic, record.key, record.value


def iter_file_records(path: Path, topic: str | None = None) -> Iterator[FileRecord]:
    """Kafka records of a file. With ``topic`` each line is sent as is (bad lines included,
    so a file can exercise the dead-letter path); otherwise each line names its topic."""
    if topic is not None:
        spec = spec_for(topic)
        for _, line in iter_lines(path):
            try:
                obj = orjson.loads(line)
                key = spec.key_for(obj) if isinstance(obj, dict) else None
            except orjson.JSONDecodeError:
                key = None
            yield FileRecord(topic, key, line)
        return
    for number, line in iter_lines(path):
        try:
            obj = orjson.loads(line)
            name, event = obj["topic"], obj["event"]
            spec = spec_for(name)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise FileFormatError(
                f'{path}:{number}: expected {{"topic": ..., "event": {{...}}}} ({exc}); '
                "use --topic for a file of bare events"
            ) from None
        key = obj.get("key")
        key_bytes = key.encode() if isinstance(key, str) else spec.key_for(event) if isinstance(event, dict) else None
        stamp = obj.get("timestamp")
        if stamp is not None and (not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0):
            raise FileFormatError(f"{path}:{number}: timestamp must be epoch milliseconds (an integer >= 0)")
        yield FileRecord(name, key_bytes, orjson.dumps(event), stamp)
