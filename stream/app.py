"""Builds the one Faust app of a worker: the ingest engine as its service, every registered
family's view (gauges, routes) on its web server."""

from __future__ import annotations

from dataclasses import dataclass, field

import faust

from stream.background import BackgroundRefresh
from stream.engine import IngestEngine
from stream.exporter import FreshOnly, IngestMetrics, SnapshotClock
from stream.family import FamilyView, Processor
from stream.kafka_signals import KafkaSignals, SignalsPoller
from stream.pipeline import Pipeline
from stream.registry import FamilyRegistry
from stream.service import WorkerService, installed_services
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
    registry: FamilyRegistry
    #: family name -> its deployment-wide view
    views: dict[str, FamilyView]
    #: when every view last read its snapshots successfully (monotonic clock; None: never)
    clock: SnapshotClock
    #: polls consumer lag and the dead-letter count from Kafka (stream/kafka_signals.py)
    signals: SignalsPoller | None = None
    #: services run beside the engine (stream/service.py), e.g. alerting
    services: list[WorkerService] = field(default_factory=list)
    #: runs the views' background refreshes (stream/background.py)
    background: BackgroundRefresh | None = None


def build_pipelines(settings: PulseSettings, processors: dict[str, Processor]) -> dict[str, Pipeline]:
    return {
        name: Pipeline(
            SOURCE_TOPICS[name],
            processor,
            settings.dedupe_retention_days,
            settings.currencies,
            settings.on_processing_error,
            settings.max_future_seconds,
            settings.topic_partitions,
            settings.on_wrong_partition,
        )
        for name, processor in processors.items()
    }


def create_app(
    settings: PulseSettings,
    registry: FamilyRegistry | None = None,
    services: list[type[WorkerService]] | None = None,
) -> Runtime:
    from stream.web import register_views

    registry = registry if registry is not None else FamilyRegistry.installed(settings)
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
    engine = IngestEngine(settings, build_pipelines(settings, registry.processors()), metrics, loop=app.loop)
    views = {family.name: family.view(engine.snapshots) for family in registry}
    clock = SnapshotClock(settings.snapshot_stale_seconds)
    for view in views.values():
        for collector in view.collectors():
            metrics.registry.register(FreshOnly(collector, clock))
    signals = KafkaSignals(
        settings, rate_window=settings.deadletter_rate_window_seconds, topics=list(registry.processors())
    )
    metrics.registry.register(signals)
    runtime = Runtime(
        settings,
        app,
        metrics,
        engine,
        registry,
        views,
        clock,
        SignalsPoller(signals, loop=app.loop),
        background=BackgroundRefresh(views, loop=app.loop),
    )
    for service_class in installed_services() if services is None else services:
        service = service_class(runtime)
        for collector in service.collectors():
            metrics.registry.register(collector)
        runtime.services.append(service)
    register_views(runtime)
    return runtime
