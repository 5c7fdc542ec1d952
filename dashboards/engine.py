"""Engine health: what each topic ingests and refuses, how far the consumers lag, the
dead-letter rate, whether every worker is ready with its dependencies up and its snapshots
fresh, and how fast its events become visible, its recoveries and Redis calls
(stream/exporter.py, stream/health.py, stream/kafka_signals.py)."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards.common import (
    Board,
    Target,
    counter_rate,
    gauge,
    histogram_quantile,
    label_variable,
    stat_panel,
    timeseries_panel,
)

UID = "pulse-engine"
TOPIC = 'topic=~"$topic"'
UP = {"0": "down", "1": "up"}


def build() -> dashboard_model.Dashboard:
    board = Board(
        UID,
        "Pulse / Engine",
        "Ingestion by topic, rejections by reason, consumer lag, dead letters, worker readiness and dependencies.",
        [label_variable("topic", "Source topic", "pulse_events_processed_total", "topic")],
    )
    board.row("Workers").add(
        stat_panel(
            "Worker ready",
            "none",
            Target(gauge("pulse_worker_ready", "instance"), "{{instance}}"),
            width=6,
            mappings={"0": "not ready", "1": "ready"},
            steps=((None, "red"), (1, "green")),
        ),
        stat_panel(
            "Dependencies",
            "none",
            Target(gauge("pulse_dependency_up", "instance, dependency"), "{{instance}} {{dependency}}"),
            width=6,
            mappings=UP,
            steps=((None, "red"), (1, "green")),
        ),
        stat_panel(
            "Kafka signals",
            "none",
            Target(gauge("pulse_kafka_signals_up", "instance"), "{{instance}}"),
            width=6,
            mappings=UP,
            steps=((None, "red"), (1, "green")),
        ),
        timeseries_panel(
            "Snapshot age",
            "s",
            Target(gauge("pulse_snapshot_age_seconds", "instance"), "{{instance}}"),
            width=6,
            height=4,
        ),
    )
    board.row("Ingestion").add(
        timeseries_panel(
            "Events processed",
            "eps",
            Target(counter_rate(f"pulse_events_processed_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            stacked=True,
        ),
        timeseries_panel(
            "Events rejected by reason",
            "eps",
            Target(counter_rate(f"pulse_events_rejected_total{{{TOPIC}}}", "topic, reason"), "{{topic}} {{reason}}"),
            stacked=True,
        ),
        timeseries_panel(
            "Duplicate events",
            "eps",
            Target(counter_rate(f"pulse_events_duplicate_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            width=6,
        ),
        timeseries_panel(
            "Late events",
            "eps",
            Target(counter_rate(f"pulse_events_late_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            width=6,
        ),
        timeseries_panel(
            "Conflicting events",
            "eps",
            Target(counter_rate(f"pulse_events_conflicting_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            width=6,
        ),
        timeseries_panel(
            "Events forwarded to their partition",
            "eps",
            Target(counter_rate(f"pulse_events_forwarded_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            width=6,
        ),
        timeseries_panel(
            "Partition reloads (last hour)",
            "short",
            Target(f"sum by (topic) (increase(pulse_partition_reloads_total{{{TOPIC}}}[1h]))", "{{topic}}"),
            width=24,
            height=6,
            bars=True,
        ),
    )
    board.row("Kafka").add(
        timeseries_panel(
            "Consumer lag by partition",
            "short",
            Target(gauge(f"pulse_consumer_lag{{{TOPIC}}}", "topic, partition"), "{{topic}}/{{partition}}"),
        ),
        timeseries_panel(
            "Consumer lag by topic",
            "short",
            Target(gauge(f"pulse_consumer_lag_records{{{TOPIC}}}", "topic"), "{{topic}}"),
        ),
        timeseries_panel(
            "Dead-letter rate", "recps", Target(gauge("pulse_deadletter_rate"), "dead letters"), threshold=(1, "red")
        ),
        timeseries_panel("Dead-letter records", "short", Target(gauge("pulse_deadletter_records"), "records")),
    )
    board.row("Engine health (each worker)").add(
        timeseries_panel(
            "Event-to-visible latency by topic",
            "s",
            Target(histogram_quantile(0.5, "pulse_event_visible_latency_seconds", "topic", TOPIC), "p50 {{topic}}"),
            Target(histogram_quantile(0.99, "pulse_event_visible_latency_seconds", "topic", TOPIC), "p99 {{topic}}"),
        ),
        timeseries_panel(
            "Changelog records written",
            "recps",
            Target(counter_rate(f"pulse_changelog_records_total{{{TOPIC}}}", "topic"), "{{topic}}"),
            stacked=True,
        ),
        stat_panel(
            "Recovering",
            "none",
            Target(gauge("pulse_recovery_in_progress", "instance"), "{{instance}}"),
            width=6,
            mappings={"0": "no", "1": "recovering"},
            steps=((None, "green"), (1, "orange")),
        ),
        stat_panel(
            "Assigned partitions",
            "short",
            Target(gauge("pulse_assigned_partitions", "instance"), "{{instance}}"),
            width=6,
        ),
        stat_panel(
            "Rebalances (last hour)",
            "short",
            Target("sum by (instance) (increase(pulse_rebalances_total[1h]))", "{{instance}}"),
            width=6,
        ),
        stat_panel(
            "Recovery round p99 (last hour)",
            "s",
            Target(histogram_quantile(0.99, "pulse_recovery_seconds", "instance", window="1h"), "{{instance}}"),
            width=6,
        ),
        timeseries_panel(
            "Redis snapshot publish p99",
            "s",
            Target(histogram_quantile(0.99, "pulse_redis_roundtrip_seconds", "instance"), "{{instance}}"),
        ),
        timeseries_panel(
            "/metrics answer time",
            "s",
            Target(gauge("pulse_scrape_duration_seconds", "instance"), "{{instance}}"),
        ),
    )
    return board.build()
