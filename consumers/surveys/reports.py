"""`pulse report daily-surveys`: the workers' survey code over a replayed file."""

from __future__ import annotations

from typing import Any

from consumers.surveys.definitions import DAILY_COLUMNS, daily_row
from consumers.surveys.processor import TOPIC, SurveysProcessor
from consumers.surveys.view import merge_days
from stream.family import Processor, Report, report_days

__all__ = ["DAILY_SURVEYS"]


def daily_survey_rows(processor: Processor) -> list[dict[str, Any]]:
    """One row per UTC day from the first to the last day with an answer."""
    assert isinstance(processor, SurveysProcessor)
    days = merge_days(ledger.days for _, ledger in sorted(processor.ledgers.items()))
    return [daily_row(days, day) for day in report_days(d for d, t in days.items() if t)]


DAILY_SURVEYS = Report(
    name="daily-surveys",
    help="NPS, CSAT and CES answers and scores per UTC day (and NPS, CSAT over 30 days), by the workers' code.",
    topic=TOPIC,
    columns=DAILY_COLUMNS,
    rows=daily_survey_rows,
)
