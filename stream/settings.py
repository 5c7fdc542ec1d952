"""The one settings object of Pulse, read from ``PULSE_*`` environment variables.

Every knob a deployment can turn lives here so that a bad value fails at start-up with the
name of the field, not somewhere deep inside a running worker.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

__all__ = ["PulseSettings", "SettingsError", "load_settings"]


class SettingsError(Exception):
    """A configuration value is invalid; the message names the environment variable."""


class PulseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", frozen=True)

    # --- infrastructure -------------------------------------------------------------------
    kafka_broker: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL")
    topic_prefix: str = Field("pulse.", description="Prefix of every topic Pulse reads or writes")
    topic_partitions: int = Field(6, ge=1, le=1024, description="Partitions of each source topic")
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics")
    app_id: str = Field("pulse", min_length=1, description="Faust app id (consumer group)")
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics, /health, /api")
    data_dir: str = Field(".pulse-data", description="Faust data directory (rocksdb, leader files)")
    session_timeout_seconds: float = Field(
        30.0, ge=6, le=300, description="How soon a dead worker's partitions move to another"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- ingestion ------------------------------------------------------------------------
    dedupe_retention_days: int = Field(
        7, ge=1, le=90, description="How long an event_id is remembered to drop resends"
    )
    currencies: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(),
        description="Accepted ISO 4217 codes; empty accepts any well-formed code",
    )
    grace_period_seconds: int = Field(
        2 * 86400, ge=0, description="How late (event time) an event may arrive and still count"
    )

    # --- revenue --------------------------------------------------------------------------
    reporting_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    fx_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"USD": Decimal(1)},
        description="Units of reporting currency per unit of each currency (JSON object)",
    )
    movement_grouping_seconds: int = Field(0, ge=0, le=86400)
    gross_margin: Decimal = Field(Decimal(1), gt=0, le=1)
    segment_attributes: Annotated[tuple[str, ...], NoDecode] = Field(
        ("country", "acquisition_channel", "segment"),
        description="Customer attributes that label MRR by segment (comma-separated)",
    )
    segment_top_n: int = Field(10, ge=1, le=100, description="Label values kept per attribute")

    # --- engagement -----------------------------------------------------------------------
    inactive_event_names: Annotated[tuple[str, ...], NoDecode] = Field(
        ("page_view",), description="Event names that do not make a user active"
    )
    key_features: Annotated[tuple[str, ...], NoDecode] = Field(
        ("dashboards", "reports", "alerts", "integrations"),
        description="Features always tracked; feature_used of one of them activates a user",
    )
    activation_event_names: Annotated[tuple[str, ...], NoDecode] = Field(
        ("invite_sent",), description="Event names that activate a user who signed up"
    )
    activation_days: int = Field(7, ge=1, le=90, description="Days after signup to activate")
    session_gap_seconds: int = Field(1800, ge=60, le=86400, description="Inactivity that ends a session")
    feature_top_n: int = Field(10, ge=0, le=100, description="Features exported beyond the key ones")
    engagement_weights: dict[str, int] = Field(
        default_factory=lambda: {"login": 1, "feature_used": 2, "report_exported": 3, "invite_sent": 5,
                                 "invite_accepted": 5},
        description="Event name -> weight in the engagement score (JSON object)",
    )
    health_threshold: float = Field(40.0, ge=0, le=100, description="Health score below which an account is at risk")

    @field_validator("kafka_broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("kafka://"):
            value = value[len("kafka://") :]
        if not value or any(":" not in part for part in value.split(",")):
            raise ValueError("expected host:port[,host:port]")
        return value

    @field_validator("currencies", mode="before")
    @classmethod
    def _split_currencies(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(c.strip().upper() for c in value.split(",") if c.strip())
        return value

    @field_validator(
        "segment_attributes", "inactive_event_names", "key_features", "activation_event_names", mode="before"
    )
    @classmethod
    def _split_attributes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isupper():
                raise ValueError(f"currency code {code!r} is not ISO 4217")
            if rate <= 0:
                raise ValueError(f"rate for {code} must be > 0")
        return value

    @property
    def broker_url(self) -> str:
        """The broker list in the ``kafka://`` form Faust expects."""
        return ";".join(f"kafka://{b}" for b in self.kafka_broker.split(","))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "?"
        parts.append(f"PULSE_{field.upper()}: {item['msg']} (got {item.get('input')!r})")
    return "invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def load_settings() -> PulseSettings:
    """Read settings from the environment once; raise :class:`SettingsError` naming the field."""
    try:
        return PulseSettings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except _SourceError as exc:  # e.g. PULSE_FX_RATES is not JSON
        field = str(exc).split('"')[1] if '"' in str(exc) else "?"
        raise SettingsError(
            f"invalid configuration: PULSE_{field.upper()}: {exc.__cause__ or exc}"
        ) from None
