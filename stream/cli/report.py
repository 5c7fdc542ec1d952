"""`pulse report <name>`: replay an event file through the workers' code, one subcommand per
report of every registered family (stream/family.py, ``Report``)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from stream.cli.common import err, fail, guard, progress, settings_with
from stream.family import Report
from stream.registry import FamilyRegistry, installed_families, reports_of

__all__ = ["report_app", "add_report"]

report_app = typer.Typer(no_args_is_help=True, help="Replay an event file through the metric code.")
FORMATS = ("csv", "json")


def run_report(report: Report, events: Path, format: str) -> list[dict[str, Any]]:
    """Replay the file's records of the report's topic with a progress bar; the rows."""
    from stream.replay import replay_file

    if format not in FORMATS:
        raise fail(f"--format: expected csv or json, got {format!r}")
    settings = settings_with()
    registry = guard(lambda: FamilyRegistry.installed(settings))
    with progress() as bar:
        task = bar.add_task(f"replaying {events.name}", total=None)
        result = guard(
            lambda: replay_file(
                events,
                settings,
                (report.topic, *report.also),
                on_record=lambda: bar.advance(task),
                registry=registry,
                bare_topic=report.topic,
            )
        )
    for (name, reason), n in sorted(result.rejected.items()):
        err.print(f"{n} {name} events rejected ({reason.value})")
    seen = result.processed.get(report.topic, 0) + result.duplicates.get(report.topic, 0)
    seen += sum(n for (name, _), n in result.rejected.items() if name == report.topic)
    if not seen:
        raise fail(f"{events}: no {report.topic} events in it: nothing to report (is it the right file?)")
    main = result.pipelines[report.topic].processor
    if report.joined is not None:
        others = {topic: result.pipelines[topic].processor for topic in report.also if topic in result.pipelines}
        return report.joined(main, others)
    return report.rows(main)


def emit(rows: list[dict[str, Any]], columns: tuple[str, ...], format: str) -> None:
    if format == "json":
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def add_report(app: typer.Typer, report: Report) -> None:
    """One subcommand for ``report``: same options for every report."""

    def command(
        events: Path = typer.Option(..., "--events", exists=True, dir_okay=False, help="JSON-lines file"),
        format: str = typer.Option("csv", "--format", help="csv or json"),
    ) -> None:
        emit(run_report(report, events, format), report.columns, format)

    command.__doc__ = report.help
    app.command(report.name)(command)


def _register_installed() -> None:
    try:
        reports = reports_of(installed_families())
    except Exception as exc:  # a broken plug-in: every other command still works
        err.print(f"[bold red]error:[/] reports unavailable: {exc}", highlight=False)
        return
    for report in reports:
        add_report(report_app, report)


_register_installed()
