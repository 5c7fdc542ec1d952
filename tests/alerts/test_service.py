"""When the alert service judges the figures (alerts/service.py, ``judging``, ``_caught_up``)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from alerts.service import CATCH_UP_WAIT_SECONDS, AlertService, judging
from stream.progress import WorkerProgress


def test_it_waits_for_the_engine_to_catch_up_but_not_for_ever() -> None:
    since = 1_000.0  # the engine became ready, or gained partitions in a rebalance
    assert not judging(False, since, since + 1)
    assert not judging(False, since, since + CATCH_UP_WAIT_SECONDS - 0.1)
    assert judging(False, since, since + CATCH_UP_WAIT_SECONDS)  # a load it never catches up with
    assert judging(True, since, since + 1)  # caught up


class _Engine:
    def __init__(self, entries: list[WorkerProgress]) -> None:
        self.entries = entries

    @property
    def progress(self) -> _Engine:
        return self

    async def read(self, now: float) -> list[WorkerProgress]:
        return self.entries

    def source_partitions(self) -> list[str]:
        return [f"subs:{p}" for p in range(4)]


def _entry(worker: str, partitions: range, caught_up: bool) -> WorkerProgress:
    return WorkerProgress(worker=worker, generation=3, partitions=tuple(f"subs:{p}" for p in partitions),
                          caught_up=caught_up, written_at=time.time())  # fmt: skip


async def test_the_leader_waits_for_every_worker_not_only_itself() -> None:
    """The leader kept partitions 2 and 3 in a rebalance and is caught up on them; b took 0 and
    1 and reads their backlog: not judged, and since when is kept until the deployment is caught up."""
    entries = [_entry("leader", range(2, 4), True)]
    service = object.__new__(AlertService)
    service.runtime = SimpleNamespace(engine=_Engine(entries))  # type: ignore[assignment]
    service.behind_since, service.waiting = None, None
    assert not await service._caught_up()
    assert service.waiting is not None and "2 partitions without an owner's entry" in service.waiting
    since = service.behind_since
    assert since is not None
    entries.append(_entry("b", range(2), False))
    assert not await service._caught_up()
    assert service.waiting == "workers catching up: b" and service.behind_since == since
    entries[1] = _entry("b", range(2), True)
    assert await service._caught_up()
    assert service.waiting is None and service.behind_since is None
