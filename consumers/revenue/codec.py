"""The changelog format of the revenue state: store ``customers`` (one record per customer) and
store ``folded`` (one record per bucket: the sum of what the partition's customers folded).

Every record carries its format version (``"v"``) so a later format can still read an older
one: a new format gets a new version and a reader of its own here, and the readers of older
versions stay.

Version 4 (written): the open tail of events, and what is folded (``consumers.revenue.ledger``),
with short keys to keep the changelog small::

    {"v": 4, "e": [<fact>, ...], "f": <folded> | null}
    <fact>   = {"t": "2026-01-15T10:00:00.000000+00:00", "ty": "subscription_started", "s": "sub-1",
                "p": "team", "id": "evt-1", "m": "99.0000000000", "a": {"segment": "smb"}}
               (``m`` for started and changed events only, ``a`` when there are attributes,
               ``an``: when a scheduled change was announced; ``t`` is then when it takes effect)
    <folded> = {"u": until, "t0": first_at, "t1": last_at, "s": {sub: [plan, mrr]}, "tr": [open trials],
                "to": trials opened, "tc": trials closed, "m": mrr, "p": ever paid, "a": attributes,
                "c": {bucket: {field: value}}, "mo": <month carry> | null, "r": [[at, kind, before, after]]}

Version 3 (read): version 4 without scheduled changes (no ``an``). Both have the layout of
version 2, but ``c`` is empty: a folded customer's final bucket figures are
added to the partition's ``folded`` store instead, so a record does not grow with the
customer's days of history. Version 2 (read): ``c`` holds the customer's own folded figures;
its next fold moves them to the ``folded`` store.

Version 1: ``{"v": 1, "e": [<fact>, ...]}``, a history with nothing folded.

A ``folded`` record: ``v1|{"<field>": "<decimal>", ...}`` under the bucket's key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from consumers.revenue.buckets import upgrade_cohort_fields
from consumers.revenue.model import (
    CustomerHistory,
    Folded,
    MonthCarry,
    MovementKind,
    SubscriptionEventType,
    SubscriptionFact,
)
from stream.state import Codec, UnknownFormat, framed

__all__ = [
    "FORMAT_VERSION",
    "CUSTOMER_CODEC",
    "FOLDED_CODEC",
    "encode_history",
    "decode_history",
    "encode_tail",
    "encode_folded",
]

FORMAT_VERSION = 4


def _fact(fact: SubscriptionFact) -> dict[str, Any]:
    out: dict[str, Any] = {
        "t": fact.at,
        "ty": fact.type.value,
        "s": fact.subscription_id,
        "p": fact.plan,
        "id": fact.event_id,
    }
    if fact.mrr is not None:
        out["m"] = str(fact.mrr)
    if fact.attributes:
        out["a"] = dict(fact.attributes)
    if fact.announced is not None:
        out["an"] = fact.announced
    return out


def _read_fact(e: dict[str, Any]) -> SubscriptionFact:
    return SubscriptionFact(
        at=e["t"],
        type=SubscriptionEventType(e["ty"]),
        subscription_id=e["s"],
        plan=e["p"],
        event_id=e["id"],
        mrr=Decimal(e["m"]) if "m" in e else None,
        attributes=e.get("a") or {},
        announced=e.get("an"),
    )


def _folded(f: Folded) -> dict[str, Any]:
    month = f.month
    return {
        "u": f.until,
        "t0": f.first_at,
        "t1": f.last_at,
        "s": {sub: [plan, str(mrr)] for sub, (plan, mrr) in f.subs.items()},
        "tr": f.open_trials,
        "to": f.trials_opened,
        "tc": f.trials_closed,
        "m": str(f.mrr),
        "p": f.ever_paid,
        "a": f.attributes,
        "c": {b: {k: str(v) for k, v in fields.items()} for b, fields in f.contributions.items()},
        "mo": None
        if month is None
        else {
            "m": month.month,
            "k": sorted(month.kinds),
            "s": str(month.start),
            "c": {k: str(v) for k, v in month.cohort.items()},
            "ch": month.churned,
            "la": str(month.last_after),
        },
        "r": [[at, kind.value, str(before), str(after)] for at, kind, before, after in f.recent],
    }


def _read_folded(f: dict[str, Any]) -> Folded:
    mo = f["mo"]
    return Folded(
        until=f["u"],
        first_at=f["t0"],
        last_at=f["t1"],
        subs={sub: (plan, Decimal(mrr)) for sub, (plan, mrr) in f["s"].items()},
        open_trials=list(f["tr"]),
        trials_opened=f["to"],
        trials_closed=f["tc"],
        mrr=Decimal(f["m"]),
        ever_paid=f["p"],
        attributes=dict(f["a"]),
        contributions={
            b: upgrade_cohort_fields({k: Decimal(v) for k, v in fields.items()}) for b, fields in f["c"].items()
        },
        month=None
        if mo is None
        else MonthCarry(
            mo["m"],
            set(mo["k"]),
            Decimal(mo["s"]),
            {k: Decimal(v) for k, v in mo["c"].items()},
            mo["ch"],
            Decimal(mo["la"]),
        ),
        recent=[(at, MovementKind(kind), Decimal(b), Decimal(a)) for at, kind, b, a in f["r"]],
    )


def encode_tail(events: list[SubscriptionFact]) -> bytes:
    """The open tail's part of a record (its size bounds the record's)."""
    return orjson.dumps([_fact(e) for e in events])


def encode_folded(folded: Folded) -> bytes:
    """The folded part of a record (its size bounds the record's)."""
    return orjson.dumps(_folded(folded))


def encode_history(history: CustomerHistory) -> bytes:
    folded = None if history.folded is None else _folded(history.folded)
    return orjson.dumps({"v": FORMAT_VERSION, "e": [_fact(f) for f in history.events], "f": folded})


def decode_history(raw: bytes) -> CustomerHistory:
    record = orjson.loads(raw)
    version = record.get("v") if isinstance(record, dict) else None
    if version in (2, 3, 4):
        folded = record["f"]
        return CustomerHistory([_read_fact(e) for e in record["e"]], None if folded is None else _read_folded(folded))
    if version == 1:
        return CustomerHistory([_read_fact(e) for e in record["e"]])
    if version is None:
        raise UnknownFormat(
            "revenue customer record without a format version, written by a pre-release build: "
            "start with fresh state (a new PULSE_APP_ID, or delete the app's changelog topics)"
        )
    raise UnknownFormat(f"revenue customer record of format version {version!r}; this build reads 1, 2, 3, 4")


CUSTOMER_CODEC = Codec(encode_history, decode_history)


def _encode_fields(fields: dict[str, Decimal]) -> bytes:
    return orjson.dumps({k: str(v) for k, v in fields.items()})


def _decode_fields(raw: bytes) -> dict[str, Decimal]:
    return upgrade_cohort_fields({k: Decimal(v) for k, v in orjson.loads(raw).items()})


FOLDED_CODEC = framed(Codec(_encode_fields, _decode_fields))
