"""Engagement state of one partition of `product-events`: the reducer the engine and replay run.

The per-event work (JSON decoding and validation, dedupe, watermark, sessions, signup cohorts,
per-account daily activity) is the compiled kernel ``consumers.engagement._kernel`` (Rust,
native/); at ~10 µs an event in Python it was most of a worker's time. Distinct counts stay
Apache DataSketches HyperLogLog sketches, one per UTC day (and feature) per partition: the
kernel hands over each batch's distinct ids per sketch in first-seen order, which yields the
same sketch as updating it event by event. State is bounded: days older than ``keep_days``
behind the partition's event-time watermark, sessions idle for longer than grace + gap and
signups whose activation window has passed are dropped.

The same reducer in plain Python, written from docs/metrics.md, is
tests/reference/engagement_ledger.py; a property test checks that both reach the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from datasketches import hll_sketch

from consumers.engagement._kernel import EngagementKernel, flush_many
from consumers.engagement.definitions import DEFAULT_WEIGHTS, FEATURE_LG_K, LG_K, SKETCH_TYPE, day_of_sketch
from consumers.engagement.facts import ProductFacts
from consumers.engagement.settings import EngagementSettings
from stream.outcomes import APPLIED, DUPLICATE, ApplyResult, late
from stream.settings import PulseSettings
from stream.state import RAW, Codec, PartitionState, framed

__all__ = ["EngagementConfig", "EngagementLedger", "KERNEL_STORES", "micros_of"]

#: Stores the kernel owns: their changelog values are JSON (dedupe_log: packed 64-bit hashes).
KERNEL_STORES = ("dedupe_log", "meta", "day", "session_log", "signup", "account", "account_user")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime.resolution


@dataclass(frozen=True)
class EngagementConfig:
    inactive_names: frozenset[str] = frozenset({"page_view"})
    key_features: tuple[str, ...] = ("dashboards", "reports", "alerts", "integrations")
    activation_names: frozenset[str] = frozenset({"invite_sent"})
    activation_days: int = 7
    session_gap_seconds: int = 1800
    grace_seconds: int = 2 * 86400
    keep_days: int = 35
    lg_k: int = LG_K
    feature_lg_k: int = FEATURE_LG_K
    max_features_per_day: int = 50
    action_weights: Any = None  # event name -> weight of the engagement score
    dedupe_retention_days: int = 7

    def __post_init__(self) -> None:
        if self.action_weights is None:
            object.__setattr__(self, "action_weights", dict(DEFAULT_WEIGHTS))

    @classmethod
    def from_settings(cls, settings: PulseSettings, section: EngagementSettings) -> EngagementConfig:
        return cls(
            inactive_names=frozenset(section.inactive_event_names),
            key_features=tuple(section.key_features),
            activation_names=frozenset(section.activation_event_names),
            activation_days=section.activation_days,
            session_gap_seconds=section.session_gap_seconds,
            grace_seconds=settings.grace_period_seconds,
            action_weights=dict(section.engagement_weights),
            dedupe_retention_days=settings.dedupe_retention_days,
        )

    def kernel(self) -> EngagementKernel:
        return EngagementKernel(
            inactive_names=sorted(self.inactive_names),
            key_features=list(self.key_features),
            activation_names=sorted(self.activation_names),
            activation_days=self.activation_days,
            session_gap_seconds=self.session_gap_seconds,
            grace_seconds=self.grace_seconds,
            keep_days=self.keep_days,
            lg_k=self.lg_k,
            feature_lg_k=self.feature_lg_k,
            max_features_per_day=self.max_features_per_day,
            weights={k: int(v) for k, v in dict(self.action_weights).items()},
            dedupe_retention_days=self.dedupe_retention_days,
        )


def micros_of(at: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly (no float on the way)."""
    return (at - _EPOCH) // _MICROSECOND


class EngagementLedger:
    """The kernel plus this partition's sketches; ``flush`` writes what changed into the stores."""

    #: sketches: DataSketches' compact serialization, framed with its format version; the
    #: kernel frames the values of its own stores
    STORES: dict[str, Codec] = {"sketch": framed(RAW), **{name: RAW for name in KERNEL_STORES}}

    def __init__(self, config: EngagementConfig, state: PartitionState) -> None:
        self.config = config
        self.state = state
        self.kernel = config.kernel()
        for name in KERNEL_STORES:
            values = state.data.get(name)
            if not values:
                continue
            for key, value in values.items():
                self.kernel.load(name, key, value if isinstance(value, bytes) else orjson.dumps(value))
            values.clear()  # the kernel holds it now; the changelog keeps receiving its changes
        self.kernel.finish_load()
        self._sketches: dict[str, hll_sketch] = {
            key: hll_sketch.deserialize(blob) for key, blob in state.store("sketch").items()
        }
        self._dirty_sketches: set[str] = set()
        self._dirty_accounts: set[str] = set()

    # --- the reducer ----------------------------------------------------------------------

    def apply(self, e: ProductFacts) -> ApplyResult:
        """One event that took the Python path (validated by pydantic)."""
        verdict = self.kernel.apply_event(
            e.event_id,
            micros_of(e.occurred_at),
            e.name,
            e.user_id,
            e.account_id,
            e.anonymous_id,
            e.feature,
            e.session_id,
        )
        if verdict is None:
            return APPLIED
        return DUPLICATE if verdict == "duplicate" else late(e.occurred_at)

    def apply_records(
        self,
        values: list[bytes | None],
        limits: list[int],
        start: int,
        partition: int = 0,
        partitions: int = 0,
        group: bool = False,
        until: int | None = None,
        homes: Mapping[int, tuple[EngagementLedger, int]] | None = None,
    ) -> tuple[
        int, int, list[tuple[int, int | None, int]], list[tuple[int, int | None, int]],
        list[tuple[int, int | None, int]], list[tuple[int, int, bytes, bytes, int]], int | None,
        tuple[int, int] | None, int | None,
        list[tuple[int, int, int, list[tuple[int, int | None, int]], list[int], int]],
    ]:  # fmt: skip
        """Records ``values[start:]`` in order, until one needs pydantic (its index is returned)
        or one has an event after ``until`` (epoch µs); ``limits[i]``: the latest occurred_at
        (epoch µs) record i may carry; with ``partitions``, events whose entity belongs to
        another partition than ``partition`` are returned (with ``group``: as one forward per
        record and home, see stream.family.BulkResult); ``homes``: other partitions' ledgers
        that take their events in this pass, from a first record index."""
        kernels = None if not homes else {p: (ledger.kernel, first) for p, (ledger, first) in homes.items()}
        if until is None:
            return self.kernel.apply_records(values, limits, start, partition, partitions, group, homes=kernels)
        return self.kernel.apply_records(values, limits, start, partition, partitions, group, until, kernels)

    def _sync_sketches(self) -> None:
        expired_before, updates = self.kernel.take_sketch_updates()
        sketches = self._sketches
        if expired_before is not None:
            for key in [k for k in sketches if day_of_sketch(k) < expired_before]:
                del sketches[key]
                self._dirty_sketches.add(key)
        for key, lg_k, ids in updates:
            sketch = sketches.get(key)
            if sketch is None:
                sketch = sketches[key] = hll_sketch(lg_k, SKETCH_TYPE)
            update = sketch.update
            for who in ids:
                update(who)
            self._dirty_sketches.add(key)

    # --- durability ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Serialize what this batch changed into the partition's changelog (no figure changes)."""
        self._flush_sketches()
        self._flushed(*self.kernel.flush(self._batch_id()))

    @staticmethod
    def flush_many(ledgers: Sequence[EngagementLedger]) -> None:
        """:meth:`flush` of several partitions' ledgers (each once), the kernels' encoding side
        by side: the same records as flushing them one after the other."""
        for ledger in ledgers:
            ledger._flush_sketches()
        flushed = flush_many([(ledger.kernel, ledger._batch_id()) for ledger in ledgers])
        for ledger, (records, accounts) in zip(ledgers, flushed, strict=True):
            ledger._flushed(records, accounts)

    def _batch_id(self) -> int:
        return self.state.next_offset or 0

    def _flush_sketches(self) -> None:
        self._sync_sketches()
        store = self.state.store("sketch")
        for key in self._dirty_sketches:
            if key in self._sketches:
                store[key] = self._sketches[key].serialize_compact()
            elif key in store:
                del store[key]

    def _flushed(self, records: list[tuple[bytes, bytes | None]], accounts: list[str]) -> None:
        self.state.emit(records)
        self._dirty_accounts.update(accounts)

    def take_dirty(self) -> tuple[set[str], set[str]]:
        """Sketch keys and account-day keys changed since the last call (for publishing)."""
        sketches, accounts = self._dirty_sketches, self._dirty_accounts
        self._dirty_sketches, self._dirty_accounts = set(), set()
        return sketches, accounts

    # --- reading --------------------------------------------------------------------------------

    @property
    def sketches(self) -> dict[str, hll_sketch]:
        self._sync_sketches()
        return self._sketches

    @property
    def watermark(self) -> int | None:
        """Latest occurred_at applied, in epoch seconds."""
        return self.kernel.watermark

    @property
    def days(self) -> dict[str, dict[str, Any]]:
        days: dict[str, dict[str, Any]] = orjson.loads(self.kernel.days_json())
        return days

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        accounts: dict[str, dict[str, Any]] = orjson.loads(self.kernel.accounts_json())
        return accounts

    def account_records_encoded(self, keys: Iterable[str]) -> dict[str, bytes]:
        """These account-day records as JSON bytes, as the kernel encodes them (no Python objects)."""
        return dict(self.kernel.accounts_encoded(list(keys)))

    def account_keys(self) -> list[str]:
        return self.kernel.account_keys()

    @property
    def sessions(self) -> dict[str, tuple[int, int, int]]:
        return {k: tuple(v) for k, v in orjson.loads(self.kernel.sessions_json()).items()}

    @property
    def signups(self) -> dict[str, tuple[int, int]]:
        return {k: tuple(v) for k, v in orjson.loads(self.kernel.signups_json()).items()}
