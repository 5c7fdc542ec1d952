"""Settings of Pulse, read from ``PULSE_*`` environment variables.

:class:`PulseSettings` holds the runtime's knobs (infrastructure, ingestion); each metric
family has a section of its own, a :class:`FamilySettings` subclass in its package, read from
the same ``PULSE_*`` namespace. A bad value fails at start-up with the name of the variable,
not somewhere deep inside a running worker.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from stream.logformat import LogFormat
from stream.outcomes import ProcessingErrorPolicy, WrongPartitionPolicy

__all__ = ["PulseSettings", "FamilySettings", "CommaList", "SettingsError", "load_settings"]


class SettingsError(Exception):
    """A configuration value is invalid; the message names the environment variable."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(",") if a.strip())
    return value


#: A tuple of strings given as ``a,b,c`` in the environment.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]

S = TypeVar("S", bound="FamilySettings")


class PulseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", frozen=True)

    # --- infrastructure -------------------------------------------------------------------
    kafka_broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL")
    topic_prefix: str = Field("pulse.", description="Prefix of every topic Pulse reads or writes")
    topic_partitions: int = Field(6, ge=1, le=1024, description="Partitions of each source topic")
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics")
    app_id: str = Field("pulse", min_length=1, description="Faust app id (consumer group)")
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics, /health, /api")
    data_dir: str = Field(".pulse-data", description="Faust data directory (its leader files)")
    session_timeout_seconds: float = Field(
        30.0, ge=6, le=300, description="How soon a dead worker's partitions move to another"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: LogFormat = Field(LogFormat.TEXT, description="text (Faust's lines) or json (one object per line)")
    snapshot_stale_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How old the last successful read of the snapshots in Redis may be before the family "
        "gauges are withdrawn from /metrics and /health says degraded",
    )

    deadletter_rate_window_seconds: float = Field(
        300.0, gt=0, le=86400, description="Window of pulse_deadletter_rate (records a second to the dead-letter topic)"
    )

    # --- ingestion ------------------------------------------------------------------------
    dedupe_retention_days: int = Field(7, ge=1, le=90, description="How long an event_id is remembered to drop resends")
    currencies: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(),
        description="Accepted ISO 4217 codes; empty accepts any well-formed code",
    )
    grace_period_seconds: int = Field(
        2 * 86400, ge=0, description="How late (event time) an event may arrive and still count"
    )
    max_future_seconds: int = Field(
        300,
        ge=0,
        le=7 * 86400,
        description="How far an event's occurred_at may be ahead of its record's time (Kafka timestamp)",
    )
    on_wrong_partition: WrongPartitionPolicy = Field(
        WrongPartitionPolicy.FORWARD,
        description="An event on another partition than its entity key's (a keyless or mis-keyed "
        "record): forward it to its partition, or deadletter it (reason wrong_partition)",
    )
    local_forwards: bool = Field(
        True,
        description="Apply an event that belongs to another partition this worker owns there in process "
        "instead of through the repartition topic (each partition's checkpoint holds, per source "
        "partition, what it took); false: always through the repartition topic",
    )
    transactions: bool = Field(
        True,
        description="Write each partition's batch (changelog, dead letters, forwards, checkpoint) in one Kafka "
        "transaction, which also fences a paused worker whose partitions moved; false: checkpoint after "
        "acknowledgement, unfenced",
    )
    on_processing_error: ProcessingErrorPolicy = Field(
        ProcessingErrorPolicy.DEADLETTER,
        description="When a processor raises on a record: deadletter (reason processing_error) and go on, or stop",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        url = urlsplit(value.strip())
        if url.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected redis://host[:port][/db], rediss://… or unix://path")
        try:
            port = url.port
        except ValueError:
            raise ValueError("the port is not a number from 1 to 65535") from None
        if url.scheme != "unix" and not url.hostname:
            raise ValueError("no host")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("the port is not a number from 1 to 65535")
        db = url.path.strip("/")
        if url.scheme != "unix" and db and not db.isdigit():
            raise ValueError(f"the database {db!r} is not a number")
        return value.strip()

    @field_validator("kafka_broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("kafka://"):
            value = value[len("kafka://") :]
        if not value or any(":" not in part for part in value.split(",")):
            raise ValueError("expected host:port[,host:port]")
        for part in value.split(","):
            host, _, port = part.strip().rpartition(":")
            if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{part.strip()!r} is not host:port with a port from 1 to 65535")
        return value

    @field_validator("currencies", mode="before")
    @classmethod
    def _split_currencies(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(c.strip().upper() for c in value.split(",") if c.strip())
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
        field = ".".join(str(p) for p in item["loc"])
        if not field:  # a check across fields names its field first: "Value error, <field>: ..."
            message = str(item["msg"]).removeprefix("Value error, ")
            field, _, message = message.partition(": ")
            parts.append(f"PULSE_{field.upper()}: {message}")
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"PULSE_{field.upper()}: {message} (got {item.get('input')!r})")
    return "invalid configuration: " + "; ".join(parts)


def _read(model: type[BaseSettings], overrides: dict[str, Any]) -> BaseSettings:
    try:
        return model(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except _SourceError as exc:  # e.g. PULSE_FX_RATES is not JSON
        field = str(exc).split('"')[1] if '"' in str(exc) else "?"
        raise SettingsError(f"invalid configuration: PULSE_{field.upper()}: {exc.__cause__ or exc}") from None


class FamilySettings(BaseSettings):
    """Base of a metric family's settings section: fields are ``PULSE_<FIELD>`` variables."""

    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", frozen=True)

    @classmethod
    def load(cls: type[S], **overrides: Any) -> S:
        """Read the section from the environment; raise :class:`SettingsError` naming the field."""
        section = _read(cls, overrides)
        assert isinstance(section, cls)
        return section


@lru_cache(maxsize=1)
def load_settings() -> PulseSettings:
    """Read settings from the environment once; raise :class:`SettingsError` naming the field."""
    settings = _read(PulseSettings, {})
    assert isinstance(settings, PulseSettings)
    return settings
