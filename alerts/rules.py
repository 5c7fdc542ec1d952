"""The rules file: alerting rules and the channels they notify, validated at start-up.

A mistake fails before any evaluation, with a message naming the rule (or channel) and the
field, e.g. ``rule 'cac_drift': condition.threshold: Input should be a valid number``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "RulesError",
    "Direction",
    "DriftMethod",
    "Every",
    "ThresholdCondition",
    "DriftCondition",
    "Condition",
    "WebhookChannel",
    "SlackChannel",
    "AlertmanagerChannel",
    "KafkaChannel",
    "Channel",
    "Rule",
    "RulesFile",
    "load_rules",
    "parse_rules",
    "parse_duration",
    "TEMPLATE_FIELDS",
]


class RulesError(ValueError):
    """The rules file is invalid; the message names the rule or channel and the field."""


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> float:
    """Seconds of ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` (or a plain number of seconds)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 2h or 1d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groups()):
            d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return float(d * 86400 + h * 3600 + mi * 60 + s)
    raise ValueError(f"expected a duration such as 15m, 2h or 1d, got {value!r}")


Duration = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


class DriftMethod(StrEnum):
    #: (value - mean of the baseline points) / |mean|
    RELATIVE = "relative"
    #: (value - mean) / standard deviation of the baseline points
    ZSCORE = "zscore"
    #: outside mean ± threshold x sigma of an exponentially weighted moving average
    EWMA = "ewma"


class ThresholdCondition(_Strict):
    type: Literal["threshold"]
    #: fires when the value is above (or below) ``threshold``
    above: float | None = None
    below: float | None = None
    #: hysteresis: once firing, resolves only when the value is back below (above) this
    resolve: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdCondition:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        if self.resolve is not None:
            if self.above is not None and self.resolve > self.above:
                raise ValueError("resolve must not be above the threshold of an 'above' rule")
            if self.below is not None and self.resolve < self.below:
                raise ValueError("resolve must not be below the threshold of a 'below' rule")
        return self


class Every(StrEnum):
    """The baseline's points: one a day, or one a month (the last day's of each month)."""

    DAY = "day"
    MONTH = "month"


class DriftCondition(_Strict):
    type: Literal["drift"]
    method: DriftMethod
    direction: Direction = Direction.UP
    #: relative: the fraction (0.2 = 20%); zscore / ewma: the number of standard deviations
    threshold: float = Field(gt=0)
    #: hysteresis: once firing, resolves only when the deviation is back inside this
    resolve: float | None = Field(None, ge=0)
    #: trailing points the baseline is computed from (the current day, or month, excluded)
    baseline_points: int = Field(30, ge=2, le=400)
    every: Every = Every.DAY
    #: below this many points the rule stays silent, and says so in its status
    min_baseline_points: int = Field(7, ge=2, le=400)
    #: EWMA smoothing factor
    alpha: float = Field(0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> DriftCondition:
        if self.min_baseline_points > self.baseline_points:
            raise ValueError("min_baseline_points cannot exceed baseline_points")
        if self.resolve is not None and self.resolve > self.threshold:
            raise ValueError("resolve must not exceed threshold")
        if self.every is Every.MONTH and self.baseline_points > 13:
            raise ValueError("a monthly baseline holds at most 13 points (the history keeps 400 days)")
        return self


Condition = Annotated[ThresholdCondition | DriftCondition, Field(discriminator="type")]


class WebhookChannel(_Strict):
    """POST in Alertmanager's webhook format (version 4)."""

    type: Literal["webhook"]
    url: str
    #: name of an environment variable holding the HMAC-SHA256 secret (never the secret itself)
    secret_env: str | None = None
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class SlackChannel(_Strict):
    """A Slack incoming webhook."""

    type: Literal["slack"]
    url: str
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class AlertmanagerChannel(_Strict):
    """Alertmanager's v2 API (``<url>/api/v2/alerts``)."""

    type: Literal["alertmanager"]
    url: str
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class KafkaChannel(_Strict):
    """A JSON record per notification on ``<PULSE_TOPIC_PREFIX><topic>``."""

    type: Literal["kafka"]
    topic: str = "alerts"


Channel = Annotated[WebhookChannel | SlackChannel | AlertmanagerChannel | KafkaChannel, Field(discriminator="type")]

#: names a summary or description may use, as ``{value}``, ``{baseline:.1f}``, ``{labels[channel]}``
TEMPLATE_FIELDS = ("value", "baseline", "threshold", "deviation", "rule", "metric", "severity", "labels")
_PROBE = {
    "value": 1.0,
    "baseline": 1.0,
    "threshold": 1.0,
    "deviation": 1.0,
    "rule": "",
    "metric": "",
    "severity": "",
}


class _AnyLabels(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _check_template(text: str) -> str:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown template field {{{name}}}; expected one of {', '.join(TEMPLATE_FIELDS)}")
    try:
        text.format_map({**_PROBE, "labels": _AnyLabels()})
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"template {text!r}: {exc}") from None
    return text


class Annotations(_Strict):
    summary: str = ""
    description: str = ""
    runbook_url: str = ""

    @field_validator("summary", "description")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _check_template(value)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Rule(_Strict):
    name: str
    #: an exported metric name (a counter without its ``_total``), e.g. ``pulse_cac``
    metric: str
    #: label selector: every given label must equal (a value starting with ``~`` is a regex)
    match: dict[str, str] = Field(default_factory=dict)
    condition: Condition
    for_: Duration = Field(0.0, alias="for")
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=Annotations)
    channels: tuple[str, ...] = ()
    #: re-send a firing alert this often (None: once per incident)
    repeat_interval: Duration | None = None
    enabled: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("for_", "repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return None if value is None else parse_duration(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a rule name is letters, digits and _ (it becomes the alertname label)")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", value):
            raise ValueError(f"not a Prometheus metric name: {value!r}")
        return value

    @field_validator("match")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            if pattern.startswith("~"):
                try:
                    re.compile(pattern[1:])
                except re.error as exc:
                    raise ValueError(f"{label}: bad regex {pattern[1:]!r}: {exc}") from None
        return value

    def alert_labels(self, series: dict[str, str]) -> dict[str, str]:
        """An alert's labels: its series', the rule's, alertname and severity (what silences
        match and notifications carry)."""
        return {**series, **self.labels, "alertname": self.name, "severity": self.severity}

    def selects(self, labels: dict[str, str]) -> bool:
        for label, wanted in self.match.items():
            have = labels.get(label)
            if have is None:
                return False
            if wanted.startswith("~"):
                if not re.fullmatch(wanted[1:], have):
                    return False
            elif have != wanted:
                return False
        return True


class RulesFile(_Strict):
    #: the link placed in notifications (e.g. Pulse's /api/v1/alerts or a Grafana dashboard)
    external_url: str = ""
    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> RulesFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r}: name: used by two rules")
            seen.add(rule.name)
            for channel in rule.channels:
                if channel not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none defined"
                    raise ValueError(f"rule {rule.name!r}: channels: unknown channel {channel!r} ({known})")
        return self

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


_TAGS = {"threshold", "drift", "webhook", "slack", "alertmanager", "kafka"}


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """``rule 'x': condition.threshold`` or ``channel 'hook': url`` for a pydantic location
    (the discriminated unions' tags left out)."""
    parts = [
        str(p)
        for i, p in enumerate(loc)
        if not (p in _TAGS and i > 0 and loc[i - 1] in ("condition",) + tuple(_names(data)))
    ]
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        name = None
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            name = rules[loc[1]].get("name")
        label = f"rule {name!r}" if name else f"rules[{loc[1]}]"
        return f"{label}: {'.'.join(parts[2:]) or '(the rule)'}"
    if len(loc) >= 2 and loc[0] == "channels":
        return f"channel {loc[1]!r}: {'.'.join(parts[2:]) or '(the channel)'}"
    return ".".join(parts) or "(the file)"


def _names(data: Any) -> list[str]:
    channels = data.get("channels") if isinstance(data, dict) else None
    return [str(k) for k in channels] if isinstance(channels, dict) else []


def parse_rules(data: Any, source: str = "rules") -> RulesFile:
    if data is None:
        data = {}
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{_where(tuple(error['loc']), data)}: {message}")
        raise RulesError(f"{source}: " + "; ".join(lines)) from None


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, environ: Mapping[str, str], source: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` replaced from the environment; an unset variable
    without a default fails, naming it."""

    def value(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is None:
            raise RulesError(f"{source}: ${{{name}}} is used but the environment variable {name} is not set")
        return default

    return _VARIABLE.sub(value, text)


def load_rules(path: Path, environ: Mapping[str, str] | None = None) -> RulesFile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    text = interpolate(text, os.environ if environ is None else environ, str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    return parse_rules(data, str(path))
