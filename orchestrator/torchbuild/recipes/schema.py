"""The JSON schema of recipe files, generated from the model in :mod:`.model`.

The committed copy is ``recipes/recipe.schema.json``; a test keeps it equal to
:func:`generate`. Regenerate it with::

    python -m torchbuild.recipes.schema > recipes/recipe.schema.json

Editors that understand ``#:schema`` comments (taplo, Even Better TOML) use it for completion.
Some checks need more than a schema (sha256 of patch files, overlapping series, conflicting
overrides, placeholders): those live in :mod:`.load` only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from typing import Any

from .load import ENV_NAME
from .model import FORMAT, TEMPLATE_NAMES, RecipeFile, toml_name

__all__ = ["SCHEMA_ID", "generate", "render_text"]

SCHEMA_ID = "https://torchbuild.invalid/recipe.schema.json"

_SPECIFIER = {
    "type": "string",
    "pattern": r"^\s*((~=|==|!=|<=|>=|<|>|===)\s*[0-9A-Za-z.*+!_-]+\s*(,\s*|$))*$",
}
_STRINGS = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}


def _kind_schema(meta: Any, defs: dict[str, Any]) -> dict[str, Any]:
    kind = meta["kind"]
    if kind == "string":
        out: dict[str, Any] = {"type": "string"}
    elif kind == "strings":
        out = dict(_STRINGS)
        if meta.get("choices"):
            one = {"enum": list(meta["choices"])}
            out = {
                "oneOf": [
                    {"type": "string", **one},
                    {"type": "array", "items": {"type": "string", **one}, "minItems": 1},
                ]
            }
    elif kind == "commands":
        out = {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        }
    elif kind in ("list", "requirements"):
        out = {"type": "array", "items": {"type": "string"}}
    elif kind == "specifier":
        out = dict(_SPECIFIER)
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind == "integer":
        out = {"type": "integer"}
    elif kind == "number":
        out = {"type": "number", "exclusiveMinimum": 0}
    elif kind == "env":
        out = {
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME.pattern},
            "additionalProperties": {"type": "string"},
        }
    elif kind == "table":
        out = {"$ref": f"#/$defs/{_define(meta['model'], defs)}"}
    elif kind == "array":
        out = {"type": "array", "items": {"$ref": f"#/$defs/{_define(meta['model'], defs)}"}}
    else:  # pragma: no cover - KINDS is closed
        raise AssertionError(kind)
    # A description next to $ref is allowed in draft 2020-12.
    return {"description": meta["doc"], **out}


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields(cls):
        if f.metadata.get("internal"):
            continue
        key = toml_name(f.name)
        props[key] = _kind_schema(f.metadata, defs)
        if f.metadata.get("required"):
            required.append(key)
    doc = " ".join((cls.__doc__ or "").split())
    out: dict[str, Any] = {"type": "object", "description": doc, "properties": props}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _define(cls: type, defs: dict[str, Any]) -> str:
    name = cls.__name__
    if name not in defs:
        defs[name] = {}  # placeholder against recursion
        defs[name] = _object(cls, defs)
    return name


def generate() -> dict[str, Any]:
    """The schema as a JSON-ready dict (stable key order, so the committed file can be compared)."""
    defs: dict[str, Any] = {}
    root = _object(RecipeFile, defs)
    header = defs["Header"]["properties"]["format"]
    header["const"] = FORMAT
    placeholders = ", ".join(f"{{{n}}}" for n in TEMPLATE_NAMES)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "torchbuild recipe",
        "description": (
            "One recipe per package: build requirements, environment, steps before the build, "
            "command, memory model and patches, with [[overrides]] selected by target and source "
            f"facts. Values may use {placeholders}. "
            "Generated from torchbuild.recipes.model; do not edit by hand."
        ),
        **{k: v for k, v in root.items() if k != "description"},
        "$defs": dict(sorted(defs.items())),
    }


def render_text() -> str:
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    sys.stdout.write(render_text())
