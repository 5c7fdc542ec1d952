"""Log lines per interval instead of per record: a replay of a bad file, or a broker outage
that makes the Kafka client retry every few milliseconds, must not flood the log. The detail
of every rejected record is in the dead-letter topic; the log says how many, why, and where
the first one was."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from stream.outcomes import RejectReason

__all__ = ["RejectionSummary", "RepeatFilter", "SUMMARY_EVERY"]

#: seconds between two summary lines of the same kind
SUMMARY_EVERY = 60.0


@dataclass(slots=True)
class _Tally:
    count: int
    partition: int
    offset: int
    error: str


class RejectionSummary:
    """Counts rejections per (topic, reason); :meth:`flush` logs one line for each, with the
    first record's coordinates and error, at most every :data:`SUMMARY_EVERY` seconds."""

    def __init__(self, log: logging.Logger, every: float = SUMMARY_EVERY) -> None:
        self.log = log
        self.every = every
        self.tallies: dict[tuple[str, RejectReason], _Tally] = {}
        self.flushed_at = time.monotonic()

    def add(self, topic: str, reason: RejectReason, partition: int, offset: int, error: str) -> None:
        tally = self.tallies.get((topic, reason))
        if tally is None:
            first = not self.tallies and time.monotonic() - self.flushed_at >= self.every
            self.tallies[(topic, reason)] = _Tally(1, partition, offset, error[:300])
            if first:  # the first rejection after a quiet spell is logged at once
                self.flush(force=True)
        else:
            tally.count += 1

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tallies or (not force and now - self.flushed_at < self.every):
            return
        for (topic, reason), tally in sorted(self.tallies.items()):
            self.log.warning(
                "rejected topic=%s reason=%s count=%d first_partition=%d first_offset=%d first_error=%r "
                "(each one is in the dead-letter topic)",
                topic,
                reason.value,
                tally.count,
                tally.partition,
                tally.offset,
                tally.error,
            )
        self.tallies.clear()
        self.flushed_at = now


class RepeatFilter(logging.Filter):
    """Lets a message template of the loggers under ``prefix`` through once per interval; the
    next one that passes says how many were suppressed (aiokafka logs each failed retry while a
    broker is down). Set on handlers: a logger's own filters miss its children's records."""

    def __init__(self, prefix: str, every: float = SUMMARY_EVERY) -> None:
        super().__init__()
        self.prefix = prefix
        self.every = every
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last = self.seen.get(key)
        if last is not None and now - last[0] < self.every:
            self.seen[key] = (last[0], last[1] + 1)
            return False
        suppressed = last[1] if last is not None else 0
        self.seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} [{suppressed} more like it in the last {self.every:.0f}s]"
        return True
