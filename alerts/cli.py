"""`pulse alerts`: backtest rules on a file, backfill baselines, list and silence alerts.

Plugged into the `pulse` command through the ``pulse.commands`` entry point group.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import typer

from alerts.rules import RulesError, RulesFile, load_rules
from alerts.settings import AlertSettings
from stream.cli.common import REPO, err, fail, guard, out, progress, settings_with
from stream.cli.report import emit

__all__ = ["alerts_app"]

alerts_app = typer.Typer(no_args_is_help=True, help="Alerting rules: backtest, backfill, list, silence.")
FORMATS = ("csv", "json")
RULES_OPTION = typer.Option(
    None, "--rules", exists=True, dir_okay=False, help="Rules file (default: PULSE_ALERT_RULES_FILE)"
)


def _rules(path: Path | None) -> RulesFile:
    section = guard(AlertSettings.load)
    try:
        return load_rules(path or section.alert_rules_file)
    except RulesError as exc:
        raise fail(str(exc)) from None


def _backtest(events: Path, rules: RulesFile) -> Any:
    from alerts.backtest import run_backtest
    from stream.registry import FamilyRegistry

    settings = settings_with()
    registry = guard(lambda: FamilyRegistry.installed(settings))
    with progress() as bar:
        task = bar.add_task(f"replaying {events.name}", total=None)
        return guard(lambda: run_backtest(events, settings, rules, registry, on_record=lambda: bar.advance(task)))


@alerts_app.command("backtest")
def backtest(
    events: Path = typer.Option(..., "--events", exists=True, dir_okay=False, help="JSON-lines file of events"),
    rules: Path | None = RULES_OPTION,
    format: str = typer.Option("csv", "--format", help="csv or json"),
) -> None:
    """Replay a file through the metric code and print every firing and resolution the rules
    would have made, evaluated at the end of each UTC day of event time."""
    from alerts.backtest import COLUMNS

    if format not in FORMATS:
        raise fail(f"--format: expected csv or json, got {format!r}")
    result = _backtest(events, _rules(rules))
    rows = [t.row() for t in result.transitions]
    err.print(f"{result.days} days evaluated, {len(rows)} transitions")
    emit(rows, COLUMNS, format)


def _redis() -> tuple[Any, str]:
    import redis.asyncio as aioredis

    settings = settings_with()
    return aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5), f"pulse:{settings.app_id}"


def _run(coro: Any) -> Any:
    from redis.exceptions import RedisError

    try:
        return asyncio.run(coro)
    except (RedisError, OSError) as exc:
        raise fail(f"redis: {exc}") from None


@alerts_app.command("backfill")
def backfill(
    events: Path = typer.Option(..., "--events", exists=True, dir_okay=False, help="JSON-lines file of events"),
    rules: Path | None = RULES_OPTION,
) -> None:
    """Rebuild the drift rules' daily history in Redis from a file of past events (the same
    points a backtest computes), for baselines that are missing."""
    from alerts.history import RedisHistory

    result = _backtest(events, _rules(rules))

    async def write() -> int:
        client, prefix = _redis()
        try:
            return await RedisHistory(client, prefix).put_many(result.points)
        finally:
            await client.aclose()

    n = _run(write())
    out.print(f"{n} daily points written for {len({(m, labels) for m, labels, _, _ in result.points})} series")


@alerts_app.command("list")
def list_alerts(
    rules: Path | None = RULES_OPTION,
    format: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Every rule's alerts: state, value, baseline, since when, and silences."""
    from alerts.status import rule_status
    from alerts.store import RedisAlertStore

    loaded = _rules(rules)

    async def read() -> list[dict[str, Any]]:
        client, prefix = _redis()
        try:
            return await rule_status(loaded, RedisAlertStore(client, prefix), time.time())
        finally:
            await client.aclose()

    rows = _run(read())
    if format == "json":
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.table import Table

    table = Table("rule", "labels", "state", "value", "baseline", "since", "note")
    for row in rows:
        table.add_row(row["rule"], row["labels"], row["state"], _fmt(row["value"]), _fmt(row["baseline"]),
                      row["since"] or "", row["note"])  # fmt: skip
    out.print(table)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


@alerts_app.command("silence")
def silence(
    rule: str = typer.Argument(..., help="Rule name"),
    match: list[str] = typer.Option([], "--match", help="label=value the alerts must have (repeatable)"),
    for_: str = typer.Option("2h", "--for", help="How long, e.g. 30m, 2h, 1d"),
    comment: str = typer.Option("", "--comment"),
    rules: Path | None = RULES_OPTION,
) -> None:
    """Silence a rule's notifications (all its alerts, or those matching) for a while."""
    from alerts.rules import parse_duration
    from alerts.store import RedisAlertStore, Silence

    loaded = _rules(rules)
    if rule not in {r.name for r in loaded.rules}:
        raise fail(f"unknown rule {rule!r}; the rules are {', '.join(r.name for r in loaded.rules)}")
    pairs = {}
    for item in match:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--match: expected label=value, got {item!r}")
        pairs[key] = value
    try:
        seconds = parse_duration(for_)
    except ValueError as exc:
        raise fail(f"--for: {exc}") from None
    made = Silence(rule, time.time() + seconds, pairs, comment)

    async def write() -> None:
        client, prefix = _redis()
        try:
            await RedisAlertStore(client, prefix).add_silence(made)
        finally:
            await client.aclose()

    _run(write())
    out.print(f"silence {made.id}: {rule} {pairs or ''} for {for_}")


@alerts_app.command("export-prometheus")
def export_prometheus(
    rules: Path | None = RULES_OPTION,
    out_file: Path = typer.Option(
        REPO / "deploy" / "prometheus" / "pulse-alerts.rules.yml", "--out", dir_okay=False, help="Where to write"
    ),
) -> None:
    """Write Prometheus alerting rules for the threshold rules (loaded by the shipped
    Prometheus config; check them with `promtool check rules`)."""
    from alerts.prometheus_export import exportable, render_prometheus_rules

    loaded = _rules(rules)
    out_file.write_text(render_prometheus_rules(loaded))
    n = sum(exportable(r) for r in loaded.rules)
    out.print(f"{n} rules written to {out_file} ({len(loaded.rules) - n} drift or disabled rules are Pulse's own)")
