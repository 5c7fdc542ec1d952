"""Survey answers published to Kafka give, day by day, what `pulse report daily-surveys` gives
on the same file — undisturbed and with the worker SIGKILLed mid-stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.jsonl import iter_records
from tests.integration.harness import Deployment, assert_api_matches, kill_mid_stream, run_cli


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("surveys") / "events.jsonl"
    run_cli("simulate", "--out", str(path), "--seed", "23", "--customers", "60", "--days", "60",
            "--end", "2026-09-01", env=deployment.env)  # fmt: skip
    rows = orjson.loads(
        run_cli("report", "daily-surveys", "--events", str(path), "--format", "json", env=deployment.env)
    )
    assert len(rows) >= 20 and sum(r["nps_responses"] + r["csat_responses"] for r in rows) > 50
    return path, rows


@pytest.mark.parametrize("crash", [False, True])
def test_streaming_gives_the_report_day_by_day(
    history: tuple[Path, list[dict[str, Any]]], tmp_path: Path, crash: bool
) -> None:
    path, expected = history
    records = [r for r in iter_records(path) if r[0] == "surveys"]
    d = Deployment(tmp_path)
    d.create_topics()
    w = d.worker().start()
    try:
        if crash:
            kill_mid_stream(d, w, records, "surveys", chunk=20)
        else:
            d.publish(records)
        assert_api_matches(w, "/api/v1/surveys/daily?date={}", "date", expected, timeout=120)
    finally:
        w.stop()
