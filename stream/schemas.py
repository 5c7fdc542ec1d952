"""JSON Schema of each topic's contract, generated from the pydantic models."""

from __future__ import annotations

import orjson

from stream.topics import SOURCE_TOPICS

__all__ = ["render_schemas"]


def render_schemas() -> dict[str, str]:
    files = {}
    for name, spec in SOURCE_TOPICS.items():
        schema = spec.adapter.json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"pulse/v1/{name}.json",
            "title": f"Pulse v1 {name} event",
            **schema,
        }
        text = orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        files[f"{name}.v1.schema.json"] = text + "\n"
    return files
