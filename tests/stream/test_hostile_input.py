"""No record can crash a worker or a report: poison pills found on the real stack, each a
regression test, then random bytes, random JSON and edge-of-range values through every topic's
pipeline, in process and in replay (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.app import build_pipelines
from stream.family import Processor
from stream.jsonl import dump_line
from stream.outcomes import ApplyResult, ProcessingErrorPolicy, RejectReason
from stream.pipeline import Pipeline, ProcessingStopped
from stream.registry import FamilyRegistry
from stream.replay import replay_file
from stream.settings import PulseSettings
from stream.state import PartitionState
from stream.topics import SOURCE_TOPICS, spec_for
from tests.factories import make_subscription

SETTINGS = PulseSettings()


def pipelines() -> dict[str, Pipeline]:
    """One partition: every entity is at home in the state these tests look at."""
    one = PulseSettings(topic_partitions=1)
    return build_pipelines(one, FamilyRegistry.installed(one).processors())


#: A record time past every event the contracts accept: nothing is in the future of it.
END_OF_TIME_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z


def run(topic: str, values: list[bytes | None], stamp: int | None = None) -> tuple[Pipeline, PartitionState, Any]:
    pipeline = pipelines()[topic]
    state = PartitionState(0, codecs=pipeline.codecs)
    pipeline.loaded(state)
    outcome = pipeline.handle_many(state, values, [stamp] * len(values))
    pipeline.flush(state)
    state.drain_changes()
    return pipeline, state, outcome


def reasons(outcome: Any) -> list[str]:
    return [r.reason.value for _, r in outcome.rejected]


# --- the poison pills of the integrity issue -----------------------------------------------------

PILLS = {
    "quantity 10^18": make_subscription(quantity=10**18),
    "amount 10^16 - 1 x quantity 1000": make_subscription(amount="9999999999999999", quantity=1000),
    "year 1 at +14:00": make_subscription(occurred_at="0001-01-01T00:00:00+14:00"),
    "year 9999 at -12:00": make_subscription(occurred_at="9999-12-31T23:59:59-12:00"),
}


@pytest.mark.parametrize("name", PILLS)
def test_subscription_poison_pills_are_dead_lettered_and_the_partition_moves_on(name: str) -> None:
    good = make_subscription(event_id="after", customer_id="c-2")
    _, state, outcome = run("subscriptions", [orjson.dumps(PILLS[name]), orjson.dumps(good)])
    assert outcome.processed == 1 and len(outcome.rejected) == 1
    assert reasons(outcome) == ["schema" if "amount" in name or "quantity" in name else "timestamp"]
    assert list(state.store("customers")) == ["c-2"]


def test_an_mrr_beyond_the_limit_is_refused_with_its_size() -> None:
    huge = make_subscription(amount="9999999999999999", quantity=1000)  # each bound alone is met
    _, _, outcome = run("subscriptions", [orjson.dumps(huge)])
    ((_, rejected),) = outcome.rejected
    assert rejected.reason is RejectReason.SCHEMA and "exceeds the limit 1E+15" in rejected.error


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
     "2199-12-31T23:00:00-01:00"],
)  # fmt: skip
def test_product_events_out_of_range_are_refused_on_the_kernel_path_too(at: str) -> None:
    event = {"event_id": "p1", "type": "track", "occurred_at": at, "name": "login", "user_id": "u1"}
    _, _, outcome = run("product-events", [orjson.dumps(event), orjson.dumps([event])])
    assert reasons(outcome) == ["timestamp", "timestamp"]


def test_edges_of_the_time_range_are_accepted() -> None:
    first = make_subscription(event_id="a", occurred_at="1970-01-01T00:00:00Z")
    last = make_subscription(event_id="b", customer_id="c-2", occurred_at="2199-12-31T23:59:59.999999Z")
    _, _, outcome = run("subscriptions", [orjson.dumps(first), orjson.dumps(last)], END_OF_TIME_MS)
    assert outcome.processed == 2 and outcome.rejected == []
    for at in ("1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z", "1970-01-01T01:00:00+01:00"):
        event = {"event_id": at, "type": "track", "occurred_at": at, "name": "login", "user_id": "u1"}
        _, _, outcome = run("product-events", [orjson.dumps(event)], END_OF_TIME_MS)
        assert outcome.processed == 1 and outcome.rejected == [], at


def test_the_report_survives_each_pill(tmp_path: Path) -> None:
    path = tmp_path / "pills.jsonl"
    good = make_subscription(event_id="ok", customer_id="c-9", amount="10")
    path.write_bytes(b"".join(dump_line("subscriptions", None, e) for e in [*PILLS.values(), good]))
    result = replay_file(path, SETTINGS, ("subscriptions",))
    assert result.processed == {"subscriptions": 1}
    assert result.rejected == {("subscriptions", RejectReason.SCHEMA): 2, ("subscriptions", RejectReason.TIMESTAMP): 2}


# --- whatever a processor still raises on ----------------------------------------------------------


class Exploding(Processor):
    """Raises on events whose id starts with 'boom'."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        if event.event_id.startswith("boom"):
            raise ArithmeticError(f"cannot compute {event.event_id}")
        self.applied.append(event.event_id)
        return super().apply(state, event)


def test_a_record_the_processor_raises_on_is_dead_lettered_and_its_id_forgotten() -> None:
    processor = Exploding()
    pipeline = Pipeline(spec_for("surveys"), processor, 7)
    state = PartitionState(0)
    survey = {"type": "survey_response", "occurred_at": "2026-07-01T00:00:00Z", "account_id": "a", "kind": "nps"}
    values = [orjson.dumps({**survey, "event_id": i, "score": 9}) for i in ("boom-1", "ok-1", "boom-1")]
    outcome = pipeline.handle_many(state, values)
    assert processor.applied == ["ok-1"] and outcome.processed == 1 and outcome.duplicates == 0
    assert [(i, r.reason.value) for i, r in outcome.rejected] == [(0, "processing_error"), (2, "processing_error")]
    assert "ArithmeticError: cannot compute boom-1" in outcome.rejected[0][1].error
    assert outcome.rejected[0][1].raw == values[0]  # the original bytes, for the dead letter


def test_the_stop_policy_stops_instead() -> None:
    pipeline = Pipeline(spec_for("surveys"), Exploding(), 7, on_error=ProcessingErrorPolicy.STOP)
    survey = {"event_id": "boom", "type": "survey_response", "occurred_at": "2026-07-01T00:00:00Z",
              "account_id": "a", "kind": "nps", "score": 9}  # fmt: skip
    with pytest.raises(ProcessingStopped, match="surveys: ArithmeticError"):
        pipeline.handle(PartitionState(0), orjson.dumps(survey))


# --- random input, every topic -------------------------------------------------------------------

EDGE_NUMBERS = st.sampled_from(
    [0, -1, 1, 2**63, -(2**63), 10**18, 10**30, 1e308, -1e308, 0.1, "1e999", "NaN", "-0", "9" * 40, "0.000000001"]
)
EDGE_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "2199-12-31T23:59:59.999999-00:00",
        "2200-01-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-07-01T00:00:00.123456789Z",
        "2026-07-01 00:00:00+23:59",
    ]
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), EDGE_NUMBERS)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12,
)


def event_like(topic: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events of the topic's types whose fields are drawn from edge values and random JSON."""
    fields = [
        "event_id", "customer_id", "subscription_id", "plan", "amount", "currency", "interval", "interval_count",
        "quantity", "discount_percent", "attributes", "acquisition_channel", "name", "user_id", "account_id",
        "anonymous_id", "feature", "session_id", "ticket_id", "channel", "category", "priority", "kind", "score",
        "stage", "lead_id",
    ]  # fmt: skip
    return st.fixed_dictionaries(
        {"type": st.sampled_from(SOURCE_TOPICS[topic].types), "occurred_at": EDGE_TIMES | st.text(max_size=30)},
        optional={
            f: JSON | EDGE_NUMBERS | st.sampled_from(["USD", "EUR", "month", "day", "nps", "bug"]) for f in fields
        },
    )


def dumps(value: Any) -> bytes:
    """As other producers write JSON: integers beyond 64 bits and NaN/Infinity included."""
    return json.dumps(value).encode()


def records(topic: str) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.binary(max_size=64),
        JSON.map(dumps),
        event_like(topic).map(dumps),
        st.lists(event_like(topic), max_size=3).map(dumps),
    )


@pytest.mark.parametrize("topic", list(SOURCE_TOPICS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nothing_raises_in_process(topic: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(records(topic), max_size=8))
    _, _, outcome = run(topic, values)
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for _, r in outcome.rejected), outcome.rejected


def _json_safe(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
        return True
    except orjson.JSONDecodeError:
        return False


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_nothing_raises_in_replay(tmp_path: Path, data: st.DataObject) -> None:
    """Wrapped lines (Pulse's file format) of every topic in one file, and per topic a file of
    bare records, any bytes at all, as `pulse report` reads them."""
    wrapped, bare = [], {}
    for topic in SOURCE_TOPICS:
        raws = data.draw(st.lists(records(topic), max_size=5))
        bare[topic] = [r for r in raws if r is not None]
        # (a newline outside a JSON string is whitespace: a space keeps the record, and the line)
        wrapped += [
            b'{"topic": "%s", "event": %s}\n' % (topic.encode(), r.replace(b"\n", b" "))
            for r in raws
            if r and _json_safe(r)
        ]
    path = tmp_path / "wrapped.jsonl"
    path.write_bytes(b"".join(data.draw(st.permutations(wrapped))))
    results = [replay_file(path, SETTINGS, tuple(SOURCE_TOPICS))]
    for topic, raws in bare.items():
        one = tmp_path / f"{topic}.jsonl"
        one.write_bytes(b"".join(r.replace(b"\n", b" ") + b"\n" for r in raws))
        results.append(replay_file(one, SETTINGS, (topic,), default_topic=topic))
    for result in results:
        assert not any(reason is RejectReason.PROCESSING_ERROR for _, reason in result.rejected), result.rejected
        for family in FamilyRegistry.installed(SETTINGS):
            for report in family.reports:
                if report.topic in result.pipelines:
                    report.rows(result.pipelines[report.topic].processor)  # every report computes too
