"""``--trace FILE`` for ``concur crawl``'s local modes: the run's clock, and the file.

:func:`trace_clock` wraps the ``on_record`` callback to find the run's zero on the
client's clock; :func:`write_trace` turns the records (and the embedded server's own
timeline, when there is one) into trace-event JSON with :mod:`concur.report.trace`.
:mod:`concur.commands.crawl` calls both for the experiment and a URL list,
:mod:`concur.commands.follow` for a crawl.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concur.commands.crawl_args import CrawlArgs
    from concur.records import FetchRecord
    from concur.report.trace import RunClock
    from mockserver.testing import RunningServer

__all__ = ["trace_clock", "write_trace"]


def trace_clock(args: CrawlArgs, on_record: Any) -> RunClock | None:
    """With ``--trace``: ``on_record`` wrapped to find the run's clock (else None)."""
    if not args.trace:
        return None
    from concur.report.trace import RunClock

    return RunClock(on_record)


def write_trace(
    args: CrawlArgs,
    records: Sequence[FetchRecord],
    clock: RunClock | None,
    server: RunningServer | None = None,
    **draw: Any,
) -> int:
    """``--trace FILE``: the run's records, and the embedded server's own timeline
    (every name it recorded) on the run's clock; ``draw``: more for ``crawl_trace``.

    Returns 0, or 2 when the file could not be written (a full disk): the error is
    printed in one line, and the caller goes on to write ``-o`` and print the summary,
    so that a trace it cannot keep loses nothing else of the run.
    """
    if not args.trace or clock is None:
        return 0
    from http.client import HTTPException
    from urllib.parse import quote

    from concur.engines import ENGINES
    from concur.errors import ConcurError
    from concur.report import trace

    seen: list[trace.ServerRequest] = []
    other: dict[str, Any] = {"command": "concur crawl", "mode": args.mode}
    spec = ENGINES.get(args.impl)  # serial makes one request at a time, whatever -c says
    other["concurrency"] = args.config.concurrency if spec is None or spec.concurrent else 1
    zero = clock.zero
    if server is not None and zero is not None:
        try:
            names = server.get_json("/__timeline")["names"]
            docs = [server.get_json(f"/__timeline?name={quote(n, safe='')}") for n in names]
        except (OSError, ValueError, HTTPException) as exc:  # Ctrl-C stops the server too
            other["server"] = f"its timeline could not be read: {exc}"
        else:
            seen = trace.server_requests(docs, zero)
    doc = trace.crawl_trace(records, engine=args.impl, server=seen, other=other, **draw)
    try:
        trace.write(args.trace, doc)
    except ConcurError as exc:
        print(f"concur crawl: error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(
            f"concur: trace in {args.trace} ({len(doc['traceEvents'])} events): "
            "open it in https://ui.perfetto.dev or chrome://tracing",
            file=sys.stderr,
        )
    return 0
