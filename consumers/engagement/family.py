"""The engagement family: DAU/WAU/MAU, stickiness, sessions, activation, account health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from consumers.engagement.ledger import EngagementConfig
from consumers.engagement.processor import TOPIC, EngagementProcessor
from consumers.engagement.reports import DAILY_ENGAGEMENT
from consumers.engagement.settings import EngagementSettings
from consumers.engagement.view import EngagementView
from stream.family import MetricFamily, Processor, Report
from stream.settings import FamilySettings, PulseSettings
from stream.snapshots import SnapshotStore

__all__ = ["EngagementFamily"]


class EngagementFamily(MetricFamily):
    name: ClassVar[str] = "engagement"
    topics: ClassVar[tuple[str, ...]] = (TOPIC,)
    reports: ClassVar[Sequence[Report]] = (DAILY_ENGAGEMENT,)
    settings_model: ClassVar[type[FamilySettings]] = EngagementSettings

    def __init__(self, settings: PulseSettings, section: EngagementSettings | None = None) -> None:
        super().__init__(settings)
        self.section = section if section is not None else EngagementSettings.load()
        self.config = EngagementConfig.from_settings(settings, self.section)

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        # A report covers the whole file: keep every day (a worker drops days older than 35,
        # which no figure of a later day reads, so the rows both compute are the same).
        return EngagementProcessor(replace(self.config, keep_days=10**6) if replay else self.config)

    def view(self, snapshots: SnapshotStore) -> EngagementView:
        s = self.section
        return EngagementView(
            snapshots,
            s.key_features,
            s.feature_top_n,
            s.activation_days,
            s.health_threshold,
            self.config.lg_k,
            self.config.feature_lg_k,
            self.config.keep_days,
            s.health_frt_target_seconds,
            s.health_refresh_seconds,
        )
