"""HTTP API of the support family: a day's figures and one ticket's state."""

from __future__ import annotations

from consumers.support.view import SupportView
from stream.family import Reply, Request, Route
from stream.params import daily_route

__all__ = ["support_routes"]


def support_routes(view: SupportView) -> list[Route]:
    async def ticket(request: Request) -> Reply:
        ticket_id = request.params["ticket_id"]
        found = await view.snapshots.entity("tickets", ticket_id)
        if found is None:
            return Reply({"error": f"no ticket {ticket_id}"}, 404)
        return Reply(found)

    return [
        daily_route("/api/v1/support/daily", view.daily),
        Route("/api/v1/tickets/{ticket_id}", ticket, fresh=False),
    ]
