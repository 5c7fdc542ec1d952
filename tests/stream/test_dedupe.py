from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stream.dedupe import WATERMARK_KEY, Deduper, DedupeVerdict

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
NEW, DUP, CONFLICT = DedupeVerdict.NEW, DedupeVerdict.DUPLICATE, DedupeVerdict.CONFLICT


def remembered(store: dict[str, int]) -> set[str]:
    return {k.split("\x1f", 1)[1] for k in store if k != WATERMARK_KEY}


def test_second_sighting_is_a_duplicate() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=7)
    assert d.check(store, "c1", "a", T0, 1) is NEW
    assert d.check(store, "c1", "a", T0, 1) is DUP
    assert d.check(store, "c1", "b", T0, 1) is NEW


def test_an_id_is_unique_within_its_entity_and_other_content_is_a_conflict() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=7)
    assert d.check(store, "c1", "a", T0, 111) is NEW
    assert d.check(store, "c2", "a", T0, 222) is NEW  # another customer's event with that id
    assert d.check(store, "c1", "a", T0, 333) is CONFLICT
    assert d.check(store, "c1", "a", T0, 111) is DUP
    d.forget(store, "c2", "a")
    assert d.check(store, "c2", "a", T0, 444) is NEW  # a corrected resend of a refused event


def test_ids_are_forgotten_after_the_retention_window_of_event_time() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=7)
    d.check(store, "c", "a", T0, 1)
    d.check(store, "c", "x", T0 + timedelta(days=7), 1)  # still within: 'a' kept
    assert "a" in remembered(store)
    d.check(store, "c", "y", T0 + timedelta(days=8), 1)  # watermark crossed: 'a' swept
    assert "a" not in remembered(store)
    assert d.check(store, "c", "a", T0 + timedelta(days=8), 1) is NEW


def test_memory_is_bounded_by_the_window() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=2)
    for day in range(30):
        for i in range(100):
            d.check(store, "c", f"{day}-{i}", T0 + timedelta(days=day), i)
    assert len(remembered(store)) == 300  # today and the two days before


def test_a_late_event_is_remembered_from_the_watermark() -> None:
    store: dict[str, int] = {}
    d = Deduper(retention_days=1)
    d.check(store, "c", "now", T0 + timedelta(days=10), 1)
    d.check(store, "c", "old", T0, 1)
    d.check(store, "c", "tomorrow", T0 + timedelta(days=11), 1)
    assert d.check(store, "c", "old", T0, 1) is DUP


def test_ids_remembered_by_an_earlier_build_are_still_duplicates_until_they_expire() -> None:
    """Earlier builds stored the bare id with the bare retention day."""
    day = T0.toordinal()
    store: dict[str, int] = {WATERMARK_KEY: day, "old-id": day + 7}
    d = Deduper(retention_days=7)
    assert d.check(store, "c9", "old-id", T0, 5) is DUP  # no fingerprint: never a conflict
    d.check(store, "c", "later", T0 + timedelta(days=8), 1)
    assert "old-id" not in store
