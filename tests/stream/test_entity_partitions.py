"""Every event is processed on its entity key's partition whatever key its record came with:
the kernel and the Python path forward the others, replay routes by the entity too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.engagement._kernel import partition_of
from stream.app import build_pipelines
from stream.jsonl import dump_line
from stream.outcomes import RejectReason, WrongPartitionPolicy
from stream.pipeline import partition_for
from stream.registry import FamilyRegistry
from stream.replay import replay_file
from stream.settings import PulseSettings
from stream.simulate import generate_history
from stream.state import PartitionState
from tests.factories import make_subscription

SIX = PulseSettings(topic_partitions=6)


@settings(max_examples=300)
@given(key=st.binary(max_size=40), partitions=st.integers(1, 64))
def test_the_kernel_partitions_as_kafka_does(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, every, every)


def track(event_id: str, account: str) -> dict[str, Any]:
    return {"event_id": event_id, "type": "track", "occurred_at": "2026-07-01T10:00:00Z", "name": "login",
            "user_id": f"u-{event_id}", "account_id": account}  # fmt: skip


def accounts_of(partition: int, count: int) -> list[str]:
    found = [f"acct-{i}" for i in range(500) if partition_for(f"acct-{i}".encode(), 6) == partition]
    return found[:count]


def run(topic: str, values: list[bytes], partition: int, policy: WrongPartitionPolicy) -> Any:
    one = SIX.model_copy(update={"on_wrong_partition": policy})
    pipeline = build_pipelines(one, FamilyRegistry.installed(one).processors())[topic]
    state = PartitionState(partition, codecs=pipeline.codecs)
    pipeline.loaded(state)
    return pipeline.handle_many(state, values)


def test_misplaced_events_are_forwarded_on_the_kernel_path_and_the_python_path() -> None:
    home, away = accounts_of(0, 2), accounts_of(3, 2)
    mixed = orjson.dumps([track("e1", home[0]), track("e2", away[0]), track("e3", home[1])])
    single = orjson.dumps(track("e4", away[1]))
    slow = orjson.dumps({**track("e5", away[1]), "occurred_at": "2026-07-01T10:00:00+02:00"})  # pydantic's path
    outcome = run("product-events", [mixed, single, slow], 0, WrongPartitionPolicy.FORWARD)
    assert outcome.processed == 2 and outcome.rejected == []
    forwarded = [(i, f.partition, f.key, orjson.loads(f.value)["event_id"]) for i, f in outcome.forwards]
    assert forwarded == [(0, 3, away[0].encode(), "e2"), (1, 3, away[1].encode(), "e4"), (2, 3, away[1].encode(), "e5")]


def test_an_arrays_events_for_one_home_are_forwarded_as_one_record_and_applied_there() -> None:
    home, p3, p5 = accounts_of(0, 1), accounts_of(3, 3), accounts_of(5, 1)
    sdk_batch = [track("a", home[0]), track("b", p3[0]), track("c", p5[0]), track("d", p3[1]), track("e", p3[2])]
    outcome = run("product-events", [orjson.dumps(sdk_batch)], 0, WrongPartitionPolicy.FORWARD)
    assert outcome.processed == 1
    by_home = {f.partition: (f.events, orjson.loads(f.value)) for _, f in outcome.forwards}
    assert sorted(by_home) == [3, 5]
    assert by_home[3][0] == 3 and [e["event_id"] for e in by_home[3][1]] == ["b", "d", "e"]  # in record order
    assert by_home[5] == (1, sdk_batch[2])
    there = run("product-events", [orjson.dumps(by_home[3][1])], 3, WrongPartitionPolicy.FORWARD)
    assert there.processed == 3 and there.forwards == [] and there.rejected == []


def test_the_deadletter_policy_refuses_them_instead() -> None:
    away = accounts_of(3, 1)[0]
    customer = next(f"c-{i}" for i in range(100) if partition_for(f"c-{i}".encode(), 6) == 2)
    outcome = run("product-events", [orjson.dumps(track("e1", away))], 0, WrongPartitionPolicy.DEADLETTER)
    assert [r.reason for _, r in outcome.rejected] == [RejectReason.WRONG_PARTITION] and outcome.forwards == []
    subs = run(
        "subscriptions", [orjson.dumps(make_subscription(customer_id=customer))], 0, WrongPartitionPolicy.DEADLETTER
    )
    assert [r.reason for _, r in subs.rejected] == [RejectReason.WRONG_PARTITION]
    assert "belongs to partition 2" in subs.rejected[0][1].error


def test_replay_routes_keyless_and_mis_keyed_lines_by_their_entity(tmp_path: Path) -> None:
    """The finding: lines whose key was not the customer's made one customer two new customers."""
    events = list(generate_history(customers=15, days=60, end=datetime(2026, 11, 1, tzinfo=UTC), seed=9))
    keyed, mangled = tmp_path / "keyed.jsonl", tmp_path / "mangled.jsonl"
    keyed.write_bytes(b"".join(dump_line(e.topic, e.key, e.event) for e in events))
    mangled.write_bytes(
        b"".join(
            dump_line(e.topic, None if i % 3 == 0 else "wrong" if i % 5 == 0 else e.key, e.event)
            for i, e in enumerate(events)
        )
    )
    topics = ("subscriptions", "product-events", "surveys", "support-tickets", "marketing-spend")
    a, b = replay_file(keyed, SIX, topics), replay_file(mangled, SIX, topics)
    assert a.processed == b.processed and a.rejected == b.rejected and b.forwarded == {}
    for family in FamilyRegistry.installed(SIX):
        for report in family.reports:
            assert report.rows(b.pipelines[report.topic].processor) == report.rows(a.pipelines[report.topic].processor)


def test_forwarded_events_keep_the_bytes_they_were_sent_with() -> None:
    """The kernel forwards slices of the record (no re-encoding): spacing, key order and number
    spelling arrive at the home partition as the producer wrote them."""
    home, away = accounts_of(0, 1)[0], [accounts_of(3, 1)[0], accounts_of(5, 1)[0]]
    elements = [
        orjson.dumps(track("a", home)),
        b'{ "name": "login", "event_id": "b", "type": "track", "occurred_at": "2026-07-01T10:00:00Z",\n'
        b'  "user_id": "u-b", "account_id": "%s", "properties": {"n": 1.50} }' % away[0].encode(),
        orjson.dumps(track("c", away[1])),
        b'{"event_id":"d","type":"track","occurred_at":"2026-07-01T10:00:00Z","name":"login","user_id":"u-d",'
        b'"account_id":"%s"}' % away[0].encode(),
    ]
    record = b"[ " + b" ,\n".join(elements) + b" ]"
    outcome = run("product-events", [record], 0, WrongPartitionPolicy.FORWARD)
    assert outcome.processed == 1 and outcome.rejected == []
    by_home = {f.partition: (f.key, f.events, f.value) for _, f in outcome.forwards}
    assert by_home[3] == (away[0].encode(), 2, b"[" + elements[1] + b"," + elements[3] + b"]")
    assert by_home[5] == (away[1].encode(), 1, elements[2])


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=12), min_size=1, max_size=6
    ),
    single=st.booleans(),
)
def test_grouped_forwards_hold_what_one_by_one_routing_holds(
    records: list[list[tuple[int, int]]], single: bool
) -> None:
    """The kernel's ready-made forwards against routing each misplaced event in Python: the
    same records, homes, keys and events, in the same order."""
    accounts = {p: accounts_of(p, 4) for p in range(6)}
    values = []
    for r, members in enumerate(records):
        events = [track(f"e{r}-{n}", accounts[p][a]) for n, (p, a) in enumerate(members)]
        values.append(orjson.dumps(events[0] if single and len(events) == 1 else events))
    outcomes = []
    for group in (True, False):  # a pipeline each: a processor keeps one ledger per partition
        pipeline = build_pipelines(SIX, FamilyRegistry.installed(SIX).processors())["product-events"]
        state = PartitionState(0, codecs=pipeline.codecs)
        pipeline.loaded(state)
        limits = pipeline.limits(None, len(values))
        outcomes.append(pipeline.processor.apply_records(state, values, limits, 0, 6, group))
    kernel_way, python_way = outcomes
    assert kernel_way.misplaced == [] and python_way.forwards == []
    assert kernel_way.processed == python_way.processed
    expected = [(i, f.partition, f.key, orjson.loads(f.value), f.events)
                for i, f in pipeline._route_misplaced(values, python_way.misplaced)]  # fmt: skip
    got = [(i, home, key, orjson.loads(value), events) for i, home, key, value, events in kernel_way.forwards]
    assert got == expected
