"""The acquisition family: CAC, LTV:CAC, CAC payback and channel ROI from `marketing-spend`,
joined with the revenue family's new customers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from consumers.acquisition.leads import LeadsConfig
from consumers.acquisition.ledger import SpendConfig
from consumers.acquisition.processor import LEADS_TOPIC, TOPIC, LeadsProcessor, SpendProcessor
from consumers.acquisition.reports import DAILY_ACQUISITION, MONTHLY_ACQUISITION
from consumers.acquisition.settings import AcquisitionSettings
from consumers.acquisition.view import AcquisitionView
from consumers.revenue.settings import RevenueSettings
from stream.family import MetricFamily, Processor, Report
from stream.settings import FamilySettings, PulseSettings
from stream.snapshots import SnapshotStore

__all__ = ["AcquisitionFamily"]


class AcquisitionFamily(MetricFamily):
    name: ClassVar[str] = "acquisition"
    topics: ClassVar[tuple[str, ...]] = (TOPIC, LEADS_TOPIC)
    reports: ClassVar[Sequence[Report]] = (MONTHLY_ACQUISITION, DAILY_ACQUISITION)
    settings_model: ClassVar[type[FamilySettings]] = AcquisitionSettings

    def __init__(self, settings: PulseSettings) -> None:
        super().__init__(settings)
        self.section = AcquisitionSettings.load()
        self.revenue = RevenueSettings.load()  # currencies, rates and gross margin: the deployment's
        self.config = SpendConfig(
            fx_rates=dict(self.revenue.fx_rates),
            grace_seconds=settings.grace_period_seconds,
            retention_channels=frozenset(self.section.retention_spend_channels),
        )

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        # a report covers the whole file: keep every day
        if topic == LEADS_TOPIC:
            leads = LeadsConfig(grace_seconds=self.config.grace_seconds)
            return LeadsProcessor(replace(leads, keep_days=10**6) if replay else leads)
        return SpendProcessor(replace(self.config, keep_days=10**6) if replay else self.config)

    def view(self, snapshots: SnapshotStore) -> AcquisitionView:
        return AcquisitionView(
            snapshots, self.config.retention_channels, self.revenue.gross_margin, self.section.acquisition_channel_top_n
        )
