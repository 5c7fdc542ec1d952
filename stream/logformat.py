"""``PULSE_LOG_FORMAT=json``: one JSON object per line, for log shippers (Loki, Elasticsearch)
that index fields instead of parsing text. The default stays Faust's text lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum

import orjson

__all__ = ["JsonFormatter", "LogFormat", "apply_log_format"]


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "pid", "message"[, "exc"]}``; Pulse's messages keep their
    ``key=value`` pairs inside ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def apply_log_format(logger: logging.Logger, fmt: LogFormat) -> None:
    """Give every handler of ``logger`` (the root, once Faust has set it up) the format."""
    if fmt is LogFormat.JSON:
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
