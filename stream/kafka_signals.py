"""Consumer lag and the dead-letter rate, read from Kafka itself (the same on every worker).

A worker's own counters describe what *it* did; an alert on lag or on the dead-letter rate must
give the same answer whichever worker evaluates it. :class:`KafkaSignals` reads the figures from
the broker instead: per source partition the ingest group's committed offset and the partition's
end offset (lag), and the dead-letter topic's end offsets (records written so far), and exports
them as a Prometheus collector.

Cost: one :meth:`KafkaSignals.poll` is a metadata request, a FindCoordinator and an OffsetFetch
for the group, and two ListOffsets rounds (one request per leader broker each), whatever the
traffic. It
does not poll by itself: the caller (the worker, on a timer) decides the cadence; once every
few seconds is what it is meant for. While the broker cannot be read (or no poll succeeded
within ``max_age`` seconds) the figures are absent from /metrics, never stale or zero, and
``pulse_kafka_signals_up`` is 0.

Offsets are read ``read_committed``, as the engine reads: a source partition's end is its last
stable offset. Dead letters are counted by reading the records added since the last poll
(``read_committed``): end offsets would also count transactions' commit markers and the dead
letters of aborted batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from mode import Service
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from stream.settings import PulseSettings
from stream.topics import DEADLETTER, SOURCE_TOPICS

__all__ = [
    "HELP",
    "DeadletterReading",
    "KafkaSignals",
    "Offsets",
    "SignalsReading",
    "SignalsUnavailable",
    "deadletter_rate",
    "ingest_group",
    "lag_by_topic",
    "lags",
    "partition_lag",
    "trim",
    "went_backwards",
]

log = logging.getLogger("pulse.kafka_signals")

#: Default of ``PULSE_DEADLETTER_RATE_WINDOW_SECONDS``.
DEFAULT_RATE_WINDOW_SECONDS = 300.0
#: How long one poll may take before it counts as failed.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: How old the last successful reading may be before the figures are withdrawn.
DEFAULT_MAX_AGE_SECONDS = 60.0
#: how often a worker polls (SignalsPoller)
POLL_INTERVAL_SECONDS = 5.0

HELP = {
    "pulse_consumer_lag": "Records of a source topic partition not yet committed by the consumer group: "
    "end offset - committed offset (the whole partition when nothing is committed), read from Kafka.",
    "pulse_consumer_lag_records": "Records of a source topic not yet committed by the consumer group, "
    "summed over its partitions, read from Kafka.",
    "pulse_deadletter_records": "Records written to the dead-letter topic so far (its end offsets summed), "
    "read from Kafka.",
    "pulse_deadletter_rate": "Records written to the dead-letter topic per second over the last "
    "PULSE_DEADLETTER_RATE_WINDOW_SECONDS (5 minutes; less while fewer readings are held), from its end offsets.",
    "pulse_kafka_signals_up": "1 when the last poll succeeded, else 0.",
}

#: (source topic without the prefix, partition)
Partition = tuple[str, int]


class SignalsUnavailable(Exception):
    """The broker answered, but not with what a reading needs (a topic missing, no leader)."""


def ingest_group(settings: PulseSettings) -> str:
    """The consumer group whose offsets the engine commits (stream/engine.py): not the app id,
    where Faust's own idle consumer sits."""
    return f"{settings.app_id}-ingest"


# --- the arithmetic (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Offsets:
    """What one poll read from the broker, source partitions by short topic name."""

    beginning: Mapping[Partition, int]
    end: Mapping[Partition, int]
    #: the group's committed offset; None (or negative) when it committed none
    committed: Mapping[Partition, int | None]
    #: dead-letter partition -> end offset
    deadletter_end: Mapping[int, int]


def partition_lag(end: int, committed: int | None, beginning: int) -> int:
    """Records of a partition the group has not committed: ``end - committed``, the whole
    partition (``end - beginning``) when nothing is committed. A committed offset below the
    beginning (records deleted by retention) counts from the beginning: those records will
    never be read; one beyond the end (a recreated topic) counts 0."""
    start = beginning if committed is None or committed < 0 else max(committed, beginning)
    return max(end - start, 0)


def lags(offsets: Offsets) -> dict[Partition, int]:
    """:func:`partition_lag` of every source partition the reading has an end offset for."""
    return {
        tp: partition_lag(end, offsets.committed.get(tp), offsets.beginning.get(tp, 0))
        for tp, end in sorted(offsets.end.items())
    }


def lag_by_topic(partition_lags: Mapping[Partition, int]) -> dict[str, int]:
    """Partition lags summed by topic."""
    out: dict[str, int] = {}
    for (topic, _), lag in sorted(partition_lags.items()):
        out[topic] = out.get(topic, 0) + lag
    return out


@dataclass(frozen=True)
class DeadletterReading:
    """The dead-letter topic's end offsets at one time (the injected clock's)."""

    at: float
    ends: Mapping[int, int]

    @property
    def total(self) -> int:
        return sum(self.ends.values())


def went_backwards(before: Mapping[int, int], after: Mapping[int, int]) -> bool:
    """True when a partition's end offset decreased or a partition disappeared: the topic was
    recreated, so earlier readings no longer measure the same log. A new partition is not."""
    return any(p not in after or after[p] < end for p, end in before.items())


def trim(readings: Sequence[DeadletterReading], now: float, window: float) -> list[DeadletterReading]:
    """The readings within ``window`` seconds up to ``now``."""
    return [r for r in readings if now - window <= r.at <= now]


def deadletter_rate(readings: Sequence[DeadletterReading]) -> float | None:
    """Records per second between the oldest and the newest reading; None with fewer than two
    readings (or no time between them)."""
    if len(readings) < 2:
        return None
    oldest, newest = readings[0], readings[-1]
    elapsed = newest.at - oldest.at
    if elapsed <= 0:
        return None
    return max(newest.total - oldest.total, 0) / elapsed


@dataclass(frozen=True)
class SignalsReading:
    """The figures of the last successful poll."""

    at: float
    lag: Mapping[Partition, int]
    lag_by_topic: Mapping[str, int]
    deadletter_records: int
    #: None until two readings within the window exist
    deadletter_rate: float | None


# --- the collector --------------------------------------------------------------------------


class KafkaSignals:
    """Reads lag and the dead-letter count from Kafka on :meth:`poll`; a Prometheus collector.

    ``topics`` are the source topics (short names) whose lag is read, by default every one of
    stream/topics.py; ``rate_window`` is ``PULSE_DEADLETTER_RATE_WINDOW_SECONDS``; ``max_age``
    withdraws the figures when no poll succeeded for that long (None: never), and must exceed
    the caller's poll interval; ``clock`` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        settings: PulseSettings,
        clock: Callable[[], float] = time.monotonic,
        *,
        rate_window: float = DEFAULT_RATE_WINDOW_SECONDS,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_age: float | None = DEFAULT_MAX_AGE_SECONDS,
        topics: Iterable[str] | None = None,
    ) -> None:
        if rate_window <= 0 or timeout <= 0 or (max_age is not None and max_age <= 0):
            raise ValueError("rate_window, timeout and max_age must be positive")
        self.settings = settings
        self.clock = clock
        self.rate_window = rate_window
        self.timeout = timeout
        self.max_age = max_age
        self.topics = tuple(SOURCE_TOPICS if topics is None else topics)
        self.group = ingest_group(settings)
        self.deadletter_topic = settings.topic(DEADLETTER)
        self._admin: Any = None
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._deadletters: deque[DeadletterReading] = deque()
        self._last: SignalsReading | None = None
        self._ok: bool | None = None  # the last poll's outcome; None before the first
        self._stopped = False
        self._logged_up: bool | None = None  # the state last logged
        #: dead-letter partition -> records counted, and the offset counted up to
        self._dl_counts: dict[int, int] = {}
        self._dl_positions: dict[int, int] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect. Never raises: a broker that cannot be reached leaves the signals unavailable
        and the next :meth:`poll` connects again."""
        async with self._lock:
            self._stopped = False
            try:
                await asyncio.wait_for(self._connect(), self.timeout)
            except Exception as exc:
                await self._disconnect()
                self._failed(exc)

    async def stop(self) -> None:
        """Close the clients; a :meth:`poll` after this does nothing until :meth:`start`."""
        async with self._lock:
            self._stopped = True
            await self._disconnect()

    async def _connect(self) -> None:
        if self._admin is not None and self._consumer is not None:
            return
        timeout_ms = int(self.timeout * 1000)
        common: dict[str, Any] = {
            "bootstrap_servers": self.settings.kafka_broker,
            "client_id": f"{self.settings.app_id}-kafka-signals",
            "request_timeout_ms": timeout_ms,
        }
        if self._admin is None:
            admin = AIOKafkaAdminClient(**common)
            self._admin = admin
            await admin.start()
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                **common,
            )
            self._consumer = consumer
            await consumer.start()

    async def _disconnect(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for close in (admin.close if admin else None, consumer.stop if consumer else None):
            if close is None:
                continue
            try:
                await asyncio.wait_for(close(), self.timeout)
            except Exception as exc:  # closing what failed: nothing more to do about it
                log.debug("kafka_signals close_failed reason=%r", str(exc) or type(exc).__name__)

    # --- readings -----------------------------------------------------------------------------

    async def poll(self) -> None:
        """One reading from the broker. Never raises: a failure marks the signals unavailable
        (their gauges absent) until a poll succeeds again. Connects first if needed."""
        async with self._lock:
            if self._stopped:
                return
            try:
                offsets = await asyncio.wait_for(self._read(), self.timeout)
            except Exception as exc:
                await self._disconnect()  # the next poll starts afresh
                self._failed(exc)
                return
            self.observe(offsets)

    async def _read(self) -> Offsets:
        await self._connect()
        admin, consumer = self._admin, self._consumer
        names = {self.settings.topic(name): name for name in self.topics}
        wanted = [*names, self.deadletter_topic]
        described = {t["topic"]: t for t in await admin.describe_topics(wanted)}
        partitions: dict[str, list[int]] = {}
        problems = []
        for topic in wanted:
            info = described.get(topic)
            if info is None or info["error_code"] != 0 or not info["partitions"]:
                problems.append(f"{topic} missing")
                continue
            leaderless = [p["partition"] for p in info["partitions"] if p["error_code"] != 0 or p["leader"] < 0]
            if leaderless:
                problems.append(f"{topic} partitions {leaderless} without a leader")
            partitions[topic] = sorted(p["partition"] for p in info["partitions"])
        if problems:
            raise SignalsUnavailable("; ".join(problems))
        sources = [TopicPartition(topic, p) for topic in names for p in partitions[topic]]
        deadletters = [TopicPartition(self.deadletter_topic, p) for p in partitions[self.deadletter_topic]]
        committed = await self._committed(sources)
        beginning = await consumer.beginning_offsets(sources)
        end = await consumer.end_offsets([*sources, *deadletters])
        counted = await self._count_deadletters(consumer, deadletters, end)

        def short(tp: Any) -> Partition:
            return names[tp.topic], tp.partition

        return Offsets(
            beginning={short(tp): beginning[tp] for tp in sources},
            end={short(tp): end[tp] for tp in sources},
            committed={short(tp): committed[tp].offset if tp in committed else None for tp in sources},
            deadletter_end=counted,
        )

    async def _count_deadletters(self, consumer: Any, tps: list[Any], end: Mapping[Any, int]) -> dict[int, int]:
        """Dead letters committed so far, per partition, counted by reading them (only what
        was added since the last poll): end offsets alone would also count the commit markers
        of transactions and the records of aborted ones. Progress survives a reconnect."""
        if set(consumer.assignment()) != set(tps):
            consumer.assign(tps)
            for tp in tps:
                start = self._dl_positions.get(tp.partition)
                if start is None or start > end[tp]:  # new, or the topic was recreated
                    self._dl_counts[tp.partition], self._dl_positions[tp.partition] = 0, 0
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout / 2
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < end[tp]]
            if not behind:
                break
            if loop.time() > deadline:
                raise SignalsUnavailable(f"still counting the dead-letter topic ({len(behind)} partitions behind)")
            batch = await consumer.getmany(*behind, timeout_ms=200, max_records=10_000)
            for tp, records in batch.items():
                self._dl_counts[tp.partition] = self._dl_counts.get(tp.partition, 0) + len(records)
            for tp in behind:
                self._dl_positions[tp.partition] = await consumer.position(tp)
        return {tp.partition: self._dl_counts.get(tp.partition, 0) for tp in tps}

    async def _committed(self, partitions: list[Any]) -> dict[Any, Any]:
        """The group's offsets; a retriable error (the coordinator loading, moving) is tried
        again, within the poll's timeout."""
        attempts = 3
        for attempt in range(attempts):
            try:
                offsets: dict[Any, Any] = await self._admin.list_consumer_group_offsets(
                    self.group, partitions=partitions
                )
                return offsets
            except KafkaError as exc:
                if not getattr(exc, "retriable", False) or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def observe(self, offsets: Offsets) -> None:
        """Take a successful reading (what :meth:`poll` does with what it read)."""
        now = self.clock()
        held = list(self._deadletters)
        if held and went_backwards(held[-1].ends, offsets.deadletter_end):
            log.warning(
                "kafka_signals deadletter_offsets=reset topic=%s reason=%r",
                self.deadletter_topic,
                "end offsets went backwards (topic recreated?)",
            )
            held = []
        if held and now <= held[-1].at:
            held = held[:-1]  # the same instant twice: the newer reading wins
        held.append(DeadletterReading(now, dict(offsets.deadletter_end)))
        held = trim(held, now, self.rate_window)
        self._deadletters = deque(held)
        partition_lags = lags(offsets)
        self._last = SignalsReading(
            at=now,
            lag=partition_lags,
            lag_by_topic=lag_by_topic(partition_lags),
            deadletter_records=held[-1].total,
            deadletter_rate=deadletter_rate(held),
        )
        self._ok = True
        self._log_state(True)

    def _failed(self, exc: BaseException) -> None:
        self._ok = False
        self._log_state(False, exc)

    def _log_state(self, up: bool, reason: object = None) -> None:
        if up == self._logged_up:
            return
        self._logged_up = up
        if up:
            log.info("kafka_signals state=up broker=%s group=%s", self.settings.kafka_broker, self.group)
        else:
            text = (str(reason) or type(reason).__name__)[:300]
            if isinstance(reason, TimeoutError):
                text = f"no answer within {self.timeout:g}s"
            log.warning(
                "kafka_signals state=down broker=%s group=%s reason=%r", self.settings.kafka_broker, self.group, text
            )

    @property
    def reading(self) -> SignalsReading | None:
        """The last successful reading, or None while the signals are unavailable: the last poll
        failed, none succeeded yet, or the last success is older than ``max_age``."""
        last = self._last
        if not self._ok or last is None:
            return None
        if self.max_age is not None and self.clock() - last.at > self.max_age:
            self._log_state(False, f"no successful poll for {self.max_age:g}s")
            return None
        return last

    @property
    def up(self) -> bool:
        return self.reading is not None

    # --- prometheus_client Collector ----------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reading = self.reading
        yield GaugeMetricFamily(
            "pulse_kafka_signals_up", HELP["pulse_kafka_signals_up"], value=int(reading is not None)
        )
        if reading is None:
            return
        lag = GaugeMetricFamily("pulse_consumer_lag", HELP["pulse_consumer_lag"], labels=["topic", "partition"])
        for (topic, partition), value in sorted(reading.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        by_topic = GaugeMetricFamily("pulse_consumer_lag_records", HELP["pulse_consumer_lag_records"], labels=["topic"])
        for topic, value in sorted(reading.lag_by_topic.items()):
            by_topic.add_metric([topic], value)
        yield by_topic
        yield GaugeMetricFamily(
            "pulse_deadletter_records", HELP["pulse_deadletter_records"], value=reading.deadletter_records
        )
        if reading.deadletter_rate is not None:
            yield GaugeMetricFamily(
                "pulse_deadletter_rate", HELP["pulse_deadletter_rate"], value=reading.deadletter_rate
            )


class SignalsPoller(Service):
    """Polls :class:`KafkaSignals` every ``interval`` seconds while the worker runs."""

    def __init__(self, signals: KafkaSignals, interval: float = POLL_INTERVAL_SECONDS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signals, self.interval = signals, interval

    async def on_start(self) -> None:
        await self.signals.start()
        self.add_future(self._poll())

    async def on_stop(self) -> None:
        await self.signals.stop()

    async def _poll(self) -> None:
        while not self.should_stop:
            await self.signals.poll()
            await self.sleep(self.interval)
