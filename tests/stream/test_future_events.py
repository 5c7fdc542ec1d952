"""A broken clock cannot erase metrics: an event dated after its record's time (plus
PULSE_MAX_FUTURE_SECONDS) is refused as `future` and moves no watermark and no state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from consumers.engagement.processor import EngagementProcessor
from stream.jsonl import dump_line
from stream.outcomes import RejectReason
from stream.registry import FamilyRegistry
from stream.replay import Replay, replay_file
from stream.settings import PulseSettings
from stream.simulate import generate_history

SETTINGS = PulseSettings()
END = datetime(2026, 11, 1, tzinfo=UTC)


def report(result: Replay, name: str) -> list[dict[str, object]]:
    for family in FamilyRegistry.installed(SETTINGS):
        for r in family.reports:
            if r.name == name:
                return r.rows(result.pipelines[r.topic].processor)
    raise KeyError(name)


def history(tmp_path: Path) -> tuple[list[bytes], list[dict[str, object]]]:
    events = list(generate_history(customers=12, days=45, end=END, seed=5))
    return [dump_line(e.topic, e.key, e.event) for e in events], [e.event for e in events]


def redated(event: dict[str, object], year: int, suffix: str) -> dict[str, object]:
    return {**event, "event_id": f"{event['event_id']}-{suffix}", "occurred_at": f"{year}-01-01T00:00:00Z"}


def test_future_dated_copies_change_no_report(tmp_path: Path) -> None:
    lines, events = history(tmp_path)
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"".join(lines))
    product = [e for e in events if e["type"] == "track"][:6]
    subs = [e for e in events if str(e["type"]).startswith("subscription_started")][:2]
    broken = [dump_line("product-events", None, redated(e, 2031, "x")) for e in product]
    broken += [dump_line("subscriptions", None, redated(e, 2062, "y")) for e in subs]
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_bytes(b"".join(lines[:50] + broken + lines[50:]))  # near the start, as found

    topics = ("subscriptions", "product-events")
    before, after = replay_file(clean, SETTINGS, topics), replay_file(dirty, SETTINGS, topics)
    for name in ("monthly-mrr", "daily-engagement"):
        assert report(after, name) == report(before, name), name
    assert after.rejected[("product-events", RejectReason.FUTURE)] == 6
    assert after.rejected[("subscriptions", RejectReason.FUTURE)] == 2
    assert after.processed == before.processed
    assert not any(reason is RejectReason.LATE for _, reason in after.rejected)


def test_the_line_timestamp_is_the_reference_time(tmp_path: Path) -> None:
    """With a record time, an event is judged against it, not the replay's wall clock."""
    event = {"event_id": "p1", "type": "track", "occurred_at": "2026-07-01T12:10:00Z", "name": "login", "user_id": "u1"}
    at_noon = int(datetime(2026, 7, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
    path = tmp_path / "stamped.jsonl"
    lines = [
        orjson.dumps({"topic": "product-events", "event": event, "timestamp": at_noon}),  # 10 minutes ahead
        orjson.dumps({"topic": "product-events", "event": {**event, "event_id": "p2"}, "timestamp": at_noon + 600_000}),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = replay_file(path, SETTINGS, ("product-events",))
    assert result.rejected == {("product-events", RejectReason.FUTURE): 1}
    assert result.processed == {"product-events": 1}
    processor = result.pipelines["product-events"].processor
    assert isinstance(processor, EngagementProcessor)
    marks = {lg.watermark for lg in processor.ledgers.values() if lg.watermark is not None}
    assert marks == {int(datetime(2026, 7, 1, 12, 10, tzinfo=UTC).timestamp())}
