"""HLL accuracy at scale: 1,000,000 distinct users, estimates within 1% of exact counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from consumers.engagement.definitions import EngagementFigures, Partition
from consumers.engagement.facts import ProductFacts
from consumers.engagement.ledger import EngagementConfig, EngagementLedger
from stream.outcomes import APPLIED
from stream.state import PartitionState

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)


def test_dau_and_mau_of_a_million_users_within_one_percent() -> None:
    ledgers = [EngagementLedger(EngagementConfig(), PartitionState(p)) for p in range(6)]
    exact_days: dict[int, int] = {}
    users = 1_000_000
    # user i is active on day i % 30 (and users divisible by 7 also on day 29): DAU of day 29
    # and MAU both have exact answers.
    partition = {}
    for d in range(30):  # in event-time order, as a stream would deliver them
        at = T0 + timedelta(days=d)
        active = list(range(d, users, 30)) + ([i for i in range(0, users, 7) if i % 30 != 29] if d == 29 else [])
        for i in active:
            user = f"user-{i:07d}"
            p = partition.get(i)
            if p is None:
                p = partition[i] = (murmur2(user.encode()) & 0x7FFFFFFF) % 6
            assert ledgers[p].apply(ProductFacts(f"e{i}-{d}", at, "login", user, None, None, None, None)) is APPLIED
        exact_days[d] = len(active)
    f = EngagementFigures([Partition(lg.sketches, lg.days, lg.watermark) for lg in ledgers])
    last = T0.date().toordinal() + 29
    row = f.daily_row(last)
    assert abs(row["mau"] / users - 1) < 0.01, row
    assert abs(row["dau"] / exact_days[29] - 1) < 0.01, (row, exact_days[29])
    assert exact_days[29] > 150_000
