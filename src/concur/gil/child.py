"""``python -m concur.gil.child JOB_JSON``: one measurement in a fresh interpreter.

Some measurements must not run in the lab's own process: gevent's monkey-patching
would leak into everything after it, a pinned CPU affinity would too, and a
free-threaded rerun needs another interpreter altogether.  The job is a JSON object
with a ``kind``; the result is printed as one JSON line, last on standard output.
Imports stay minimal before the job is known, so gevent can patch first.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _gevent_speedup(job: dict[str, Any]) -> dict[str, Any]:
    try:
        from gevent import monkey
    except ImportError:
        return {"unavailable": "gevent is not installed: pip install 'concur[gevent]'"}
    monkey.patch_all()
    from concur.gil.experiments import speedup

    return speedup.gevent_cells(job)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job: dict[str, Any] = json.loads(args[0])
    kind = job["kind"]
    result: dict[str, Any]
    if kind == "gevent_speedup":
        result = _gevent_speedup(job)
    elif kind == "convoy_pinned":
        from concur.gil.experiments import convoy

        result = convoy.pinned_cells(job)
    elif kind == "crawl":
        if job["engine"] == "gevent":
            try:
                from gevent import monkey
            except ImportError:
                result = {"unavailable": "gevent is not installed: pip install 'concur[gevent]'"}
                sys.stdout.write(json.dumps(result) + "\n")
                return 0
            monkey.patch_all()
        from concur.gil.experiments import requests

        result = requests.crawl_cells(job)
    elif kind == "rerun":
        from concur.gil.experiments import freethreaded

        result = freethreaded.rerun_here(job)
    elif kind == "probe":
        from concur.gil.machine import machine_info

        result = machine_info()
    else:
        raise SystemExit(f"unknown job kind {kind!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
