"""Where alert state lives: each rule's records, the silences and which notifications were
already made. Memory for a backtest, Redis for workers (shared, survives restarts)."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field

import orjson
import redis.asyncio as aioredis

from alerts.machine import AlertRecord
from alerts.model import LabelSet, labels_key

__all__ = ["Silence", "silenced", "AlertStore", "MemoryAlertStore", "RedisAlertStore"]

#: how long a made notification's id is remembered (so a re-made one is not sent twice)
SENT_TTL_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class Silence:
    rule: str
    until: float
    #: label -> value the alert's labels must have (a value starting with ~ is a regex)
    match: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def covers(self, rule: str, labels: dict[str, str], now: float) -> bool:
        if now >= self.until or rule != self.rule:
            return False
        for k, want in self.match.items():
            have = labels.get(k)
            if have is None or not (re.fullmatch(want[1:], have) if want.startswith("~") else have == want):
                return False
        return True


def silenced(silences: list[Silence], rule: str, labels: dict[str, str], now: float) -> bool:
    """Whether any of ``silences`` covers an alert of ``rule`` with these (alert) labels."""
    return any(s.covers(rule, labels, now) for s in silences)


class AlertStore:
    """Base interface (and the memory store's contract)."""

    async def records(self, rule: str) -> dict[LabelSet, AlertRecord]:
        raise NotImplementedError

    async def save(self, records: list[AlertRecord]) -> None:
        raise NotImplementedError

    async def silences(self) -> list[Silence]:
        raise NotImplementedError

    async def add_silence(self, silence: Silence) -> None:
        raise NotImplementedError

    async def first_time(self, notification_id: str) -> bool:
        """True the first time a notification id is seen (then never again for a week)."""
        raise NotImplementedError


class MemoryAlertStore(AlertStore):
    def __init__(self) -> None:
        self._records: dict[str, dict[LabelSet, AlertRecord]] = {}
        self._silences: list[Silence] = []
        self._sent: set[str] = set()

    async def records(self, rule: str) -> dict[LabelSet, AlertRecord]:
        return dict(self._records.get(rule, {}))

    async def save(self, records: list[AlertRecord]) -> None:
        for r in records:
            self._records.setdefault(r.rule, {})[r.labels] = r

    async def silences(self) -> list[Silence]:
        return list(self._silences)

    async def add_silence(self, silence: Silence) -> None:
        self._silences.append(silence)

    async def first_time(self, notification_id: str) -> bool:
        if notification_id in self._sent:
            return False
        self._sent.add(notification_id)
        return True


class RedisAlertStore(AlertStore):
    """``<prefix>:alerts:state:<rule>`` (labels -> record), ``<prefix>:alerts:silences``
    (id -> silence, expired ones dropped on read) and ``<prefix>:alerts:sent:<id>`` marks."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    async def records(self, rule: str) -> dict[LabelSet, AlertRecord]:
        raw = await self.client.hgetall(f"{self.prefix}:alerts:state:{rule}")
        out = {}
        for value in raw.values():
            record = AlertRecord.from_json(orjson.loads(value))
            out[record.labels] = record
        return out

    async def save(self, records: list[AlertRecord]) -> None:
        if not records:
            return
        pipe = self.client.pipeline(transaction=True)
        for r in records:
            pipe.hset(f"{self.prefix}:alerts:state:{r.rule}", labels_key(r.labels), orjson.dumps(r.to_json()))
        await pipe.execute()

    async def silences(self) -> list[Silence]:
        import time

        key = f"{self.prefix}:alerts:silences"
        raw = await self.client.hgetall(key)
        out: list[Silence] = []
        expired: list[Silence] = []
        for value in raw.values():
            silence = Silence(**orjson.loads(value))
            (expired if silence.until <= time.time() else out).append(silence)
        if expired:
            await self.client.hdel(key, *(s.id for s in expired))
        return out

    async def add_silence(self, silence: Silence) -> None:
        await self.client.hset(f"{self.prefix}:alerts:silences", silence.id, orjson.dumps(asdict(silence)))

    async def first_time(self, notification_id: str) -> bool:
        made = await self.client.set(f"{self.prefix}:alerts:sent:{notification_id}", b"1", nx=True, ex=SENT_TTL_SECONDS)
        return bool(made)
