from __future__ import annotations

from stream.state import RAW, CheckpointedReplay, Codec, PartitionState


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
    assert value == b"[1,2]"
    assert replay([*first, (key, value), live.checkpoint_record()], {"sketch": RAW}).data["sketch"]["d1"] == b"\x00\x01"
