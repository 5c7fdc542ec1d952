from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stream.dedupe import WATERMARK_KEY, Deduper

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_second_sighting_is_a_duplicate() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=7)
    assert d.seen(store, "a", T0) is False
    assert d.seen(store, "a", T0) is True
    assert d.seen(store, "b", T0) is False


def test_ids_are_forgotten_after_the_retention_window_of_event_time() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=7)
    d.seen(store, "a", T0)
    d.seen(store, "x", T0 + timedelta(days=7))  # still within: 'a' kept
    assert "a" in store
    d.seen(store, "y", T0 + timedelta(days=8))  # watermark crossed: 'a' swept
    assert "a" not in store
    assert d.seen(store, "a", T0 + timedelta(days=8)) is False


def test_memory_is_bounded_by_the_window() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=2)
    for day in range(30):
        for i in range(100):
            d.seen(store, f"{day}-{i}", T0 + timedelta(days=day))
    ids = [k for k in store if k != WATERMARK_KEY]
    assert len(ids) == 300  # today and the two days before


def test_a_late_event_is_remembered_from_the_watermark() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=1)
    d.seen(store, "now", T0 + timedelta(days=10))
    d.seen(store, "old", T0)
    d.seen(store, "tomorrow", T0 + timedelta(days=11))
    assert d.seen(store, "old", T0) is True
