"""HTTP API of the engagement family: daily figures, accounts and the at-risk list."""

from __future__ import annotations

from datetime import date

from consumers.engagement.view import EngagementView
from stream.family import Reply, Request, Route
from stream.params import DAY_REQUIRED, parse_day

__all__ = ["engagement_routes"]


def engagement_routes(view: EngagementView) -> list[Route]:
    async def daily(request: Request) -> Reply:
        day = parse_day(request.query.get("date"))
        if day is None:
            return Reply({"error": DAY_REQUIRED}, 400)
        row = view.daily(day)
        if row is None:
            why = f"{day.isoformat()} is older than the days the workers keep (from {view.oldest_day()})"
            return Reply({"error": f"{why}: pulse report on the events has every day"}, 404)
        return Reply(row)

    async def at_risk(request: Request) -> Reply:
        as_of = view.health.today
        return Reply(
            {
                "threshold": view.health_threshold,
                "as_of": None if as_of is None else date.fromordinal(as_of).isoformat(),
                "accounts": view.at_risk(),
            }
        )

    async def account(request: Request) -> Reply:
        account_id = request.params["account_id"]
        found = await view.account(account_id)
        if found is None:
            return Reply({"error": f"no account {account_id}"}, 404)
        return Reply(found)

    return [
        Route("/api/v1/engagement/daily", daily),
        Route("/api/v1/accounts/at-risk", at_risk),
        Route("/api/v1/accounts/{account_id}", account),
    ]
