"""Per-account signals families contribute to the account health score (docs/metrics.md,
"Health score"): open tickets and first response times (support), CSAT answers (surveys).

A family keeps, per partition, one record per account in its changelog — open tickets now and
per-UTC-day counters of the last ``KEEP_DAYS`` days — and publishes each changed record to a
Redis hash of its own kind, one field per (account, partition). Every record is additive, so
the engagement family sums the fields of every kind and partition of an account when it scores
it: exact with any number of workers, and no family imports another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "SUPPORT_KIND",
    "SURVEYS_KIND",
    "KEEP_DAYS",
    "AccountSignals",
    "SignalBook",
    "signal_field",
    "merge_signals",
    "window_signals",
]

SUPPORT_KIND = "account-signals:support"
SURVEYS_KIND = "account-signals:surveys"
KINDS = (SUPPORT_KIND, SURVEYS_KIND)
#: days of counters an account record keeps behind its partition's watermark day: the
#: 30-day window and a day of slack for partitions whose watermarks differ
KEEP_DAYS = 31
_SEP = "\x1f"

Record = dict[str, Any]  # {"open": n, "d": {"<day ordinal>": {field: n}}}


@dataclass(frozen=True)
class AccountSignals:
    """An account's signals over the 30 UTC days ending with a day (None: no data)."""

    open_tickets: int | None = None
    frt_n: int = 0
    frt_sum: float = 0.0
    csat_n: int = 0
    csat_satisfied: int = 0

    @property
    def frt_mean(self) -> float | None:
        return self.frt_sum / self.frt_n if self.frt_n else None

    @property
    def csat_ratio(self) -> float | None:
        return self.csat_satisfied / self.csat_n if self.csat_n else None


def signal_field(account: str, partition: int) -> str:
    return f"{account}{_SEP}{partition}"


def _account_of(field: str) -> str:
    return field.rpartition(_SEP)[0]


class SignalBook:
    """One partition's account records of one family, in its changelog store."""

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self.store = store
        self.records: dict[str, Record] = {a: {"open": r.get("open", 0), "d": dict(r.get("d", {}))}
                                           for a, r in store.items()}  # fmt: skip
        #: accounts whose record changed since the last ``take_changed``
        self.changed: set[str] = set(self.records)

    def add(self, account: str, field: str, n: float, day: int | None = None) -> None:
        """Add ``n`` to the account's ``field`` of UTC day ordinal ``day`` (None: "open" now)."""
        if not n:
            return
        record = self.records.setdefault(account, {"open": 0, "d": {}})
        if day is None:
            record["open"] = record.get("open", 0) + n
        else:
            counters = record["d"].setdefault(str(day), {})
            value = counters.get(field, 0) + n
            if value:
                counters[field] = value
            else:
                counters.pop(field, None)
                if not counters:
                    del record["d"][str(day)]
        self._write(account)

    def expire(self, today: int) -> None:
        """Forget the days older than ``KEEP_DAYS`` behind ``today`` (once per new day)."""
        for account, record in list(self.records.items()):
            old = [d for d in record["d"] if int(d) <= today - KEEP_DAYS]
            for d in old:
                del record["d"][d]
            if old:
                self._write(account)

    def _write(self, account: str) -> None:
        record = self.records[account]
        self.changed.add(account)
        if not record.get("open") and not record["d"]:
            del self.records[account]
            self.store.pop(account, None)
        else:
            self.store[account] = record  # the store encodes it when the batch's changelog is written

    def unpublished(self) -> tuple[dict[str, Record], list[str]]:
        """(changed records, accounts whose record is gone) since they were last published;
        ``published`` clears them once the writes succeed."""
        changed = self.changed
        return {a: self.records[a] for a in changed if a in self.records}, [a for a in changed if a not in self.records]

    def published(self, accounts: Iterable[str]) -> None:
        self.changed.difference_update(accounts)


def merge_signals(by_kind: Mapping[str, Mapping[str, Record]]) -> dict[str, Record]:
    """Every kind's hash ({signal_field: record}) summed into one record per account."""
    out: dict[str, Record] = {}
    for fields in by_kind.values():
        for field, record in fields.items():
            merged = out.setdefault(_account_of(field), {"open": 0, "d": {}})
            merged["open"] += record.get("open", 0)
            for day, counters in record.get("d", {}).items():
                into = merged["d"].setdefault(int(day), {})
                for name, n in counters.items():
                    into[name] = into.get(name, 0) + n
    return out


def window_signals(record: Record | None, today: int, support: bool) -> AccountSignals:
    """The account's signals over the 30 UTC days ending with ``today``. Open tickets are
    known (0 without a record) only where the support family reports (``support``: its hash
    holds any account), else None."""
    if record is None:
        return AccountSignals(open_tickets=0 if support else None)
    days = [c for d, c in record["d"].items() if today - 29 <= int(d) <= today]
    total = {name: sum(c.get(name, 0) for c in days) for name in ("frt_n", "frt_sum", "csat_n", "csat_ok")}
    return AccountSignals(
        open_tickets=int(record.get("open", 0)) if support else None,
        frt_n=int(total["frt_n"]),
        frt_sum=total["frt_sum"],
        csat_n=int(total["csat_n"]),
        csat_satisfied=int(total["csat_ok"]),
    )
