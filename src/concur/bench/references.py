"""Reference points measured in the same run: wrk (a C load generator) and Scrapy.

wrk shows the ceiling: how fast the same server answers the same scenario when the
client costs next to nothing.  Scrapy shows what people would otherwise use.  Both are
optional — a missing one is reported as such, never an error of the benchmark.

Each reference's entry in a scenario's ``references`` is its measurement, or
``{"skipped": why}`` when it was not run (not installed, not meaningful for the scenario,
left out of a quick run or turned off), or ``{"error": why}`` when it ran and failed: the
report prints the reason either way (:func:`not_run`).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from typing import Any

from concur.bench.scenarios import Scenario
from concur.lifetime import tied


def wrk(sc: Scenario, server: Any, quick: bool) -> dict[str, Any]:
    """wrk at the scenario's concurrency against its URL (fixed-delay scenarios only)."""
    exe = shutil.which("wrk")
    if exe is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    if sc.faults:
        return {"skipped": "wrk does not retry, so faults would only count as errors"}
    wait = f"latency={sc.latency}" if sc.latency else f"delay={sc.delay_ms:g}"
    url = f"{server.url}/add?name=wrk&{wait}"
    seconds = 1 if quick else 5
    connections = max(1, min(sc.concurrency, 5000))
    server.reset()
    proc = subprocess.run(
        [exe, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        **tied(),
    )
    match = re.search(r"Requests/sec:\s*([\d.]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        return {"error": f"wrk failed: {(proc.stderr or proc.stdout).strip()[-200:]}"}
    errors = re.search(r"Socket errors: (.*)", proc.stdout)
    return {
        "tool": "wrk",
        "connections": connections,
        "seconds": seconds,
        "req_per_s": float(match.group(1)),
        "socket_errors": errors.group(1) if errors else "",
        "server_peak_in_flight": server.stats()["peak_in_flight"],
    }


def scrapy(
    sc: Scenario, server: Any, ideal_s: float | None = None, repeats: int = 1
) -> dict[str, Any]:
    """Scrapy crawling the scenario's URLs at its concurrency, ``repeats`` fresh processes.

    The summary is that of the median trial (by wall time), with the trials' spread.
    """
    if importlib.util.find_spec("scrapy") is None:
        return {"skipped": "Scrapy is not installed: pip install 'concur[scrapy]'"}
    runs = []
    for _ in range(max(1, repeats)):
        answer = _scrapy_once(sc, server, ideal_s)
        if "summary" not in answer:
            return answer
        runs.append(answer["summary"])
    runs.sort(key=lambda r: r["wall_s"])
    summary = dict(runs[len(runs) // 2])
    summary["trials"] = len(runs)
    summary["spread"] = {
        k: [min(r[k] for r in runs), max(r[k] for r in runs)]
        for k in ("wall_s", "req_per_s", "cpu_us_per_request")
    }
    return {"summary": summary}


def _scrapy_once(sc: Scenario, server: Any, ideal_s: float | None) -> dict[str, Any]:
    spec = {
        "urls": {
            "base": server.url,
            "n": sc.n,
            "delay_ms": sc.delay_ms,
            "latency": sc.latency,
            "extra": sc.extra_query(),
        },
        "config": {"concurrency": sc.concurrency, "retries": sc.retries, "timeout": sc.timeout},
    }
    server.reset()
    proc = subprocess.run(
        [sys.executable, "-m", "concur.bench.scrapy_trial"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=600,
        **tied(),
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        return {"error": f"scrapy trial failed: {proc.stderr.strip()[-200:]}"}
    answer: dict[str, Any] = json.loads(lines[-1])
    if "summary" in answer:
        answer["summary"]["peak_in_flight"] = server.stats()["peak_in_flight"]
        if ideal_s:
            answer["summary"]["efficiency"] = ideal_s / answer["summary"]["wall_s"]
    return answer


def measure(
    sc: Scenario,
    server: Any,
    quick: bool,
    log: Any,
    ideal_s: float | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    out = {"wrk": wrk(sc, server, quick), "scrapy": scrapy(sc, server, ideal_s, repeats)}
    w = out["wrk"]
    if "req_per_s" in w:
        log(f"  {'wrk':<10} {w['req_per_s']:,.0f} req/s ({w['connections']} connections)")
    s = out["scrapy"].get("summary")
    if s:
        log(
            f"  {'scrapy':<10} wall {s['wall_s']:.3f} s  {s['req_per_s']:,.0f} req/s  "
            f"{s['cpu_us_per_request']:,.0f} µs CPU/req"
        )
    for tool, why in not_run(out).items():
        log(f"  {tool:<10} {why}")
    return out


def skipped(why: str) -> dict[str, Any]:
    """The ``references`` of a scenario where neither tool was run, and why."""
    return {"wrk": {"skipped": why}, "scrapy": {"skipped": why}}


NAMES = {"wrk": "wrk", "scrapy": "Scrapy"}


def not_run(refs: dict[str, Any] | None) -> dict[str, str]:
    """Each reference that gave no figure, with why: ``{"wrk": "skipped: ..."}``.

    ``refs`` is a scenario's ``references``; None (results that predate these entries, or
    stripped of them) means neither was measured, for a reason the results do not say.
    """
    if refs is None:
        return {t: "not measured (the results do not say why)" for t in NAMES}
    out = {}
    for tool in NAMES:
        entry = refs.get(tool) or {}
        error = str(entry.get("error", ""))
        if "skipped" in entry:
            out[tool] = f"skipped: {entry['skipped']}"
        elif error.startswith("not run: ") or "is not installed" in error:  # older results
            out[tool] = f"skipped: {error.removeprefix('not run: ')}"
        elif error:
            out[tool] = f"failed: {error}"
        elif not entry:
            out[tool] = "not measured (the results do not say why)"
    return out
