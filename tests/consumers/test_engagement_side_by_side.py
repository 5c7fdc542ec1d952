"""The kernel's big passes decode on two threads and apply each ledger's events (this
partition's and its homes') on two threads. The figures must be those of the same records
applied in passes too small for threads, one ledger after the other: these tests run both on
random streams (resends, late and future events, records for Python, a stop for time) and
compare everything the kernels return and hold. ``flush_many`` encodes several kernels'
changelog records on two threads: the records must be each kernel's own ``flush``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.engagement._kernel import SIDE_BY_SIDE_BYTES, SIDE_BY_SIDE_EVENTS, EngagementKernel, flush_many
from consumers.engagement.ledger import EngagementConfig
from stream.pipeline import partition_for

PARTITIONS = 6
START = datetime(2026, 7, 1, tzinfo=UTC)
NAMES = ("login", "feature_used", "page_view", "signed_up", "invite_sent", "report_exported", "logout")
#: small passes: below both thresholds, so applied on the calling thread alone
SMALL = 3


def stream(seed: int, records: int) -> tuple[list[bytes], list[int]]:
    """Arrays of 1..60 events of many accounts, time moving forward with late steps back, some
    resends, some events after their record's limit, and now and then a record for Python."""
    rng = random.Random(seed)
    values: list[bytes] = []
    limits: list[int] = []
    sent: list[dict[str, Any]] = []
    clock = 0.0
    for _ in range(records):
        if rng.random() < 0.01:
            values.append(b'[{"event_id": "x", "type": "track"')  # not JSON: pydantic's to judge
            limits.append(2**62)
            continue
        events = []
        for _ in range(rng.randint(1, 60)):
            clock += rng.random() * 40
            if sent and rng.random() < 0.03:
                events.append(rng.choice(sent))  # a resend
                continue
            back = rng.choice([0, 0, 0, 0, 3600, 86400 * 3])  # late, and too late for the grace
            user = rng.randrange(3000)
            event: dict[str, Any] = {
                "event_id": f"e{len(sent)}",
                "type": "track",
                "occurred_at": (START + timedelta(seconds=clock - back)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "name": rng.choice(NAMES),
                "user_id": f"u{user}" if rng.random() < 0.9 else None,
                "anonymous_id": f"v{user}" if rng.random() < 0.3 else None,
                "account_id": f"a{user // 10}" if rng.random() < 0.8 else None,
                "feature": rng.choice(["reports", "export", None]),
                "session_id": f"s{user}-{int(clock) // 1800}" if rng.random() < 0.7 else None,
                "properties": {"plan": "pro"},
            }
            if event["user_id"] is None and event["anonymous_id"] is None:
                event["anonymous_id"] = f"v{user}"
            sent.append(event)
            events.append(event)
        values.append(orjson.dumps(events))
        # now and then the record's own timestamp is earlier than its last events: those are future
        limit = START + timedelta(seconds=clock - (600 if rng.random() < 0.05 else 0))
        limits.append(int(limit.timestamp() * 1_000_000))
    return values, limits


def run(
    values: list[bytes], limits: list[int], step: int, until: int | None = None
) -> tuple[list[Any], list[EngagementKernel]]:
    """Partition 0's pass over every record, its homes 1..5 taking their events, ``step``
    records per call; a record for Python is skipped, a stop for time ends the run."""
    kernels = [EngagementConfig().kernel() for _ in range(PARTITIONS)]
    source, homes = kernels[0], {p: (kernels[p], 0) for p in range(1, PARTITIONS)}
    outcomes: list[Any] = []
    at = 0
    while at < len(values):
        chunk, chunk_limits = values[at : at + step], limits[at : at + step]
        args: tuple[Any, ...] = (chunk, chunk_limits, 0, 0, PARTITIONS, True)
        result = (
            source.apply_records(*args, until, homes) if until is not None else source.apply_records(*args, homes=homes)
        )
        processed, duplicates, late, future, misplaced, forwards, deferred, stopped, _, taken = result
        outcomes.append(("own", processed, duplicates, shift(late, at), shift(future, at), shift(misplaced, at)))
        outcomes.append(("forwards", shift(forwards, at)))
        for home, h_processed, h_duplicates, h_late, h_records, h_events in taken:
            outcomes.append((home, h_processed, h_duplicates, shift(h_late, at), [i + at for i in h_records], h_events))
        if stopped is not None:
            outcomes.append(("stopped", stopped[0] + at, stopped[1]))
            break
        at += deferred + 1 if deferred is not None else len(chunk)
    return outcomes, kernels


def shift(items: list[Any], at: int) -> list[Any]:
    """Record indexes of a call's slice as indexes of the whole stream."""
    return [(i + at, *rest) for i, *rest in items]


def totals(outcomes: list[Any]) -> dict[Any, list[Any]]:
    """Per ledger, its counters summed and its lists joined in order (the calls' cuts differ)."""
    out: dict[Any, list[Any]] = {}
    for kind, *rest in outcomes:
        if kind == "forwards":
            out.setdefault(kind, []).extend(rest[0])
        elif kind == "stopped":
            out[kind] = rest
        elif kind == "own":
            got = out.setdefault(kind, [0, 0, [], [], []])
            got[0] += rest[0]
            got[1] += rest[1]
            for n in (2, 3, 4):
                got[n].extend(rest[n])
        else:
            got = out.setdefault(kind, [0, 0, [], [], 0])
            got[0] += rest[0]
            got[1] += rest[1]
            got[2].extend(rest[2])
            got[3].extend(rest[3])
            got[4] += rest[4]
    return out


def state(kernel: EngagementKernel) -> tuple[Any, ...]:
    return (
        kernel.watermark,
        orjson.loads(kernel.days_json()),
        orjson.loads(kernel.sessions_json()),
        orjson.loads(kernel.signups_json()),
        orjson.loads(kernel.accounts_json()),
        kernel.take_sketch_updates(),
        sorted(kernel.flush(1)[0]),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_big_passes_give_the_figures_of_small_ones(seed: int) -> None:
    values, limits = stream(seed, records=600)
    events = sum(len(v) for v in values if v.startswith(b"[{") and v.endswith(b"]"))
    assert sum(map(len, values)) > 2 * SIDE_BY_SIDE_BYTES  # big enough for both halves
    assert events > 4 * SIDE_BY_SIDE_EVENTS
    homes = {partition_for(f"a{a}".encode(), PARTITIONS) for a in range(300)}
    assert len(homes) == PARTITIONS  # every ledger gets events

    big, big_kernels = run(values, limits, step=len(values))
    small, small_kernels = run(values, limits, step=SMALL)

    assert totals(big) == totals(small)
    assert totals(big)["own"][0] > 0 and all(totals(big)[p][0] > 0 for p in range(1, PARTITIONS))
    assert totals(big)["own"][1] > 0 and totals(big)["own"][2]  # resends and late events were there
    for one, other in zip(big_kernels, small_kernels, strict=True):
        assert state(one) == state(other)


def test_a_stop_for_time_in_a_big_pass_leaves_what_small_passes_leave() -> None:
    values, limits = stream(7, records=600)
    # a record about two thirds in carries a later event (records for Python have no limit)
    until = [limit for limit in limits if limit < 2**62][len(limits) * 2 // 3]
    big, big_kernels = run(values, limits, step=len(values), until=until)
    small, small_kernels = run(values, limits, step=SMALL, until=until)
    assert "stopped" in totals(big) and totals(big)["stopped"][0] < len(values)
    assert totals(big) == totals(small)
    for one, other in zip(big_kernels, small_kernels, strict=True):
        assert state(one) == state(other)


def test_flushing_kernels_side_by_side_gives_each_its_own_records() -> None:
    """Batches of a random stream, each followed by every kernel's flush: one by one on one
    side, all at once through flush_many on the other (a kernel's batch ids differ, as a
    worker's partitions' offsets do)."""
    values, limits = stream(11, records=600)
    sides = [[EngagementConfig().kernel() for _ in range(PARTITIONS)] for _ in range(2)]
    one_by_one: list[Any] = []
    together: list[Any] = []
    for at in range(0, len(values), 100):
        batch = [1000 * n + at for n in range(PARTITIONS)]
        for kernels, flushed in zip(sides, (one_by_one, together), strict=True):
            homes = {p: (kernels[p], 0) for p in range(1, PARTITIONS)}
            start = 0
            chunk, chunk_limits = values[at : at + 100], limits[at : at + 100]
            while start < len(chunk):  # a record for Python is skipped, as in run()
                deferred = kernels[0].apply_records(chunk, chunk_limits, start, 0, PARTITIONS, True, homes=homes)[6]
                start = deferred + 1 if deferred is not None else len(chunk)
            if flushed is together:
                flushed.append(flush_many(list(zip(kernels, batch, strict=True))))
            else:
                flushed.append([kernel.flush(b) for kernel, b in zip(kernels, batch, strict=True)])
    assert together == one_by_one
    written = [records for flushes in together for records, _ in flushes]
    assert sum(map(len, written)) > 10 * len(written)  # every flush had records to encode
    assert all(any(touched for _, touched in flushes) for flushes in together)
    for one, other in zip(*sides, strict=True):
        assert state(one) == state(other)


def test_a_kernel_given_twice_to_flush_many_is_refused() -> None:
    kernel = EngagementConfig().kernel()
    with pytest.raises(RuntimeError):
        flush_many([(kernel, 1), (kernel, 2)])
