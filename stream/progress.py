"""Which worker reads which source partitions, and whether it has read them to their end,
shared via Redis. Deployment-wide figures (what alerting judges) are only whole once every
partition's owner has caught up: a worker that kept its partitions in a rebalance is caught up
while the worker that took the others still reads their backlog, or has not recovered them yet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

__all__ = [
    "DeploymentProgress",
    "ProgressBoard",
    "WorkerProgress",
    "deployment_progress",
    "PROGRESS_HEARTBEAT_SECONDS",
    "PROGRESS_STALE_SECONDS",
]

#: how often a worker writes its entry again when nothing changed (it proves the worker alive)
PROGRESS_HEARTBEAT_SECONDS = 5.0
#: an entry not written again for this long is a worker gone: its partitions are nobody's
PROGRESS_STALE_SECONDS = 30.0
#: entries this old are removed by readers (a worker that died without saying so)
PROGRESS_FORGET_SECONDS = 3600.0


class WorkerProgress(BaseModel):
    """One worker's entry: its consumer group generation, the source partitions that
    generation gave it ("topic:partition") and whether it has read each to its end since."""

    worker: str
    generation: int
    partitions: tuple[str, ...]
    caught_up: bool
    #: wall-clock time (epoch s) the entry was written
    written_at: float


@dataclass(frozen=True)
class DeploymentProgress:
    """Whether every source partition of the deployment is read to its end by its owner."""

    caught_up: bool
    #: workers of the latest generation still reading a backlog
    behind: tuple[str, ...] = ()
    #: partitions no live worker of the latest generation owns (a rebalance under way, a
    #: worker that has not written its entry yet, or one gone)
    unowned: tuple[str, ...] = ()

    def reason(self) -> str:
        if self.caught_up:
            return "caught up"
        parts = []
        if self.behind:
            parts.append(f"workers catching up: {', '.join(self.behind)}")
        if self.unowned:
            shown = ", ".join(self.unowned[:5]) + (", ..." if len(self.unowned) > 5 else "")
            parts.append(f"{len(self.unowned)} partitions without an owner's entry ({shown})")
        return "; ".join(parts) or "no worker's entry"


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def deployment_progress(entries: Iterable[WorkerProgress], expected: Iterable[str], now: float) -> DeploymentProgress:
    """Judge the entries of live workers (written within PROGRESS_STALE_SECONDS) of the latest
    generation: older generations' claims were revoked. Caught up when they own every
    ``expected`` partition between them and each says it read its own to the end."""
    live = [e for e in entries if now - e.written_at <= PROGRESS_STALE_SECONDS]
    expected = sorted(set(expected))
    if not live:
        return DeploymentProgress(False, unowned=tuple(expected))
    latest = max(e.generation for e in live)
    current = [e for e in live if e.generation == latest]
    owned = {p for e in current for p in e.partitions}
    unowned = tuple(p for p in expected if p not in owned)
    behind = tuple(sorted(e.worker for e in current if e.partitions and not e.caught_up))
    return DeploymentProgress(not unowned and not behind, behind, unowned)


class ProgressBoard:
    """The entries in one Redis hash (``<prefix>:progress``, worker -> JSON)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.key = f"{prefix}:progress"

    async def put(self, progress: WorkerProgress) -> None:
        await self.client.hset(self.key, progress.worker, orjson.dumps(progress.model_dump()))

    async def drop(self, worker: str) -> None:
        await self.client.hdel(self.key, worker)

    async def read(self, now: float) -> list[WorkerProgress]:
        """Every readable entry; entries of workers gone long ago, or unreadable, are removed."""
        raw: dict[Any, Any] = await self.client.hgetall(self.key)
        entries, gone = [], []
        for field, value in raw.items():
            try:
                entry = WorkerProgress.model_validate(orjson.loads(value))
            except (orjson.JSONDecodeError, ValidationError):
                gone.append(field)
                continue
            if now - entry.written_at > PROGRESS_FORGET_SECONDS:
                gone.append(field)
            else:
                entries.append(entry)
        if gone:
            await self.client.hdel(self.key, *gone)
        return entries
