"""What the commands write besides their summary: records as JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterable

from concur.records import FetchRecord

__all__ = ["write_jsonl"]


def write_jsonl(path: str, records: Iterable[FetchRecord]) -> int:
    """One JSON object per record, one a line, in the given order; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record.to_dict()) + "\n")
            n += 1
    return n
