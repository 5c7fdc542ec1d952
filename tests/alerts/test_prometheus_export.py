"""The Prometheus rules generated from the shipped rules file: committed, current, and what
they say (promtool checks them in `make test`)."""

from __future__ import annotations

import yaml

from alerts.prometheus_export import prometheus_rules, render_prometheus_rules
from alerts.rules import load_rules
from alerts.settings import DEFAULT_RULES
from stream.cli.common import REPO

GENERATED = REPO / "deploy" / "prometheus" / "pulse-alerts.rules.yml"


def test_the_committed_file_is_what_the_shipped_rules_generate() -> None:
    assert GENERATED.read_text() == render_prometheus_rules(load_rules(DEFAULT_RULES, environ={})), (
        "run `pulse alerts export-prometheus` (with PULSE_FRT_SLA_SECONDS unset)"
    )


def test_only_threshold_rules_are_exported_with_hysteresis_and_labels() -> None:
    rules = load_rules(DEFAULT_RULES, environ={})
    groups = prometheus_rules(rules)["groups"]
    exported = {r["alert"]: r for r in groups[0]["rules"]}
    assert set(exported) == {"churn_high", "nrr_below_100", "frt_p90_sla", "deadletter_rate", "consumer_lag"}
    churn = exported["churn_high"]
    assert churn["expr"].startswith('max without(instance) (pulse_customer_churn_ratio{window="last_month"}) > 0.05 or')
    assert 'ALERTS{alertname="churn_high",alertstate="firing"}' in churn["expr"] and "> 0.04" in churn["expr"]
    assert churn["labels"] == {"severity": "critical", "team": "customer-success"}
    assert exported["frt_p90_sla"]["for"] == "1800s"
    assert exported["nrr_below_100"]["expr"] == 'max without(instance) (pulse_nrr_ratio{window="last_month"}) < 1'
    assert "{{ $labels.topic }}" in exported["consumer_lag"]["annotations"]["summary"]


def test_the_shipped_prometheus_configs_load_the_file() -> None:
    for name in ("prometheus.yml", "prometheus.docker.yml"):
        config = yaml.safe_load((REPO / "deploy" / "prometheus" / name).read_text())
        assert config["rule_files"] == [GENERATED.name]
