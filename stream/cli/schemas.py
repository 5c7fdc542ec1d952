"""`pulse schemas`: the JSON Schema of each topic's contract, from the pydantic models."""

from __future__ import annotations

from pathlib import Path

import typer

from stream.cli.common import REPO, fail, out

__all__ = ["schemas"]


def schemas(
    check: bool = typer.Option(False, help="Fail if the committed files differ from the models"),
    directory: Path = typer.Option(REPO / "schemas", help="Where the JSON Schema files live"),
) -> None:
    """Write the JSON Schema of each topic's contract (generated from the pydantic models)."""
    from stream.schemas import render_schemas

    stale = []
    for name, text in render_schemas().items():
        path = directory / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        raise fail(f"schemas out of date: {', '.join(stale)}; run `pulse schemas`")
    out.print("schemas up to date" if check else f"wrote schemas to {directory}")
