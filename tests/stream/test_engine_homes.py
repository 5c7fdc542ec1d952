"""A source partition's events for another partition the same worker owns are applied to
that partition's state in the source's own pass (the compiled kernel takes the home kernels:
``homes`` of ``Pipeline.handle_many``), instead of as forwarded pieces decoded again at the
home (``IngestEngine._apply_local``). Both give the same state, counters and dead letters:
these tests run the same batches through the two and compare, and check what only the
one-pass way must do itself (skip what a home holds, mark what it took).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from consumers.engagement.ledger import EngagementConfig
from stream.app import build_pipelines
from stream.deadletter import read_deadletter_record
from stream.engine import IngestEngine
from stream.exporter import IngestMetrics
from stream.pipeline import partition_for
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.state import PartitionState
from tests.stream.test_engine_health import Record

TOPIC = "product-events"
PARTITIONS = 6
START = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_pulse_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    yield


def accounts_of(partition: int, count: int) -> list[str]:
    found = [f"acct-{i}" for i in range(2000) if partition_for(f"acct-{i}".encode(), PARTITIONS) == partition]
    return found[:count]


ACCOUNTS = {p: accounts_of(p, 3) for p in range(PARTITIONS)}


def event(event_id: str, account: str, hours: float, user: int, name: str = "login") -> dict[str, Any]:
    at = START + timedelta(hours=hours)
    return {"event_id": event_id, "type": "track", "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "name": name,
            "user_id": f"{account}-u{user}", "account_id": account, "session_id": f"s-{account}-{user}"}  # fmt: skip


def engine(one_pass: bool) -> IngestEngine:
    """A worker owning every partition, each free to take the others' events in process; with
    ``one_pass`` False, the earlier way: forwarded pieces applied after the source's round."""
    pulse = PulseSettings.model_validate({"topic_partitions": PARTITIONS, "transactions": False})
    worker = IngestEngine(pulse, build_pipelines(pulse, FamilyRegistry.installed(pulse).processors()),
                          IngestMetrics(CollectorRegistry()))  # fmt: skip
    pipeline = worker.pipelines[TOPIC]
    for p in range(PARTITIONS):
        state = PartitionState(p, codecs=pipeline.codecs)
        pipeline.loaded(state)
        worker.states[tp(worker, p)] = state
    worker.local_ready = set(worker.states)
    if not one_pass:
        worker._homes_of = lambda source, records: {}  # type: ignore[method-assign]
    return worker


def tp(worker: IngestEngine, partition: int) -> TopicPartition:
    return TopicPartition(worker.settings.topic(TOPIC), partition)


def records(values: list[bytes], first_offset: int = 0) -> list[Record]:
    stamp = int((START + timedelta(days=30)).timestamp() * 1000)  # after every event: none is future
    return [Record(value, first_offset + n, stamp) for n, value in enumerate(values)]


def figures(worker: IngestEngine) -> dict[int, tuple[Any, ...]]:
    """Each partition's engagement state, as its kernel reads it back; a day's counter at 0
    counts as absent (a session that moved to a later day leaves one, in one order of its
    events and not in the other)."""
    processor: Any = worker.pipelines[TOPIC].processor
    out = {}
    for p in range(PARTITIONS):
        ledger = processor.ledger(worker.states[tp(worker, p)])
        sketches = {k: round(s.get_estimate(), 6) for k, s in ledger.sketches.items()}
        days = {day: {k: v for k, v in counters.items() if v} for day, counters in ledger.days.items()}
        days = {day: counters for day, counters in days.items() if counters}
        out[p] = (days, ledger.accounts, ledger.sessions, ledger.signups, sketches, ledger.watermark)
    return out


def deadletters(staged: Any, index: bool = True) -> dict[int, list[dict[str, Any]]]:
    """Each state's dead letters of a batch; without ``index``, less the event's index in its
    record (a piece's own index on the forwarded way, its source record's on the one-pass way)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for source, writes in staged.partitions.items():
        for _, _, value in writes.deadletters:
            letter = read_deadletter_record(value)
            letter.pop("rejected_at")
            if not index:
                letter.pop("batch_index")
            out.setdefault(source.partition, []).append(letter)
    return {p: sorted(letters, key=repr) for p, letters in out.items()}


def counters(worker: IngestEngine) -> dict[str, float | None]:
    registry = worker.metrics.registry
    return {name: registry.get_sample_value(f"pulse_events_{name}_total", {"topic": TOPIC})
            for name in ("processed", "duplicate", "forwarded")}  # fmt: skip


def run_both(batches: list[dict[int, list[bytes]]]) -> tuple[IngestEngine, IngestEngine, list[Any], list[Any]]:
    workers = engine(one_pass=True), engine(one_pass=False)
    staged: tuple[list[Any], list[Any]] = ([], [])
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    for batch in batches:
        for worker, out in zip(workers, staged, strict=True):
            at = dict(offsets)
            out.append(worker.apply_batch({tp(worker, p): records(values, at[p]) for p, values in batch.items()}))
        for p, values in batch.items():
            offsets[p] += len(values)
    return workers[0], workers[1], staged[0], staged[1]


def test_a_home_takes_its_events_in_the_sources_pass_with_the_same_result() -> None:
    """Partition 0 holds arrays of its own and four other partitions' accounts, one of whose
    events is a resend and one too late for its home: the homes' state, counters and dead
    letters are those of the forwarded pieces, and nothing is decoded at a home again."""
    mine, a1, a2, a3 = ACCOUNTS[0][0], ACCOUNTS[1][0], ACCOUNTS[2][0], ACCOUNTS[3][0]
    arrays = [
        [event("e1", mine, 1, 1), event("e2", a1, 100, 1), event("e3", a2, 1, 1)],
        [event("e4", a1, 101, 2, "feature_used"), event("e5", mine, 2, 2), event("e6", a3, 3, 1)],
        [event("e2", a1, 100, 1), event("e7", a1, 10, 3), event("e8", a2, 2, 2)],  # resend; late at 1
    ]
    one_pass, pieces, staged_one, staged_pieces = run_both([{0: [orjson.dumps(a) for a in arrays]}])
    calls: list[Any] = []
    one_pass._apply_local = lambda *args: calls.append(args)  # type: ignore[method-assign]
    one_pass.apply_batch({tp(one_pass, 0): records([orjson.dumps([event("e9", a2, 3, 3)])], 3)})
    assert calls == []  # partition 2 took it in 0's pass: no piece to decode again
    pieces.apply_batch({tp(pieces, 0): records([orjson.dumps([event("e9", a2, 3, 3)])], 3)})
    assert figures(one_pass) == figures(pieces)
    assert counters(one_pass) == counters(pieces) == {"processed": 8.0, "duplicate": 1.0, "forwarded": 8.0}
    late = deadletters(staged_one[0])
    assert late == deadletters(staged_pieces[0])  # e7 is element 1 of its piece too
    assert list(late) == [1]  # in its home's writes, with the source record's place
    (letter,) = late[1]
    assert (letter["reason"], letter["partition"], letter["offset"], letter["batch_index"]) == ("late", 0, 2, 1)
    assert letter["original"] == orjson.dumps(arrays[2][1])
    for worker in (one_pass, pieces):
        held = {p: worker.states[tp(worker, p)].held_from for p in range(PARTITIONS)}
        # up to where 0 was read in each batch a home took part in (2 only in the last)
        assert held[1] == held[3] == {0: 3} and held[2] == {0: 4} and held[4] == held[5] == {}


def test_a_home_takes_nothing_from_records_it_holds_already() -> None:
    """After recovery a home may hold a source's first records already (it committed past
    them): the source's pass skips their events for it, and applies the rest once."""
    a1 = ACCOUNTS[1][0]
    values = [orjson.dumps([event(f"e{n}", a1, n, n), event(f"m{n}", ACCOUNTS[0][0], n, n)]) for n in range(4)]
    worker = engine(one_pass=True)
    worker.states[tp(worker, 1)].held_from = {0: 2}
    worker.apply_batch({tp(worker, 0): records(values)})
    assert worker.states[tp(worker, 1)].held_from == {0: 4}
    processor: Any = worker.pipelines[TOPIC].processor
    (account_day,) = processor.ledger(worker.states[tp(worker, 1)]).accounts.values()
    assert set(account_day["u"]) == {f"{a1}-u2", f"{a1}-u3"}  # e2 and e3 only
    assert counters(worker) == {"processed": 6.0, "duplicate": 0.0, "forwarded": 4.0}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.dictionaries(
            st.integers(0, PARTITIONS - 1),
            st.lists(
                st.lists(
                    st.tuples(st.integers(0, PARTITIONS - 1), st.integers(0, 2), st.integers(0, 47),
                              st.integers(0, 4), st.sampled_from(["login", "feature_used", "invite_sent",
                                                                  "signed_up", "page_view"])),
                    min_size=1, max_size=8),
                min_size=1, max_size=5),
            min_size=1, max_size=4),
        min_size=1, max_size=3),
    resend=st.integers(0, 3),
)  # fmt: skip
def test_every_owned_partition_ends_as_with_forwarded_pieces(
    batches: list[dict[int, list[list[tuple[int, int, int, int, str]]]]], resend: int
) -> None:
    """Random mixed arrays on every partition, events up to two days apart, some sent again
    (resends): the same state on every partition either way. (Events further apart than the
    grace period can be late in one order of a home's events and not in another: both ways
    apply a source's events and a home's own in different orders, as Kafka may deliver them;
    the first test has an event late either way.)"""
    numbered: list[dict[int, list[bytes]]] = []
    sent: list[dict[str, Any]] = []
    for batch in batches:
        values: dict[int, list[bytes]] = {}
        for source, arrays in batch.items():
            for array in arrays:
                events = []
                for home, account, hours, user, name in array:
                    if name == "signed_up":
                        user = 100 + len(sent)  # a user signs up once: two signups keep the first applied
                    sent.append(event(f"e{len(sent)}", ACCOUNTS[home][account], hours, user, name))
                    events.append(sent[-1])
                    if resend and len(sent) % resend == 0:  # a resend: the same event again
                        events.append(sent[len(sent) // 2])
                values.setdefault(source, []).append(orjson.dumps(events))
        numbered.append(values)
    one_pass, pieces, staged_one, staged_pieces = run_both(numbered)
    assert figures(one_pass) == figures(pieces)
    assert counters(one_pass) == counters(pieces)
    for one, other in zip(staged_one, staged_pieces, strict=True):
        assert deadletters(one, index=False) == deadletters(other, index=False)
    for p in range(PARTITIONS):
        assert one_pass.states[tp(one_pass, p)].held_from == pieces.states[tp(pieces, p)].held_from


def test_the_kernel_refuses_a_home_that_is_not_another_partition() -> None:
    """Its own partition, or one past the count, as a home: refused before anything is applied
    (a home kernel is borrowed for the call: never the source's own)."""
    source, home = EngagementConfig().kernel(), EngagementConfig().kernel()
    value = [orjson.dumps([event("e1", ACCOUNTS[1][0], 1, 1)])]
    for partition in (0, PARTITIONS):
        with pytest.raises(ValueError, match="is not another of 6 partitions"):
            source.apply_records(value, [2**62], 0, 0, PARTITIONS, True, homes={partition: (home, 0)})
    assert orjson.loads(home.accounts_json()) == {} and orjson.loads(source.accounts_json()) == {}
    taken = source.apply_records(value, [2**62], 0, 0, PARTITIONS, True, homes={1: (home, 0)})[9]
    assert taken == [(1, 1, 0, [], [0], 1)] and orjson.loads(home.accounts_json()) != {}
