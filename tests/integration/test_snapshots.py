"""Snapshots in the real Redis: readers fetch only the sketches that changed."""

from __future__ import annotations

import asyncio
import uuid

from stream.snapshots import SnapshotStore
from tests.integration.harness import REDIS_URL


def test_changed_sketches_returns_only_what_changed_since_the_last_look(stack: None) -> None:
    async def run() -> None:
        store = SnapshotStore(REDIS_URL, f"test-{uuid.uuid4().hex[:8]}")
        try:
            await store.put_sketches("product-events", 0, {"dau:1": b"a", "dau:2": b"b"}, [], version="10/0")
            blobs, versions, gone = await store.changed_sketches("product-events", 0, {})
            assert blobs == {"dau:1": b"a", "dau:2": b"b"} and gone == []
            stamp = store.epoch.encode()
            assert versions == {b"dau:1": stamp + b"/10/0", b"dau:2": stamp + b"/10/0"}

            await store.put_sketches("product-events", 0, {"dau:2": b"b2", "dau:3": b"c"}, ["dau:1"], version="10/3")
            blobs, versions2, gone = await store.changed_sketches("product-events", 0, versions)
            assert blobs == {"dau:2": b"b2", "dau:3": b"c"}  # dau:1 is gone, nothing else is re-read
            assert versions2 == {b"dau:2": stamp + b"/10/3", b"dau:3": stamp + b"/10/3"} and gone == ["dau:1"]

            assert await store.changed_sketches("product-events", 0, versions2) == ({}, versions2, [])
            assert await store.sketches("product-events", 0) == {"dau:2": b"b2", "dau:3": b"c"}
        finally:
            await store.client.delete(*[k async for k in store.client.scan_iter(f"{store.prefix}:*")])
            await store.close()

    asyncio.run(run())


def test_a_sketch_a_new_writer_writes_at_a_position_a_dead_one_wrote_is_read_again(stack: None) -> None:
    """After a crash the next owner passes the positions the dead writer published again, with
    other contents (what it took from other partitions came in another order): a reader that
    holds the dead writer's sketch must still fetch the new one."""

    async def run() -> None:
        app = f"test-{uuid.uuid4().hex[:8]}"
        dead, reader, successor = (SnapshotStore(REDIS_URL, app) for _ in range(3))
        try:
            await dead.put_sketches("product-events", 0, {"dau:1": b"dead"}, [], version="10/0/7")
            _, known, _ = await reader.changed_sketches("product-events", 0, {})
            await successor.put_sketches("product-events", 0, {"dau:1": b"successor"}, [], version="10/0/7")
            blobs, _, gone = await reader.changed_sketches("product-events", 0, known)
            assert blobs == {"dau:1": b"successor"} and gone == []
        finally:
            await dead.client.delete(*[k async for k in dead.client.scan_iter(f"{dead.prefix}:*")])
            for store in (dead, reader, successor):
                await store.close()

    asyncio.run(run())
