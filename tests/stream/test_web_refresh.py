"""One family's view failing on what it reads does not stop the others refreshing and is not
taken for Redis being down; Redis failing stops the round (stream/web.py, refresh_views)."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from stream.family import FamilyView
from stream.web import refresh_views


class Fake(FamilyView):
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.refreshed = error, 0

    async def refresh(self) -> None:
        self.refreshed += 1
        if self.error is not None:
            raise self.error


def test_a_failing_view_is_reported_and_the_others_refresh() -> None:
    views = {"revenue": Fake(), "acquisition": Fake(TypeError("'>' not supported")), "support": Fake()}
    down, failed = asyncio.run(refresh_views(views))
    assert down is None and failed == {"acquisition": "TypeError: '>' not supported"}
    assert [v.refreshed for v in views.values()] == [1, 1, 1]


def test_redis_failing_stops_the_round_as_redis_down() -> None:
    gone = RedisConnectionError("Connection refused")
    views = {"revenue": Fake(gone), "support": Fake()}
    down, failed = asyncio.run(refresh_views(views))
    assert down is gone and failed == {} and views["support"].refreshed == 0
    timed_out = TimeoutError("timed out")
    assert asyncio.run(refresh_views({"a": Fake(timed_out)}))[0] is timed_out
