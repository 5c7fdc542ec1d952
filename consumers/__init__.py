"""Metric logic per source topic. Every topic is ingested (validated, deduplicated, counted,
dead-lettered); a topic whose metrics exist has a module here with its processor.
"""

from __future__ import annotations

from typing import Callable

from stream.exporter import IngestMetrics
from stream.pipeline import CountOnly, Processor
from stream.settings import PulseSettings
from stream.topics import SOURCE_TOPICS

__all__ = ["build_processors", "PROCESSOR_FACTORIES"]

def _revenue(settings: PulseSettings, metrics: IngestMetrics) -> Processor:
    from consumers.revenue.ledger import RevenueConfig
    from consumers.subscriptions import RevenueProcessor

    return RevenueProcessor(RevenueConfig.from_settings(settings))


def _engagement(settings: PulseSettings, metrics: IngestMetrics) -> Processor:
    from consumers.engagement.ledger import EngagementConfig
    from consumers.product_events import EngagementProcessor

    return EngagementProcessor(EngagementConfig.from_settings(settings))


#: topic -> builds that topic's processor.
PROCESSOR_FACTORIES: dict[str, Callable[[PulseSettings, IngestMetrics], Processor]] = {
    "subscriptions": _revenue,
    "product-events": _engagement,
}


def build_processors(settings: PulseSettings, metrics: IngestMetrics) -> dict[str, Processor]:
    return {
        name: PROCESSOR_FACTORIES[name](settings, metrics) if name in PROCESSOR_FACTORIES else CountOnly()
        for name in SOURCE_TOPICS
    }
