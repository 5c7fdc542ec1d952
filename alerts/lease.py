"""Which worker evaluates the rules: a Redis lease with an expiry, renewed while held, so two
workers never both notify and a dead one's rules are taken over within the lease time."""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["Lease"]

# Renew when we hold it, take it when nobody does; 1 when held afterwards.
_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, client: aioredis.Redis, key: str, holder: str, seconds: float) -> None:
        self.client, self.key, self.holder = client, key, holder
        self.ms = int(seconds * 1000)

    async def hold(self) -> bool:
        """Take or renew the lease; whether this holder has it now."""
        held = await self.client.eval(_HOLD, 1, self.key, self.holder, str(self.ms))
        return bool(held)

    async def release(self) -> None:
        """Give it up (a clean stop): another worker takes over at once, not after the expiry."""
        await self.client.eval(_RELEASE, 1, self.key, self.holder)

    async def holder_now(self) -> str | None:
        raw = await self.client.get(self.key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)
