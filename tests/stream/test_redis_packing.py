"""hiredis packs the same bytes as redis.asyncio's own packing, for every connection kind."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from stream.redis_packing import HiredisPacking, pack_with_hiredis

arguments = st.one_of(
    st.binary(max_size=300),
    st.floats(),
    st.text(max_size=300),
    st.integers(-(2**63), 2**63 - 1),
    st.just(b"v" * 70_000),
)


def packed(connection: Connection, args: tuple[Any, ...]) -> bytes:
    return b"".join(bytes(chunk) for chunk in connection.pack_command(*args))


@given(
    name=st.sampled_from(["HSET", "hset", b"HDEL", "CLIENT SETINFO", b"CONFIG GET"]),
    args=st.lists(arguments, max_size=20),
)
def test_the_bytes_are_redis_pys_own(name: str | bytes, args: list[Any]) -> None:
    mine = type("Packed", (HiredisPacking, Connection), {})()
    assert packed(mine, (name, *args)) == packed(Connection(), (name, *args))


def test_a_pipeline_packs_each_command_the_same_way() -> None:
    commands = [("HSET", "pulse:x", "a", b"1", "b", "2"), ("HDEL", "pulse:x", "c"), ("EXPIRE", "pulse:x", 60)]
    mine = type("Packed", (HiredisPacking, Connection), {})()
    assert b"".join(mine.pack_commands(commands)) == b"".join(Connection().pack_commands(commands))


@pytest.mark.parametrize(
    ("url", "kind"),
    [("redis://127.0.0.1:6379/0", Connection), ("rediss://127.0.0.1:6379/0", SSLConnection),
     ("unix:///tmp/redis.sock", UnixDomainSocketConnection)],
)  # fmt: skip
def test_every_connection_kind_keeps_its_own_transport(url: str, kind: type[Connection]) -> None:
    client = pack_with_hiredis(aioredis.from_url(url))
    made = client.connection_pool.connection_class
    assert issubclass(made, HiredisPacking) and issubclass(made, kind)
    assert pack_with_hiredis(client).connection_pool.connection_class is made  # applied once
