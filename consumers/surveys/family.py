"""The surveys family: NPS, CSAT and CES from the `surveys` topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from consumers.surveys.ledger import SurveysConfig
from consumers.surveys.processor import TOPIC, SurveysProcessor
from consumers.surveys.reports import DAILY_SURVEYS
from consumers.surveys.view import SurveysView
from stream.family import MetricFamily, Processor, Report
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore

__all__ = ["SurveysFamily"]


class SurveysFamily(MetricFamily):
    name: ClassVar[str] = "surveys"
    topics: ClassVar[tuple[str, ...]] = (TOPIC,)
    reports: ClassVar[Sequence[Report]] = (DAILY_SURVEYS,)

    def __init__(self, settings: PulseSettings) -> None:
        super().__init__(settings)
        self.config = SurveysConfig(grace_seconds=settings.grace_period_seconds)

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        # a report covers the whole file: keep every day
        return SurveysProcessor(replace(self.config, keep_days=10**6) if replay else self.config)

    def view(self, snapshots: SnapshotStore) -> SurveysView:
        return SurveysView(snapshots)
