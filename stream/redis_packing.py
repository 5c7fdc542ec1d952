"""Redis commands packed by hiredis (C) instead of redis.asyncio's per-argument Python loop.

The synchronous client already packs with hiredis when it is installed; the asyncio client
does not, and publishing thousands of account-day records a second spent more time packing
HSET arguments than Redis spent storing them.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

__all__ = ["pack_with_hiredis"]


class HiredisPacking(AbstractConnection):
    """Mixed in before a connection class: same bytes on the wire, packed in C."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py does: a command name of several words ("CLIENT SETINFO") is several arguments.
        head = args[0]
        if isinstance(head, str):
            args = (*head.encode().split(), *args[1:])
        elif b" " in head:
            args = (*head.split(), *args[1:])
        return [hiredis.pack_command(args)]


def pack_with_hiredis(client: aioredis.Redis) -> aioredis.Redis:
    """The client, its pool's connections (plain, TLS or unix socket alike) packing in C."""
    pool = client.connection_pool
    base = pool.connection_class
    if not issubclass(base, HiredisPacking):
        pool.connection_class = type(f"Hiredis{base.__name__}", (HiredisPacking, base), {})
    return client
