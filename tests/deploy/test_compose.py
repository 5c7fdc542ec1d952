"""docker-compose.yml cannot run here (no Docker engine): check what can be checked — it
parses, has the services the README promises, and its ports and PULSE_* variables agree with
the settings in the code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.registry import installed_families
from stream.service import installed_services
from stream.settings import PulseSettings, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "kafka",
        "redis",
        "pulse-worker",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert compose["services"]["kafka"]["image"] == "apache/kafka:3.9.1"
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    assert "<kafka.version>3.9.1</kafka.version>" in pom, "compose and the local stack must run the same Kafka"


def test_every_pulse_variable_is_a_real_setting_with_a_valid_value(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sections = [family.settings_model for family in installed_families()]
    sections += [service.settings_model for service in installed_services()]
    fields = set(PulseSettings.model_fields).union(*(set(model.model_fields) for model in sections))
    for name in ("pulse-worker", "simulator"):
        env = compose["services"][name]["environment"]
        for key in env:
            assert key.startswith("PULSE_") and key[6:].lower() in fields, f"{name}: {key} is not a setting"
        for key in [k for k in os.environ if k.startswith("PULSE_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        load_settings.cache_clear()
        try:
            assert load_settings().kafka_broker == "kafka:19092"
            for model in sections:
                model.load()  # raises SettingsError naming a bad variable
        finally:
            load_settings.cache_clear()


def test_ports_agree_with_the_code(compose: dict[str, Any]) -> None:
    defaults = PulseSettings()
    services = compose["services"]
    worker = services["pulse-worker"]
    web_port = int(worker["environment"]["PULSE_WEB_PORT"])
    assert web_port == defaults.web_port
    assert f"{web_port}:{web_port}" in worker["ports"]
    assert f"{defaults.kafka_broker.split(':')[1]}:9092" in services["kafka"]["ports"]
    assert "PLAINTEXT_HOST://localhost:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka:19092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "6379:6379" in services["redis"]["ports"] and defaults.redis_url.endswith(":6379/0")
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.docker.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert f"pulse-worker:{web_port}" in targets
    # Prometheus loads the generated alert rules, mounted next to its config
    assert prometheus["rule_files"] == ["pulse-alerts.rules.yml"]
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/pulse-alerts.rules.yml:/etc/prometheus/pulse-alerts.rules.yml:ro" in mounts
    for mount in mounts:
        assert (REPO / mount.split(":")[0]).is_file(), mount
    # the worker's alertmanager channel points at the compose service, and its image has the rules
    assert worker["environment"]["PULSE_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "COPY deploy/alerts/rules.yml /etc/pulse/alerts/rules.yml" in dockerfile
    assert "PULSE_ALERT_RULES_FILE=/etc/pulse/alerts/rules.yml" in dockerfile


def test_worker_image_runs_the_cli(compose: dict[str, Any]) -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["pulse"]' in dockerfile
    assert compose["services"]["pulse-worker"]["command"] == ["worker"]
    assert compose["services"]["simulator"]["command"][0] == "simulate"


def test_worker_image_builds_the_compiled_kernel() -> None:
    """The image's wheel must carry the Rust kernel: its sources and a toolchain reach the build."""
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "setuptools-rust" in pyproject and 'path = "native/Cargo.toml"' in pyproject
    assert "COPY native/src ./native/src" in dockerfile and "native/Cargo.lock" in dockerfile
    assert "rustup" in dockerfile and "pip wheel" in dockerfile


def test_grafana_provisions_the_generated_dashboards_from_the_compose_prometheus(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana-oss")
    assert "3000:3000" in grafana["ports"]
    assert "prometheus" in grafana["depends_on"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    mounts = {m.split(":")[1]: m for m in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"
    assert mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro"
    for mount in grafana["volumes"]:
        assert (REPO / mount.split(":")[0]).exists(), mount

    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [(d["type"], d["url"]) for d in datasources] == [("prometheus", "http://prometheus:9090")]
    prometheus_port = compose["services"]["prometheus"]["ports"][0].split(":")[1]
    assert datasources[0]["url"].endswith(f":{prometheus_port}")
    providers = yaml.safe_load((provisioning / "dashboards" / "pulse.yml").read_text())["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [("file", "/var/lib/grafana/dashboards")]
    # every generated dashboard's datasource variable defaults to the provisioned uid
    boards = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert boards, "no dashboards generated (python -m dashboards)"
    for path in boards:
        variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == datasources[0]["uid"], path.name
