"""``python -m dashboards [--out DIR] [--check]``: write every dashboard's JSON (or, with
--check, fail when the committed files are not what the code generates)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboards import OUT_DIR, render_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    out: Path = args.out
    stale = []
    for name, content in render_all().items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(name)
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print(f"out of date in {out}: {', '.join(stale)}; run `python -m dashboards`", file=sys.stderr)
        return 1
    print(
        f"{'checked' if args.check else 'wrote'} {len(render_all())} dashboards in {out}"
        + (f" ({len(stale)} changed)" if stale and not args.check else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
