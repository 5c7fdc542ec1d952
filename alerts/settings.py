"""Settings of alerting (``PULSE_ALERT_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from stream.settings import FamilySettings

__all__ = ["AlertSettings", "DEFAULT_RULES"]

#: the rules shipped with Pulse
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "deploy" / "alerts" / "rules.yml"


class AlertSettings(FamilySettings):
    alert_rules_file: Path = Field(DEFAULT_RULES, description="The alerting rules file (YAML)")
    alert_enabled: bool = Field(True, description="Evaluate the rules in this worker (one worker holds the lease)")
    alert_interval_seconds: float = Field(15.0, ge=1, le=3600, description="How often the rules are evaluated")
    alert_lease_seconds: float = Field(
        45.0,
        ge=3,
        le=3600,
        description="How long the evaluating worker's lease lasts unless renewed; a dead "
        "worker's rules are taken over within it",
    )
    alertmanager_url: str = Field(
        "http://127.0.0.1:9093",
        description="Alertmanager's base URL, as the shipped rules' alertmanager channel reads it",
    )
    frt_sla_seconds: float = Field(
        14400, gt=0, description="First response SLA of the shipped frt_p90_sla rule (${PULSE_FRT_SLA_SECONDS})"
    )

    @model_validator(mode="after")
    def _lease_outlives_a_tick(self) -> AlertSettings:
        if self.alert_lease_seconds < 2 * self.alert_interval_seconds:
            raise ValueError(
                "alert_lease_seconds: must be at least twice PULSE_ALERT_INTERVAL_SECONDS (the lease is renewed once "
                "per evaluation; a shorter one passes to another worker between two evaluations)"
            )
        return self
