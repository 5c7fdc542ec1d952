"""Live mode's ticket clock (stream/simulate/live.py): the compressed replay sends a ticket's
opening now and its replies, resolution and CSAT answer as long after as they came in the
simulated history, so first response times are minutes and hours, not seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream.simulate import SimEvent, generate_history
from stream.simulate.live import TicketClock


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00")).timestamp()


def test_a_tickets_events_go_as_long_after_its_opening_as_simulated() -> None:
    history = list(generate_history(customers=40, days=20, end=datetime(2026, 6, 1, tzinfo=UTC), seed=3))
    tickets = [e for e in history if e.topic == "support-tickets"]
    assert len(tickets) > 20
    clock, sent_at, now = TicketClock(), {}, 1_000_000.0
    # the replay runs 1000 times faster than the history: each event comes a thousandth later
    first = _ts(history[0].event)
    for ev in history:
        now = 1_000_000.0 + (_ts(ev.event) - first) / 1000
        for held in clock.due(now):
            sent_at[id(held)] = now
        if clock.place(ev.topic, ev.event, ev, now):
            sent_at[id(ev)] = now
    while (due := clock.next_due()) is not None:  # the run goes on: what is held goes at its time
        for held in clock.due(due):
            sent_at[id(held)] = due
    by_ticket: dict[str, list[SimEvent]] = {}
    for ev in tickets:
        by_ticket.setdefault(str(ev.event["ticket_id"]), []).append(ev)
    checked = 0
    for events in by_ticket.values():
        opening = next(e for e in events if e.event["type"] == "ticket_opened")
        reply = next((e for e in events if e.event["type"] == "agent_replied"), None)
        if reply is None or id(reply) not in sent_at or _ts(reply.event) - _ts(opening.event) > 86400 * 3:
            continue
        simulated = _ts(reply.event) - _ts(opening.event)
        live = sent_at[id(reply)] - sent_at[id(opening)]
        # held exactly as long as simulated (it goes at the first event on or after its time)
        assert simulated <= live + 1e-6, (simulated, live)
        assert live - simulated < 3600, (simulated, live)
        checked += 1
    assert checked > 10
    assert all(id(e) in sent_at for e in history)  # nothing is lost
    # a ticket's CSAT answer waits for its ticket too; other topics go at once
    other = SimEvent("product-events", "a", {"type": "track", "occurred_at": "2026-01-01T00:00:00Z"})
    assert clock.place(other.topic, other.event, other, 0.0)
