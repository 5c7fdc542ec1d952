"""Pulse's Grafana dashboards as code (grafana-foundation-sdk): one module per dashboard,
generated into deploy/grafana/dashboards/ by ``python -m dashboards`` so the JSON Grafana
loads is reviewed as code and proven against a real Prometheus
(tests/integration/test_dashboard_queries.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_model

from dashboards import acquisition, alerts, engagement, engine, revenue, support

__all__ = ["DASHBOARDS", "OUT_DIR", "render", "render_all"]

#: file name (without .json) -> the function building that dashboard
DASHBOARDS: dict[str, Callable[[], dashboard_model.Dashboard]] = {
    "revenue": revenue.build,
    "engagement": engagement.build,
    "support": support.build,
    "acquisition": acquisition.build,
    "alerts": alerts.build,
    "engine": engine.build,
}

#: where Grafana's file provider reads them (mounted at /var/lib/grafana/dashboards)
OUT_DIR = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"


def render(name: str) -> str:
    """The dashboard's JSON as committed: sorted keys, indent 2, a trailing newline."""
    return json.dumps(DASHBOARDS[name](), cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> content, for every dashboard."""
    return {f"{name}.json": render(name) for name in DASHBOARDS}
