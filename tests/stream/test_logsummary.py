"""Logs say what changed, once: rejections summed per interval, repeated client errors
suppressed with a count, dependency states logged on change only."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from stream.health import Dependency, Health, WorkerState
from stream.logsummary import RejectionSummary, RepeatFilter
from stream.outcomes import RejectReason


def test_a_burst_of_rejections_is_one_line_per_topic_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.rejections")
    summary = RejectionSummary(log, every=3600)
    with caplog.at_level(logging.WARNING, logger="test.rejections"):
        summary.flushed_at -= 7200  # a quiet spell: the first rejection is logged at once
        for offset in range(57_156):  # the resent file of the finding: one line per record before
            summary.add("pulse.product-events", RejectReason.LATE, 2, offset, "late: occurred_at ...")
        summary.add("pulse.product-events", RejectReason.SCHEMA, 1, 9, "schema: missing event_id")
        summary.flush()  # within the interval: nothing yet
        assert len(caplog.records) == 1 and "count=1 " in caplog.records[0].getMessage()
        summary.flush(force=True)
    lines = [r.getMessage() for r in caplog.records[1:]]
    assert len(lines) == 2
    assert "reason=late count=57155 first_partition=2 first_offset=1" in lines[0]
    assert "reason=schema count=1 first_partition=1 first_offset=9" in lines[1]


def test_repeated_client_errors_pass_once_per_interval_with_a_count() -> None:
    keep = RepeatFilter(prefix="aiokafka", every=3600)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)

    passed = [keep.filter(record("aiokafka.conn", "Unable connect to %r")) for _ in range(4154)]
    assert passed.count(True) == 1
    assert keep.filter(record("pulse.engine", "Unable connect to %r"))  # not under the prefix
    keep.seen[("aiokafka.conn", "Unable connect to %r")] = (-1e9, 4153)
    again = record("aiokafka.conn", "Unable connect to %r")
    assert keep.filter(again) and "[4153 more like it" in str(again.msg)


def test_a_dependency_is_logged_when_it_goes_down_and_when_it_is_back(caplog: pytest.LogCaptureFixture) -> None:
    health = Health(CollectorRegistry())
    with caplog.at_level(logging.WARNING, logger="pulse.health"):
        for _ in range(300):  # a publish every ~200 ms for a minute
            health.down(Dependency.REDIS, ConnectionError("Error 111 connecting"))
        assert health.state(recovered=True) is WorkerState.DEGRADED
        health.up(Dependency.REDIS)
        health.up(Dependency.REDIS)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "state=down" in lines[0] and "state=up" in lines[1]
    assert health.state(recovered=True) is WorkerState.READY and health.state(recovered=False) is WorkerState.RECOVERING
