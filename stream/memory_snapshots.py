"""Snapshots kept in the process: the views of one process over replayed processors.

A backtest replays a file and reads every family's gauges the way a worker does (processor
-> publish -> snapshots -> view -> collector) at the end of each day, without a Redis: this
holds the few Redis hash commands :class:`~stream.snapshots.SnapshotStore` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream.snapshots import SnapshotStore

__all__ = ["MemorySnapshotStore"]


def _b(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode() if not isinstance(value, str) else value.encode()


class _Hashes:
    """The hash commands of redis.asyncio's client that SnapshotStore calls, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, dict[bytes, bytes]] = {}
        self.strings: dict[str, bytes] = {}

    async def hset(
        self, key: str, field: Any = None, value: Any = None, mapping: Mapping[Any, Any] | None = None
    ) -> int:
        into = self.data.setdefault(key, {})
        items = dict(mapping or {})
        if field is not None:
            items[field] = value
        for k, v in items.items():
            into[_b(k)] = _b(v)
        return len(items)

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        return dict(self.data.get(key, {}))

    async def hget(self, key: str, field: Any) -> bytes | None:
        return self.data.get(key, {}).get(_b(field))

    async def hmget(self, key: str, fields: list[Any]) -> list[bytes | None]:
        values = self.data.get(key, {})
        return [values.get(_b(f)) for f in fields]

    async def hdel(self, key: str, *fields: Any) -> int:
        values = self.data.get(key, {})
        return sum(values.pop(_b(f), None) is not None for f in fields)

    async def exists(self, key: str) -> int:
        return int(key in self.strings or key in self.data)

    async def set(self, key: str, value: Any, ex: int | None = None) -> bool:
        self.strings[key] = _b(value)
        return True

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self)

    async def aclose(self) -> None:
        pass


class _Pipeline:
    def __init__(self, client: _Hashes) -> None:
        self.client = client
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> _Pipeline:
            self.calls.append((name, args, kwargs))
            return self

        return queue

    async def execute(self) -> list[Any]:
        return [await getattr(self.client, name)(*args, **kwargs) for name, args, kwargs in self.calls]


class MemorySnapshotStore(SnapshotStore):
    def __init__(self, app_id: str) -> None:
        self.client = _Hashes()  # type: ignore[assignment]  # the subset of the Redis client used
        self.prefix = f"pulse:{app_id}"
        self.new_epoch()
