"""The batched consumer service inside the Faust app that drives every topic's pipeline.

One aiokafka consumer (group = the app id) reads the source topics in batches. A batch is
applied to the state of its partitions, then its changelog records and dead letters are sent;
its checkpoints (the next source offset of each partition) are sent only once every one of
those writes is acknowledged, and before any record of the next batch. So a checkpoint is never
ahead of its data: a write that fails (a record over the broker's limit, a broker gone) stops
the worker before the checkpoint exists, and the batch is read again.
On assignment a partition's state is rebuilt from its changelog and the consumer seeks to the
checkpoint; on revocation the state is dropped. See stream/state.py for why this gives each
record exactly one effect on the state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError
from mode import Service

from stream.deadletter import deadletter_record
from stream.exporter import IngestMetrics
from stream.pipeline import Forward, Pipeline
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore
from stream.state import PartitionState, load_partition_states

__all__ = ["IngestEngine", "changelog_topic", "repartition_topic"]

log = logging.getLogger("pulse.engine")


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
        self.max_records = 20_000
        self.events_per_batch = 20_000  # target; records may carry arrays of events
        self.snapshots = SnapshotStore(settings.redis_url, settings.app_id)
        self.unpublished: set[TopicPartition] = set()
        self.published_at: dict[TopicPartition, float] = {}
        self.publish_interval = 1.0
        self.in_flight: InFlight | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        # aiokafka logs every send at DEBUG; building those records was a quarter of the CPU.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_broker,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=512 * 1024,
            # above the largest record Pulse writes (MAX_RECORD_BYTES, a cut dead letter)
            max_request_size=8 * 1024 * 1024,
        )
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
        try:
            await self.drain_in_flight()
        except Exception as exc:  # stopping anyway: the checkpoint decides what is re-read
            log.warning("changelog writes not acknowledged at stop: %s", exc)
        await self.snapshots.close()
        if self.consumer is not None:
            await self.consumer.stop()
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
        for tp in revoked:
            if tp.topic not in self.forwarded_from and self.states.pop(tp, None) is not None:
                self.pipelines[self.by_topic[tp.topic]].dropped(tp.partition)
        if revoked:
            log.info("partitions revoked: %s", _fmt(revoked))

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self.consumer is not None
        sources = [tp for tp in assigned if tp.topic not in self.forwarded_from]
        log.info("recovering state of %d assigned partitions", len(sources))
        changelogs = {
            tp: TopicPartition(changelog_topic(self.settings, self.by_topic[tp.topic]), tp.partition) for tp in sources
        }
        loaded = await load_partition_states(
            self.settings.kafka_broker,
            {changelogs[tp]: self.pipelines[self.by_topic[tp.topic]].codecs for tp in sources},
        )
        for tp in sorted(assigned):
            if tp.topic in self.forwarded_from:
                continue
            state = loaded[changelogs[tp]]
            self.states[tp] = state
            pipeline = self.pipelines[self.by_topic[tp.topic]]
            pipeline.loaded(state)
            self.unpublished.add(tp)
            # No checkpoint: start at 0 (auto_offset_reset=earliest covers deleted segments).
            # seek_to_beginning() would wait for a fetch that cannot run inside a rebalance.
            self.consumer.seek(tp, state.next_offset or 0)
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

    # --- the loop --------------------------------------------------------------------------

    @Service.task
    async def _consume(self) -> None:
        """Batch N+1 is applied while batch N's writes are in flight; N's checkpoints follow
        N's acknowledged writes and precede N+1's; N's offsets are committed, and snapshots
        shared, once its checkpoints are acknowledged."""
        assert self.consumer is not None
        while not self.should_stop:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
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

    async def drain_in_flight(self) -> None:
        previous, self.in_flight = self.in_flight, None
        if previous is not None:
            await self._seal(previous)
            await self._settle(previous)

    async def _seal(self, written: InFlight) -> None:
        """Every write of the batch acknowledged (or the worker stops here, with no checkpoint
        written): then its checkpoints."""
        await asyncio.gather(*written.writes)
        for (topic, partition), checkpoint in written.checkpoints.items():
            written.checkpoint_writes.extend(await self._append_changelog(topic, partition, [checkpoint]))

    async def _settle(self, written: InFlight) -> None:
        assert self.consumer is not None
        await asyncio.gather(*written.checkpoint_writes)
        # Group offsets only show lag to operators; the checkpoint in the changelog is the truth.
        offsets = {tp: o for tp, o in written.offsets.items() if tp in self.states}
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except CommitFailedError as exc:
                # We were dropped from the group (e.g. a long pause): the partitions may have
                # a new owner already; the rejoin reloads what we own.
                log.warning("group offset commit failed (%s); state will be reloaded", exc)

    async def publish_snapshots(self, force: bool) -> None:
        """Share the committed state of every owned partition via its processor (throttled)."""
        now = asyncio.get_running_loop().time()
        for tp in sorted(self.unpublished):
            state = self.states.get(tp)
            if state is None:
                self.unpublished.discard(tp)
                continue
            if not force and now - self.published_at.get(tp, 0.0) < self.publish_interval:
                continue
            processor = self.pipelines[self.by_topic[tp.topic]].processor
            try:
                await processor.publish(state, self.snapshots)
            except Exception as exc:  # Redis down must not stop the stream: retry next time
                log.warning("snapshot publish failed for %s:%d: %s", tp.topic, tp.partition, exc)
                return
            self.unpublished.discard(tp)
            self.published_at[tp] = now

    async def _append_changelog(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> list[asyncio.Future[Any]]:
        """Append records in order, packed into producer batches: a per-record send() costs
        ~15 µs of Python, which at one record per few events was most of a worker's time."""
        assert self.producer is not None
        futures: list[asyncio.Future[Any]] = []
        batch = self.producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"changelog record of {len(value or b'')} bytes exceeds the batch size")
        futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        return futures

    async def process_batch(self, batch: dict[TopicPartition, list[Any]]) -> InFlight:
        """Apply a batch and send its writes; :meth:`_seal` then sends its checkpoints."""
        return await self._send(self.apply_batch(batch))

    def apply_batch(self, batch: dict[TopicPartition, list[Any]]) -> Staged:
        """Apply a batch to the state; collect what it must write (nothing is sent here)."""
        staged = Staged()
        deadletter = self.settings.topic("deadletter")
        records_seen = events_seen = 0
        for tp, records in batch.items():
            forwarded = tp.topic in self.forwarded_from
            state = self.states.get(self.source_of(tp) if forwarded else tp)
            if state is None or not records:
                continue  # revoked while the batch was in flight: its next owner reads it
            name = self.by_topic[tp.topic]
            pipeline = self.pipelines[name]
            outcome = pipeline.handle_many(
                state, [record.value for record in records], [record.timestamp for record in records]
            )
            for index, rejected in outcome.rejected:
                record = records[index]
                self.metrics.count_rejected(name, rejected.reason)
                log.warning(
                    "rejected topic=%s partition=%d offset=%d reason=%s error=%s",
                    tp.topic,
                    tp.partition,
                    record.offset,
                    rejected.reason,
                    rejected.error[:500],
                )
                value = deadletter_record(rejected, tp.topic, tp.partition, record.offset, record.key)
                staged.deadletters.append((deadletter, record.key, value))
            for index, forward in outcome.forwards:
                staged.forwards.append((repartition_topic(self.settings, name), forward, records[index].timestamp))
            if outcome.forwards:
                self.metrics.forwarded.labels(topic=name).inc(len(outcome.forwards))
            processed, duplicates = outcome.processed, outcome.duplicates
            records_seen += len(records)
            events_seen += processed + duplicates + len(outcome.rejected) + len(outcome.forwards)
            pipeline.flush(state)
            if forwarded:
                state.repartition_offset = records[-1].offset + 1
            else:
                state.next_offset = records[-1].offset + 1
            changelog = changelog_topic(self.settings, name)
            staged.changes.append((changelog, tp.partition, state.drain_changes()))
            # one checkpoint per state: a partition read from its source and its repartition
            # topic in the same batch is checkpointed once, with both offsets
            staged.checkpoints[(changelog, tp.partition)] = state.checkpoint_record()
            staged.offsets[tp] = records[-1].offset + 1
            self.unpublished.add(self.source_of(tp))
            self.metrics.processed.labels(topic=name).inc(processed)
            self.metrics.duplicate.labels(topic=name).inc(duplicates)
        if records_seen:  # SDK arrays: fewer records per batch, so a batch stays ~20k events
            per_record = max(1.0, events_seen / records_seen)
            self.max_records = max(50, min(20_000, int(self.events_per_batch / per_record)))
        return staged

    async def _send(self, staged: Staged) -> InFlight:
        assert self.producer is not None
        written = InFlight(checkpoints=staged.checkpoints, offsets=staged.offsets)
        for topic, key, value in staged.deadletters:
            written.writes.append(await self.producer.send(topic, key=key, value=value))
        for topic, forward, timestamp in staged.forwards:
            stamp = timestamp if timestamp is not None and timestamp > 0 else None
            written.writes.append(
                await self.producer.send(
                    topic, key=forward.key, value=forward.value, partition=forward.partition, timestamp_ms=stamp
                )
            )
        for topic, partition, records in staged.changes:
            if records:
                written.writes.extend(await self._append_changelog(topic, partition, records))
        return written


@dataclass
class Staged:
    """What an applied batch must write, in order: dead letters and changelog records, then
    (once those are acknowledged) each partition's checkpoint."""

    deadletters: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    #: (repartition topic, the event and its partition, the source record's timestamp)
    forwards: list[tuple[str, Forward, int | None]] = field(default_factory=list)
    changes: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = field(default_factory=list)
    #: (changelog topic, partition) -> the checkpoint record
    checkpoints: dict[tuple[str, int], tuple[bytes, bytes]] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


@dataclass
class InFlight:
    """A sent batch: its writes, its checkpoints (sent by ``_seal``) and their writes."""

    checkpoints: dict[tuple[str, int], tuple[bytes, bytes]]
    offsets: dict[TopicPartition, int]
    writes: list[asyncio.Future[Any]] = field(default_factory=list)
    checkpoint_writes: list[asyncio.Future[Any]] = field(default_factory=list)


def _fmt(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(tps))
