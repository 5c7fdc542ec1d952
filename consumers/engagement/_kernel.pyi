"""The compiled per-event reducer of the product-events topic (Rust + PyO3, native/src/lib.rs).

Python keeps the HyperLogLog sketches, the changelog and the figures; this module does the
per-event work (JSON decoding, validation, dedupe, sessions, cohorts, account activity) that
costs 10+ µs an event in Python. See consumers/engagement/ledger.py.
"""

from collections.abc import Sequence
from typing import Final, Literal, Self, TypeAlias, final

__all__ = ["EngagementKernel", "MAX_BATCH", "SIDE_BY_SIDE_BYTES", "SIDE_BY_SIDE_EVENTS"]

#: (event_id, occurred_at in epoch µs, name, user_id, account_id, anonymous_id, feature, session_id)
_Facts: TypeAlias = tuple[str, int, str, str | None, str | None, str | None, str | None, str | None]
#: (record index, element index in an SDK batch or None, occurred_at in epoch microseconds)
_Late: TypeAlias = tuple[int, int | None, int]
#: (record index, home partition, its first event's entity key, the bytes to forward, events)
_Forward: TypeAlias = tuple[int, int, bytes, bytes, int]
#: (home partition, processed, duplicates, late, indexes of the records that gave it events, events routed to it)
_HomeTaken: TypeAlias = tuple[int, int, int, list[_Late], list[int], int]
#: (sketch key, lg_k, ids in first-seen order)
_SketchUpdate: TypeAlias = tuple[str, int, list[str]]
#: (changelog key `<store>\x1f<key>`, JSON value or None for a tombstone)
_Record: TypeAlias = tuple[bytes, bytes | None]

#: The largest SDK batch (events in one JSON-array record), as stream.decoding.MAX_BATCH.
MAX_BATCH: Final[int]
#: From this many events in a window of an ``apply_records`` pass (below), spread over more than
#: one ledger (this partition's and its homes'), two threads apply them, each ledger's in order.
SIDE_BY_SIDE_EVENTS: Final[int]
#: An ``apply_records`` pass reads its records in windows: the first of this many bytes, each
#: next one twice as large; a window after the first holding this many bytes is decoded ahead
#: on two threads.
SIDE_BY_SIDE_BYTES: Final[int]

@final
class EngagementKernel:
    """Engagement state of one partition (dedupe, watermark, days, sessions, cohorts, accounts)."""

    def __new__(
        cls,
        *,
        inactive_names: Sequence[str],
        key_features: Sequence[str],
        activation_names: Sequence[str],
        activation_days: int,
        session_gap_seconds: int,
        grace_seconds: int,
        keep_days: int,
        lg_k: int,
        feature_lg_k: int,
        max_features_per_day: int,
        weights: dict[str, int],
        dedupe_retention_days: int,
    ) -> Self:
        """An empty reducer with this configuration (EngagementConfig.kernel builds it)."""

    def apply_records(
        self,
        values: list[bytes] | list[bytes | None],
        limits: list[int],
        start: int,
        partition: int = 0,
        partitions: int = 0,
        group: bool = False,
        until: int = ...,
        homes: dict[int, tuple[EngagementKernel, int]] | None = None,
    ) -> tuple[
        int, int, list[_Late], list[_Late], list[tuple[int, int | None, int]], list[_Forward], int | None,
        tuple[int, int] | None, int | None, list[_HomeTaken],
    ]:  # fmt: skip
        """Apply `values[start:]` until one needs Python; `limits[i]`: the latest occurred_at (µs)
        record i may carry; with `partitions`, events whose entity belongs elsewhere are returned,
        one by one, or with `group` as one forward per record and home partition holding their
        own bytes, except those of `homes` ({partition: (its kernel, first record index)}),
        applied to that kernel in the same pass (none from records before its first index); a
        record whose latest event (µs, within its limit) is after `until` stops the call before
        it. (processed, duplicates, late, future, misplaced (i, element, partition), forwards
        (i, partition, first key, value, events), the index to hand to Python or None, (index,
        latest occurred_at) of the record left for its time or None, the latest occurred_at of
        the records taken or None, what each home took)."""

    def apply_event(
        self,
        event_id: str,
        micros: int,
        name: str,
        user_id: str | None,
        account_id: str | None,
        anonymous_id: str | None,
        feature: str | None,
        session_id: str | None,
    ) -> Literal["duplicate", "late"] | None:
        """One event validated by pydantic (the Python path): None, "duplicate" or "late"."""

    @staticmethod
    def validate(raw: bytes) -> list[_Facts] | None:
        """What the compiled validator reads of a record (for tests): facts per event, or None."""

    def take_sketch_updates(self) -> tuple[int | None, list[_SketchUpdate]]:
        """Drop sketches of days before the first item (if not None), then apply the updates in order."""

    def flush(self, batch: int) -> tuple[list[_Record], list[str]]:
        """Changelog records of everything changed since the last flush, and the touched account-days."""

    def load(self, store: str, key: str, value: bytes) -> None:
        """One record of a recovered store (JSON as written by `flush`); ValueError if malformed."""

    def finish_load(self) -> None:
        """All records are loaded: replay session logs, apply the last expiry, rebuild the indexes."""

    @property
    def watermark(self) -> int | None:
        """The partition's event-time watermark in epoch seconds (None before any event)."""

    def days_json(self) -> bytes:
        """Per-day counters as JSON `{date ordinal: {...}}`, for reading figures and comparing states."""

    def accounts_json(self) -> bytes:
        """All account-day records (with users) as JSON `{key: {"w", "u", "f"}}`, for reading state."""

    def accounts_encoded(self, keys: Sequence[str]) -> list[tuple[str, bytes]]:
        """[(account-day key, its JSON)] for the keys that exist: published to Redis as they are."""

    def account_keys(self) -> list[str]:
        """Keys of every account-day held, to enumerate what can be published."""

    def sessions_json(self) -> bytes:
        """Open sessions as JSON `{key: [first, last, events]}`, for reading and comparing state."""

    def signups_json(self) -> bytes:
        """Signups in their activation window as JSON `{key: [ts, activated]}`, for reading state."""

    def sizes(self) -> dict[str, int]:
        """Entry counts of the state (sizes for logs and benchmarks)."""

def flush_many(kernels: list[tuple[EngagementKernel, int]]) -> list[tuple[list[_Record], list[str]]]:
    """`flush(batch)` of each kernel, in order, the encoding on two threads: the same records as
    flushing them one after the other. A kernel given twice raises (it is already borrowed)."""

def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partition (murmur2) of `key` among `partitions`."""
