"""PULSE_LOG_FORMAT=json: every line one JSON object with the fields log shippers index."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from stream.logformat import LogFormat, apply_log_format
from stream.settings import PulseSettings


def test_json_lines_carry_level_logger_message_and_the_traceback() -> None:
    out = io.StringIO()
    logger = logging.Logger("pulse.test")
    logger.addHandler(logging.StreamHandler(out))
    apply_log_format(logger, LogFormat.JSON)
    logger.warning("dependency=%s state=%s", "kafka", "down")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("batch failed")
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert (first["level"], first["logger"]) == ("WARNING", "pulse.test")
    assert first["message"] == "dependency=kafka state=down"
    assert first["ts"].endswith("+00:00") and isinstance(first["pid"], int)
    assert second["message"] == "batch failed" and "ValueError: boom" in second["exc"]


def test_text_leaves_the_handlers_alone_and_other_formats_are_refused() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logger = logging.Logger("pulse.test")
    logger.addHandler(handler)
    apply_log_format(logger, LogFormat.TEXT)
    assert handler.formatter is None
    assert PulseSettings(log_format="json").log_format is LogFormat.JSON
    with pytest.raises(ValueError, match="log_format"):
        PulseSettings(log_format="xml")
