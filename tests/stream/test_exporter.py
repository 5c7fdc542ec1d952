from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from stream.exporter import IngestMetrics, render
from stream.outcomes import RejectReason
from stream.registry import FamilyRegistry
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore

DOC = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()


def documented_help() -> dict[str, str]:
    """metric name -> HELP column of docs/metrics.md tables."""
    rows = re.findall(r"^\| `(pulse_[a-z_]+)` \| [a-z]+ \| [^|]* \| (.+?) \|$", DOC, re.M)
    return {name: help_text for name, help_text in rows}


def test_every_exported_metric_is_documented_with_the_same_help() -> None:
    metrics = IngestMetrics(CollectorRegistry())
    snapshots = SnapshotStore("redis://127.0.0.1:1/0", "help-test")  # never contacted: no refresh
    for family in FamilyRegistry.installed(PulseSettings()):
        for collector in family.view(snapshots).collectors():
            metrics.registry.register(collector)
    docs = documented_help()
    exported = {}
    for family in metrics.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        exported[name] = family.documentation
    assert len(exported) > 20, exported
    for name, help_text in exported.items():
        assert name in docs, f"{name} is not defined in docs/metrics.md"
        assert docs[name] == help_text, f"HELP of {name} differs from docs/metrics.md"


def test_counters_render_with_labels_and_no_created_series() -> None:
    metrics = IngestMetrics(CollectorRegistry())
    metrics.processed.labels(topic="surveys").inc(3)
    metrics.count_rejected("surveys", RejectReason.LATE)
    text = render(metrics.registry).decode()
    assert 'pulse_events_processed_total{topic="surveys"} 3.0' in text
    assert 'pulse_events_late_total{topic="surveys"} 1.0' in text
    assert 'pulse_events_rejected_total{reason="late",topic="surveys"} 1.0' in text
    assert "_created" not in text


def test_the_documented_reject_reasons_are_exactly_the_enum() -> None:
    section = DOC[DOC.index("- **rejected** `reason` is one of:") : DOC.index("- **duplicate**")]
    documented = set(re.findall(r"`([a-z_]+)` \(", section))
    assert documented == {reason.value for reason in RejectReason}
