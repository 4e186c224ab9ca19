"""The results JSON schema (``results.schema.json`` beside this module) and its check.

The schema is the contract between ``concur bench`` and everything that reads its
results (``concur plot``, the report, other people's notebooks).  It is versioned by
the ``schema`` field; a reader refuses a version it does not know.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


class SchemaError(ValueError):
    """Results that do not match the schema; the message says where."""


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(results: Any) -> None:
    """Raise :class:`SchemaError` if ``results`` is not a valid concur-bench/1 document.

    Uses ``jsonschema`` when installed (``concur[all]``); without it only the version
    and the top-level keys are checked.
    """
    if not isinstance(results, dict) or results.get("schema") != "concur-bench/1":
        raise SchemaError("not a concur-bench/1 results document")
    try:
        import jsonschema
    except ImportError:
        missing = [k for k in schema()["required"] if k not in results]
        if missing:
            raise SchemaError(f"missing keys: {', '.join(missing)}") from None
        return
    try:
        jsonschema.validate(results, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise SchemaError(f"{where}: {exc.message}") from None
