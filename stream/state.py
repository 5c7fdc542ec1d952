"""Per-partition state with its own changelog, committed together with the input offset.

Each source partition owns a :class:`PartitionState`: named key-value stores plus the offset
of the next source record to read. After each batch the engine writes the changed keys and
then a *checkpoint* record (the next source offset) to the same changelog partition, in order,
with an idempotent producer. Recovery replays the changelog and applies only what precedes the
last checkpoint; records after it belong to a batch that never finished, whose source records
will be read again. State and input position therefore always agree: each source record
changes the state exactly once, whatever crashes in between.

This replaces Faust tables for Pulse's state: with faust-streaming 0.15.3 a restarted worker
recovered nothing from its table changelogs (see docs/architecture.md, "Why not Faust tables").

Every changelog value carries the format version of its store (:func:`framed`, or a version
field inside a family's own codec), so a later format can still read the records an older one
wrote; a record of an unknown version stops recovery with a message naming it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = [
    "Codec",
    "JSON",
    "RAW",
    "framed",
    "split_version",
    "MAX_RECORD_BYTES",
    "CHANGELOG_MAX_MESSAGE_BYTES",
    "UnknownFormat",
    "PartitionState",
    "StoreView",
    "CHECKPOINT_KEY",
    "load_partition_states",
    "CheckpointedReplay",
]

CHECKPOINT_KEY = b"\x00checkpoint"
_MISSING = object()
_SEP = "\x1f"


@dataclass(frozen=True)
class Codec:
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


class UnknownFormat(ValueError):
    """A changelog record this build cannot read: a format version it does not know (written by
    a newer Pulse), or none (written by a pre-release build whose state must be reset)."""


#: Bytes as they are: for a store whose owner frames its values itself (the engagement kernel).
RAW = Codec(bytes, bytes)


def framed(codec: Codec, version: int = 1, older: Mapping[int, Callable[[bytes], Any]] | None = None) -> Codec:
    """``codec`` with every value framed as ``v<version>|<payload>``; ``older`` reads the
    payloads of earlier versions when a store's format changes."""
    prefix = b"v%d|" % version
    readers: dict[int, Callable[[bytes], Any]] = {**(older or {}), version: codec.decode}

    def encode(value: Any) -> bytes:
        return prefix + codec.encode(value)

    def decode(raw: bytes) -> Any:
        found, payload = split_version(raw)
        reader = readers.get(found)
        if reader is None:
            known = ", ".join(str(v) for v in sorted(readers))
            raise UnknownFormat(f"changelog value of format version {found}; this build reads {known}")
        return reader(payload)

    return Codec(encode, decode)


def split_version(raw: bytes) -> tuple[int, bytes]:
    """``v<version>|<payload>`` -> (version, payload)."""
    bar = raw.find(b"|", 0, 8)
    if not raw.startswith(b"v") or bar < 2 or not raw[1:bar].isdigit():
        raise UnknownFormat(
            "changelog value without a format version, written by a pre-release build: "
            "start with fresh state (a new PULSE_APP_ID, or delete the app's changelog topics)"
        )
    return int(raw[1:bar]), raw[bar + 1 :]


#: The largest changelog record a processor may write (key and value): a state record that would
#: grow past it is refused (reason state_limit), never half-written.
MAX_RECORD_BYTES = 1024 * 1024
#: ``max.message.bytes`` of the changelog topics Pulse creates: above MAX_RECORD_BYTES.
CHANGELOG_MAX_MESSAGE_BYTES = 2 * 1024 * 1024

#: JSON values, format version 1: the default codec of a store.
JSON = framed(Codec(orjson.dumps, orjson.loads))
#: Version of the checkpoint record's format.
CHECKPOINT_VERSION = 1


class StoreView(MutableMapping[str, Any]):
    """One named store of a partition; every write is remembered for the next checkpoint.

    Values are mutable objects: after mutating a value in place, call :meth:`touch`.
    """

    def __init__(self, owner: PartitionState, name: str) -> None:
        self._owner = owner
        self._name = name
        self._data: dict[str, Any] = owner.data.setdefault(name, {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._owner.dirty.add((self._name, key))

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._owner.dirty.add((self._name, key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def touch(self, key: str) -> None:
        self._owner.dirty.add((self._name, key))


@dataclass
class PartitionState:
    """All state derived from one source partition up to ``next_offset`` (exclusive)."""

    partition: int
    codecs: dict[str, Codec] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    next_offset: int | None = None
    #: next offset of the app's repartition topic partition (events forwarded to this one)
    repartition_offset: int = 0
    #: as a home: source partition -> the next offset of it whose events for this partition
    #: this state holds (applied in process or read from the repartition topic); what is below
    #: is skipped when it comes again
    held_from: dict[int, int] = field(default_factory=dict)
    #: as a source: where recovery reads it from again (at most ``next_offset``): events it
    #: gave homes of the same worker in process that those homes had not committed yet
    restart_offset: int | None = None
    #: Changelog records a processor encoded itself (the engagement kernel owns its stores).
    emitted: list[tuple[bytes, bytes | None]] = field(default_factory=list)

    @property
    def position(self) -> str:
        """Where this state stands in its inputs (source and repartition topic, and the other
        partitions' events it took in process): readers key what they cache by it, since an
        event forwarded here moves only the second or the third (its offsets only grow)."""
        return f"{self.next_offset or 0}/{self.repartition_offset}/{sum(self.held_from.values())}"

    def store(self, name: str) -> StoreView:
        return StoreView(self, name)

    def codec(self, name: str) -> Codec:
        return self.codecs.get(name, JSON)

    def emit(self, records: list[tuple[bytes, bytes | None]]) -> None:
        """Queue records already encoded as ``<store>\x1f<key>`` -> value for the next checkpoint."""
        self.emitted.extend(records)

    def drain_changes(self) -> list[tuple[bytes, bytes | None]]:
        """Changelog records for every key written since the last call (None = deleted)."""
        out, self.emitted = self.emitted, []
        codecs: dict[str, Any] = {}
        for name, key in self.dirty:
            encode = codecs.get(name)
            if encode is None:
                encode = codecs[name] = self.codec(name).encode
            values = self.data.get(name, {})
            value = values.get(key, _MISSING)
            out.append((f"{name}{_SEP}{key}".encode(), None if value is _MISSING else encode(value)))
        self.dirty.clear()
        return out

    def discard_changes(self) -> None:
        """Forget the pending changelog records (replay has no changelog to write them to)."""
        self.emitted.clear()
        self.dirty.clear()

    def checkpoint_record(self) -> tuple[bytes, bytes]:
        checkpoint: dict[str, Any] = {
            "v": CHECKPOINT_VERSION,
            "next_offset": self.next_offset,
            "repartition_offset": self.repartition_offset,
        }
        if self.held_from:
            checkpoint["held_from"] = {str(p): o for p, o in self.held_from.items()}
        if self.restart_offset is not None and self.restart_offset != self.next_offset:
            checkpoint["restart_offset"] = self.restart_offset
        return CHECKPOINT_KEY, orjson.dumps(checkpoint)

    @property
    def read_from(self) -> int:
        """Where reading this source partition starts after recovery."""
        start = self.next_offset or 0
        return start if self.restart_offset is None else min(start, self.restart_offset)

    def apply_record(self, key: bytes, value: bytes | None) -> None:
        """Apply one committed changelog record during recovery."""
        if key == CHECKPOINT_KEY:
            assert value is not None
            checkpoint = orjson.loads(value)
            if checkpoint.get("v") != CHECKPOINT_VERSION:
                raise UnknownFormat(f"checkpoint of format version {checkpoint.get('v')!r}; this build reads 1")
            self.next_offset = checkpoint["next_offset"]
            self.repartition_offset = checkpoint.get("repartition_offset", 0)
            self.held_from = {int(p): o for p, o in checkpoint.get("held_from", {}).items()}
            self.restart_offset = checkpoint.get("restart_offset")
            return
        name, _, item = key.decode().partition(_SEP)
        values = self.data.setdefault(name, {})
        if value is None:
            values.pop(item, None)
        else:
            values[item] = self.codec(name).decode(value)


class CheckpointedReplay:
    """Feeds changelog records into a state, applying each batch only once its checkpoint
    arrives; whatever follows the last checkpoint (a batch that crashed) is never applied."""

    def __init__(self, state: PartitionState) -> None:
        self.state = state
        self.pending: list[tuple[bytes, bytes | None]] = []

    def feed(self, key: bytes, value: bytes | None) -> None:
        if key != CHECKPOINT_KEY:
            self.pending.append((key, value))
            return
        for k, v in self.pending:
            self.state.apply_record(k, v)
        self.pending.clear()
        self.state.apply_record(key, value)


async def load_partition_states(
    bootstrap: str,
    wanted: dict[TopicPartition, dict[str, Codec]],
    timeout: float = 300.0,
) -> dict[TopicPartition, PartitionState]:
    """Rebuild the state of changelog partitions (with their stores' codecs), each up to its
    last checkpoint, with one consumer for all of them."""
    states = {tp: PartitionState(tp.partition, codecs=codecs) for tp, codecs in wanted.items()}
    if not wanted:
        return states
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = list(wanted)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        replays = {tp: CheckpointedReplay(states[tp]) for tp in tps}

        async def unfinished() -> list[TopicPartition]:
            return [tp for tp in tps if await consumer.position(tp) < ends[tp]]

        async def drain() -> None:
            todo = await unfinished()
            while todo:
                batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=50_000)
                for tp, records in batch.items():
                    replay = replays[tp]
                    for record in records:
                        if record.offset >= ends[tp]:
                            break
                        replay.feed(record.key or b"", record.value)
                todo = await unfinished()

        await asyncio.wait_for(drain(), timeout)
        # What a replay still holds pending was written by a batch that never reached its
        # checkpoint: dropped.
    finally:
        await consumer.stop()
    return states
