"""The changelog format of the revenue state (store ``customers``: one record per customer).

Every record carries its format version (``"v"``) so a later format can still read an older
one: a new format gets a new version and a reader of its own here, and the readers of older
versions stay. Version 1 has short keys, to keep the changelog small:

    {"v": 1, "e": [{"t": "2026-01-15T10:00:00.000000+00:00", "ty": "subscription_started",
                    "s": "sub-1", "p": "team", "id": "evt-1", "m": "99.0000000000",
                    "a": {"segment": "smb"}}, ...]}

``m`` (MRR) is present for started and changed events only, ``a`` (attributes) when there are any.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from consumers.revenue.model import CustomerHistory, SubscriptionEventType, SubscriptionFact
from stream.state import Codec, UnknownFormat

__all__ = ["FORMAT_VERSION", "CUSTOMER_CODEC", "encode_history", "decode_history"]

FORMAT_VERSION = 1


def _fact_v1(fact: SubscriptionFact) -> dict[str, Any]:
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
    return out


def _read_v1(record: dict[str, Any]) -> CustomerHistory:
    return CustomerHistory(
        [
            SubscriptionFact(
                at=e["t"],
                type=SubscriptionEventType(e["ty"]),
                subscription_id=e["s"],
                plan=e["p"],
                event_id=e["id"],
                mrr=Decimal(e["m"]) if "m" in e else None,
                attributes=e.get("a") or {},
            )
            for e in record["e"]
        ]
    )


def encode_history(history: CustomerHistory) -> bytes:
    return orjson.dumps({"v": FORMAT_VERSION, "e": [_fact_v1(f) for f in history.events]})


def decode_history(raw: bytes) -> CustomerHistory:
    record = orjson.loads(raw)
    version = record.get("v") if isinstance(record, dict) else None
    if version == 1:
        return _read_v1(record)
    if version is None:
        raise UnknownFormat(
            "revenue customer record without a format version, written by a pre-release build: "
            "start with fresh state (a new PULSE_APP_ID, or delete the app's changelog topics)"
        )
    raise UnknownFormat(f"revenue customer record of format version {version!r}; this build reads 1")


CUSTOMER_CODEC = Codec(encode_history, decode_history)
