"""What the commands write: records as JSON Lines, then the summary.

A file that cannot be written is a :class:`~concur.errors.ConcurError` with one line,
checked before a run starts (:func:`check_writable`), so that a typo in ``-o`` does not
cost a whole crawl, and again when it is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from concur.errors import ConcurError
from concur.records import FetchRecord

__all__ = ["check_writable", "report", "write_jsonl"]


def check_writable(path: str) -> None:
    """Refuse ``path`` now if it cannot be written later (nothing is created or changed)."""
    file = Path(path)
    if file.is_dir():
        raise ConcurError(f"cannot write {path}: it is a folder")
    where = file if file.exists() else file.absolute().parent
    if not where.is_dir() and not file.exists():
        raise ConcurError(f"cannot write {path}: no folder {where}")
    if not os.access(where, os.W_OK):
        raise ConcurError(f"cannot write {path}: permission denied")


def write_jsonl(path: str, records: Iterable[FetchRecord]) -> int:
    """One JSON object per record, one a line, in the given order; returns how many."""
    n = 0
    try:
        with open(path, "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record.to_dict()) + "\n")
                n += 1
    except OSError as exc:
        raise ConcurError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return n


def report(
    args: Any,
    summary: dict[str, Any],
    render: Callable[[dict[str, Any]], str],
    write: Callable[[str], object],
) -> int:
    """Write ``-o`` (``write(path)``, when given) and print the summary, as JSON with
    ``--json``; returns the exit status of a run that was not stopped."""
    if args.output:
        write(args.output)
    print(json.dumps(summary) if args.json else render(summary))
    return 1 if args.fail_on_error and summary["failed_requests"] else 0
