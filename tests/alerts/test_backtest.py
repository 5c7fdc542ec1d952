"""`pulse alerts backtest`: the shipped rules on a stream Pulse has never seen."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.backtest import COLUMNS, run_backtest
from alerts.rules import load_rules
from alerts.settings import DEFAULT_RULES
from stream.settings import PulseSettings
from tests.alerts.streams import CacRise, write_cac_stream


def backtest_csv(events: Path, *args: str) -> list[dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", "alerts", "backtest", "--events", str(events), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "rule,labels,state,at,value,baseline"
    return list(csv.DictReader(io.StringIO(done.stdout)))


@pytest.mark.parametrize("seed", [11, 29])
def test_cac_drift_fires_once_for_the_rising_channel_and_resolves_after(tmp_path: Path, seed: int) -> None:
    rise = CacRise(seed=seed)
    rows = backtest_csv(write_cac_stream(tmp_path / "events.jsonl", rise))
    assert [(r["rule"], r["labels"], r["state"]) for r in rows] == [
        ("cac_drift", "channel=ads;window=30d", "firing"),
        ("cac_drift", "channel=ads;window=30d", "resolved"),
    ]
    fired, resolved = (datetime.fromisoformat(r["at"]) for r in rows)
    began = datetime.combine(rise.start + timedelta(days=rise.rise_from), datetime.min.time(), UTC)
    ended = datetime.combine(rise.start + timedelta(days=rise.rise_to), datetime.min.time(), UTC)
    assert began < fired < ended < resolved  # a 30-day window takes a while both ways
    for at in (fired, resolved):
        assert (at.hour, at.minute, at.second) == (0, 0, 0)  # evaluated at the end of a UTC day
    assert float(rows[0]["value"]) > 1.2 * float(rows[0]["baseline"])
    assert float(rows[1]["value"]) < 1.1 * float(rows[1]["baseline"])


def test_a_smaller_rise_fires_nothing_and_json_says_the_same(tmp_path: Path) -> None:
    events = write_cac_stream(tmp_path / "events.jsonl", CacRise(factor=1.12))
    assert backtest_csv(events) == []
    settings = PulseSettings()
    result = run_backtest(events, settings, load_rules(DEFAULT_RULES, environ={}))
    assert result.transitions == [] and result.days == CacRise().days
    # every drift series got one point a day (the blended CAC included)
    blended = [v for m, labels, _, v in result.points if m == "pulse_cac" and dict(labels)["channel"] == "all"]
    assert len(blended) == CacRise().days


def test_a_threshold_rule_has_an_empty_baseline(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "rules:\n  - name: cac_over_1200\n    metric: pulse_cac\n    match: {channel: ads, window: 30d}\n"
        "    condition: {type: threshold, above: 1200, resolve: 1100}\n"
    )
    rows = backtest_csv(write_cac_stream(tmp_path / "events.jsonl"), "--rules", str(rules))
    assert [r["state"] for r in rows] == ["firing", "resolved"]
    assert {r["baseline"] for r in rows} == {""} and float(rows[0]["value"]) > 1200 and float(rows[1]["value"]) < 1100
    assert list(rows[0]) == list(COLUMNS)


def test_a_bad_rules_file_fails_in_one_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - name: x\n    metric: pulse_cac\n    condition: {type: threshold}\n")
    events = tmp_path / "events.jsonl"
    events.write_text("")
    done = subprocess.run([sys.executable, "-m", "stream.cli", "alerts", "backtest", "--events", str(events),
                           "--rules", str(rules)], capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "rule 'x': condition: give exactly one of above or below" in done.stderr
    assert "Traceback" not in done.stderr
