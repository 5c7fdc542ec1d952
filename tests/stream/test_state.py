from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from stream.replay import replay_file
from stream.settings import PulseSettings
from stream.state import RAW, CheckpointedReplay, Codec, PartitionState, UnknownFormat, framed
from tests.factories import make_subscription

JSON_PLAIN = Codec(orjson.dumps, orjson.loads)


def replay(records: list[tuple[bytes, bytes | None]], codecs: dict[str, Codec] | None = None) -> PartitionState:
    """What recovery does: apply records up to the last checkpoint only."""
    state = PartitionState(0, codecs=codecs or {})
    feeder = CheckpointedReplay(state)
    for key, value in records:
        feeder.feed(key, value)
    return state


def test_changes_and_checkpoint_round_trip() -> None:
    live = PartitionState(0)
    store = live.store("customers")
    store["c1"] = {"mrr": "10"}
    store["c2"] = {"mrr": "20"}
    live.next_offset = 5
    log = [*live.drain_changes(), live.checkpoint_record()]
    del store["c2"]
    store["c1"] = {"mrr": "15"}
    live.next_offset = 9
    log += [*live.drain_changes(), live.checkpoint_record()]

    recovered = replay(log)
    assert recovered.data == live.data == {"customers": {"c1": {"mrr": "15"}}}
    assert recovered.next_offset == 9


def test_writes_after_the_last_checkpoint_are_dropped() -> None:
    live = PartitionState(0)
    live.store("s")["a"] = 1
    live.next_offset = 3
    log = [*live.drain_changes(), live.checkpoint_record()]
    live.store("s")["a"] = 2  # a batch that crashed before its checkpoint
    log += live.drain_changes()
    recovered = replay(log)
    assert recovered.data == {"s": {"a": 1}}
    assert recovered.next_offset == 3


def test_only_dirty_keys_are_written_and_raw_codec_keeps_bytes() -> None:
    live = PartitionState(0, codecs={"sketch": RAW})
    live.store("sketch")["d1"] = b"\x00\x01"
    live.store("other")["k"] = [1]
    first = live.drain_changes()
    assert len(first) == 2
    assert live.drain_changes() == []
    view = live.store("other")
    view["k"].append(2)
    view.touch("k")
    ((key, value),) = live.drain_changes()
    assert value == b"v1|[1,2]"  # JSON, framed with its format version
    assert replay([*first, (key, value), live.checkpoint_record()], {"sketch": RAW}).data["sketch"]["d1"] == b"\x00\x01"


def test_framed_values_name_unknown_and_missing_versions() -> None:
    codec = framed(JSON_PLAIN, version=2, older={1: lambda payload: {"old": orjson.loads(payload)}})
    assert codec.encode([1]) == b"v2|[1]"
    assert codec.decode(b"v2|[1]") == [1]
    assert codec.decode(b"v1|7") == {"old": 7}  # an older format, read by its own reader
    with pytest.raises(UnknownFormat, match="format version 3; this build reads 1, 2"):
        codec.decode(b"v3|[1]")
    with pytest.raises(UnknownFormat, match="without a format version"):
        codec.decode(b"[1]")


def test_checkpoints_carry_their_format_version() -> None:
    live = PartitionState(0)
    live.next_offset = 4
    key, value = live.checkpoint_record()
    assert orjson.loads(value) == {"v": 1, "next_offset": 4, "repartition_offset": 0}
    with pytest.raises(UnknownFormat, match="checkpoint of format version None"):
        PartitionState(0).apply_record(key, b'{"next_offset": 4}')


def test_replay_keeps_no_changelog_records(tmp_path: Path) -> None:
    """`pulse report` has no changelog: what a worker would write must not pile up in memory."""
    lines = [
        orjson.dumps(
            {
                "topic": "product-events",
                "event": {
                    "event_id": f"p{i}",
                    "type": "track",
                    "occurred_at": "2026-07-01T10:00:00Z",
                    "name": "login",
                    "user_id": f"u{i}",
                },
            }
        )  # fmt: skip
        + b"\n"
        for i in range(50)
    ] + [orjson.dumps({"topic": "subscriptions", "event": make_subscription(event_id="s")}) + b"\n"]
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"".join(lines))
    result = replay_file(path, PulseSettings(), ("product-events", "subscriptions"))
    assert result.processed == {"product-events": 50, "subscriptions": 1}
    for states in result.states.values():
        assert all(not s.emitted and not s.dirty for s in states)
