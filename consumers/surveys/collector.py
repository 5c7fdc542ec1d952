"""Prometheus gauges of the surveys family (HELP text = docs/metrics.md, word for word)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from consumers.surveys.definitions import (
    ALL,
    LINKED,
    TOUCHPOINTS,
    WINDOWS,
    Kind,
    mean_score,
    nps,
    nps_counts,
    satisfied_ratio,
    tally_key,
    window_tallies,
)
from consumers.surveys.view import SurveysView

__all__ = ["SurveysCollector", "SURVEYS_HELP"]

SURVEYS_HELP = {
    "pulse_nps": "Net Promoter Score over the window: % promoters (9-10) - % detractors (0-6) of the NPS answers, -100 to 100, by touchpoint (all: every answer); absent without answers.",
    "pulse_nps_responses": "NPS answers in the window by category: promoter (9-10), passive (7-8), detractor (0-6).",
    "pulse_csat_ratio": "CSAT over the window: CSAT answers of 4 or 5 / all CSAT answers (0 to 1), by touchpoint (all: every answer; ticket: answers linked to a ticket); absent without answers.",
    "pulse_ces_ratio": "CES over the window: CES answers of 5 to 7 / all CES answers (0 to 1); absent without answers.",
    "pulse_ces_score_avg": "Mean CES score (1 to 7) of the answers in the window; absent without answers.",
}


class SurveysCollector:
    def __init__(self, view: SurveysView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, SURVEYS_HELP[name], labels=labels)

        score = gauge("pulse_nps", ["window", "touchpoint"])
        responses = gauge("pulse_nps_responses", ["window", "category"])
        csat = gauge("pulse_csat_ratio", ["window", "touchpoint"])
        ces = gauge("pulse_ces_ratio", ["window"])
        ces_avg = gauge("pulse_ces_score_avg", ["window"])
        end = self.view.watermark_day()
        if end is not None:
            for window, length in WINDOWS.items():
                tallies = window_tallies(self.view.days, end, length)
                for group in (ALL, *TOUCHPOINTS):
                    value = nps(tallies.get(tally_key(Kind.NPS, group)))
                    if value is not None:
                        score.add_metric([window, group], value)
                    ratio = satisfied_ratio(Kind.CSAT, tallies.get(tally_key(Kind.CSAT, group)))
                    if ratio is not None:
                        csat.add_metric([window, group], ratio)
                linked = satisfied_ratio(Kind.CSAT, tallies.get(tally_key(Kind.CSAT, LINKED)))
                if linked is not None:
                    csat.add_metric([window, LINKED], linked)
                counts = nps_counts(tallies.get(tally_key(Kind.NPS, ALL), [0] * 11))
                for category in ("promoter", "passive", "detractor"):
                    responses.add_metric([window, category], float(counts[f"{category}s"]))
                ces_tally = tallies.get(tally_key(Kind.CES, ALL))
                if (ratio := satisfied_ratio(Kind.CES, ces_tally)) is not None:
                    ces.add_metric([window], ratio)
                if (mean := mean_score(ces_tally)) is not None:
                    ces_avg.add_metric([window], mean)
        yield from (score, responses, csat, ces, ces_avg)
