"""One benchmark trial, run as ``python -m concur.bench.trial`` in a fresh process.

Why a fresh process per trial?  gevent monkey-patches the standard library for the
whole process, threads leave pools behind, and a warm interpreter flatters whoever
runs second.  A new process gives every engine the same start.

Reads one JSON object on stdin (engine, URL recipe, config, what to keep) and prints
one JSON object on stdout's last line: the run's summary, and optionally its request
timeline and sorted latencies.
"""

from __future__ import annotations

import json
import sys
from typing import Any

TIMELINE_CAP = 5000  # requests kept per timeline (evenly sampled beyond this)


def run_trial(spec: dict[str, Any]) -> dict[str, Any]:
    from concur.engines import EngineUnavailable, get_engine
    from concur.experiment import book_urls
    from concur.records import CrawlConfig
    from concur.report import summarize

    try:
        engine = get_engine(spec["engine"])
    except EngineUnavailable as exc:
        return {"error": str(exc)}
    u = spec["urls"]
    urls = book_urls(
        u["base"],
        u["n"],
        u["name"],
        delay_ms=u.get("delay_ms"),
        latency=u.get("latency"),
        extra=u.get("extra", ""),
    )
    config = CrawlConfig.from_dict(spec["config"])
    result = engine(urls, config)
    out: dict[str, Any] = {"summary": summarize(result)}
    if spec.get("timeline"):
        records = result.records
        step = max(1, len(records) // TIMELINE_CAP)
        out["timeline"] = [[round(r.start, 5), round(r.end, 5), int(r.ok)] for r in records[::step]]
        out["timeline_step"] = step
    if spec.get("latencies"):
        lat = sorted(round(r.elapsed * 1e3, 3) for r in result.records if r.attempts)
        step = max(1, len(lat) // 20_000)
        out["latencies_ms"] = lat[::step]
    return out


def main() -> int:
    spec = json.loads(sys.stdin.read())
    out = run_trial(spec)
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
