"""The compiled engagement kernel against pydantic (validation) and against the plain-Python
reference reducer (state), on random streams cut into random batches, with recoveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from consumers.engagement._kernel import EngagementKernel
from consumers.engagement.facts import facts_of
from consumers.engagement.ledger import EngagementConfig, micros_of
from consumers.engagement.processor import EngagementProcessor
from stream.decoding import Accepted, Rejected, decode_record
from stream.events import ProductEvent
from stream.pipeline import Pipeline
from stream.state import PartitionState
from stream.topics import spec_for
from tests.reference.engagement_ledger import ReferenceLedger

ADAPTER = TypeAdapter(ProductEvent)
SPEC = spec_for("product-events")

# --- validation: the kernel takes a subset of what pydantic takes, with equal values -------------

text = st.one_of(st.none(), st.just(""), st.text(max_size=5), st.text(min_size=250, max_size=260), st.integers(0, 3))
timestamps = st.sampled_from(
    [
        "2026-01-15T10:00:00Z",
        "2026-01-15T10:00:00.123456+02:00",
        "2026-01-15T10:00:00",
        "2026-13-15T10:00:00Z",
        "2026-01-15 10:00:00z",
        "2026-01-15T10:00:00.123456789Z",
        "yesterday",
        "2026-02-30T00:00:00Z",
        17,
        None,
        "2024-02-29T23:59:59.5-05:30",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-01-15T24:00:00Z",
    ]
)
events = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(text, st.text(min_size=1, max_size=3), st.text(min_size=127, max_size=130)),
        "type": st.sampled_from(["track", "page", 1]),
        "occurred_at": timestamps,
        "name": st.one_of(text, st.just("login")),
        "user_id": text,
        "account_id": text,
        "anonymous_id": text,
        "feature": text,
        "session_id": text,
        "properties": st.one_of(st.none(), st.just({}), st.just({"a": 1}), st.just([1]), st.just({"n": 2**63})),
        "extra": st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False), st.text(max_size=3)),
    },
)


def pydantic_facts(obj: Any) -> tuple[Any, ...] | None:
    try:
        f = facts_of(ADAPTER.validate_python(obj))
    except ValidationError:
        return None
    return (
        f.event_id,
        micros_of(f.occurred_at),
        f.name,
        f.user_id,
        f.account_id,
        f.anonymous_id,
        f.feature,
        f.session_id,
    )


def assert_kernel_agrees(raw: bytes) -> Any:
    """Whatever the kernel takes, orjson + pydantic take with the same facts."""
    got = EngagementKernel.validate(raw)
    if got is None:
        return None
    obj = orjson.loads(raw)  # raises if orjson refuses what the kernel took
    items = obj if isinstance(obj, list) else [obj]
    assert len(got) == len(items)
    for facts, item in zip(got, items, strict=True):
        assert pydantic_facts(item) == facts, f"kernel and pydantic disagree on {item}"
    return got


@settings(max_examples=1500, deadline=None)
@given(events)
def test_kernel_validation_is_a_subset_of_pydantic_with_equal_values(obj: dict[str, Any]) -> None:
    assert_kernel_agrees(orjson.dumps(obj))


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=1, max_size=4))
def test_sdk_batches_agree(objs: list[dict[str, Any]]) -> None:
    assert_kernel_agrees(orjson.dumps(objs))


def test_kernel_takes_the_common_event_and_leaves_odd_json_to_python() -> None:
    base = b'{"event_id":"e","type":"track","occurred_at":"2026-01-15T10:00:00.5Z","name":"login","user_id":"u"'
    assert assert_kernel_agrees(base + b',"properties":{}}') is not None
    assert assert_kernel_agrees(b"[" + base + b"}," + base.replace(b'"e"', b'"f"') + b"}]") is not None
    for odd in (
        base + b',"user_id":"v"}',  # duplicate key: orjson keeps the last one
        base + b',"properties":{"n":123456789012345678901234}}',  # orjson refuses 64+-bit integers
        base + b',"x":"\\ud800"}',  # lone surrogate
        base + b',"properties":null}',
        base + b"} trailing",
        b"[]",
        b"null",
    ):
        assert EngagementKernel.validate(odd) is None, odd


# --- state: the kernel and the reference reducer agree -------------------------------------------

CONFIG = EngagementConfig(
    key_features=("reports", "dashboards"),
    activation_days=2,
    session_gap_seconds=1800,
    grace_seconds=86400,
    keep_days=4,
    max_features_per_day=2,
    dedupe_retention_days=2,
)
START = datetime(2026, 3, 1, 22, tzinfo=UTC)
NAMES = ["login", "page_view", "signed_up", "feature_used", "invite_sent", "report_exported"]

event_spec = st.fixed_dictionaries(
    {
        "id": st.integers(0, 60),
        "minutes": st.integers(0, 60 * 24 * 9),
        "back": st.sampled_from([0, 0, 0, 30, 600, 60 * 20, 60 * 30]),  # late arrivals, some beyond grace
        "name": st.sampled_from(NAMES),
        "user": st.sampled_from([None, "u0", "u1", "u2", "u3", "u4", "u:1", "u"]),
        "anon": st.sampled_from([None, "a0", "a1"]),
        "account": st.sampled_from([None, "x0", "x1"]),
        "feature": st.sampled_from([None, "reports", "dashboards", "f1", "f2", "f3"]),
        "session": st.sampled_from([None, None, "s1", "s2", "1:s1"]),  # u:1 + s1 vs u + 1:s1
        "form": st.sampled_from(["Z", "Z", "Z", "+02:00", "7digits", "space"]),
    }
)


def record_of(e: dict[str, Any], clock: int) -> dict[str, Any]:
    at = START + timedelta(minutes=clock - e["back"], seconds=e["id"] % 7, microseconds=e["id"] * 1001)
    if e["form"] == "+02:00":
        ts = (at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"
    elif e["form"] == "7digits":  # valid for pydantic, left to it by the kernel
        ts = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"
    elif e["form"] == "space":
        ts = at.strftime("%Y-%m-%d %H:%M:%S") + "Z"
    else:
        ts = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = {"event_id": f"e{e['id']}", "type": "track", "occurred_at": ts, "name": e["name"], "properties": {}}
    for field, key in (
        ("user_id", "user"),
        ("anonymous_id", "anon"),
        ("account_id", "account"),
        ("feature", "feature"),
        ("session_id", "session"),
    ):
        if e[key] is not None:
            out[field] = e[key]
    return out


def recover(state: PartitionState, changelog: dict[bytes, bytes | None]) -> PartitionState:
    """A new owner of the partition: its state from the compacted changelog."""
    fresh = PartitionState(state.partition, codecs=state.codecs)
    for key, value in changelog.items():
        if value is not None:
            fresh.apply_record(key, value)
    return fresh


@settings(max_examples=120, deadline=None)
@given(
    st.lists(event_spec, max_size=120),
    st.lists(st.integers(1, 12), min_size=1, max_size=30),
    st.lists(st.booleans(), max_size=30),
    st.lists(st.integers(1, 4), max_size=30),
)
def test_kernel_reaches_the_reference_state(
    specs: list[dict[str, Any]], cuts: list[int], restarts: list[bool], arrays: list[int]
) -> None:
    records: list[bytes] = []
    clock = 0
    i = 0
    while i < len(specs):
        size = arrays[len(records) % len(arrays)] if arrays else 1
        chunk = []
        for e in specs[i : i + size]:
            clock += e["minutes"] // 40  # time moves forward, with late events stepping back
            chunk.append(record_of(e, clock))
        i += size
        records.append(orjson.dumps(chunk if size > 1 else chunk[0]))
    if specs and not specs[0]["user"] and not specs[0]["anon"]:
        records.insert(0, b"{not json")  # a record pydantic rejects, in the middle of the kernel's run

    # the reference: pydantic decides every record, one event at a time
    ref = ReferenceLedger(CONFIG)
    expected = {"processed": 0, "duplicate": 0, "rejected": 0}
    for raw in records:
        for result in decode_record(SPEC, raw):
            if isinstance(result, Rejected):
                expected["rejected"] += 1
                continue
            assert isinstance(result, Accepted)
            verdict = ref.apply(facts_of(result.event))
            expected["processed" if verdict is None else "duplicate" if verdict == "duplicate" else "rejected"] += 1

    # the kernel: the engine's path, in batches, with the partition moving to a new owner at times
    pipeline = Pipeline(SPEC, EngagementProcessor(CONFIG), CONFIG.dedupe_retention_days)
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    changelog: dict[bytes, bytes | None] = {}
    got = {"processed": 0, "duplicate": 0, "rejected": 0}
    at = 0
    for n, cut in enumerate(cuts * (len(records) // max(1, sum(cuts)) + 1)):
        if at >= len(records):
            break
        outcome = pipeline.handle_many(state, records[at : at + cut])
        got["processed"] += outcome.processed
        got["duplicate"] += outcome.duplicates
        got["rejected"] += len(outcome.rejected)
        pipeline.flush(state)
        state.next_offset = at = at + cut
        changelog.update([*state.drain_changes(), state.checkpoint_record()])
        if restarts and restarts[n % len(restarts)]:
            pipeline.dropped(0)
            state = recover(state, changelog)
            pipeline.loaded(state)

    assert got == expected
    assert isinstance(pipeline.processor, EngagementProcessor)
    ledger = pipeline.processor.ledger(state)
    assert ledger.watermark == ref.watermark
    assert ledger.days == ref.days
    assert ledger.sessions == ref.sessions
    assert ledger.signups == ref.signups
    assert ledger.accounts == ref.accounts
    assert {k: s.serialize_compact() for k, s in ledger.sketches.items()} == {
        k: s.serialize_compact() for k, s in ref.sketches.items()
    }
