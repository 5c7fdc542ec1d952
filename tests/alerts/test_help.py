"""The alert metrics' HELP texts are their definitions in docs/metrics.md, word for word."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerts.channels.dispatcher import Dispatcher
from alerts.channels.outbox import MemoryOutbox
from alerts.service import FIRING_HELP
from tests.stream.test_exporter import documented_help


def test_alert_metrics_are_documented_with_the_same_help() -> None:
    registry = CollectorRegistry()
    Dispatcher({}, MemoryOutbox(), registry)
    docs = documented_help()
    exported = {f.name + ("_total" if f.type == "counter" else ""): f.documentation for f in registry.collect()}
    assert exported == {"pulse_alert_notifications_total": docs["pulse_alert_notifications_total"]}
    assert docs["pulse_alerts_firing"] == FIRING_HELP
