"""`pulse report daily-engagement`: the workers' engagement code over a replayed file."""

from __future__ import annotations

from typing import Any

from consumers.engagement.definitions import DAILY_COLUMNS, EngagementFigures, Partition
from consumers.engagement.processor import TOPIC, EngagementProcessor
from stream.family import Processor, Report

__all__ = ["DAILY_ENGAGEMENT"]


def daily_rows(processor: Processor) -> list[dict[str, Any]]:
    """One row per UTC day from the first to the last day with data."""
    assert isinstance(processor, EngagementProcessor)
    config = processor.config
    ledgers = [processor.ledgers[p] for p in sorted(processor.ledgers)]
    figures = EngagementFigures(
        [Partition(lg.sketches, lg.days, lg.watermark) for lg in ledgers],
        config.lg_k,
        config.feature_lg_k,
        config.activation_days,
    )
    days = figures.days_with_data()
    return [figures.daily_row(d) for d in range(days[0], days[-1] + 1)] if days else []


DAILY_ENGAGEMENT = Report(
    name="daily-engagement",
    help="DAU, WAU, MAU, stickiness, visitors, signups and sessions per UTC day, by the workers' code.",
    topic=TOPIC,
    columns=DAILY_COLUMNS,
    rows=daily_rows,
)
