"""The generated Grafana dashboards: the committed JSON is exactly what the code generates, and
every panel reads documented metrics through the datasource variable, with a unit, the metric's
HELP as its description and only variables the dashboard defines. Whether each query returns
data on a real Prometheus is tests/integration/test_dashboard_queries.py's job."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import DASHBOARDS, OUT_DIR, render, render_all
from dashboards import support as support_board
from dashboards.__main__ import main

REPO = Path(__file__).resolve().parents[2]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: Grafana's own variables, not the dashboard's
BUILTIN = {"__rate_interval", "__interval", "__range"}
#: labels Prometheus adds to every scraped series
TARGET_LABELS = {"instance", "job"}
_METRIC = re.compile(r"\bpulse_[a-z0-9_]+\b")
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def documented() -> dict[str, dict[str, Any]]:
    """docs/metrics.md's metric tables, read here independently of dashboards.common."""
    out: dict[str, dict[str, Any]] = {}
    for line in (REPO / "docs" / "metrics.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 4 and re.fullmatch(r"`pulse_[a-z0-9_]+`", cells[0]):
            out[cells[0].strip("`")] = {
                "type": cells[1],
                "labels": set(re.findall(r"`(\w+)`", cells[2])),
                "help": cells[3],
            }
    assert len(out) > 50, "docs/metrics.md's tables not found"
    return out


DOCS = documented()


def metric(series: str) -> str:
    """The documented metric of a series name (a histogram's _bucket, _sum and _count are its own)."""
    base = re.sub(r"_(bucket|sum|count)$", "", series)
    if series not in DOCS and base in DOCS and DOCS[base]["type"] == "histogram":
        return base
    return series


@pytest.fixture(autouse=True)
def default_sla(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed JSON is generated with the shipped defaults."""
    monkeypatch.delenv("PULSE_FRT_SLA_SECONDS", raising=False)


def load(name: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(render(name))
    return board


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_regenerating_gives_exactly_the_committed_files() -> None:
    generated = render_all()
    committed = {p.name: p.read_text(encoding="utf-8") for p in OUT_DIR.glob("*.json")}
    assert set(committed) == set(generated), "run `python -m dashboards` (and delete dashboards no longer generated)"
    for name, content in generated.items():
        assert committed[name] == content, f"{name} is stale: run `python -m dashboards`"
        assert content.endswith("}\n") and json.loads(content)
        assert content == json.dumps(json.loads(content), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert render_all() == generated, "generation must be deterministic"


def test_the_generator_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert "run `python -m dashboards`" in capsys.readouterr().err
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.json" for n in DASHBOARDS)
    assert main(["--out", str(tmp_path), "--check"]) == 0


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_ids_uid_and_layout(name: str) -> None:
    board = load(name)
    assert board["uid"] == f"pulse-{name}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    assert panels(board), "a dashboard without panels"
    for p in board["panels"]:
        pos = p["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, (p["title"], pos)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_has_the_datasource_variable_a_unit_and_its_metrics_help(name: str) -> None:
    for p in panels(load(name)):
        where = f"{name}: {p['title']!r}"
        assert p["datasource"] == DATASOURCE, where
        assert p["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
        assert p["targets"], f"{where}: no query"
        for t in p["targets"]:
            assert t["expr"].strip(), f"{where}: empty expr"
            assert t["datasource"] == DATASOURCE, where
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), where
        first = _METRIC.search(p["targets"][0]["expr"])
        assert first is not None, f"{where}: reads no pulse_ metric"
        assert p["description"] == DOCS[metric(first.group(0))]["help"], where


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_variables_are_defined_and_used_as_regex_matchers(name: str) -> None:
    board = load(name)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE, var["name"]
            m = re.fullmatch(r"label_values\((pulse_\w+), (\w+)\)", var["query"])
            assert m is not None, var["query"]
            assert m.group(2) in DOCS[m.group(1)]["labels"], f"{var['name']}: {m.group(1)} has no label {m.group(2)}"
            # multi-value with All = .*, so exprs must match it as a regex
            assert var["multi"] and var["includeAll"] and var["allValue"] == ".*"
    for p in panels(board):
        for t in p["targets"]:
            for used in set(_VARIABLE.findall(t["expr"])) - BUILTIN:
                assert used in variables, f"{name}: {p['title']!r} uses undefined ${used}"
                assert f'=~"${used}"' in t["expr"], f"{name}: {p['title']!r}: ${used} must be matched with =~"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_exprs_read_documented_metrics_and_labels_aggregated_over_workers(name: str) -> None:
    for p in panels(load(name)):
        for t in p["targets"]:
            expr, where = t["expr"], f"{name}: {p['title']!r}: {t['expr']}"
            series = set(_METRIC.findall(expr))
            metrics = {metric(each) for each in series}
            assert metrics <= set(DOCS), f"{where}: undocumented {metrics - set(DOCS)}"
            labels = set().union(*(DOCS[m]["labels"] for m in metrics)) | TARGET_LABELS
            if any(DOCS[m]["type"] == "histogram" for m in metrics):
                labels.add("le")
            for each, matchers in re.findall(r"(pulse_\w+)\{([^}]*)\}", expr):
                for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                    assert label in DOCS[metric(each)]["labels"], f"{where}: {each} has no label {label}"
            for clause in re.findall(r"\bby \(([^)]*)\)", expr):
                grouped = {label.strip() for label in clause.split(",")}
                created = set(re.findall(r'label_replace\([^,]+, "(\w+)"', expr))
                assert grouped <= labels | created, f"{where}: groups by unknown {grouped - labels - created}"
            for each in series:
                if DOCS[metric(each)]["type"] in ("counter", "histogram"):  # per worker: a rate or increase, summed
                    assert re.search(rf"\bsum by \([^)]*\) \((rate|increase)\({each}\b", expr), where
                else:  # every worker exports the deployment-wide figure: one of them, never a sum of copies
                    assert re.search(rf"\bmax (by \([^)]*\)|without\(instance\)) \((label_replace\()?{each}\b", expr), (
                        where
                    )


def test_the_frt_panels_draw_the_sla_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    def sla_lines() -> set[float]:
        board = json.loads(json.dumps(support_board.build(), cls=JSONEncoder))
        found = set()
        for p in panels(board):
            if p["targets"][0]["expr"].startswith("max by (quantile) (pulse_first_response_seconds{"):
                assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
                found |= {s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"]}
        return found

    assert sla_lines() == {14400}
    monkeypatch.setenv("PULSE_FRT_SLA_SECONDS", "3600")
    assert sla_lines() == {3600}
    monkeypatch.setenv("PULSE_FRT_SLA_SECONDS", "-1")
    with pytest.raises(ValueError, match="PULSE_FRT_SLA_SECONDS"):
        support_board.build()


#: documented metrics on no dashboard, and why
LEFT_OUT = {
    "pulse_customer_retention_cost": "exported only with PULSE_RETENTION_SPEND_CHANNELS set",
}


def test_every_documented_metric_is_on_a_dashboard() -> None:
    """A new metric in docs/metrics.md is either shown or deliberately left out (LEFT_OUT)."""
    shown = {
        metric(series)
        for name in DASHBOARDS
        for p in panels(load(name))
        for t in p["targets"]
        for series in _METRIC.findall(t["expr"])
    }
    assert set(DOCS) - shown == set(LEFT_OUT), f"documented but on no dashboard: {sorted(set(DOCS) - shown)}"
