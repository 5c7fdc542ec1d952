"""HTTP API of the surveys family: a day's answers and scores."""

from __future__ import annotations

from consumers.surveys.view import SurveysView
from stream.family import Route
from stream.params import daily_route

__all__ = ["surveys_routes"]


def surveys_routes(view: SurveysView) -> list[Route]:
    return [daily_route("/api/v1/surveys/daily", view.daily)]
