"""The revenue family: MRR and its movements, churn, retention, NRR/GRR, LTV, trials, renewals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from consumers.revenue.ledger import RevenueConfig
from consumers.revenue.processor import TOPIC, RevenueProcessor
from consumers.revenue.reports import MONTHLY_MRR
from consumers.revenue.settings import RevenueSettings
from consumers.revenue.view import RevenueView
from stream.family import MetricFamily, Processor, Report
from stream.settings import FamilySettings, PulseSettings
from stream.snapshots import SnapshotStore

__all__ = ["RevenueFamily"]


class RevenueFamily(MetricFamily):
    name: ClassVar[str] = "revenue"
    topics: ClassVar[tuple[str, ...]] = (TOPIC,)
    reports: ClassVar[Sequence[Report]] = (MONTHLY_MRR,)
    settings_model: ClassVar[type[FamilySettings]] = RevenueSettings

    def __init__(self, settings: PulseSettings, section: RevenueSettings | None = None) -> None:
        super().__init__(settings)
        self.section = section if section is not None else RevenueSettings.load()
        self.section.check_currencies(settings.currencies)
        self.config = RevenueConfig.from_settings(settings, self.section)

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        return RevenueProcessor(self.config)

    def view(self, snapshots: SnapshotStore) -> RevenueView:
        s = self.section
        return RevenueView(snapshots, s.reporting_currency, s.gross_margin, s.segment_top_n)
