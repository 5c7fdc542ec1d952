"""The support family: first response and resolution times, FCR, reopens, backlog, volume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from consumers.support.ledger import SupportConfig
from consumers.support.processor import TOPIC, SupportProcessor
from consumers.support.reports import DAILY_SUPPORT
from consumers.support.settings import SupportSettings
from consumers.support.view import SupportView
from stream.family import MetricFamily, Processor, Report
from stream.settings import FamilySettings, PulseSettings
from stream.snapshots import SnapshotStore

__all__ = ["SupportFamily"]


class SupportFamily(MetricFamily):
    name: ClassVar[str] = "support"
    topics: ClassVar[tuple[str, ...]] = (TOPIC,)
    reports: ClassVar[Sequence[Report]] = (DAILY_SUPPORT,)

    settings_model: ClassVar[type[FamilySettings]] = SupportSettings

    def __init__(self, settings: PulseSettings, section: SupportSettings | None = None) -> None:
        super().__init__(settings)
        self.section = section if section is not None else SupportSettings.load()
        self.config = SupportConfig(
            grace_seconds=settings.grace_period_seconds,
            schedule=self.section.schedule(),
            overrides=self.section.schedule_overrides(),
        )

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        return SupportProcessor(replace(self.config, keep_days=10**6) if replay else self.config)

    def view(self, snapshots: SnapshotStore) -> SupportView:
        return SupportView(snapshots)
