"""The rules file: what loads, and the messages that name the rule and field when not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.rules import (
    DriftCondition,
    DriftMethod,
    Every,
    RulesError,
    ThresholdCondition,
    interpolate,
    load_rules,
    parse_duration,
    parse_rules,
)
from alerts.settings import DEFAULT_RULES

DEFAULT_NAMES = ["cac_drift", "churn_drift", "churn_high", "nrr_below_100", "frt_p90_sla", "bug_ticket_spike",
                 "deadletter_rate", "consumer_lag"]  # fmt: skip


def rule(**fields: object) -> dict[str, object]:
    return {"name": "r", "metric": "pulse_cac", "condition": {"type": "threshold", "above": 1}, **fields}


def test_the_shipped_defaults_load_with_their_names_and_shapes() -> None:
    rules = load_rules(DEFAULT_RULES, environ={})
    assert [r.name for r in rules.rules] == DEFAULT_NAMES
    cac = rules.rule("cac_drift")
    assert isinstance(cac.condition, DriftCondition)
    assert (cac.condition.method, cac.condition.threshold, cac.condition.resolve) == (DriftMethod.RELATIVE, 0.2, 0.1)
    assert cac.condition.baseline_points == 90 and cac.match == {"window": "30d"}
    churn = rules.rule("churn_drift").condition
    assert isinstance(churn, DriftCondition)
    assert (churn.method, churn.threshold, churn.baseline_points, churn.every) == (
        DriftMethod.ZSCORE,
        3,
        12,
        Every.MONTH,
    )
    nrr = rules.rule("nrr_below_100").condition
    assert isinstance(nrr, ThresholdCondition) and nrr.below == 1.0


def test_the_frt_sla_comes_from_the_environment(tmp_path: Path) -> None:
    sla = load_rules(DEFAULT_RULES, environ={"PULSE_FRT_SLA_SECONDS": "3600"}).rule("frt_p90_sla").condition
    assert isinstance(sla, ThresholdCondition) and sla.above == 3600
    default = load_rules(DEFAULT_RULES, environ={}).rule("frt_p90_sla").condition
    assert isinstance(default, ThresholdCondition) and default.above == 14400


def test_an_unset_variable_without_default_is_named() -> None:
    with pytest.raises(RulesError, match=r"\$\{HOOK_URL\}.*HOOK_URL is not set"):
        interpolate("url: ${HOOK_URL}", {}, "rules.yml")
    assert interpolate("a: ${X:-1} b: ${Y}", {"Y": "2"}, "f") == "a: 1 b: 2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"rules": [rule(condition={"type": "threshold", "above": "x"})]},
            "rule 'r': condition.above: Input should be a valid number",
        ),
        ({"rules": [rule(condition={"type": "threshold"})]}, "rule 'r': condition: give exactly one of above or below"),
        (
            {"rules": [rule(condition={"type": "threshold", "above": 5, "resolve": 6})]},
            "rule 'r': condition: resolve must not be above",
        ),
        (
            {
                "rules": [
                    rule(condition={"type": "drift", "method": "relative", "threshold": 0.2, "baseline_points": 5})
                ]
            },
            "rule 'r': condition: min_baseline_points cannot exceed baseline_points",
        ),
        (
            {"rules": [rule(condition={"type": "drift", "method": "median", "threshold": 1})]},
            "rule 'r': condition.method",
        ),
        ({"rules": [rule(**{"for": "5x"})]}, "rule 'r': for: expected a duration"),
        (
            {"rules": [rule(annotations={"summary": "{valu}"})]},
            "rule 'r': annotations.summary: unknown template field {valu}",
        ),
        ({"rules": [rule(channels=["pager"])]}, "rule 'r': channels: unknown channel 'pager'"),
        ({"rules": [rule(), rule()]}, "rule 'r': name: used by two rules"),
        ({"rules": [rule(severity="loud")]}, "rule 'r': severity"),
        ({"rules": [rule(match={"channel": "~("})]}, "rule 'r': match: channel: bad regex '('"),
        ({"rules": [rule(colour="red")]}, "rule 'r': colour: Extra inputs are not permitted"),
        ({"channels": {"hook": {"type": "webhook"}}}, "channel 'hook': url: Field required"),
        ({"channels": {"hook": {"type": "pigeon"}}}, "channel 'hook'"),
    ],
)
def test_a_bad_rule_fails_naming_rule_and_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=re.escape(message)):
        parse_rules(data, "rules.yml")


def test_a_file_that_is_not_yaml_or_missing_fails_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yml"
    bad.write_text("rules: [\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (30, 30)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_selectors_match_exact_values_and_regexes() -> None:
    r = parse_rules({"rules": [rule(match={"window": "30d", "channel": "~goo.*"})]}).rules[0]
    assert r.selects({"window": "30d", "channel": "google_ads"})
    assert not r.selects({"window": "90d", "channel": "google_ads"})
    assert not r.selects({"window": "30d", "channel": "meta"})
    assert not r.selects({"channel": "google_ads"})


def test_a_lease_shorter_than_two_evaluations_fails_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts.settings import AlertSettings
    from stream.settings import SettingsError

    monkeypatch.setenv("PULSE_ALERT_INTERVAL_SECONDS", "15")
    monkeypatch.setenv("PULSE_ALERT_LEASE_SECONDS", "20")
    with pytest.raises(SettingsError, match="PULSE_ALERT_LEASE_SECONDS: must be at least twice PULSE_ALERT_INTERVAL"):
        AlertSettings.load()
    monkeypatch.setenv("PULSE_ALERT_LEASE_SECONDS", "30")
    assert AlertSettings.load().alert_lease_seconds == 30
