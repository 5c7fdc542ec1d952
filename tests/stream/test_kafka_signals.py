"""Lag and dead-letter arithmetic of stream/kafka_signals.py, and its gauges, without Kafka:
readings are handed to ``observe`` with an injected clock."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from stream.kafka_signals import (
    HELP,
    DeadletterReading,
    KafkaSignals,
    Offsets,
    deadletter_rate,
    ingest_group,
    lag_by_topic,
    lags,
    partition_lag,
    trim,
    went_backwards,
)
from stream.settings import PulseSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def offsets(
    deadletter: dict[int, int] | None = None,
    end: dict[tuple[str, int], int] | None = None,
    committed: dict[tuple[str, int], int | None] | None = None,
    beginning: dict[tuple[str, int], int] | None = None,
) -> Offsets:
    end = end if end is not None else {("leads", 0): 10, ("leads", 1): 4, ("surveys", 0): 0}
    return Offsets(
        beginning=beginning or {tp: 0 for tp in end},
        end=end,
        committed=committed or {},
        deadletter_end=deadletter if deadletter is not None else {0: 0, 1: 0},
    )


def signals(
    clock: Clock, rate_window: float = 300.0, max_age: float | None = 60.0
) -> tuple[KafkaSignals, CollectorRegistry]:
    s = KafkaSignals(PulseSettings(), clock, rate_window=rate_window, max_age=max_age)
    registry = CollectorRegistry()
    registry.register(s)
    return s, registry


# --- lag arithmetic ---------------------------------------------------------------------------


def test_partition_lag_is_end_minus_committed() -> None:
    assert partition_lag(end=100, committed=70, beginning=0) == 30
    assert partition_lag(end=100, committed=100, beginning=0) == 0


def test_a_partition_without_a_committed_offset_counts_whole() -> None:
    assert partition_lag(end=100, committed=None, beginning=20) == 80
    assert partition_lag(end=100, committed=-1, beginning=20) == 80  # OffsetFetch's "none"
    assert partition_lag(end=0, committed=None, beginning=0) == 0


def test_lag_never_counts_deleted_records_nor_goes_negative() -> None:
    assert partition_lag(end=100, committed=5, beginning=40) == 60  # retention deleted 5..39
    assert partition_lag(end=10, committed=50, beginning=0) == 0  # topic recreated under the group


def test_lags_per_partition_and_summed_by_topic() -> None:
    reading = offsets(
        end={("leads", 0): 10, ("leads", 1): 4, ("surveys", 0): 7},
        committed={("leads", 0): 6, ("leads", 1): None},
        beginning={("leads", 0): 0, ("leads", 1): 1, ("surveys", 0): 2},
    )
    per_partition = lags(reading)
    assert per_partition == {("leads", 0): 4, ("leads", 1): 3, ("surveys", 0): 5}
    assert lag_by_topic(per_partition) == {"leads": 7, "surveys": 5}


def test_the_group_is_the_engines() -> None:
    assert ingest_group(PulseSettings(app_id="acme")) == "acme-ingest"


# --- dead-letter rate (pure) ------------------------------------------------------------------


def test_rate_is_absent_below_two_readings() -> None:
    assert deadletter_rate([]) is None
    assert deadletter_rate([DeadletterReading(0.0, {0: 5})]) is None
    assert deadletter_rate([DeadletterReading(1.0, {0: 5}), DeadletterReading(1.0, {0: 9})]) is None


def test_rate_is_newest_minus_oldest_over_their_time() -> None:
    readings = [
        DeadletterReading(0.0, {0: 10, 1: 0}),
        DeadletterReading(5.0, {0: 12, 1: 3}),
        DeadletterReading(20.0, {0: 20, 1: 10}),
    ]
    assert deadletter_rate(readings) == pytest.approx((30 - 10) / 20.0)


def test_trim_keeps_the_window() -> None:
    readings = [DeadletterReading(t, {0: int(t)}) for t in (0.0, 100.0, 200.0, 300.0, 400.0)]
    assert [r.at for r in trim(readings, now=400.0, window=300.0)] == [100.0, 200.0, 300.0, 400.0]
    assert [r.at for r in trim(readings, now=400.0, window=50.0)] == [400.0]


def test_went_backwards() -> None:
    assert not went_backwards({0: 5, 1: 5}, {0: 5, 1: 6})
    assert not went_backwards({0: 5}, {0: 5, 1: 2})  # a partition added
    assert went_backwards({0: 5, 1: 5}, {0: 5, 1: 4})
    assert went_backwards({0: 5, 1: 5}, {0: 50})  # a partition gone: another topic


# --- the collector, with an injected clock ----------------------------------------------------


def test_gauges_of_one_reading_and_no_rate_yet() -> None:
    clock = Clock()
    s, registry = signals(clock)
    s.observe(offsets({0: 3, 1: 4}, committed={("leads", 0): 8}))
    value = registry.get_sample_value
    assert value("pulse_kafka_signals_up") == 1
    assert value("pulse_consumer_lag", {"topic": "leads", "partition": "0"}) == 2
    assert value("pulse_consumer_lag", {"topic": "leads", "partition": "1"}) == 4
    assert value("pulse_consumer_lag", {"topic": "surveys", "partition": "0"}) == 0
    assert value("pulse_consumer_lag_records", {"topic": "leads"}) == 6
    assert value("pulse_consumer_lag_records", {"topic": "surveys"}) == 0
    assert value("pulse_deadletter_records") == 7
    assert value("pulse_deadletter_rate") is None  # one reading


def test_rate_over_the_window_with_trimming() -> None:
    clock = Clock(0.0)
    s, registry = signals(clock, rate_window=300.0, max_age=None)
    for at, total in ((0.0, 0), (100.0, 100), (200.0, 150), (300.0, 300)):
        clock.now = at
        s.observe(offsets({0: total}))
    assert registry.get_sample_value("pulse_deadletter_rate") == pytest.approx(300 / 300.0)
    clock.now = 400.0
    s.observe(offsets({0: 320}))  # the reading at 0 leaves the window
    assert registry.get_sample_value("pulse_deadletter_rate") == pytest.approx((320 - 100) / 300.0)
    assert registry.get_sample_value("pulse_deadletter_records") == 320
    clock.now = 1000.0
    s.observe(offsets({0: 400}))  # every earlier reading is out of the window: one left
    assert registry.get_sample_value("pulse_deadletter_rate") is None
    clock.now = 1010.0
    s.observe(offsets({0: 405}))
    assert registry.get_sample_value("pulse_deadletter_rate") == pytest.approx(0.5)


def test_rate_resets_when_end_offsets_go_backwards(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    s, registry = signals(clock)
    s.observe(offsets({0: 500, 1: 500}))
    clock.now = 10.0
    s.observe(offsets({0: 520, 1: 500}))
    assert registry.get_sample_value("pulse_deadletter_rate") == pytest.approx(2.0)
    clock.now = 20.0
    with caplog.at_level(logging.WARNING, "pulse.kafka_signals"):
        s.observe(offsets({0: 3, 1: 0}))  # the topic recreated
    assert "deadletter_offsets=reset" in caplog.text
    assert registry.get_sample_value("pulse_deadletter_rate") is None  # not a negative rate
    assert registry.get_sample_value("pulse_deadletter_records") == 3
    clock.now = 30.0
    s.observe(offsets({0: 8, 1: 0}))
    assert registry.get_sample_value("pulse_deadletter_rate") == pytest.approx(0.5)


class Failing(KafkaSignals):
    """A broker that answers or not, as the test says."""

    error: Exception | None = None
    reads = 0

    async def _read(self) -> Offsets:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return offsets({0: 1})


def test_a_failed_poll_withdraws_the_gauges_and_logs_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    s = Failing(PulseSettings(app_id="acme"), clock)
    registry = CollectorRegistry()
    registry.register(s)

    async def run() -> None:
        with caplog.at_level(logging.INFO, "pulse.kafka_signals"):
            await s.poll()
            assert registry.get_sample_value("pulse_kafka_signals_up") == 1
            s.error = ConnectionError("connection refused")
            await s.poll()
            await s.poll()  # still down: no second line
            assert registry.get_sample_value("pulse_kafka_signals_up") == 0
            for name in ("pulse_consumer_lag_records", "pulse_deadletter_records", "pulse_deadletter_rate"):
                assert not [m for m in registry.collect() if m.name == name]
            assert registry.get_sample_value("pulse_consumer_lag", {"topic": "leads", "partition": "0"}) is None
            s.error = None
            clock.now += 5
            await s.poll()
            assert registry.get_sample_value("pulse_kafka_signals_up") == 1
            await s.stop()
            await s.poll()  # a late timer after stop: no reading, no reconnect
            assert s.reads == 4

    asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if r.name == "pulse.kafka_signals"]
    assert lines == [
        "kafka_signals state=up broker=127.0.0.1:9092 group=acme-ingest",
        "kafka_signals state=down broker=127.0.0.1:9092 group=acme-ingest reason='connection refused'",
        "kafka_signals state=up broker=127.0.0.1:9092 group=acme-ingest",
    ]


def test_nothing_before_the_first_poll_and_nothing_stale() -> None:
    clock = Clock()
    s, registry = signals(clock, max_age=30.0)
    assert registry.get_sample_value("pulse_kafka_signals_up") == 0
    assert registry.get_sample_value("pulse_deadletter_records") is None
    s.observe(offsets({0: 2}))
    clock.now += 30
    assert registry.get_sample_value("pulse_deadletter_records") == 2
    clock.now += 1  # no poll for longer than max_age: the caller's timer stopped
    assert registry.get_sample_value("pulse_kafka_signals_up") == 0
    assert registry.get_sample_value("pulse_deadletter_records") is None


def test_help_texts_are_the_documented_ones() -> None:
    rows = dict(re.findall(r"^\| `(pulse_[a-z_]+)` \| [a-z]+ \| [^|]* \| (.+?) \|$", DOC, re.M))
    s, registry = signals(Clock())
    s.observe(offsets({0: 1}))
    s.clock = Clock(1001.0)
    s.observe(offsets({0: 2}))
    exported = {m.name: m.documentation for m in registry.collect()}
    assert set(exported) == set(HELP)
    for name, text in exported.items():
        assert rows.get(name) == text, name
