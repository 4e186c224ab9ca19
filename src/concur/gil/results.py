"""Saving a result: one JSON document per experiment, with the machine it was measured on.

A document is plain data — ``schema``, ``experiment``, ``command``, ``machine``,
``params``, ``result``, ``figures`` — so figures can be redrawn and runs compared from the file
alone, without rerunning anything.  The lab adds what it made of the run: ``checks`` (each
expectation of the experiment's text: ``claim``, ``measured``, ``holds``), ``contention``
(CPUs' worth of time others took meanwhile, :func:`concur.gil.machine.contention`) and
``caveats`` (what on the machine can keep a claim from holding).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

from concur.gil.machine import machine_info

SCHEMA = "concur-gil/1"


def document(
    number: int,
    name: str,
    title: str,
    result: dict[str, Any],
    seconds: float,
    command: str | None = None,
) -> dict[str, Any]:
    """Wrap an experiment's result (its ``params`` are lifted out) with the machine info."""
    body = dict(result)
    params = body.pop("params", {})
    return {
        "schema": SCHEMA,
        "experiment": name,
        "number": number,
        "title": title,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "command": command,
        "machine": machine_info(),
        "params": params,
        "result": body,
        "figures": [],
    }


def _clean(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write ``<out_dir>/<experiment>.json``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{doc['experiment']}.json"
    path.write_text(json.dumps(_clean(doc), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
