"""The durable outbox: every notification with the channels it has not reached yet.

A notification is put here before anything is sent (and before the alert state that says it
was made is saved), so a crash at any point loses nothing: the next round, in this process or
in the worker that takes over after a restart, delivers what is left. Delivery is therefore
at least once; receivers dedupe on the notification id.

Bounded: at most ``max_entries`` (10,000 by default) notifications are kept; putting one more
drops the oldest, with a warning naming it (a channel down for so long that 10,000
notifications piled up is an outage to fix, not a backlog to replay).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import redis.asyncio as aioredis

from alerts.channels.payloads import decode_notification, encode_notification
from alerts.model import Notification

__all__ = ["Outbox", "MemoryOutbox", "RedisOutbox", "MAX_ENTRIES", "Pending"]

log = logging.getLogger("pulse.alerts")

#: how many notifications the outbox keeps at most
MAX_ENTRIES = 10_000

#: a notification and the channels it has still to reach
Pending = tuple[Notification, list[str]]


class Outbox:
    """The interface (and the contract :class:`MemoryOutbox` and :class:`RedisOutbox` keep)."""

    max_entries: int = MAX_ENTRIES

    async def put(self, notification: Notification) -> None:
        """Record it with all of its channels pending. Putting an id already there changes
        nothing (the channels it reached stay done); one without channels is not kept."""
        raise NotImplementedError

    async def done(self, notification_id: str, channel: str) -> None:
        """It reached ``channel``; the entry goes when no channel is left."""
        raise NotImplementedError

    async def pending(self) -> list[Pending]:
        """Every entry, oldest first, with its channels still to reach."""
        raise NotImplementedError

    def _dropped(self, ids: Sequence[str]) -> None:
        for notification_id in ids:
            log.warning(
                "alerts: outbox full entries=%d dropped=%s (oldest, never delivered to every channel)",
                self.max_entries,
                notification_id,
            )


class MemoryOutbox(Outbox):
    """In memory (lost with the process): for tests and backtests."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        #: id -> (notification, pending channels), in insertion (creation) order
        self._entries: dict[str, tuple[Notification, list[str]]] = {}

    async def put(self, notification: Notification) -> None:
        if notification.id in self._entries or not notification.channels:
            return
        self._entries[notification.id] = (notification, list(dict.fromkeys(notification.channels)))
        excess = len(self._entries) - self.max_entries
        if excess > 0:
            oldest = list(self._entries)[:excess]
            for notification_id in oldest:
                del self._entries[notification_id]
            self._dropped(oldest)

    async def done(self, notification_id: str, channel: str) -> None:
        entry = self._entries.get(notification_id)
        if entry is None:
            return
        left = [c for c in entry[1] if c != channel]
        if left:
            self._entries[notification_id] = (entry[0], left)
        else:
            del self._entries[notification_id]

    async def pending(self) -> list[Pending]:
        return [(n, list(channels)) for n, channels in self._entries.values()]


# Each script runs atomically in Redis (a transaction): no reader sees a notification without
# its channels, and a concurrent done() cannot lose another's update.
# KEYS: seq, order (zset id -> seq), items (hash id -> notification), channels (hash id -> names)
_PUT = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return {}
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess <= 0 then
  return {}
end
local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
redis.call('HDEL', KEYS[3], unpack(oldest))
redis.call('HDEL', KEYS[4], unpack(oldest))
return oldest
"""

_DONE = """
local names = redis.call('HGET', KEYS[4], ARGV[1])
if not names then
  return -1
end
local left = {}
for name in string.gmatch(names, '[^\\31]+') do
  if name ~= ARGV[2] then
    table.insert(left, name)
  end
end
if #left == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('HSET', KEYS[4], ARGV[1], table.concat(left, '\\31'))
end
return #left
"""

#: separates channel names in the ``channels`` hash (a name cannot contain it)
_SEP = "\x1f"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisOutbox(Outbox):
    """Keys ``<prefix>:alerts:outbox:{seq,order,items,channels}`` (``prefix`` is
    ``pulse:<app_id>``): a counter giving the creation order, a sorted set of ids by it, the
    encoded notifications and the pending channel names. A new instance on the same Redis
    sees what an earlier process left."""

    def __init__(self, client: aioredis.Redis, prefix: str, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.client = client
        self.key = f"{prefix}:alerts:outbox"
        self.max_entries = max_entries
        self._keys = [f"{self.key}:{part}" for part in ("seq", "order", "items", "channels")]

    @property
    def keys(self) -> list[str]:
        """Every key it writes (to delete them in tests or when an app is retired)."""
        return list(self._keys)

    async def put(self, notification: Notification) -> None:
        channels = list(dict.fromkeys(notification.channels))
        if not channels:
            return
        for channel in channels:
            if _SEP in channel or not channel:
                raise ValueError(f"channel name {channel!r}: empty or contains \\x1f")
        dropped = await self.client.eval(
            _PUT,
            4,
            *self._keys,
            notification.id,
            encode_notification(notification),
            _SEP.join(channels),
            str(self.max_entries),
        )
        self._dropped([_text(d) for d in dropped or ()])

    async def done(self, notification_id: str, channel: str) -> None:
        await self.client.eval(_DONE, 4, *self._keys, notification_id, channel)

    async def pending(self) -> list[Pending]:
        _, order, items, names = self._keys
        ids = [_text(i) for i in cast(list[bytes], await self.client.zrange(order, 0, -1))]
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(items, ids)
        pipe.hmget(names, ids)
        raw_items, raw_names = await pipe.execute()
        out: list[Pending] = []
        for notification_id, raw, channels in zip(ids, raw_items, raw_names, strict=True):
            if raw is None or channels is None:  # done meanwhile
                continue
            try:
                notification = decode_notification(raw)
            except ValueError as exc:
                # it can never be delivered: drop it rather than fail every round
                log.warning("alerts: outbox entry=%s unreadable, dropped: %s", notification_id, exc)
                for channel in _text(channels).split(_SEP):
                    await self.done(notification_id, channel)
                continue
            out.append((notification, _text(channels).split(_SEP)))
        return out
