"""Builds the one Faust app of a worker, with the ingest engine as its service."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from consumers.engagement.view import EngagementCollector, EngagementView
from consumers.revenue.view import RevenueCollector, RevenueView
from stream.engine import IngestEngine
from stream.exporter import IngestMetrics
from stream.pipeline import Pipeline, Processor
from stream.settings import PulseSettings
from stream.topics import SOURCE_TOPICS

__all__ = ["Runtime", "create_app", "build_pipelines"]


@dataclass
class Runtime:
    """What one worker is made of: the Faust app (web, lifecycle), the engine and metrics."""

    settings: PulseSettings
    app: faust.App
    metrics: IngestMetrics
    engine: IngestEngine
    revenue: RevenueView
    engagement: EngagementView


def build_pipelines(
    settings: PulseSettings, processors: dict[str, Processor]
) -> dict[str, Pipeline]:
    return {
        name: Pipeline(
            SOURCE_TOPICS[name], processor, settings.dedupe_retention_days, settings.currencies
        )
        for name, processor in processors.items()
    }


def create_app(settings: PulseSettings) -> Runtime:
    from consumers import build_processors
    from stream.web import register_views

    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        autodiscover=False,
    )
    metrics = IngestMetrics()
    processors = build_processors(settings, metrics)
    engine = IngestEngine(settings, build_pipelines(settings, processors), metrics, loop=app.loop)
    revenue = RevenueView(
        engine.snapshots, settings.reporting_currency, settings.gross_margin, settings.segment_top_n
    )
    metrics.registry.register(RevenueCollector(revenue))
    engagement = EngagementView(
        engine.snapshots, settings.key_features, settings.feature_top_n, settings.activation_days,
        settings.health_threshold,
    )
    metrics.registry.register(EngagementCollector(engagement))
    runtime = Runtime(settings, app, metrics, engine, revenue, engagement)
    register_views(runtime)
    return runtime
