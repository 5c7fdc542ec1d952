"""The JSON-lines event file format shared by `simulate --out`, `produce` and `report`.

A line is ``{"topic": "subscriptions", "key": "c-1", "event": {...}}``, with an optional
``"timestamp"``: the Kafka record's time in epoch milliseconds (`pulse produce` sends it as the
record timestamp; `pulse report` checks ``occurred_at`` against it as a worker does, and
against the wall clock when it is absent). Files given with ``--topic`` hold bare events, one
per line; `pulse report` takes both in one file, deciding per line (a line that is not a
wrapper is a bare event of the report's topic). A UTF-8 byte order mark at the start of a file
is skipped.
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


_BOM = b"\xef\xbb\xbf"
_WRAPPED = 'expected {"topic": ..., "event": {...}}'


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.rstrip(b"\r\n")
            if number == 1 and line.startswith(_BOM):  # editors on Windows write one
                line = line[len(_BOM) :]
            if line.strip():
                yield number, line


def iter_records(path: Path, topic: str | None = None) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of each line (see :func:`iter_file_records`)."""
    for record in iter_file_records(path, topic):
        yield record.topic, record.key, record.value


def _bare(topic: str, line: bytes) -> FileRecord:
    spec = spec_for(topic)
    try:
        obj = orjson.loads(line)
        key = spec.key_for(obj) if isinstance(obj, dict) else None
    except orjson.JSONDecodeError:
        key = None
    return FileRecord(topic, key, line)


def _is_wrapper(obj: Any) -> bool:
    return isinstance(obj, dict) and "topic" in obj and "event" in obj


def iter_file_records(
    path: Path, topic: str | None = None, bare_topic: str | None = None, hint: str = "use --topic for bare events"
) -> Iterator[FileRecord]:
    """Kafka records of a file. With ``topic`` each line is sent as is (bad lines included,
    so a file can exercise the dead-letter path). With ``bare_topic`` a wrapped line names its
    topic and any other line is a bare event of ``bare_topic``. Otherwise every line must be
    wrapped (``hint`` says what else to do)."""
    if topic is not None:
        for _, line in iter_lines(path):
            yield _bare(topic, line)
        return
    for number, line in iter_lines(path):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if bare_topic is not None:
                yield _bare(bare_topic, line)
                continue
            raise FileFormatError(
                f'{path}:{number}: expected {{"topic": ..., "event": {{...}}}} ({exc}); {hint}'
            ) from None
        if not _is_wrapper(obj):
            if bare_topic is not None:
                yield _bare(bare_topic, line)
                continue
            raise FileFormatError(f"{path}:{number}: {_WRAPPED}; {hint}")
        name, event = obj["topic"], obj["event"]
        try:
            spec = spec_for(name)
        except (KeyError, TypeError) as exc:
            raise FileFormatError(f"{path}:{number}: unknown topic {name!r} ({exc})") from None
        key = obj.get("key")
        key_bytes = key.encode() if isinstance(key, str) else spec.key_for(event) if isinstance(event, dict) else None
        stamp = obj.get("timestamp")
        if stamp is not None and (not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0):
            raise FileFormatError(f"{path}:{number}: timestamp must be epoch milliseconds (an integer >= 0)")
        yield FileRecord(name, key_bytes, orjson.dumps(event), stamp)
