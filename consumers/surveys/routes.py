"""HTTP API of the surveys family: a day's answers and scores."""

from __future__ import annotations

from consumers.surveys.view import SurveysView
from stream.family import Reply, Request, Route
from stream.params import parse_day

__all__ = ["surveys_routes"]


def surveys_routes(view: SurveysView) -> list[Route]:
    async def daily(request: Request) -> Reply:
        day = parse_day(request.query.get("date"))
        if day is None:
            return Reply({"error": "query parameter date=YYYY-MM-DD (ASCII digits, a calendar day) is required"}, 400)
        return Reply(view.daily(day))

    return [Route("/api/v1/surveys/daily", daily)]
