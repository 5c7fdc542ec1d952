"""The `pulse` command line: one module per command (group), wired here.

worker, simulate, produce, report (one subcommand per registered family report), schemas,
demo. Expected failures print one line and exit 2 (stream/cli/common.py).
"""

from __future__ import annotations

import typer

from stream.cli.demo import demo
from stream.cli.produce import produce
from stream.cli.report import report_app
from stream.cli.schemas import schemas
from stream.cli.simulate import simulate
from stream.cli.worker import worker

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Pulse: streaming SaaS metrics.")
for command in (worker, simulate, produce, schemas, demo):
    app.command()(command)
app.add_typer(report_app, name="report")


def main() -> None:
    app()
