"""The batched consumer service inside the Faust app that drives every topic's pipeline.

One aiokafka consumer (group = the app id) reads the source topics in batches. A batch is
applied to the state of its partitions; each partition's changelog records, dead letters,
forwarded events and checkpoint (the next source offset) are then written all-or-nothing by
its writer (stream/writers.py: a Kafka transaction by default), before any record of the next
batch. So a checkpoint is never ahead of its data: when a write fails (a broker gone past the
producer's timeout) nothing of the batch counts; the partition's state is dropped and reloaded
from its changelog once the broker answers, and the batch is read again.
On assignment a partition's state is rebuilt from its changelog and the consumer seeks to the
checkpoint; on revocation the state is dropped. See stream/state.py for why this gives each
record exactly one effect on the state.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service

from stream.deadletter import deadletter_record
from stream.decoding import Rejected
from stream.exporter import IngestMetrics, PendingStamps
from stream.health import Dependency, Health
from stream.logsummary import RejectionSummary, RepeatFilter
from stream.pipeline import BatchOutcome, Forward, HomeOutcome, Pipeline, source_of_forward
from stream.progress import PROGRESS_HEARTBEAT_SECONDS, ProgressBoard, WorkerProgress, partition_key
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore
from stream.state import PartitionState, load_partition_states
from stream.writers import (
    AcknowledgedWriter,
    BatchWriter,
    PartitionWrites,
    ProducerFenced,
    TransactionalWriter,
    producer_options,
)

__all__ = ["IngestEngine", "changelog_topic", "repartition_topic"]

log = logging.getLogger("pulse.engine")

#: How often a worker checks that Redis still holds its marker (else it republishes).
MARKER_CHECK_SECONDS = 5.0
#: The longest a write of the worker's progress entry may hold up a rebalance or the loop.
PROGRESS_WRITE_TIMEOUT_SECONDS = 2.0
#: How often, and how long at most, the broker is asked for metadata to tell whether it is up.
KAFKA_PROBE_SECONDS = 5

#: A source partition whose records run ahead (Kafka record time, or event time) of the slowest
#: owned source partition of its topic with records left by more than this share of the grace
#: period waits for it: events forwarded from a partition far ahead would move their home's
#: event-time clock past the home's own unread backlog and make it late (a catch-up of
#: partitions of uneven volume, a backfill published at once), and events of one far behind
#: would be late at a home that ran ahead.
HOLD_SHARE_OF_GRACE = 0.25
#: ... unless that slowest one has not moved on for this long (stuck, or an upstream producer's
#: open transaction): it must not stop the others.
HOLD_MAX_SECONDS = 10.0
#: ``until`` of a call that only learns the event time of a partition's next record
_PEEK = -(2**63)
#: How far (source offsets) a home's mark of a source may lag the source's reading before the
#: home writes a checkpoint only to move it: recovery reads a source again from its homes' marks.
HELD_LAG_RECORDS = 50_000
#: How long sources wait for this worker's own forwarded events to be read back before reading on.
FORWARD_WAIT_SECONDS = 30

#: How long a writer of a dropped partition may take to stop (its broker may be away).
WRITER_STOP_SECONDS = 10.0

#: Longest wait between attempts to reload a partition whose batch could not be written.
RELOAD_BACKOFF_MAX_SECONDS = 30.0

#: ConsumerRecord.timestamp_type of a timestamp the producer set (1: the broker's LogAppendTime).
CREATE_TIME = 0


def changelog_topic(settings: PulseSettings, source: str) -> str:
    """Changelog of the state derived from ``source``; one per app id, same partition count."""
    return f"{settings.topic_prefix}{settings.app_id}.state.{source}"


def repartition_topic(settings: PulseSettings, source: str) -> str:
    """Where events of ``source`` that arrived on another partition than their entity key's are
    forwarded, keyed by that key; one per app id, same partition count, co-partitioned: its
    partition p is read by the owner of source partition p, into the same state."""
    return f"{settings.topic_prefix}{settings.app_id}.repartition.{source}"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no type information
    def __init__(self, engine: IngestEngine) -> None:
        self.engine = engine

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.engine.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.engine.on_assigned(assigned)


class IngestEngine(Service):
    """Consumes every source topic; one :class:`Pipeline` per topic does the work."""

    def __init__(
        self,
        settings: PulseSettings,
        pipelines: dict[str, Pipeline],
        metrics: IngestMetrics,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.pipelines = pipelines  # by unprefixed topic name
        self.metrics = metrics
        self.by_topic = {settings.topic(name): name for name in pipelines}
        #: repartition topic -> source name; their records go into the source partition's state
        self.forwarded_from = {repartition_topic(settings, name): name for name in pipelines}
        self.by_topic.update(self.forwarded_from)
        self.states: dict[TopicPartition, PartitionState] = {}
        self.assigned_once = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        # grows to 20,000 after the first batch unless records carry arrays: a first batch of
        # arrays must not span more event time than the grace period (forwarded events, late)
        self.max_records = 200
        # target; records may carry arrays of events. Single events stop at 20,000 records;
        # SDK arrays take up to 1,000 records of 100 (what a fetch buffered, in practice): one
        # transaction and checkpoint per partition for five times as many events as at 20,000
        # (mixed arrays 0.36 -> 0.43 of the ceiling, docs/benchmarks.md)
        self.events_per_batch = 100_000
        self.snapshots = SnapshotStore(settings.redis_url, settings.app_id)
        self.unpublished: set[TopicPartition] = set()
        self.published_at: dict[TopicPartition, float] = {}
        self.health = Health(metrics.registry)
        self.rejections = RejectionSummary(log)
        self.repeats = RepeatFilter(prefix="aiokafka")
        #: this process's marker in Redis (see SnapshotStore.marker_intact)
        self.worker_id = uuid.uuid4().hex[:12]
        self.resync_pending = True
        self.marker_checked_at = float("-inf")
        self.published_once = False
        #: set whenever a partition's snapshot was published (a batch changed figures): a
        #: service waiting on it (alerting) clears it
        self.published = asyncio.Event()
        #: set the first time every assigned source partition was read to its end (a fetch
        #: found nothing more): the backlog at start is in the figures; alerting waits for it
        self.caught_up = asyncio.Event()
        #: the source partitions of the last assignment (a revocation leaves it)
        self.last_assignment: set[TopicPartition] = set()
        #: this worker's entry in the deployment's progress (see stream/progress.py)
        self.progress = ProgressBoard(self.snapshots.client, self.snapshots.prefix)
        #: what the entry last written said (generation, partitions, caught up), and when
        self.progress_shared: tuple[int, tuple[str, ...], bool] | None = None
        self.progress_shared_at = float("-inf")
        # each owned partition's snapshot at most 4 times a second: the event-to-visible latency
        # (bench/latency.py) is mostly this throttle, and more often cost no measurable CPU
        self.publish_interval = 0.25
        # ... and once a second while the worker is behind (catching up, or a fetch brought a
        # full batch): figures then lag by the backlog anyway, and publishing the changed
        # account-days of mixed SDK arrays cost an eighth of the catch-up's time at 0.25 s
        self.publish_interval_behind = 1.0
        #: whether the worker is behind: not caught up, or the last fetch filled a batch
        self.behind = True
        self.in_flight: InFlight | None = None
        #: owned repartition partition -> (offset past what we forwarded there, when)
        self.forward_ends: dict[TopicPartition, tuple[int, float]] = {}
        #: owned repartition partition -> offset past every forward this worker wrote there (kept
        #: until read: partitions take each other's events in process only after it)
        self.forwarded_end: dict[TopicPartition, int] = {}
        #: source partition -> what writes its batches (see stream/writers.py)
        self.writers: dict[TopicPartition, BatchWriter] = {}
        #: owned source partitions whose batch failed to be written: paused until reloaded
        self.reload_pending: set[TopicPartition] = set()
        self.reload_at = float("-inf")
        self.reload_backoff = 1.0
        #: source partition -> Kafka timestamps of its committed records not yet published
        self.pending_visible: dict[TopicPartition, PendingStamps] = {}
        #: source partitions of the consumer's current assignment
        self.assigned_sources: set[TopicPartition] = set()
        self.recoveries = 0  # recovery rounds under way (pulse_recovery_in_progress)
        #: owned source partition -> the latest Kafka timestamp (ms) of its records applied
        self.record_clock: dict[TopicPartition, int] = {}
        #: owned source partition -> where it is in event time (epoch µs): the latest event of
        #: its next record when a batch left that record for later, else of its records applied
        self.event_clock: dict[TopicPartition, int] = {}
        #: owned source partitions a batch's event-time cutoff waits for besides its own (see _ahead)
        self.pacers: set[TopicPartition] = set()
        #: owned source partition -> when it last had records applied (monotonic)
        self.applied_at: dict[TopicPartition, float] = {}
        #: owned source partition -> its fetched records a batch left for a later one (ahead in
        #: event time), before any fetched after them; dropped with the state (recovery seeks)
        self.carry: dict[TopicPartition, list[Any]] = {}
        #: topic -> how its partitions' spread in event time went since it opened (see _pace)
        self.pace: dict[str, _Pace] = {}
        #: owned source partition -> when it was assigned or last had records applied (monotonic)
        self.moved_at: dict[TopicPartition, float] = {}
        #: source partitions the last fetch left out, being ahead in record time
        self.held: set[TopicPartition] = set()
        #: owned partitions that take events of the other owned ones in process: all of them
        #: once they read their repartition partitions up to the barrier (none until then)
        self.local_ready: set[TopicPartition] = set()
        #: owned repartition partition -> its end when first fetched after the assignment
        self.barriers: dict[TopicPartition, int] = {}
        self.barrier_since = float("-inf")
        self.barrier_given_up = False
        #: owned partition -> its last committed checkpoint's held_from
        self.committed_held: dict[TopicPartition, dict[int, int]] = {}
        #: owned source partition -> the offset reading it started from after its recovery
        self.read_start: dict[TopicPartition, int] = {}

    # --- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        # aiokafka logs every send at DEBUG; building those records was a quarter of the CPU.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
        # ... and logs every failed retry while a broker is down (thousands of lines a minute)
        for handler in logging.getLogger().handlers:
            handler.addFilter(self.repeats)
        if not self.settings.transactions:
            self.producer = AIOKafkaProducer(**producer_options(self.settings.kafka_broker))
            await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_broker,
            # Not the app id: Faust's own (idle) consumer already sits in that group.
            group_id=f"{self.settings.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, self.settings.session_timeout_seconds / 3) * 1000),
            max_poll_interval_ms=300_000,
            # A source topic that appears late is noticed (and rebalanced in) within 30 s.
            metadata_max_age_ms=30_000,
            # Larger fetches gave no more throughput: asyncio's stream reader copies a response
            # around (memmove) in proportion to its size (docs/benchmarks.md).
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            # Range gives partition p of every topic (a source and its repartition topic, with
            # the same partition count) to the same worker: one state per entity, never split.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        await self.consumer.start()
        self.consumer.subscribe(topics=sorted(self.by_topic), listener=_Rebalance(self))

    async def on_stop(self) -> None:
        self.rejections.flush(force=True)
        try:
            await self.drain_in_flight()
        except Exception as exc:  # stopping anyway: the checkpoint decides what is re-read
            log.warning("changelog writes not acknowledged at stop: %s", exc)
        try:
            await self.progress.drop(self.worker_id)
        except Exception:  # noqa: BLE001 - its entry goes stale in PROGRESS_STALE_SECONDS anyway
            pass
        await self.snapshots.close()
        if self.consumer is not None:
            await self.consumer.stop()
        writers, self.writers = list(self.writers.values()), {}
        await asyncio.gather(*(_stop_quietly(writer) for writer in writers))
        if self.producer is not None:
            await self.producer.stop()

    def source_of(self, tp: TopicPartition) -> TopicPartition:
        """The source partition whose state a (source or repartition) partition feeds."""
        return TopicPartition(self.settings.topic(self.by_topic[tp.topic]), tp.partition)

    @property
    def ready(self) -> bool:
        return self.assigned_once.is_set() and self.consumer is not None

    # --- rebalancing -----------------------------------------------------------------------

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        # Rebalances run inside getmany(); the batch before it may still be in flight: let its
        # writes land before another worker reads these changelogs.
        await self.drain_in_flight()
        await asyncio.gather(*(self._release(tp) for tp in revoked if tp.topic not in self.forwarded_from))
        self.reload_pending.difference_update(revoked)
        self.assigned_sources.difference_update(revoked)
        self.metrics.assigned_partitions.set(len(self.assigned_sources))
        await self.share_progress()
        if revoked:
            log.info("partitions revoked: %s", _fmt(revoked))

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self.consumer is not None
        sources = [tp for tp in assigned if tp.topic not in self.forwarded_from]
        self.metrics.rebalances.inc()
        self.assigned_sources = set(sources)  # the whole assignment (aiokafka's protocol is eager)
        self._catch_up_on(set(sources))
        await self.share_progress()  # before recovery: until it has caught up, it says so
        self.metrics.assigned_partitions.set(len(sources))
        log.info("recovering state of %d assigned partitions", len(sources))
        self.reload_pending.difference_update(sources)
        now = time.monotonic()
        self.moved_at.update((tp, now) for tp in sources)
        await self._recover(sources)
        for tp in assigned:
            if tp.topic in self.forwarded_from:
                owner = self.states.get(self.source_of(tp))
                if owner is None:  # not co-partitioned: its next owner reads it
                    log.error(
                        "repartition partition %s:%d assigned without its source partition", tp.topic, tp.partition
                    )
                    continue
                self.consumer.seek(tp, owner.repartition_offset)
        log.info(
            "partitions assigned and recovered: %s",
            _fmt(assigned) or "none (more workers than partitions?)",
        )
        self.assigned_once.set()

    def _catch_up_on(self, sources: set[TopicPartition]) -> None:
        """Partitions this worker did not own before come with what their last owner left
        unread: the worker is catching up again (alerting waits for it, see ``caught_up``)."""
        gained = sources - self.last_assignment
        self.last_assignment = set(sources)
        if gained and self.caught_up.is_set():
            self.caught_up.clear()
            log.info("catching up on %d partitions gained in a rebalance", len(gained))

    async def _recover(self, sources: list[TopicPartition]) -> None:
        """Rebuild owned source partitions' state from their changelogs; seek to the checkpoint.
        A round of at least one partition is timed (pulse_recovery_seconds) when it succeeds."""
        if not sources:
            return
        started = time.perf_counter()
        self.recoveries += 1
        self.metrics.recovering.set(1)
        try:
            await self._load(sources)
        finally:
            self.recoveries -= 1
            if not self.recoveries:
                self.metrics.recovering.set(0)
        self.metrics.recovery_seconds.observe(time.perf_counter() - started)

    async def _load(self, sources: list[TopicPartition]) -> None:
        assert self.consumer is not None
        changelogs = {
            tp: TopicPartition(changelog_topic(self.settings, self.by_topic[tp.topic]), tp.partition) for tp in sources
        }
        # Writers first: a transactional one fences (and aborts the open transaction of) the
        # partition's previous producer, so recovery below reads everything it committed.
        await self._start_writers([tp for tp in sources if tp not in self.writers])
        loaded = await load_partition_states(
            self.settings.kafka_broker,
            {changelogs[tp]: self.pipelines[self.by_topic[tp.topic]].codecs for tp in sources},
        )
        for tp in sorted(sources):
            state = loaded[changelogs[tp]]
            self.states[tp] = state
            pipeline = self.pipelines[self.by_topic[tp.topic]]
            pipeline.loaded(state)
            self.unpublished.add(tp)
            # No checkpoint: start at 0 (auto_offset_reset=earliest covers deleted segments).
            # seek_to_beginning() would wait for a fetch that cannot run inside a rebalance.
            self.consumer.seek(tp, state.read_from)
            self.read_start[tp] = state.read_from
            self.committed_held[tp] = dict(state.held_from)
        self._barrier_again()

    def _barrier_again(self) -> None:
        """Owned partitions take each other's events in process only once each has read what
        was forwarded to it before (its repartition partition up to its end at the first fetch):
        an event taken in process moves its home's ``held_from`` past any older forward of the
        same source, which the home would then skip."""
        self.local_ready = set()
        self.barriers = {}
        self.barrier_since = asyncio.get_running_loop().time()
        self.barrier_given_up = not self.settings.local_forwards

    async def _local_barrier(self) -> list[TopicPartition]:
        """The owned repartition partitions to read before any source, while the barrier holds."""
        consumer = self.consumer
        assert consumer is not None
        if self.local_ready or self.barrier_given_up or not self.states:
            return []
        assigned = consumer.assignment()
        owned = [tp for tp in assigned if tp.topic in self.forwarded_from and self.source_of(tp) in self.states]
        pending = []
        for tp in owned:
            end = self.barriers.get(tp)
            if end is None:
                end = consumer.highwater(tp)
                if end is None:  # not fetched yet
                    pending.append(tp)
                    continue
                self.barriers[tp] = end
            if await consumer.position(tp) < max(end, self.forwarded_end.get(tp, 0)):
                pending.append(tp)
        if not pending and self.in_flight is not None and self.in_flight.forwards_home:
            pending = owned  # its forwards to owned partitions are read first
        if not pending:
            self.local_ready = set(self.states)
            log.info("the %d owned partitions take each other's events in process", len(self.states))
            return []
        if asyncio.get_running_loop().time() - self.barrier_since > FORWARD_WAIT_SECONDS:
            self.barrier_given_up = True
            log.warning(
                "repartition partitions %s not read to their end after %ds: events between owned partitions "
                "go through the repartition topic until the next rebalance",
                _fmt(pending), FORWARD_WAIT_SECONDS,
            )  # fmt: skip
            return []
        return pending

    def _fed_by(self, source: TopicPartition) -> list[TopicPartition]:
        """The assigned partitions read into a source partition's state: itself, its repartition one."""
        assert self.consumer is not None
        name = self.by_topic[source.topic]
        fed = [source, TopicPartition(repartition_topic(self.settings, name), source.partition)]
        assigned = self.consumer.assignment()
        return [tp for tp in fed if tp in assigned]

    async def _write_failed(self, tp: TopicPartition, exc: BaseException) -> None:
        """Nothing of the partition's batch counts (no checkpoint was committed): forget its
        state and read it again from the checkpoint, as its next owner would, once the broker
        answers. Its records fetched meanwhile are skipped (paused, then sought back)."""
        assert self.consumer is not None
        log.warning(
            "partition %s:%d: batch not written (%s: %s); its state will be reloaded from the changelog "
            "and the batch read again",
            tp.topic, tp.partition, type(exc).__name__, exc,
        )  # fmt: skip
        self.metrics.reloads.labels(topic=self.by_topic[tp.topic]).inc()
        await self._reload_later(tp)
        await self._untangle(tp)

    async def _reload_later(self, tp: TopicPartition) -> None:
        assert self.consumer is not None
        await self._release(tp)
        self.consumer.pause(*self._fed_by(tp))
        self.reload_pending.add(tp)
        self.reload_at = min(self.reload_at, asyncio.get_running_loop().time())

    async def _untangle(self, lost: TopicPartition) -> None:
        """A partition's state was dropped, and owned partitions may have given it events in
        process (in a batch still in flight, too): what it took since its last commit is gone,
        so every other owned partition is reloaded as well and read again from where its homes'
        commits leave off."""
        if not self.settings.local_forwards:
            return
        self.local_ready = set()
        others = [tp for tp in self.states if tp != lost]
        if others:
            log.warning("partition %s:%d lost what it took in process: reloading %s", lost.topic, lost.partition,
                        _fmt(others))  # fmt: skip
        for tp in others:
            await self._reload_later(tp)

    async def _reload_pending(self) -> None:
        """Reload partitions whose batch failed; on failure try again later (backing off)."""
        assert self.consumer is not None
        now = asyncio.get_running_loop().time()
        if not self.reload_pending or now < self.reload_at:
            return
        assigned = self.consumer.assignment()
        self.reload_pending.intersection_update(assigned)
        sources = sorted(self.reload_pending)
        try:
            await self._recover(sources)
        except Exception as exc:  # the broker still away: nothing changed, try again later
            await asyncio.gather(*(self._release(tp) for tp in sources))
            self.reload_at = now + self.reload_backoff
            log.warning(
                "reloading %d partitions failed (%s: %s); next attempt in %.0fs",
                len(sources), type(exc).__name__, exc, self.reload_backoff,
            )  # fmt: skip
            self.reload_backoff = min(RELOAD_BACKOFF_MAX_SECONDS, self.reload_backoff * 2)
            return
        for tp in sources:
            fed = self._fed_by(tp)
            for rp in fed[1:]:
                self.consumer.seek(rp, self.states[tp].repartition_offset)
            self.consumer.resume(*fed)
        self.reload_pending.clear()
        self.reload_backoff = 1.0
        log.info("partitions reloaded: %s", _fmt(sources))

    async def _start_writers(self, sources: list[TopicPartition]) -> None:
        new = {tp: self._new_writer(tp) for tp in sources}
        await asyncio.gather(*(writer.start() for writer in new.values()))
        self.writers.update(new)

    def _new_writer(self, tp: TopicPartition) -> BatchWriter:
        if not self.settings.transactions:
            assert self.producer is not None
            return AcknowledgedWriter(self.producer)
        return TransactionalWriter.create(
            self.settings.kafka_broker, f"{self.settings.app_id}-ingest.{tp.topic}.{tp.partition}"
        )

    # --- the loop --------------------------------------------------------------------------

    @Service.task
    async def _consume(self) -> None:
        """Batch N+1 is applied while batch N's writes are in flight; N is sealed (committed,
        with its checkpoints) before N+1 is sent; N's group offsets are committed, and
        snapshots shared, once it is sealed and settled."""
        assert self.consumer is not None
        while not self.should_stop:
            await self._reload_pending()
            backlog = await self._local_barrier() or await self._forward_backlog()
            # Events this worker forwarded to partitions it owns are read before more source
            # records: event time on those partitions cannot run ahead of them (a fast catch-up
            # would otherwise make them late). Sources far ahead in record time wait likewise.
            held = set() if backlog else await self._ahead()
            self._hold(held)
            # a partition with records in hand (carried) is fetched again once they are applied
            skip = held | set(self.carry)
            fetch = backlog or ([tp for tp in self.consumer.assignment() if tp not in skip] if skip else [])
            carried = [] if backlog else [tp for tp in self.carry if tp not in held]
            batch = {}
            if fetch or not skip:
                wait_ms = 0 if carried else 200  # records in hand: no waiting for more
                batch = await self.consumer.getmany(*fetch, timeout_ms=wait_ms, max_records=self.max_records)
                full = sum(len(records) for records in batch.values()) >= self.max_records
                self.behind = full or not self.caught_up.is_set()
            elif not carried:
                await asyncio.sleep(0.2)  # every partition waits: as long as a fetch would
            for tp in carried:
                records = self.carry.pop(tp, None)
                if records is not None:  # else revoked by a rebalance inside getmany: its next owner reads it
                    batch[tp] = records
            staged = self.apply_batch(batch) if batch else None
            previous, self.in_flight = self.in_flight, None
            if previous is not None:
                await self._seal(previous)
            if staged is not None:
                self.in_flight = await self._send(staged)
            if previous is not None:
                await self._settle(previous)
            if not batch:
                await self.drain_in_flight()
            await self.publish_snapshots(force=not batch)
            if not batch and not held and not backlog and not self.caught_up.is_set() and await self._read_to_end():
                self.caught_up.set()
                log.info("caught up: every assigned partition read to its end")
            await self.share_progress()
            self.rejections.flush()

    async def _read_to_end(self) -> bool:
        """Every assigned source partition recovered and read to the end offset a fetch
        reported, with its repartition partition, and no fetched record left for later. An
        empty getmany alone says nothing: it comes before the first fetches answered, during a
        recovery, or with every partition held back."""
        consumer = self.consumer
        if consumer is None or not self.assigned_sources or self.carry or self.reload_pending or self.recoveries:
            return False
        for tp in consumer.assignment():
            source = self.source_of(tp)
            if source not in self.assigned_sources:
                continue  # a repartition partition without its source: read by its next owner
            if source not in self.states:
                return False
            end = _end_offset(consumer, tp)
            if end is None or await consumer.position(tp) < end:
                return False
        return True

    def _generation(self) -> int:
        """The consumer group generation of the current assignment (-1 before the first)."""
        coordinator = getattr(self.consumer, "_coordinator", None)
        generation = getattr(coordinator, "generation", -1)
        return generation if isinstance(generation, int) else -1

    def source_partitions(self) -> list[str]:
        """Every partition of the source topics the consumer's metadata knows ("topic:partition")."""
        consumer = self.consumer
        if consumer is None:
            return []
        return [
            partition_key(topic, p)
            for topic in sorted(self.by_topic)
            if topic not in self.forwarded_from
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    async def share_progress(self) -> None:
        """Write this worker's entry in the deployment's progress when it changed, and every
        PROGRESS_HEARTBEAT_SECONDS (a worker that stops writing is taken for gone). Redis
        down is reported by the snapshot publishing; the entry is written again later."""
        now = time.monotonic()
        partitions = tuple(partition_key(tp.topic, tp.partition) for tp in sorted(self.assigned_sources))
        says = (self._generation(), partitions, self.caught_up.is_set())
        if says == self.progress_shared and now - self.progress_shared_at < PROGRESS_HEARTBEAT_SECONDS:
            return
        generation, _, caught_up = says
        entry = WorkerProgress(worker=self.worker_id, generation=generation, partitions=partitions,
                               caught_up=caught_up, written_at=time.time())  # fmt: skip
        try:  # bounded: it runs inside rebalances too
            await asyncio.wait_for(self.progress.put(entry), PROGRESS_WRITE_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - a Redis outage must not stop the stream
            return
        self.progress_shared, self.progress_shared_at = says, now

    async def drain_in_flight(self) -> None:
        previous, self.in_flight = self.in_flight, None
        if previous is not None:
            await self._seal(previous)
            await self._settle(previous)

    def _current(self, tp: TopicPartition, writer: BatchWriter) -> bool:
        """The partition's writer is still this one: not released (a rebalance) since the
        batch it wrote was sent. What a released writer reports is its last owner's business."""
        return self.writers.get(tp) is writer

    async def _seal(self, written: InFlight) -> None:
        """Every partition's batch durable, with its checkpoint; a partition whose writes
        failed is reloaded, one whose writer was fenced is dropped."""
        results = await asyncio.gather(*(writer.seal() for writer in written.writers.values()), return_exceptions=True)
        now = asyncio.get_running_loop().time()
        for (tp, writer), result in zip(written.writers.items(), results, strict=True):
            if isinstance(result, Exception) and not self._current(tp, writer):
                # released while its batch was sealed (a rebalance): the batch does not count,
                # and whoever owns the partition now reads it again from its checkpoint
                log.debug("partition %s:%d released before its batch was sealed: %s", tp.topic, tp.partition, result)
            elif isinstance(result, ProducerFenced):
                await self._fenced(tp)
            elif isinstance(result, Exception):
                await self._write_failed(tp, result)
            elif isinstance(result, BaseException):  # cancelled: the worker is stopping
                raise result
            else:
                written.sealed.add(tp)
                for forwarded_to, end in writer.take_forwarded().items():
                    if self.source_of(forwarded_to) in self.states:  # read by this worker
                        known = self.forward_ends.get(forwarded_to)
                        self.forward_ends[forwarded_to] = (max(end, known[0] if known else 0), now)
                        self.forwarded_end[forwarded_to] = max(end, self.forwarded_end.get(forwarded_to, 0))

    async def _settle(self, written: InFlight) -> None:
        assert self.consumer is not None
        writers = list(written.writers.items())
        results = await asyncio.gather(*(writer.settle() for _, writer in writers), return_exceptions=True)
        now_ms = time.time_ns() // 1_000_000
        for (tp, writer), result in zip(writers, results, strict=True):
            if isinstance(result, Exception) and self._current(tp, writer):
                await self._write_failed(tp, result)  # its checkpoint failed: recovery ignores the batch
            elif isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            elif result is None and tp in written.sealed and self._current(tp, writer):
                self._committed(tp, written, now_ms)
        # Group offsets only show lag to operators; the checkpoint in the changelog is the truth.
        offsets = {tp: o for tp, o in written.offsets.items() if self.source_of(tp) in self.states}
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except CommitFailedError as exc:
                # We were dropped from the group (e.g. a long pause): the partitions may have
                # a new owner already; the rejoin reloads what we own.
                log.warning("group offset commit failed (%s); state will be reloaded", exc)
            except KafkaError as exc:  # the broker away: the next commit covers these offsets
                log.debug("group offset commit failed: %s", exc)

    def _committed(self, tp: TopicPartition, written: InFlight, now_ms: int) -> None:
        """A partition's batch is durable with its checkpoint: count its changelog records; its
        records are visible now if the partition's snapshot was published since the batch was
        applied, else at its next publish."""
        name = self.by_topic[tp.topic]
        self.metrics.changelog_records.labels(topic=name).inc(written.changelog_records.get(tp, 0))
        if tp in written.held:
            self.committed_held[tp] = written.held[tp]
        stamps = written.stamps.get(tp)
        if not stamps:
            return
        if tp in written.published:
            self.metrics.visible_latency.observe(name, stamps, now_ms)
        else:
            pending = self.pending_visible.get(tp)
            if pending is None:
                pending = self.pending_visible[tp] = PendingStamps()
            pending.add(stamps)

    async def _ahead(self) -> set[TopicPartition]:
        """Owned source partitions more than HOLD_SHARE_OF_GRACE of the grace period ahead of
        the slowest of their topic: in record time, of those with records left (Kafka Streams
        picks the partition with the oldest record for the same reason); in event time, of
        those with records left or read in the last HOLD_MAX_SECONDS (one read to its end may
        be waiting for its producer's next batch: Kafka Streams' task idling), while the topic
        paces (:meth:`_pace`)."""
        consumer = self.consumer
        assert consumer is not None
        now = time.monotonic()
        unfinished: set[TopicPartition] = set()
        recent: set[TopicPartition] = set()
        for tp in self.assigned_sources:
            if tp not in self.states or tp in self.reload_pending:
                continue
            if now - self.applied_at.get(tp, float("-inf")) <= HOLD_MAX_SECONDS and tp in self.event_clock:
                recent.add(tp)
            end = consumer.highwater(tp)
            if tp not in self.carry and end is not None and await consumer.position(tp) >= end:
                self.moved_at[tp] = now  # read to its end (as far as the last fetch knows): not stuck
            elif now - self.moved_at.get(tp, now) <= HOLD_MAX_SECONDS:  # else stuck: it holds nobody
                unfinished.add(tp)  # records left, or not fetched yet
        skew = int(self.settings.grace_period_seconds * HOLD_SHARE_OF_GRACE * 1000)
        records = _limits(unfinished, self.record_clock, skew)
        ahead = {tp for tp, clock in self.record_clock.items() if clock > records.get(tp.topic, clock)}
        # one ahead in record time waits for that alone (were it waited for in event time too,
        # two could wait for each other)
        self.pacers = pacers = self._pace((unfinished | recent) - ahead, skew * 1000)
        events = _limits(pacers, self.event_clock, skew * 1000)
        # where a partition with records left has never been read in event time, it may be
        # anywhere: the others wait until it is (a first fetch answers for some partitions first)
        unread = {tp.topic for tp in pacers if tp not in self.event_clock}
        ahead.update(
            tp
            for tp in pacers
            if tp in self.event_clock
            and (tp.topic in unread or self.event_clock[tp] > events.get(tp.topic, self.event_clock[tp]))
        )
        return ahead & self.assigned_sources

    def _pace(self, partitions: set[TopicPartition], skew: int) -> set[TopicPartition]:
        """Those of ``partitions`` whose topic paces its partitions in event time. A topic stops
        pacing when its spread (latest clock - earliest) has not closed by HOLD_MAX_SECONDS of
        event time in HOLD_MAX_SECONDS: its slowest partition is not catching up but stays
        behind (a producer that sends late), and waiting for it would stop the others for good;
        it paces again once its partitions are within ``skew`` (µs) of each other."""
        now = time.monotonic()
        clocks: dict[str, list[int]] = {}
        for tp in partitions:
            if tp in self.event_clock:
                clocks.setdefault(tp.topic, []).append(self.event_clock[tp])
        for topic in [t for t in self.pace if t not in clocks]:
            del self.pace[topic]  # every partition idle: whatever stayed behind is gone
        for topic, known in clocks.items():
            spread, pace = max(known) - min(known), self.pace.get(topic)
            if spread <= skew:
                if pace is not None and pace.suspended:
                    log.info("%s: partitions within %.0fs of each other in event time again: they wait for the "
                             "slowest again", topic, skew / 1e6)  # fmt: skip
                self.pace.pop(topic, None)
            elif pace is None:
                self.pace[topic] = _Pace(now, spread)
            elif not pace.suspended and now - pace.since > HOLD_MAX_SECONDS:
                if pace.spread - spread > HOLD_MAX_SECONDS * 1_000_000:
                    self.pace[topic] = _Pace(now, spread)  # the slowest catches up: wait on
                else:
                    pace.suspended = True
                    log.warning(
                        "%s: a partition stays %.0fs behind the others in event time (late events?): they no "
                        "longer wait for it", topic, spread / 1e6,
                    )  # fmt: skip
        return {tp for tp in partitions if not ((pace := self.pace.get(tp.topic)) and pace.suspended)}

    def _hold(self, held: set[TopicPartition]) -> None:
        if held and not self.held:
            log.info(
                "reading %s later: ahead in record or event time of a partition with records left by more than %.0fs",
                _fmt(sorted(held)), self.settings.grace_period_seconds * HOLD_SHARE_OF_GRACE,
            )  # fmt: skip
        elif self.held and not held:
            log.info("reading every partition again: none is ahead in record or event time")
        now = time.monotonic()
        self.moved_at.update((tp, now) for tp in held)  # waiting, not stuck
        self.held = held

    async def _forward_backlog(self) -> list[TopicPartition]:
        """Owned repartition partitions not yet read up to what this worker forwarded there."""
        assert self.consumer is not None
        backlog = []
        now = asyncio.get_running_loop().time()
        for tp, (end, since) in list(self.forward_ends.items()):
            if self.source_of(tp) not in self.states or await self.consumer.position(tp) >= end:
                del self.forward_ends[tp]
            elif now - since > FORWARD_WAIT_SECONDS:
                log.warning("forwarded events on %s:%d unread after %ds; reading sources again", tp.topic,
                            tp.partition, FORWARD_WAIT_SECONDS)  # fmt: skip
                del self.forward_ends[tp]
            else:
                backlog.append(tp)
        return backlog

    async def _fenced(self, tp: TopicPartition) -> None:
        """Another worker started this partition's producer: it owns the partition now (we were
        paused past the session timeout). Nothing of ours was committed; forget the state."""
        log.warning(
            "partition %s:%d fenced: another worker owns it now; its state is dropped until reassigned",
            tp.topic,
            tp.partition,
        )
        await self._release(tp)
        await self._untangle(tp)

    async def _release(self, tp: TopicPartition) -> None:
        """Forget a source partition: its state, what is derived from it, its writer."""
        if self.states.pop(tp, None) is not None:
            self.pipelines[self.by_topic[tp.topic]].dropped(tp.partition)
        self.record_clock.pop(tp, None)
        self.event_clock.pop(tp, None)
        self.pacers.discard(tp)
        self.applied_at.pop(tp, None)
        self.carry.pop(tp, None)
        self.moved_at.pop(tp, None)
        self.committed_held.pop(tp, None)
        self.read_start.pop(tp, None)
        if tp.topic not in self.forwarded_from:
            self.forwarded_end.pop(
                TopicPartition(repartition_topic(self.settings, self.by_topic[tp.topic]), tp.partition), None
            )
        self.local_ready.discard(tp)
        self.unpublished.discard(tp)
        # committed, not yet published by us: visible once its next owner (or reload) publishes
        self.pending_visible.pop(tp, None)
        writer = self.writers.pop(tp, None)
        if writer is not None:
            await _stop_quietly(writer)

    async def publish_snapshots(self, force: bool) -> None:
        """Share the committed state of every owned partition via its processor (throttled).

        A failed publish is retried whole next time. After Redis failed, or lost this worker's
        marker (a restart without its data, a flush), everything owned is republished under a
        new epoch: Redis may have dropped writes it had acknowledged."""
        now = asyncio.get_running_loop().time()
        interval = self.publish_interval_behind if self.behind else self.publish_interval
        talked = False  # only an answer from Redis says it is up
        try:
            if self.resync_pending or now - self.marker_checked_at >= MARKER_CHECK_SECONDS:
                intact = await self.snapshots.marker_intact(self.worker_id)
                talked = True
                self.marker_checked_at = now
                if not intact and self.published_once:
                    log.warning("redis lost this worker's snapshots (restarted or flushed): republishing")
                if self.resync_pending or not intact:
                    self._resync_all()
                    force = True
            for tp in sorted(self.unpublished):
                state = self.states.get(tp)
                if state is None:
                    self.unpublished.discard(tp)
                    continue
                if not force and now - self.published_at.get(tp, 0.0) < interval:
                    continue
                name = self.by_topic[tp.topic]
                started = time.perf_counter()
                await self.pipelines[name].processor.publish(state, self.snapshots)
                self.metrics.redis_roundtrip.observe(time.perf_counter() - started)
                talked = True
                self.unpublished.discard(tp)
                self.published_at[tp] = now
                self.published_once = True
                self.published.set()
                self._visible(tp, name)
        except Exception as exc:  # Redis down must not stop the stream: retry, then resync
            self.health.down(Dependency.REDIS, exc)
            self.resync_pending = True
            return
        if talked:
            self.health.up(Dependency.REDIS)

    def _visible(self, tp: TopicPartition, name: str) -> None:
        """The partition's snapshot was just published: its committed records are visible now,
        and its batch in flight (if any) will be as soon as it is committed."""
        pending = self.pending_visible.pop(tp, None)
        if pending is not None:
            self.metrics.visible_latency.observe(name, pending.stamps, time.time_ns() // 1_000_000, pending.records)
        if self.in_flight is not None and tp in self.in_flight.writers:
            self.in_flight.published.add(tp)

    def _resync_all(self) -> None:
        self.snapshots.new_epoch()
        for tp, state in self.states.items():
            self.pipelines[self.by_topic[tp.topic]].processor.resync(state)
            self.unpublished.add(tp)
        self.resync_pending = False

    @Service.task
    async def _probe_kafka(self) -> None:
        """Whether the broker answers (a metadata request), for /health and the log."""
        while not self.should_stop:
            if self.consumer is not None:
                try:
                    await asyncio.wait_for(self.consumer.topics(), KAFKA_PROBE_SECONDS)
                    self.health.up(Dependency.KAFKA)
                except Exception as exc:
                    if self.should_stop:
                        break  # the consumer closed under the probe: the worker's stop, not the broker
                    self.health.down(Dependency.KAFKA, exc)
            await self.sleep(KAFKA_PROBE_SECONDS)

    async def process_batch(self, batch: dict[TopicPartition, list[Any]]) -> InFlight:
        """Apply a batch and send its writes; :meth:`_seal` then makes them durable."""
        return await self._send(self.apply_batch(batch))

    def apply_batch(self, batch: dict[TopicPartition, list[Any]]) -> Staged:
        """Apply a batch to the state; collect what it must write (nothing is sent here).

        Events of a partition this worker owns too are applied there in process once it may
        take them (:attr:`local_ready`): by a bulk processor in the source's own pass
        (:meth:`_homes_of`), else after the source records of their round (see
        :meth:`_apply_sources`); others go to the repartition topic."""
        staged = Staged()
        local: dict[TopicPartition, list[tuple[Forward, Any, TopicPartition]]] = {}
        sources: dict[TopicPartition, list[Any]] = {}
        for tp, records in batch.items():
            forwarded = tp.topic in self.forwarded_from
            source = self.source_of(tp)  # tp itself unless it is a repartition partition
            state = self.states.get(source)
            if state is None or not records:
                continue  # revoked while the batch was in flight: its next owner reads it
            self._writes_of(staged, source, state)
            last = records[-1].offset + 1
            if forwarded:
                taken = _unheld(state, records)
                self._route(staged, tp, source, taken, self._apply(staged, tp, source, state, taken), local)
                state.repartition_offset = last
            else:
                held = state.next_offset or 0
                again = [r for r in records if r.offset < held] if records[0].offset < held else []
                if again:  # read again after recovery: only the events it gave other partitions
                    outcome = self._apply(staged, tp, source, state, again, own=False)
                    self._route(staged, tp, source, again, outcome, local, count=False)
                    records = records[len(again) :]
                    staged.offsets[tp] = again[-1].offset + 1
                if records:
                    sources[tp] = records
                continue
            staged.offsets[tp] = last
        for home, pieces in local.items():
            self._apply_local(staged, home, pieces)
        local.clear()
        self._apply_sources(staged, sources, local)
        for source in batch:
            if source.topic not in self.forwarded_from and source in staged.offsets:
                self._hold_local(staged, source)
        flushing: dict[str, list[PartitionState]] = {}  # pipeline -> its partitions in this batch
        for source in staged.partitions:
            flushing.setdefault(self.by_topic[source.topic], []).append(staged.states[source])
        for name, states in flushing.items():
            self.pipelines[name].flush_many(states)
        for source, writes in staged.partitions.items():
            state = staged.states[source]
            writes.changes.extend(state.drain_changes())
            # one checkpoint per state: a partition read from its source and its repartition
            # topic in the same batch is checkpointed once, with both offsets
            writes.checkpoint = state.checkpoint_record()
            staged.held[source] = dict(state.held_from)
            self.unpublished.add(source)
        records_seen, events_seen = staged.records_seen, staged.events_seen
        if records_seen:  # SDK arrays: fewer records per batch, so a batch stays ~20k events
            per_record = max(1.0, events_seen / records_seen)
            self.max_records = max(50, min(20_000, int(self.events_per_batch / per_record)))
        return staged

    def _apply_sources(
        self,
        staged: Staged,
        sources: dict[TopicPartition, list[Any]],
        local: dict[TopicPartition, list[tuple[Forward, Any, TopicPartition]]],
    ) -> None:
        """Source records in rounds of event time: in each, a partition's records up to its
        topic's cutoff (:meth:`_cutoffs`), then the events they gave owned partitions. So no
        partition runs more than a share of the grace period ahead of another in event time,
        and a home never holds events far later than those another partition still forwards
        it (a backfill published at once, every record with the same Kafka time: its events
        would be late). Forwards through the repartition topic are read back before more
        records (:meth:`_forward_backlog`): the batch ends after the round that sent some. The
        records a batch leaves are carried to a later one (:attr:`carry`)."""
        left = {tp: records for tp, records in sources.items() if tp in self.states}
        taken: dict[TopicPartition, list[Any]] = {}
        while left:
            cutoffs = self._cutoffs(left)
            # a round that only learned where partitions are (a peek, or a stopped partition's
            # clock moving on to its next record) is followed by one that applies
            learned = any(tp not in self.event_clock for tp in left)
            moved = False
            #: (home, source partition) -> the source offset up to which the home took its events
            #: in the source's own pass; marked after the round's pieces, which come before it
            took: dict[tuple[TopicPartition, int], int] = {}
            for tp, records in list(left.items()):
                until = cutoffs.get(tp.topic)
                homes = self._homes_of(tp, records)
                outcome = self._apply(staged, tp, tp, self.states[tp], records, until=until, homes=homes)
                self._route(staged, tp, tp, records, outcome, local)
                done = len(records) if outcome.stopped is None else outcome.stopped[0]
                for partition in outcome.homes:
                    if done:
                        took[(TopicPartition(tp.topic, partition), tp.partition)] = records[done - 1].offset + 1
                if outcome.latest is not None:
                    self.event_clock[tp] = max(self.event_clock.get(tp, outcome.latest), outcome.latest)
                if outcome.stopped is not None:
                    learned |= self.event_clock.get(tp) != outcome.stopped[1]
                    self.event_clock[tp] = outcome.stopped[1]  # where it waits
                if done:
                    moved = True
                    taken.setdefault(tp, []).extend(records[:done])
                if done == len(records):
                    del left[tp]
                else:
                    left[tp] = records[done:]
            for home, pieces in local.items():
                self._apply_local(staged, home, pieces)
            local.clear()
            for (home, source), offset in took.items():
                held = self.states[home].held_from
                held[source] = max(held.get(source, 0), offset)
            through_topic = any(tp in staged.forwards_home for tp in sources)
            if through_topic or not (moved or learned):
                break
        now = time.monotonic()
        for tp, records in left.items():
            self.carry[tp] = records  # applied in a later batch, before what is fetched after them
            self.moved_at[tp] = now  # waiting, not stuck
        for tp, records in taken.items():
            state = self.states[tp]
            state.next_offset = max(state.next_offset or 0, records[-1].offset + 1)
            staged.offsets[tp] = records[-1].offset + 1
            self._moved(tp, [record.timestamp for record in records])

    def _cutoffs(self, left: dict[TopicPartition, list[Any]]) -> dict[str, int]:
        """Per topic, the latest event time (epoch µs) a round may apply: HOLD_SHARE_OF_GRACE of
        the grace period after the earliest of where its partitions in the batch are and where
        the others with records left are; a peek while one of them has no clock."""
        skew = int(self.settings.grace_period_seconds * HOLD_SHARE_OF_GRACE * 1_000_000)
        suspended = {topic for topic, pace in self.pace.items() if pace.suspended}
        pacing = {tp for tp in set(left) | self.pacers if tp.topic not in suspended}
        cutoffs = _limits(pacing, self.event_clock, skew)
        # a partition not read in event time yet may be anywhere: the others learn where they
        # are, and wait for it (its fetch may not have answered yet)
        cutoffs.update((tp.topic, _PEEK) for tp in pacing if tp not in self.event_clock)
        return cutoffs

    def _homes_of(self, source: TopicPartition, records: list[Any]) -> dict[int, tuple[PartitionState, int]]:
        """The owned partitions that take ``source``'s events for them in its own pass (the
        compiled engagement kernel applies them as it reads the records: no forward to decode
        again), each from the first record it does not hold yet."""
        homes: dict[int, tuple[PartitionState, int]] = {}
        if not self.pipelines[self.by_topic[source.topic]].processor.bulk:
            return homes  # only a bulk processor takes homes: the others' events come as pieces
        for home in self.local_ready:
            if home.topic != source.topic or home == source or home not in self.states:
                continue
            state = self.states[home]
            held = state.held_from.get(source.partition, 0)
            first = 0 if records[0].offset >= held else bisect.bisect_left(records, held, key=_offset)
            homes[home.partition] = (state, first)
        return homes

    def _writes_of(self, staged: Staged, source: TopicPartition, state: PartitionState) -> PartitionWrites:
        writes = staged.partitions.get(source)
        if writes is None:
            name = self.by_topic[source.topic]
            writes = staged.partitions[source] = PartitionWrites(changelog_topic(self.settings, name), source.partition)
            staged.states[source] = state
        return writes

    def _apply(
        self,
        staged: Staged,
        tp: TopicPartition,
        source: TopicPartition,
        state: PartitionState,
        records: list[Any],
        own: bool = True,
        origins: list[tuple[Any, TopicPartition]] | None = None,
        until: int | None = None,
        homes: dict[int, tuple[PartitionState, int]] | None = None,
    ) -> BatchOutcome:
        """Records of ``tp`` (or pieces of the ``origins`` records, applied in process) into
        ``state``, and into ``homes`` what they took in the same pass (see :meth:`_homes_of`):
        their dead letters, counters and event-to-visible stamps; forwards are the caller's.
        Records read again (``own=False``) count nothing: they did the first time. With
        ``until``, records from the first one with an event after it are left (``stopped``)."""
        name = self.by_topic[tp.topic]
        if not records:
            return BatchOutcome()
        stamps = [record.timestamp for record in records]
        values = [record.value for record in records]
        outcome = self.pipelines[name].handle_many(state, values, stamps, own, until, homes)
        if not own:
            return outcome
        if outcome.stopped is not None:
            records, stamps = records[: outcome.stopped[0]], stamps[: outcome.stopped[0]]
            if not records:
                return outcome
        writes = staged.partitions[source]
        deadletter = self.settings.topic("deadletter")
        for index, rejected in outcome.rejected:
            record, where = origins[index] if origins is not None else (records[index], tp)
            self._deadletter(writes, name, where, record, rejected)
        for rejected in outcome.expired:  # held by the family, given up on: no record of this batch
            self.metrics.count_rejected(name, rejected.reason)
            self.rejections.add(tp.topic, rejected.reason, tp.partition, -1, rejected.error)
            writes.deadletters.append((deadletter, None, deadletter_record(rejected, tp.topic, tp.partition, -1, None)))
        forwarded_events = sum(forward.events for _, forward in outcome.forwards)
        staged.records_seen += len(records) if outcome.stopped is None else outcome.stopped[0]
        staged.events_seen += outcome.processed + outcome.duplicates + len(outcome.rejected) + forwarded_events
        away: set[int] = {index for index, _ in outcome.forwards}
        for partition, taken in outcome.homes.items():
            away.update(taken.records)
            self._took(staged, tp, TopicPartition(tp.topic, partition), records, taken)
        if origins is not None:  # observed here, not at their source (as a forwarded copy is)
            visible = [record.timestamp for record, _ in origins if (record.timestamp or 0) > 0]
        else:
            visible = _visible_stamps(records, stamps, away)
        if visible:
            staged.stamps.setdefault(source, []).extend(visible)
        self.metrics.processed.labels(topic=name).inc(outcome.processed)
        self.metrics.duplicate.labels(topic=name).inc(outcome.duplicates)
        return outcome

    def _took(
        self, staged: Staged, source: TopicPartition, home: TopicPartition, records: list[Any], taken: HomeOutcome
    ) -> None:
        """What an owned home took of ``source``'s records in their own pass: its writes (dead
        letters, with the source record's place), counters and stamps, as :meth:`_apply_local`
        does for pieces (each record observed once applied there, as a forwarded copy is)."""
        name = self.by_topic[source.topic]
        writes = self._writes_of(staged, home, self.states[home])
        for index, rejected in taken.rejected:
            self._deadletter(writes, name, source, records[index], rejected)
        staged.events_seen += taken.events
        visible = [stamp for stamp in (records[i].timestamp for i in taken.records) if stamp is not None and stamp > 0]
        if visible:
            staged.stamps.setdefault(home, []).extend(visible)
        self.metrics.processed.labels(topic=name).inc(taken.processed)
        self.metrics.duplicate.labels(topic=name).inc(taken.duplicates)
        self.metrics.forwarded.labels(topic=name).inc(taken.events)

    def _deadletter(
        self, writes: PartitionWrites, name: str, where: TopicPartition, record: Any, rejected: Rejected
    ) -> None:
        """A rejected event of ``record`` (read from ``where``) into a state's writes, counted."""
        self.metrics.count_rejected(name, rejected.reason)
        self.rejections.add(where.topic, rejected.reason, where.partition, record.offset, rejected.error)
        value = deadletter_record(rejected, where.topic, where.partition, record.offset, record.key)
        writes.deadletters.append((self.settings.topic("deadletter"), record.key, value))

    def _route(
        self,
        staged: Staged,
        tp: TopicPartition,
        source: TopicPartition,
        records: list[Any],
        outcome: BatchOutcome,
        local: dict[TopicPartition, list[tuple[Forward, Any, TopicPartition]]],
        count: bool = True,
    ) -> None:
        """A batch's forwards: from a source partition to an owned partition that may take
        them, in process; else through the repartition topic, marked with their source offset
        (a forwarded record forwarded on, the partition count having changed, is not marked).
        A partition's own events among records read again are held by its state already."""
        name = self.by_topic[tp.topic]
        writes = staged.partitions[source]
        marked = tp == source
        events = 0
        for index, forward in outcome.forwards:
            record = records[index]
            home = TopicPartition(source.topic, forward.partition)
            if home == source:
                continue  # read again after recovery: its own events are in its state
            events += forward.events
            if marked and home in self.local_ready:
                local.setdefault(home, []).append((forward, record, tp))
            else:
                mark = (tp.partition, record.offset) if marked else None
                writes.forwards.append((repartition_topic(self.settings, name), forward, record.timestamp, mark))
                if home in self.states:
                    staged.forwards_home.add(source)
        if events and count:
            self.metrics.forwarded.labels(topic=name).inc(events)

    def _apply_local(
        self, staged: Staged, home: TopicPartition, pieces: list[tuple[Forward, Any, TopicPartition]]
    ) -> None:
        """Forwarded events applied on their owned home partition in process, each source's in
        its order, skipping what the home holds already (it read it from the repartition topic,
        or took it before a crash its source did not commit past)."""
        state = self.states[home]
        self._writes_of(staged, home, state)
        taken: list[_Piece] = []
        origins: list[tuple[Any, TopicPartition]] = []
        for forward, record, source in pieces:
            if record.offset < state.held_from.get(source.partition, 0):
                continue
            state.held_from[source.partition] = record.offset + 1
            taken.append(_Piece(forward.value, record.timestamp))
            origins.append((record, source))
        outcome = self._apply(staged, home, home, state, taken, origins=origins)
        for index, forward in outcome.forwards:  # not its home either (the partition count changed)
            record, source = origins[index]
            to = repartition_topic(self.settings, self.by_topic[home.topic])
            staged.partitions[home].forwards.append((to, forward, record.timestamp, (source.partition, record.offset)))
            if TopicPartition(home.topic, forward.partition) in self.states:
                staged.forwards_home.add(home)

    def _hold_local(self, staged: Staged, source: TopicPartition) -> None:
        """After a source's batch: every owned home taking its events in process holds them up
        to where the source read; the source, re-read from the lowest of what those homes
        committed, cannot lose what a home took but did not commit."""
        state = self.states[source]
        read = staged.offsets[source]  # this batch's end (below next_offset while read again)
        floor = read
        for home in self.local_ready:
            if home == source or home.topic != source.topic or home not in self.states:
                continue
            held = self.states[home].held_from
            behind = read - held.get(source.partition, 0)
            # a home that writes this batch anyway moves its mark; one that does not only once
            # it lags far (a checkpoint, a transaction more), which bounds what recovery re-reads
            if behind > 0 and (home in staged.partitions or behind > HELD_LAG_RECORDS):
                held[source.partition] = read
                self._writes_of(staged, home, self.states[home])
            committed = self.committed_held.get(home, {}).get(source.partition, self.read_start.get(source, 0))
            floor = min(floor, committed)
        state.restart_offset = floor if floor < (state.next_offset or 0) else None

    def _moved(self, tp: TopicPartition, stamps: list[int]) -> None:
        self.moved_at[tp] = self.applied_at[tp] = time.monotonic()
        latest = max(stamps, default=0)
        if latest > self.record_clock.get(tp, 0):
            self.record_clock[tp] = latest

    async def _send(self, staged: Staged) -> InFlight:
        written = InFlight(offsets={})
        for source, writes in staged.partitions.items():
            writer = self.writers.get(source) if self.states.get(source) is staged.states[source] else None
            if writer is None:
                continue  # revoked, fenced or reloaded since the batch was applied: it is read again
            try:
                await writer.send(writes)
            except Exception as exc:
                await self._write_failed(source, exc)
                continue
            written.writers[source] = writer
            written.changelog_records[source] = len(writes.changes) + (0 if writes.checkpoint is None else 1)
            if source in staged.held:
                written.held[source] = staged.held[source]
            written.forwards_home |= source in staged.forwards_home
            if source in staged.stamps:
                written.stamps[source] = staged.stamps[source]
        written.offsets = {tp: o for tp, o in staged.offsets.items() if self.source_of(tp) in written.writers}
        return written


@dataclass
class Staged:
    """What an applied batch must write, per partition state (source partition)."""

    partitions: dict[TopicPartition, PartitionWrites] = field(default_factory=dict)
    #: the state each partition's writes were computed on (a reloaded partition's are stale)
    states: dict[TopicPartition, PartitionState] = field(default_factory=dict)
    #: consumed partition (source or repartition) -> next offset, for the group commit
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    #: Kafka timestamps of the records each partition state applied (pulse_event_visible_latency_seconds)
    stamps: dict[TopicPartition, list[int]] = field(default_factory=dict)
    #: what each state's checkpoint says it holds of other partitions' events (held_from)
    held: dict[TopicPartition, dict[int, int]] = field(default_factory=dict)
    #: states whose writes forward events through the repartition topic to an owned partition
    forwards_home: set[TopicPartition] = field(default_factory=set)
    records_seen: int = 0
    events_seen: int = 0


@dataclass
class _Pace:
    """A topic's partitions more than the allowed skew apart in event time: since when (monotonic),
    how far apart then (µs), and whether it gave up waiting for the slowest."""

    since: float
    spread: int
    suspended: bool = False


class _Piece(NamedTuple):
    """A forwarded piece applied in process, as the pipeline reads a record."""

    value: bytes
    timestamp: int


@dataclass
class InFlight:
    """A sent batch: the writers that hold its partitions' writes, to be sealed and settled."""

    offsets: dict[TopicPartition, int]
    writers: dict[TopicPartition, BatchWriter] = field(default_factory=dict)
    #: per partition state: its records' Kafka timestamps, its changelog records (checkpoint included)
    stamps: dict[TopicPartition, list[int]] = field(default_factory=dict)
    changelog_records: dict[TopicPartition, int] = field(default_factory=dict)
    #: partitions whose snapshot was published while the batch was in flight (it holds the batch)
    published: set[TopicPartition] = field(default_factory=set)
    #: partitions whose writes were sealed (committed, or acknowledged before their checkpoint)
    sealed: set[TopicPartition] = field(default_factory=set)
    #: per partition state: what its checkpoint says it holds of other partitions' events
    held: dict[TopicPartition, dict[int, int]] = field(default_factory=dict)
    #: whether the batch forwarded events through the repartition topic to an owned partition
    forwards_home: bool = False


async def _stop_quietly(writer: BatchWriter) -> None:
    try:
        # a producer whose broker is away may wait long for what it still holds
        await asyncio.wait_for(writer.stop(), WRITER_STOP_SECONDS)
    except Exception as exc:  # a fenced or broken producer: nothing of it is needed any more
        log.debug("writer stop failed: %s", exc)


def _visible_stamps(records: list[Any], stamps: list[int], away: set[int]) -> list[int]:
    """The producers' timestamps (CreateTime) of a partition's records in a batch, except those
    (indexes ``away``) that gave events to another partition (observed once applied there).

    Kafka sets the timestamp type per record batch from the topic's configuration, so records
    whose first and last share CreateTime are taken whole (one C-level ``min`` to rule out
    records without a time); anything else is sorted out record by record."""
    first = getattr(records[0], "timestamp_type", CREATE_TIME)  # test doubles carry none
    last = getattr(records[-1], "timestamp_type", CREATE_TIME)
    if away or first != CREATE_TIME or last != CREATE_TIME or min(stamps, default=1) <= 0:
        return [
            stamp
            for index, (record, stamp) in enumerate(zip(records, stamps, strict=True))
            if index not in away
            and getattr(record, "timestamp_type", CREATE_TIME) == CREATE_TIME
            and stamp is not None
            and stamp > 0
        ]
    return stamps


def _offset(record: Any) -> int:
    return int(record.offset)


def _unheld(state: PartitionState, records: list[Any]) -> list[Any]:
    """Forwarded records whose source offset this state does not hold yet; marks them held.
    A record without the mark (an older worker's) is taken as it comes."""
    out = []
    held = state.held_from
    for record in records:
        source = source_of_forward(getattr(record, "headers", None))
        if source is not None:
            partition, offset = source
            if offset < held.get(partition, 0):
                continue  # a second copy: re-read after a crash, or taken in process
            held[partition] = offset + 1
        out.append(record)
    return out


def _limits(partitions: set[TopicPartition], clocks: dict[TopicPartition, int], skew: int) -> dict[str, int]:
    """Per topic: ``skew`` after the earliest clock of its ``partitions``; no limit for a topic
    one of whose partitions has no clock yet (nothing to compare with)."""
    earliest: dict[str, int] = {}
    unknown: set[str] = set()
    for tp in partitions:
        clock = clocks.get(tp)
        if clock is None:
            unknown.add(tp.topic)
        else:
            earliest[tp.topic] = min(clock, earliest.get(tp.topic, clock))
    return {topic: clock + skew for topic, clock in earliest.items() if topic not in unknown}


def _fmt(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(tps))


def _end_offset(consumer: Any, tp: TopicPartition) -> int | None:
    """Where a read-committed consumer's reading of ``tp`` ends: the last stable offset (an open
    transaction's records are not readable yet), the high watermark where the broker reports
    none; None before a fetch reported either."""
    stable = consumer.last_stable_offset(tp)
    if isinstance(stable, int) and stable >= 0:
        return stable
    end = consumer.highwater(tp)
    return end if isinstance(end, int) else None
