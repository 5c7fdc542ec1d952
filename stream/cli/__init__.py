"""The `pulse` command line: one module per command (group), wired here.

worker, simulate, produce, report (one subcommand per registered family report), schemas,
demo. Expected failures print one line and exit 2 (stream/cli/common.py).
"""

from __future__ import annotations

import typer

from stream.cli.common import err
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

#: Command groups of other packages (alerting: `pulse alerts`), found through entry points so
#: the runtime imports none of them.
COMMANDS_GROUP = "pulse.commands"


def _add_plugged_commands() -> None:
    from importlib.metadata import entry_points

    for point in entry_points(group=COMMANDS_GROUP):
        try:
            group = point.load()
        except Exception as exc:  # a broken plug-in: every other command still works
            err.print(f"[bold red]error:[/] `pulse {point.name}` unavailable: {exc}", highlight=False)
            continue
        app.add_typer(group, name=point.name)


_add_plugged_commands()


def main() -> None:
    app()
