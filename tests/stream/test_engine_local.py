"""Events of a partition the same worker owns are applied there in process, not through the
repartition topic (stream/engine.py: ``_route``, ``_apply_local``, ``_hold_local``), and no
crash between the two partitions' commits loses or doubles one: each home's checkpoint holds,
per source partition, the offset up to which it took that source's events (``held_from``), and
each source's checkpoint the offset to read it again from (``restart_offset``).

The worker's own loop runs against the consumer double of test_engine_alignment, which serves
each partition's records and feeds the forwarded ones back through the repartition topic.
"""

from __future__ import annotations

from stream.engine import IngestEngine
from stream.pipeline import source_header
from stream.state import PartitionState
from tests.stream.test_engine_alignment import START, Broker, WatermarkProcessor, on_broker, subscription
from tests.stream.test_engine_health import SUBS, Record, Rig, customer, fail_writes, rig  # noqa: F401  # rig: a fixture

HOUR_MS = 3_600_000


def setup(worker: Rig, local: bool = True) -> tuple[Broker, WatermarkProcessor]:
    """Partitions 0 and 1 owned; partition 0 holds 6 records of its own customer and 6 of a
    customer of partition 1, alternating; partition 1 holds 4 of its own."""
    broker = Broker(engine=worker.engine, repartition=worker.rp(0).topic, per_fetch=4)
    processor = on_broker(worker, broker, local_forwards=local)
    mine, theirs = customer(0), customer(1)
    broker.queues[worker.tp(0)] = [subscription(i, START + i * HOUR_MS, mine if i % 2 else theirs) for i in range(12)]
    broker.queues[worker.tp(1)] = [subscription(i, START + i * HOUR_MS, customer(1, 1)) for i in range(4)]
    worker.engine._barrier_again()
    return broker, processor


async def run(worker: Rig) -> None:
    worker.engine._stopped.clear()
    await IngestEngine._consume(worker.engine)  # type: ignore[call-arg]  # the Service.task's function


def sample(worker: Rig, name: str) -> float:
    return worker.sample(f"{name}_total", topic=SUBS) or 0.0


def repartition_sends(worker: Rig) -> list[dict[str, object]]:
    return [send for send in worker.producer.sent if send["topic"] == worker.rp(0).topic]


async def test_events_of_an_owned_partition_are_applied_there_in_process(rig: Rig) -> None:  # noqa: F811
    broker, processor = setup(rig)
    await run(rig)
    assert rig.engine.local_ready == {rig.tp(0), rig.tp(1)}
    assert repartition_sends(rig) == []  # nothing through the repartition topic
    assert processor.applied == {0: 6, 1: 6 + 4}
    assert sample(rig, "pulse_events_processed") == 16 and sample(rig, "pulse_events_duplicate") == 0
    assert sample(rig, "pulse_events_forwarded") == 6
    home, source = rig.engine.states[rig.tp(1)], rig.engine.states[rig.tp(0)]
    assert home.held_from == {0: 12} and source.next_offset == 12
    assert rig.engine.committed_held[rig.tp(1)] == {0: 12}
    # the source's last checkpoint could count only on what its home had committed by then (a
    # batch or two before): recovery would read it again from there, for the home's events
    assert source.restart_offset is not None and 0 < source.restart_offset < 12


async def test_through_the_repartition_topic_the_figures_are_the_same(rig: Rig) -> None:  # noqa: F811
    broker, processor = setup(rig, local=False)
    await run(rig)
    assert rig.engine.local_ready == set()
    assert len(repartition_sends(rig)) == 6
    assert processor.applied == {0: 6, 1: 6 + 4}
    assert sample(rig, "pulse_events_processed") == 16 and sample(rig, "pulse_events_duplicate") == 0
    # the home marks what it read: a copy of the same source offset would be skipped
    assert rig.engine.states[rig.tp(1)].held_from == {0: 11}


async def test_a_source_whose_home_did_not_commit_is_read_again_for_the_home_only(rig: Rig) -> None:  # noqa: F811
    """Partition 0 committed up to offset 12 while partition 1 (its home for half of them)
    committed only up to source offset 4: recovery reads 0 again from 4 (its restart offset);
    0's own events there are not applied again, 1's are applied once."""
    broker, processor = setup(rig)
    source, home = rig.engine.states[rig.tp(0)], rig.engine.states[rig.tp(1)]
    source.next_offset, source.restart_offset = 12, 4
    home.held_from = {0: 4}
    broker.positions[rig.tp(0)] = source.read_from
    rig.engine.read_start[rig.tp(0)] = source.read_from
    await run(rig)
    assert processor.applied == {1: 4 + 4}  # offsets 4..11 of 0 hold four of 1's; 1's own four
    assert sample(rig, "pulse_events_processed") == 8 and sample(rig, "pulse_events_duplicate") == 0
    assert sample(rig, "pulse_events_forwarded") == 0  # counted when first read
    assert home.held_from == {0: 12} and source.next_offset == 12


async def test_a_home_skips_forwards_of_source_offsets_it_holds(rig: Rig) -> None:  # noqa: F811
    """A forward read back after the home took its source offset (in process, before a crash
    of its source) is a second copy: skipped, not applied, not even counted as a duplicate."""
    broker, processor = setup(rig, local=False)
    broker.queues[rig.tp(0)] = []
    broker.queues[rig.tp(1)] = []
    home = rig.engine.states[rig.tp(1)]
    home.held_from = {0: 5}
    copies = [subscription(o, START + o * HOUR_MS, customer(1)) for o in (3, 4, 5)]
    broker.queues[rig.rp(1)] = [
        Record(c.value, n, c.timestamp, key=c.key, headers=source_header((0, c.offset))) for n, c in enumerate(copies)
    ]
    await run(rig)
    assert processor.applied == {1: 1}  # source offset 5 only
    assert sample(rig, "pulse_events_duplicate") == 0
    assert home.held_from == {0: 6} and home.repartition_offset == 3


def test_the_checkpoint_keeps_held_offsets_and_the_restart_offset() -> None:
    state = PartitionState(1)
    state.next_offset, state.restart_offset, state.held_from = 40, 25, {0: 31, 2: 7}
    key, value = state.checkpoint_record()
    again = PartitionState(1)
    again.apply_record(key, value)
    assert (again.next_offset, again.restart_offset, again.held_from) == (40, 25, {0: 31, 2: 7})
    assert again.read_from == 25
    plain = PartitionState(1)
    plain.next_offset = 40
    again = PartitionState(1)
    again.apply_record(*plain.checkpoint_record())
    assert (again.restart_offset, again.held_from, again.read_from) == (None, {}, 40)


async def test_a_home_whose_batch_was_not_written_takes_every_owned_partition_with_it(rig: Rig) -> None:  # noqa: F811
    """Partition 1 took partition 0's events in process in a batch whose writes then failed:
    1 is reloaded from its changelog, and 0, which moved past those events, is reloaded too
    (and read again from its restart offset), not just 1."""
    broker, _ = setup(rig)
    rig.engine.local_ready = {rig.tp(0), rig.tp(1)}
    batch = {rig.tp(0): broker.queues[rig.tp(0)][:4]}
    written = await rig.engine.process_batch(batch)
    assert rig.engine.states[rig.tp(1)].held_from == {0: 4}  # took offsets 0 and 2 in process
    await fail_writes(rig.engine, written, rig.tp(1))
    assert rig.engine.reload_pending == {rig.tp(0), rig.tp(1)}
    assert rig.engine.states == {} and rig.engine.local_ready == set()
    assert rig.sample("pulse_partition_reloads_total", topic=SUBS) == 1  # one batch failed
