from __future__ import annotations

from pathlib import Path

from stream.schemas import render_schemas

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_committed_schemas_match_the_models() -> None:
    rendered = render_schemas()
    assert rendered, "no schemas rendered"
    for name, text in rendered.items():
        path = SCHEMAS / name
        assert path.exists(), f"{name} missing: run `pulse schemas`"
        assert path.read_text() == text, f"{name} drifted from the models: run `pulse schemas`"
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(rendered)
