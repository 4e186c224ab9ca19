"""A progress bar for crawls on a terminal (rich), and nothing at all when piped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from concur.engines.base import OnRecord
from concur.records import FetchRecord


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[OnRecord]:
    """Yield an ``on_record`` callback that advances a bar (None when disabled)."""
    if not enabled or total == 0:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total, failed=0)
        failed = 0

        def on_record(record: FetchRecord) -> None:
            nonlocal failed
            if record.error is not None:
                failed += 1
            progress.update(task, advance=1, failed=failed)

        yield on_record
