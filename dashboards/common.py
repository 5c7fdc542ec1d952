"""What every Pulse dashboard shares: the metric definitions read from docs/metrics.md, the
PromQL aggregation idioms, the datasource and label variables, and panel builders.

Panels take their description from the HELP text of the first metric of their first query,
read from docs/metrics.md (the one place where every metric is defined), so the dashboards never
import a family's internals and never drift from the docs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders import barchart, bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

__all__ = [
    "Board",
    "DATASOURCE_UID",
    "MetricDoc",
    "Target",
    "barchart_panel",
    "bars",
    "counter_rate",
    "first_metric",
    "gauge",
    "help_of",
    "histogram_quantile",
    "label_variable",
    "metric_docs",
    "metric_of",
    "stat_panel",
    "table_panel",
    "timeseries_panel",
]

REPO = Path(__file__).resolve().parents[1]
METRICS_DOC = REPO / "docs" / "metrics.md"

#: the uid of the Prometheus datasource provisioned by deploy/grafana/provisioning/datasources/prometheus.yml
DATASOURCE_UID = "pulse-prometheus"
#: every panel and query reads the dashboard's `datasource` variable, so one dashboard serves any Prometheus
DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid="${datasource}")

_METRIC = re.compile(r"\bpulse_[a-z0-9_]+\b")
# | `pulse_mrr` | gauge | `currency` | Monthly recurring revenue now: ... |
_ROW = re.compile(r"^\|\s*`(?P<name>pulse_[a-z0-9_]+)`\s*\|\s*(?P<type>\w+)\s*\|(?P<labels>[^|]*)\|(?P<help>.*)\|\s*$")


@dataclass(frozen=True)
class MetricDoc:
    """One row of a metric table in docs/metrics.md."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


@functools.cache
def metric_docs(path: Path = METRICS_DOC) -> dict[str, MetricDoc]:
    """Every metric of docs/metrics.md's tables, by name (counters with their ``_total``)."""
    docs: dict[str, MetricDoc] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m is None:
            continue
        labels = tuple(re.findall(r"`([a-z_]+)`", m["labels"]))
        docs[m["name"]] = MetricDoc(m["name"], m["type"], labels, m["help"].strip())
    if not docs:
        raise RuntimeError(f"no metric table found in {path}")
    return docs


def help_of(metric: str) -> str:
    """The HELP text of ``metric`` as docs/metrics.md defines it; an undocumented metric is an error."""
    try:
        return metric_docs()[metric].help
    except KeyError:
        message = f"{metric} is not documented in {METRICS_DOC}: dashboards show documented metrics only"
        raise KeyError(message) from None


def metric_of(series: str) -> str:
    """The documented metric a series name belongs to: a histogram's ``_bucket``, ``_sum`` and
    ``_count`` series are its own."""
    base = re.sub(r"_(bucket|sum|count)$", "", series)
    docs = metric_docs()
    return base if series not in docs and docs.get(base, MetricDoc("", "", (), "")).type == "histogram" else series


def first_metric(expr: str) -> str:
    """The first Pulse metric an expression reads: the one a panel is described by."""
    m = _METRIC.search(expr)
    if m is None:
        raise ValueError(f"no pulse_ metric in {expr!r}")
    return metric_of(m.group(0))


def gauge(selector: str, by: str | None = None) -> str:
    """A family gauge: every worker exports the deployment-wide figure, so take one of them
    (``max``) instead of summing copies; ``by`` keeps only the labels a panel shows."""
    if by is None:
        return f"max without(instance) ({selector})"
    return f"max by ({by}) ({selector})"


def counter_rate(selector: str, by: str) -> str:
    """A per-worker counter as a deployment-wide rate: per-second over Grafana's rate interval,
    summed over the workers."""
    return f"sum by ({by}) (rate({selector}[$__rate_interval]))"


def histogram_quantile(q: float, histogram: str, by: str, matchers: str = "", window: str = "$__rate_interval") -> str:
    """A quantile of a per-worker histogram over every worker: its buckets' rates summed by ``le``."""
    labels = f"le, {by}" if by else "le"
    buckets = f"{histogram}_bucket{{{matchers}}}" if matchers else f"{histogram}_bucket"
    return f"histogram_quantile({q:g}, sum by ({labels}) (rate({buckets}[{window}])))"


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel and its legend."""

    expr: str
    legend: str = ""


def label_variable(name: str, title: str, metric: str, label: str) -> dashboard_builder.QueryVariable:
    """A multi-value variable over the values a metric's label has; All is ``.*``, so the
    exprs match it with ``=~"$name"``."""
    return (
        dashboard_builder.QueryVariable(name)
        .label(title)
        .query(f"label_values({metric}, {label})")
        .datasource(DATASOURCE)
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard_model.VariableOption(selected=True, text="All", value="$__all"))
    )


def datasource_variable() -> dashboard_builder.DatasourceVariable:
    return (
        dashboard_builder.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(dashboard_model.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
    )


def _queries(
    targets: Sequence[Target], instant: bool, table_format: bool = False
) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    out: list[cogbuilder.Builder[cogvariants.Dataquery]] = []
    for i, t in enumerate(targets):
        q = prometheus_builder.Dataquery().expr(t.expr).ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
        q = q.instant() if instant else q.range()
        if t.legend:
            q = q.legend_format(t.legend)
        if table_format:
            q = q.format(prometheus_model.PromQueryFormat.TABLE)
        out.append(q)
    return out


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> dashboard_builder.ThresholdsConfig:
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=v, color=c) for v, c in steps])
    )


#: what :meth:`Board.add` takes
PanelBuilder = timeseries.Panel | stat.Panel | bargauge.Panel | barchart.Panel | table.Panel

#: the default colouring: no threshold, one colour
_PLAIN = ((None, "green"),)


def _describe(targets: Sequence[Target]) -> str:
    if not targets:
        raise ValueError("a panel needs at least one query")
    return help_of(first_metric(targets[0].expr))


P = TypeVar("P", timeseries.Panel, stat.Panel, bargauge.Panel, barchart.Panel, table.Panel)


def _framed(
    panel: P,
    title: str,
    unit: str,
    targets: Sequence[Target],
    width: int,
    height: int,
    instant: bool,
    table_format: bool = False,
) -> P:
    """What every panel has: title, the first metric's HELP as description, the datasource
    variable, a unit, its size and its queries."""
    return (
        panel.title(title)
        .description(_describe(targets))
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .targets(_queries(targets, instant=instant, table_format=table_format))
    )


def timeseries_panel(
    title: str,
    unit: str,
    *targets: Target,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
    bars: bool = False,
    threshold: tuple[float, str] | None = None,
) -> timeseries.Panel:
    """A value over time; ``threshold`` (value, colour) draws a constant line, e.g. an SLA."""
    panel = (
        _framed(timeseries.Panel(), title, unit, targets, width, height, instant=False)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull"])
        )
        .tooltip(common_builder.VizTooltipOptions().mode(common_model.TooltipDisplayMode.MULTI))
    )
    if bars:
        panel = panel.draw_style(common_model.GraphDrawStyle.BARS).fill_opacity(80)
    else:
        panel = panel.fill_opacity(10 if stacked else 0)
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common_model.StackingMode.NORMAL))
    if threshold is not None:
        panel = panel.thresholds(_thresholds(((None, "green"), threshold))).thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def stat_panel(
    title: str,
    unit: str,
    *targets: Target,
    width: int = 4,
    height: int = 4,
    decimals: int | None = None,
    mappings: dict[str, str] | None = None,
    steps: Sequence[tuple[float | None, str]] = _PLAIN,
) -> stat.Panel:
    """The latest value, big; ``mappings`` turn values into words (1: ready)."""
    panel = (
        _framed(stat.Panel(), title, unit, targets, width, height, instant=True)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .color_mode(common_model.BigValueColorMode.VALUE)
        .thresholds(_thresholds(steps))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        options = {
            value: dashboard_model.ValueMappingResult(text=text, index=i)
            for i, (value, text) in enumerate(mappings.items())
        }
        panel = panel.mappings([dashboard_model.ValueMap(options=options)])
    return panel


def bars(title: str, unit: str, *targets: Target, width: int = 12, height: int = 8) -> bargauge.Panel:
    """One horizontal bar per series, latest value: a breakdown by a label."""
    return (
        _framed(bargauge.Panel(), title, unit, targets, width, height, instant=True)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
        .min(0)
        .thresholds(_thresholds(_PLAIN))
    )


def barchart_panel(
    title: str, unit: str, x_field: str, *targets: Target, width: int = 12, height: int = 8
) -> barchart.Panel:
    """Bars of the latest value by ``x_field``, negative ones red: a waterfall of signed amounts."""
    return (
        _framed(barchart.Panel(), title, unit, targets, width, height, instant=True, table_format=True)
        .with_transformation(
            dashboard_model.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}})
        )
        .x_field(x_field)
        .show_value(common_model.VisibilityMode.ALWAYS)
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .thresholds(_thresholds(((None, "red"), (0, "green"))))
    )


def table_panel(title: str, unit: str, *targets: Target, width: int = 12, height: int = 8) -> table.Panel:
    """The latest value of each series as a row, its labels as columns."""
    return (
        _framed(table.Panel(), title, unit, targets, width, height, instant=True, table_format=True)
        .with_transformation(
            dashboard_model.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}})
        )
        .thresholds(_thresholds(_PLAIN))
    )


class Board:
    """A dashboard being laid out: rows and panels in order, panel ids 1, 2, 3… in that order,
    so a dashboard's ids (and its JSON) are the same at every generation."""

    def __init__(
        self,
        uid: str,
        title: str,
        description: str,
        variables: Sequence[cogbuilder.Builder[dashboard_model.VariableModel]] = (),
    ) -> None:
        self._next_id = 1
        self._builder = (
            dashboard_builder.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["pulse", "generated"])
            .editable()
            .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
            .refresh("30s")
            .time("now-6h", "now")
            .timezone("utc")
            .with_variable(datasource_variable())
        )
        for variable in variables:
            self._builder = self._builder.with_variable(variable)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> Board:
        self._builder = self._builder.with_row(dashboard_builder.Row(title).id(self._id()))
        return self

    def add(self, *panels: PanelBuilder) -> Board:
        for panel in panels:
            self._builder = self._builder.with_panel(panel.id(self._id()))
        return self

    def build(self) -> dashboard_model.Dashboard:
        return self._builder.build()
