"""Latest per-partition metric snapshots in Redis, shared by every worker and other services.

A worker owns some partitions; the deployment's figures are the sum over all of them. After a
batch, the owner of a partition writes that partition's additive summary (with the checkpoint
it reflects) to one Redis hash per topic; any worker, and any other service, sums the hash to
answer for the whole deployment, however the partitions are spread.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from stream.redis_packing import pack_with_hiredis

__all__ = ["SnapshotStore", "changed_keys"]

K = TypeVar("K")


def _text(value: bytes | str) -> str:
    """A key as str (the client returns bytes: no decode_responses; its stubs say either)."""
    return value.decode() if isinstance(value, bytes) else value


def changed_keys(old: Sequence[Mapping[K, Any]], new: Sequence[Mapping[K, Any]]) -> set[K]:
    """Keys whose value differs in any partition between two reads of the same partitions (in
    the same order): what a view merges again instead of everything."""
    return {
        key for before, now in zip(old, new, strict=True) for key in before.keys() | now.keys()
        if before.get(key) != now.get(key)
    }  # fmt: skip


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class SnapshotStore:
    def __init__(self, url: str, app_id: str) -> None:
        # One retry on a broken connection: after a Redis restart each pooled connection fails
        # once, which is not an outage.
        self.client = pack_with_hiredis(
            aioredis.from_url(
                url,
                socket_timeout=5,
                socket_connect_timeout=5,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
        )
        self.prefix = f"pulse:{app_id}"
        #: changes whenever the writer republishes everything (after Redis lost or may have lost
        #: data): readers key their caches by it, so a republish of equal versions is still read
        self.epoch = uuid.uuid4().hex[:12]

    def new_epoch(self) -> None:
        self.epoch = uuid.uuid4().hex[:12]

    async def marker_intact(self, worker: str) -> bool:
        """Whether this worker's marker is still in Redis, setting it again (a day's expiry): False
        after Redis restarted without its data or was flushed, so the worker republishes."""
        key = f"{self.prefix}:workers:{worker}"
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(key)
        pipe.set(key, b"1", ex=86400)
        existed, _ = await pipe.execute()
        return bool(existed)

    def _partitions_key(self, topic: str) -> str:
        return f"{self.prefix}:{topic}:partitions"

    async def put_partition(self, topic: str, partition: int, payload: dict[str, Any]) -> None:
        """The partition's summary, stamped with the writer's epoch and the time it was written."""
        stamped = {**payload, "epoch": self.epoch, "published_at": time.time()}
        await self.client.hset(self._partitions_key(topic), str(partition), orjson.dumps(stamped))

    async def partitions(self, topic: str) -> dict[int, dict[str, Any]]:
        raw = await self.client.hgetall(self._partitions_key(topic))
        return {int(k): orjson.loads(v) for k, v in raw.items()}

    async def put_sketches(
        self, topic: str, partition: int, sketches: dict[str, bytes], gone: list[str], version: str
    ) -> None:
        """Changed sketches with the version (the partition state's position) they reflect, in
        one transaction, so readers fetch only what changed since they last looked.

        The version is stamped with this writer's epoch: a position names a state only within
        one writer. After a crash the next owner passes the same positions again, holding what
        it took from other partitions in a different order, and a reader that kept a dead
        writer's sketch at an equal position would never fetch the new one."""
        key = f"{self.prefix}:{topic}:sketches:{partition}"
        versions = f"{self.prefix}:{topic}:sketch-versions:{partition}"
        pipe = self.client.pipeline(transaction=True)
        if sketches:
            pipe.hset(key, mapping=sketches)  # type: ignore[arg-type]  # redis stubs: invariant Mapping[str | bytes, ...]
            stamped = f"{self.epoch}/{version}"
            pipe.hset(versions, mapping={k: stamped for k in sketches})
        if gone:
            pipe.hdel(key, *gone)
            pipe.hdel(versions, *gone)
        await pipe.execute()

    async def sketches(self, topic: str, partition: int) -> dict[str, bytes]:
        raw = await self.client.hgetall(f"{self.prefix}:{topic}:sketches:{partition}")
        return {_text(k): _raw(v) for k, v in raw.items()}

    async def changed_sketches(
        self, topic: str, partition: int, known: Mapping[bytes, bytes]
    ) -> tuple[dict[str, bytes], dict[bytes, bytes], list[str]]:
        """Sketches whose version differs from ``known``: (their bytes, all current versions,
        keys that are gone). A sketch written between the two reads is newer than its version
        says, and is fetched again next time: never older. Versions stay the bytes Redis
        returns (thousands of keys a partition, read twice a second: no decoding)."""
        raw = await self.client.hgetall(f"{self.prefix}:{topic}:sketch-versions:{partition}")
        versions = cast("dict[bytes, bytes]", raw)  # the client returns bytes: no decode_responses
        changed = [k for k, v in versions.items() if known.get(k) != v]
        blobs: dict[str, bytes] = {}
        if changed:
            values = await self.client.hmget(f"{self.prefix}:{topic}:sketches:{partition}", changed)
            vanished = []
            for k, v in zip(changed, values, strict=True):
                if v is None:
                    vanished.append(k)
                else:
                    blobs[_text(k)] = _raw(v)
            versions.update({k: b"" for k in vanished})  # vanished meanwhile: ask again
        return blobs, versions, [_text(k) for k in known if k not in versions]

    async def put_entities(self, kind: str, views: dict[str, Any]) -> None:
        if views:
            await self.client.hset(f"{self.prefix}:{kind}", mapping={k: orjson.dumps(v) for k, v in views.items()})

    async def put_entities_encoded(self, kind: str, views: dict[str, bytes]) -> None:
        """Entities already encoded as JSON (no decode and re-encode on the hot path)."""
        if views:
            await self.client.hset(f"{self.prefix}:{kind}", mapping=views)  # type: ignore[arg-type]  # redis stubs: invariant Mapping[str | bytes, ...]

    async def drop_entities(self, kind: str, keys: list[str]) -> None:
        if keys:
            await self.client.hdel(f"{self.prefix}:{kind}", *keys)

    async def entity(self, kind: str, key: str) -> Any | None:
        raw = await self.client.hget(f"{self.prefix}:{kind}", key)
        return None if raw is None else orjson.loads(raw)

    async def entities_at(self, kind: str, keys: list[str]) -> dict[str, Any]:
        """These entities (one HMGET), the missing ones left out."""
        if not keys:
            return {}
        values = await self.client.hmget(f"{self.prefix}:{kind}", keys)
        return {k: orjson.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def entities(self, kind: str) -> dict[str, Any]:
        raw = await self.client.hgetall(f"{self.prefix}:{kind}")
        return {_text(k): orjson.loads(v) for k, v in raw.items()}

    async def close(self) -> None:
        await self.client.aclose()
