"""The plug-in interface of a metric family: what the runtime asks of one, and nothing more.

A metric family (``consumers/<family>/``) turns the events of one or more source topics into
figures. The runtime (engine, replay, web, CLI) knows families only through this interface and
the registry (stream/registry.py); it imports no family. Every hook has a documented no-op
default, so a family implements only what it has — in the manner of faust's ``Sensor`` or
quix-streams' ``Store``.

How to add a family, step by step: docs/architecture.md, "How to add a metric family".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from prometheus_client.registry import Collector

from stream.decoding import Rejected
from stream.outcomes import APPLIED, ApplyResult
from stream.settings import FamilySettings, PulseSettings
from stream.snapshots import SnapshotStore
from stream.state import Codec, PartitionState

__all__ = [
    "Processor",
    "CountOnly",
    "Ledger",
    "LedgerProcessor",
    "BulkResult",
    "FamilyView",
    "Route",
    "Request",
    "Reply",
    "Report",
    "report_days",
    "MetricFamily",
]


class BulkResult(NamedTuple):
    """What a bulk processor did with ``values[start:]`` (see :meth:`Processor.apply_records`)."""

    processed: int
    duplicates: int
    #: (record index, index inside a batched record or None, occurred_at in epoch µs)
    late: list[tuple[int, int | None, int]]
    #: the same, of events beyond their record's limit (refused as future, nothing changed)
    future: list[tuple[int, int | None, int]]
    #: (record index, index inside a batched record or None, the partition of its entity key):
    #: events not applied because they belong to another partition
    misplaced: list[tuple[int, int | None, int]]
    #: with ``group``, the misplaced events instead: (record index, home partition, the first
    #: event's entity key, the bytes to forward, events), one per record and home partition in
    #: the order of their first events; the bytes are the record's own when it is one event,
    #: else its elements' own bytes as a JSON array (one element: that element's bytes)
    forwards: list[tuple[int, int, bytes, bytes, int]]
    #: the first record it did not take (it goes through validation and :meth:`apply`), or None
    deferred: int | None
    #: (index, its latest occurred_at in epoch µs) of the first record left untouched because
    #: an event of it is after ``until``, or None
    stopped: tuple[int, int] | None = None
    #: the latest occurred_at (epoch µs, within each record's limit) of the records it took
    latest: int | None = None
    #: what each of ``homes`` took in the same pass (see :meth:`Processor.apply_records`)
    homes: Sequence[HomeTaken] = ()


class HomeTaken(NamedTuple):
    """The events of other partitions' entities a bulk processor applied to their owned home
    partition's state in the same pass (``homes`` of :meth:`Processor.apply_records`)."""

    partition: int
    processed: int
    duplicates: int
    #: (record index, index inside a batched record or None, occurred_at in epoch µs)
    late: list[tuple[int, int | None, int]]
    #: indexes of the records that gave it events, ascending
    records: list[int]
    #: events routed to it (taken or, before its first index, held already)
    events: int


class Processor:
    """A family's reducer for one topic over one partition's state: same input, same state.

    The runtime validates and deduplicates each record, then calls :meth:`apply` with the
    validated event (a model of stream/events.py); at the end of every batch it calls
    :meth:`flush`, writes the partition's changelog and checkpoint, and later :meth:`publish`.
    """

    #: Codec of each named store this processor keeps in its partition state (default JSON).
    codecs: Mapping[str, Codec] = {}
    #: True when the processor remembers event ids itself and answers DUPLICATE: the runtime's
    #: deduper is then skipped for its topic.
    dedupes: bool = False
    #: True when the processor itself recognises a resend older than the runtime's dedupe
    #: retention (revenue: against the entity's history); otherwise the runtime refuses such
    #: an event as ``late``, since it could no longer tell a resend from a new event.
    knows_old_resends: bool = False
    #: True when :meth:`apply_records` takes raw records in bulk.
    bulk: bool = False

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        """Apply one valid, first-seen event; APPLIED, DUPLICATE or a Refused."""
        return APPLIED

    def apply_records(
        self,
        state: PartitionState,
        values: list[bytes | None],
        limits: list[int],
        start: int,
        partitions: int,
        group: bool = False,
        own: bool = True,
        until: int | None = None,
        homes: Mapping[int, tuple[PartitionState, int]] | None = None,
    ) -> BulkResult:
        """Take raw records ``values[start:]`` in order, until one it cannot take for sure, or
        (with ``until``, epoch µs) one whose latest event within its limit is after ``until``;
        refuse (as future) an event later than ``limits[i]`` (epoch µs) of its record i, and
        (with ``partitions`` > 0) leave out, as misplaced, an event whose entity key belongs to
        another partition, both before they change anything; with ``group``, return those as
        ready-made forwards (one record per home, see :class:`BulkResult`) instead of one by
        one. ``own=False``: records read again after recovery, whose events for this partition
        it holds already: every event is left out as misplaced, this partition's too.
        ``homes`` ({partition: (its state, first record index)}): other partitions of the
        same process that take their events in this pass, applied to their state as they come
        rather than forwarded (none from records before a home's first index: it holds those),
        reported in :attr:`BulkResult.homes`; a processor may ignore it (its events are then
        forwarded). Only called when :attr:`bulk`."""
        raise NotImplementedError(f"{type(self).__name__} sets bulk = True without apply_records")

    def expired(self, state: PartitionState) -> list[Rejected]:
        """Events this processor held waiting (accepted, not yet counted) and now gives up on:
        each becomes a dead letter (reason ``orphan``, offset -1: it left its record long ago).
        Asked after every batch; the default holds nothing."""
        return []

    def loaded(self, state: PartitionState) -> None:
        """The partition's state was recovered (or created): rebuild anything derived from it."""

    def dropped(self, partition: int) -> None:
        """The partition moved to another worker: forget anything derived from it."""

    def flush(self, state: PartitionState) -> None:
        """End of a batch, before its checkpoint: write in-memory changes into the stores."""

    def flush_many(self, states: Sequence[PartitionState]) -> None:
        """:meth:`flush` of each of a batch's partitions (each given once). A family whose
        partitions' flushes are independent may do them together (side by side); the stores
        must end as ``flush`` of each, one after the other, would leave them."""
        for state in states:
            self.flush(state)

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        """Share this partition's committed summary via Redis (throttled by the engine). What
        it shares is marked published only once the writes succeed: a failed publish (Redis
        down) is retried whole by the next one."""

    def resync(self, state: PartitionState) -> None:
        """Redis may have lost what this partition shared (it restarted, was flushed, or a
        publish failed): mark all of it for the next publish. The default rebuilds through
        :meth:`loaded`, which a family marks everything in; override it with something cheaper."""
        self.loaded(state)


class Ledger(Protocol):
    """What a family's per-partition reducer offers :class:`LedgerProcessor`."""

    def apply(self, event: Any) -> ApplyResult: ...

    def flush(self) -> None: ...


L = TypeVar("L", bound=Ledger)


class LedgerProcessor(Processor, Generic[L]):
    """A processor that keeps one ledger per owned partition, built from the partition's state
    by :meth:`build_ledger`; apply and flush go to the partition's ledger."""

    def __init__(self) -> None:
        self.ledgers: dict[int, L] = {}

    def build_ledger(self, state: PartitionState) -> L:
        raise NotImplementedError

    def ledger(self, state: PartitionState) -> L:
        if state.partition not in self.ledgers:
            self.loaded(state)
        return self.ledgers[state.partition]

    def loaded(self, state: PartitionState) -> None:
        self.ledgers[state.partition] = self.build_ledger(state)

    def dropped(self, partition: int) -> None:
        self.ledgers.pop(partition, None)

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        return self.ledger(state).apply(event)

    def flush(self, state: PartitionState) -> None:
        self.ledger(state).flush()


class CountOnly(Processor):
    """For a topic no family reduces yet: validation, dedupe, dead letters and counters only."""


@dataclass(frozen=True, slots=True)
class Request:
    """What a route handler sees of an HTTP request."""

    query: Mapping[str, str] = field(default_factory=dict)
    #: values of the ``{name}`` segments of the route's path
    params: Mapping[str, str] = field(default_factory=dict)
    #: the request's body (a POST's)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON reply: the body is serialized with orjson."""

    body: Any
    status: int = 200


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route of a family's API, e.g. ``/api/v1/revenue``."""

    path: str
    handler: Callable[[Request], Awaitable[Reply]]
    #: Refresh the family's view from Redis first (503 with the reason when that fails).
    fresh: bool = True
    #: the HTTP method it answers
    method: str = "GET"


def report_days(days: Iterable[int]) -> list[int]:
    """The rows of a daily report: every UTC day ordinal from the first to the last given
    (days without data in between included, as empty rows)."""
    found = sorted(days)
    return list(range(found[0], found[-1] + 1)) if found else []


@dataclass(frozen=True, slots=True)
class Report:
    """A ``pulse report <name>`` subcommand: replay a file, print one row per period."""

    name: str
    help: str
    #: the topic the report replays; a file of bare events is read as this topic
    topic: str
    columns: tuple[str, ...]
    #: the replayed processor of ``topic`` (every partition's state) -> rows
    rows: Callable[[Processor], list[dict[str, Any]]]
    #: other topics whose figures the rows carry (another family's): replayed too, and their
    #: processors given to ``joined`` (which then replaces ``rows``) by topic
    also: tuple[str, ...] = ()
    joined: Callable[[Processor, Mapping[str, Processor]], list[dict[str, Any]]] | None = None


class FamilyView:
    """What a worker serves of a family for the whole deployment, from the merged snapshots
    every partition's owner published to Redis (whichever worker answers, it answers for all)."""

    #: seconds between two runs of :meth:`refresh_background` in a worker (0: it has none)
    background_interval: float = 0.0

    async def refresh(self) -> None:
        """Read the latest snapshots from Redis (the web layer calls it at most twice a second)."""

    async def refresh_background(self) -> None:
        """Read and compute what costs too much for every scrape because it grows with the
        entities held (e.g. every account's health): a worker runs it in a task of its own
        every :attr:`background_interval` seconds, and a replay after each :meth:`refresh`.
        It shares the worker's event loop, so it must yield to it often."""

    def collectors(self) -> Iterable[Collector]:
        """Prometheus collectors computing the family's gauges from the last refresh."""
        return ()

    def routes(self) -> Iterable[Route]:
        """The family's HTTP API."""
        return ()


class MetricFamily:
    """One metric family: its topics, reducer, snapshot view, gauges, routes and reports.

    Constructed once per process with the core settings; a family reads its own settings
    section (a :class:`FamilySettings` subclass, ``PULSE_<FIELD>`` variables) itself.
    """

    #: short name: registry key, log field, docs heading
    name: ClassVar[str] = ""
    #: source topics (stream/topics.py) whose events this family reduces; each topic has at
    #: most one family
    topics: ClassVar[tuple[str, ...]] = ()
    #: the family's settings section, listed by `pulse` for documentation and checks
    settings_model: ClassVar[type[FamilySettings]] = FamilySettings
    #: the family's ``pulse report`` subcommands (known before any settings are read, so the
    #: CLI can list them)
    reports: ClassVar[Sequence[Report]] = ()

    def __init__(self, settings: PulseSettings) -> None:
        self.settings = settings

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        """A fresh processor of ``topic`` (one of :attr:`topics`). ``replay`` is True for
        ``pulse report``, which covers a whole file in one process (no retention cut-off)."""
        return CountOnly()

    def view(self, snapshots: SnapshotStore) -> FamilyView:
        """The deployment-wide view a worker serves (gauges, routes)."""
        return FamilyView()
