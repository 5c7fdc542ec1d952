"""How one partition state's batch reaches Kafka: its changelog records, dead letters and
forwarded events, then its checkpoint — all of them or none.

Two writers, chosen by ``PULSE_TRANSACTIONS``:

- :class:`TransactionalWriter` (default): one transactional producer per source partition,
  ``transactional_id = <app id>-ingest.<topic>.<partition>``. A batch is one transaction, the
  checkpoint its last record; readers (recovery, the repartition and dead-letter topics'
  consumers) read committed records only. Starting the producer fences every earlier producer
  of that id: a worker that was paused past its session timeout (a zombie) and wakes up while
  another owns its partitions gets ``ProducerFenced`` on its next commit and writes nothing.
- :class:`AcknowledgedWriter`: one shared idempotent producer; the checkpoint is sent only
  once every write of its batch is acknowledged. A crash can never leave a checkpoint ahead of
  its data either, but a zombie is not fenced and a dead letter may be written twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from stream.pipeline import Forward, source_header

__all__ = [
    "AcknowledgedWriter",
    "BatchWriter",
    "PartitionWrites",
    "ProducerFenced",
    "TransactionalWriter",
    "WriterStopped",
    "producer_options",
]


class WriterStopped(Exception):
    """The writer was stopped (its partition released in a rebalance) before its batch was
    committed: the batch does not count, and the partition's next owner reads it again."""


def producer_options(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 512 * 1024,
        # above the largest record Pulse writes (MAX_RECORD_BYTES, a cut dead letter)
        "max_request_size": 8 * 1024 * 1024,
    }


class Producer(Protocol):
    """The part of :class:`AIOKafkaProducer` a writer uses (tests pass recording doubles)."""

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> asyncio.Future[Any]: ...
    def create_batch(self) -> Any: ...
    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]: ...


@dataclass
class PartitionWrites:
    """What one batch of one partition state must write: into its changelog partition, to the
    dead-letter topic and to repartition topics; the checkpoint last."""

    changelog: str
    partition: int
    deadletters: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    #: (repartition topic, the event and its partition, the source record's timestamp, the
    #: source record's partition and offset: its home skips what it holds already)
    forwards: list[tuple[str, Forward, int | None, tuple[int, int] | None]] = field(default_factory=list)
    changes: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    checkpoint: tuple[bytes, bytes] | None = None


class BatchWriter:
    """Writes a partition state's batches, one at a time: :meth:`send` a batch, :meth:`seal` it
    (once it returns the batch and its checkpoint are durable), :meth:`settle`; the next batch is
    sent only after the previous one is sealed."""

    forwarded: list[tuple[TopicPartition, asyncio.Future[Any]]]

    async def start(self) -> None:
        """Called once the partition is assigned, before its state is recovered."""

    async def stop(self) -> None:
        """Called when the partition is revoked or the worker stops."""

    async def send(self, writes: PartitionWrites) -> None:
        raise NotImplementedError

    async def seal(self) -> None:
        """Raise if any write of the batch failed; :class:`ProducerFenced` when another worker
        owns the partition now."""

    async def settle(self) -> None:
        """Wait for whatever :meth:`seal` sent last."""

    def take_forwarded(self) -> dict[TopicPartition, int]:
        """After a successful :meth:`seal`: per repartition partition, the offset just past the
        last event the batch forwarded there (readable now)."""
        forwarded, self.forwarded = self.forwarded, []
        ends: dict[TopicPartition, int] = {}
        for tp, future in forwarded:
            if future.done() and not future.cancelled() and future.exception() is None:
                ends[tp] = max(ends.get(tp, 0), future.result().offset + 1)
        return ends


async def _send_all(
    producer: Producer,
    writes: PartitionWrites,
    forwarded: list[tuple[TopicPartition, asyncio.Future[Any]]],
    *,
    checkpoint: bool,
) -> list[asyncio.Future[Any]]:
    futures: list[asyncio.Future[Any]] = []
    for topic, key, value in writes.deadletters:
        futures.append(await producer.send(topic, key=key, value=value))
    for topic, forward, timestamp, source in writes.forwards:
        stamp = timestamp if timestamp is not None and timestamp > 0 else None
        future = await producer.send(
            topic,
            key=forward.key,
            value=forward.value,
            partition=forward.partition,
            timestamp_ms=stamp,
            headers=source_header(source),
        )
        futures.append(future)
        forwarded.append((TopicPartition(topic, forward.partition), future))
    records = list(writes.changes)
    if checkpoint and writes.checkpoint is not None:
        records.append(writes.checkpoint)
    if records:
        futures.extend(await append_packed(producer, writes.changelog, writes.partition, records))
    return futures


async def append_packed(
    producer: Producer, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
) -> list[asyncio.Future[Any]]:
    """Append records in order, packed into producer batches: a per-record send() costs
    ~15 µs of Python, which at one record per few events was most of a worker's time."""
    futures: list[asyncio.Future[Any]] = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"changelog record of {len(value or b'')} bytes exceeds the batch size")
    futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


class AcknowledgedWriter(BatchWriter):
    """Checkpoint after acknowledgement, on a producer shared by every partition."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.writes: list[asyncio.Future[Any]] = []
        self.checkpoint_writes: list[asyncio.Future[Any]] = []
        self.pending: PartitionWrites | None = None
        self.forwarded = []

    async def send(self, writes: PartitionWrites) -> None:
        self.pending = writes
        self.writes = await _send_all(self.producer, writes, self.forwarded, checkpoint=False)

    async def seal(self) -> None:
        writes, self.pending = self.pending, None
        futures, self.writes = self.writes, []
        await asyncio.gather(*futures)
        if writes is not None and writes.checkpoint is not None:
            self.checkpoint_writes = await append_packed(
                self.producer, writes.changelog, writes.partition, [writes.checkpoint]
            )

    async def settle(self) -> None:
        futures, self.checkpoint_writes = self.checkpoint_writes, []
        await asyncio.gather(*futures)


class TransactionalProducer(Producer, Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def begin_transaction(self) -> None: ...
    async def commit_transaction(self) -> None: ...


class TransactionalWriter(BatchWriter):
    """One transaction per batch on the partition's own producer."""

    def __init__(self, producer: TransactionalProducer) -> None:
        self.producer = producer
        self.open = False
        self.writes: list[asyncio.Future[Any]] = []
        self.forwarded = []
        self.stopped = asyncio.Event()

    @classmethod
    def create(cls, bootstrap: str, transactional_id: str) -> TransactionalWriter:
        producer = AIOKafkaProducer(
            transactional_id=transactional_id,
            # an abandoned transaction (a worker killed mid-batch) blocks readers of its
            # partitions until its next owner fences it or this timeout aborts it
            transaction_timeout_ms=60_000,
            **producer_options(bootstrap),
        )
        return cls(producer)

    async def start(self) -> None:
        await self.producer.start()  # InitProducerId: fences older producers of this id

    async def stop(self) -> None:
        self.stopped.set()
        await self.producer.stop()

    async def send(self, writes: PartitionWrites) -> None:
        await self.producer.begin_transaction()
        self.open = True
        self.writes = await _send_all(self.producer, writes, self.forwarded, checkpoint=True)

    async def seal(self) -> None:
        """As :meth:`BatchWriter.seal`; :class:`WriterStopped` when the writer is stopped first.
        A rebalance stops the writers of released partitions while the worker may be sealing
        their batch, and a stopped aiokafka producer never ends a transaction it is asked to
        commit: waiting for it would stop the worker for good."""
        if not self.open:
            return
        futures, self.writes = self.writes, []
        sealing = asyncio.ensure_future(self._commit(futures))
        released = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait((sealing, released), return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            unfinished = not sealing.done()
            if unfinished:
                sealing.cancel()
        if unfinished:
            raise WriterStopped("the writer was stopped before its batch was committed")
        sealing.result()

    async def _commit(self, futures: list[asyncio.Future[Any]]) -> None:
        # A failed produce does not fail the transaction in aiokafka: committing then would
        # commit the checkpoint without that record. Raise instead; the transaction stays open
        # until the partition's next producer fences and aborts it. (wait, not gather: leaving
        # early must not cancel the producer's own futures.)
        if futures:
            await asyncio.wait(futures)
        errors = [error for future in futures if (error := future.exception()) is not None]
        if errors:
            raise errors[0]
        self.open = False
        await self.producer.commit_transaction()
