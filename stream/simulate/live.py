"""Live mode's clock for tickets: the compressed replay stamps every event with now, which
would answer and resolve a ticket seconds after it opens. A ticket's later events (and the
CSAT answer about it) are instead held back and sent when as much real time has passed since
its opening as passed in the simulated history, so first response times, pending tickets and
the oldest unanswered age look as a real desk's do."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["TicketClock"]

TICKETS = "support-tickets"
SURVEYS = "surveys"
#: real seconds after which a ticket's opening is forgotten (its simulated life is shorter)
FORGET_AFTER = 30 * 86400


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class TicketClock:
    #: ticket id -> (simulated opening, real time it was sent)
    opened: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: (real time due, sequence, item) of events held back
    held: list[tuple[float, int, Any]] = field(default_factory=list)
    _sequence: int = 0

    def place(self, topic: str, event: dict[str, Any], item: Any, now: float) -> bool:
        """True when ``item`` (with ``event``, as simulated) goes now; else it is held until its
        time (``due``). A ticket's opening is remembered; its later events and its CSAT answer
        are held ``their simulated time − the opening`` after the opening was sent."""
        ticket = event.get("ticket_id")
        if ticket is None or topic not in (TICKETS, SURVEYS):
            return True
        if topic == TICKETS and event.get("type") == "ticket_opened":
            self.opened[ticket] = (_ts(event["occurred_at"]), now)
            if len(self.opened) % 1000 == 0:  # a ticket's events span days, not a month
                self.opened = {t: o for t, o in self.opened.items() if o[1] > now - FORGET_AFTER}
            return True
        known = self.opened.get(ticket)
        if known is None:  # opened before this run (or its opening was not seen): send it now
            return True
        sim_opened, real_opened = known
        due = real_opened + max(0.0, _ts(event["occurred_at"]) - sim_opened)
        if due <= now:
            return True
        heapq.heappush(self.held, (due, self._sequence, item))
        self._sequence += 1
        if topic == SURVEYS:  # a ticket's CSAT answer is its last event
            self.opened.pop(ticket, None)
        return False

    def due(self, now: float) -> list[Any]:
        """The held items whose time has come, in time order."""
        out = []
        while self.held and self.held[0][0] <= now:
            out.append(heapq.heappop(self.held)[2])
        return out

    def next_due(self) -> float | None:
        return self.held[0][0] if self.held else None
