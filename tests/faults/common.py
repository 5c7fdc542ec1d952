"""What the fault tests share: the stack's script, and a simulated history with its reports."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson

from tests.integration.harness import REPO, Deployment, run_cli

__all__ = ["FX", "scripts_stack", "simulated_history"]

FX = '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}'


def scripts_stack(*args: str) -> None:
    """`scripts/stack ARGS`: stop one service, or start what is not running."""
    subprocess.run([str(REPO / "scripts" / "stack"), *args], check=True, capture_output=True, timeout=300)


def simulated_history(deployment: Deployment, directory: Path, seed: int) -> dict[str, Any]:
    """30 days of simulated events of 40 customers, and what `pulse report` says of them."""
    path = directory / "events.jsonl"
    env = {**deployment.env, "PULSE_FX_RATES": FX}
    run_cli("simulate", "--out", str(path), "--seed", str(seed), "--customers", "40", "--days", "30",
            "--end", "2026-09-01", env=env)  # fmt: skip

    def report(name: str) -> Any:
        return orjson.loads(run_cli("report", name, "--events", str(path), "--format", "json", env=env))

    return {"path": path, "revenue": report("monthly-mrr"), "engagement": report("daily-engagement")}
