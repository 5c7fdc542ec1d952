"""What a worker knows about its dependencies (Kafka, Redis) and itself, for /health, the
``pulse_dependency_up`` gauge and the log: one line when a dependency goes down, one every
few minutes while it stays down, one when it is back — never one per failed call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["Dependency", "Health", "WorkerState", "STILL_DOWN_EVERY"]

log = logging.getLogger("pulse.health")

#: seconds between "still down" lines while a dependency stays down
STILL_DOWN_EVERY = 300.0


class Dependency(StrEnum):
    KAFKA = "kafka"
    REDIS = "redis"


class WorkerState(StrEnum):
    RECOVERING = "recovering"  # no assignment recovered yet
    READY = "ready"
    DEGRADED = "degraded"  # processing, but a dependency is down: figures may be stale


@dataclass(slots=True)
class _Status:
    up: bool | None = None  # None: not checked yet
    since: float = 0.0  # wall clock of the last change
    reason: str = ""
    logged_at: float = 0.0


class Health:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "pulse_dependency_up",
            "1 when the worker's last call to the dependency (kafka, redis) succeeded, 0 when it failed.",
            ["dependency"],
            registry=registry,
        )
        self.status = {dependency: _Status() for dependency in Dependency}

    def up(self, dependency: Dependency) -> None:
        status = self.status[dependency]
        if status.up is not True:
            if status.up is False:
                log.warning("dependency=%s state=up down_for=%.0fs", dependency.value, time.time() - status.since)
            status.up, status.since, status.reason = True, time.time(), ""
            self.gauge.labels(dependency=dependency.value).set(1)

    def down(self, dependency: Dependency, reason: object) -> None:
        status = self.status[dependency]
        now = time.time()
        text = (str(reason) or type(reason).__name__)[:300]
        if status.up is not False:
            status.up, status.since, status.reason, status.logged_at = False, now, text, now
            self.gauge.labels(dependency=dependency.value).set(0)
            log.error("dependency=%s state=down reason=%r", dependency.value, text)
        elif now - status.logged_at >= STILL_DOWN_EVERY:
            status.logged_at, status.reason = now, text
            log.error(
                "dependency=%s state=still_down down_for=%.0fs reason=%r", dependency.value, now - status.since, text
            )

    def down_reasons(self) -> dict[str, str]:
        return {d.value: s.reason for d, s in self.status.items() if s.up is False}

    def state(self, recovered: bool) -> WorkerState:
        if not recovered:
            return WorkerState.RECOVERING
        return WorkerState.DEGRADED if self.down_reasons() else WorkerState.READY

    def report(self) -> dict[str, dict[str, object]]:
        return {
            d.value: {
                "up": s.up,
                "since": None if s.up is None else round(s.since, 3),
                **({"reason": s.reason} if s.up is False else {}),
            }
            for d, s in self.status.items()
        }
