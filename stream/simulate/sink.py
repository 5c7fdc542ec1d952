"""Where every domain's raw events meet, and how they leave the simulator as :class:`SimEvent`.

The domains generate entity by entity, not in time order, so the sink keeps what falls inside
the window, sorts it once by ``(occurred_at, generation sequence)``, numbers event ids per topic
in that order, and takes each message key from the topic's own rule in ``stream.topics``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stream.simulate.clock import Clock, Window
from stream.topics import SOURCE_TOPICS

_ID_PREFIX = {
    "subscriptions": "sub",
    "product-events": "prd",
    "support-tickets": "tkt",
    "surveys": "srv",
    "marketing-spend": "mkt",
    "leads": "lead",
}


@dataclass(frozen=True, slots=True)
class SimEvent:
    topic: str  # unprefixed topic name, e.g. "subscriptions"
    key: str | None  # the message key, as SOURCE_TOPICS[topic].key_of gives it
    event: dict[str, Any]  # JSON-ready: RFC 3339 'Z' timestamps, money as "49.90"


class Sink:
    """Collects raw events from every domain, dropping those outside the window.

    Each domain emits the events of one entity in causal order, so truncating at the window's
    end never leaves, say, a renewal without its subscription start.
    """

    def __init__(self, window: Window) -> None:
        self.window = window
        self.rows: list[tuple[int, int, str, dict[str, Any]]] = []

    def add(self, ts: int, topic: str, fields: dict[str, Any]) -> None:
        if self.window.lo <= ts < self.window.hi:
            self.rows.append((ts, len(self.rows), topic, fields))

    def events(self, seed: int) -> Iterator[SimEvent]:
        """The collected events in time order, with ids unique per seed and topic."""
        self.rows.sort()  # (occurred_at, sequence): sequences are unique, so fields never compare
        clock, counters = Clock(), dict.fromkeys(_ID_PREFIX, 0)
        for ts, _, topic, fields in self.rows:
            n = counters[topic] = counters[topic] + 1
            event_id = f"{_ID_PREFIX[topic]}-{seed}-{n:08d}"
            event = {"event_id": event_id, "occurred_at": clock.format(ts), **fields}
            yield SimEvent(topic, SOURCE_TOPICS[topic].key_of(event), event)
