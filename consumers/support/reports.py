"""`pulse report daily-support`: the workers' support code (and the surveys family's NPS and
CSAT) over a replayed file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.support.definitions import DAILY_COLUMNS, daily_row, merge_days, sum_counters
from consumers.support.processor import TOPIC, SupportProcessor
from stream.family import Processor, Report, report_days

__all__ = ["DAILY_SUPPORT"]

SURVEYS = "surveys"


def daily_support_rows(processor: Processor, others: Mapping[str, Processor]) -> list[dict[str, Any]]:
    """One row per UTC day from the first to the last day with ticket events."""
    assert isinstance(processor, SupportProcessor)
    ledgers = [lg for _, lg in sorted(processor.ledgers.items())]
    days = merge_days(lg.days for lg in ledgers)
    before = sum_counters(lg.backlog_before for lg in ledgers)
    surveys = _survey_days(others.get(SURVEYS))
    rows = []
    for day in report_days(d for d, c in days.items() if any(c.values())):
        nps_30d = csat_30d = None
        if surveys is not None:
            from consumers.surveys.definitions import daily_row as survey_row

            survey = survey_row(surveys, day)
            nps_30d, csat_30d = survey["nps_30d"], survey["csat_30d"]
        rows.append(daily_row(days, day, before, nps_30d, csat_30d))
    return rows


def _survey_days(processor: Processor | None) -> dict[int, dict[str, list[int]]] | None:
    if processor is None:
        return None
    from consumers.surveys.processor import SurveysProcessor
    from consumers.surveys.view import merge_days as merge_survey_days

    assert isinstance(processor, SurveysProcessor)
    return merge_survey_days(lg.days for _, lg in sorted(processor.ledgers.items()))


DAILY_SUPPORT = Report(
    name="daily-support",
    help="Tickets opened and resolved, first response and resolution times, FCR and backlog per UTC day, "
    "with NPS and CSAT over 30 days, by the workers' code.",
    topic=TOPIC,
    columns=DAILY_COLUMNS,
    rows=lambda processor: daily_support_rows(processor, {}),
    also=(SURVEYS,),
    joined=daily_support_rows,
)
