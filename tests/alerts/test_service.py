"""When the alert service judges the figures (alerts/service.py, ``judging``)."""

from __future__ import annotations

from alerts.service import CATCH_UP_WAIT_SECONDS, judging


def test_it_waits_for_the_engine_to_catch_up_but_not_for_ever() -> None:
    since = 1_000.0  # the engine became ready, or gained partitions in a rebalance
    assert not judging(False, since, since + 1)
    assert not judging(False, since, since + CATCH_UP_WAIT_SECONDS - 0.1)
    assert judging(False, since, since + CATCH_UP_WAIT_SECONDS)  # a load it never catches up with
    assert judging(True, since, since + 1)  # caught up
