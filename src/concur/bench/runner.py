"""Run scenarios × engines: a fresh subprocess per trial, the mock server in its own process.

For each scenario the runner starts one mock server (a subprocess, so it never shares
a GIL or a core's run queue with the client's interpreter), then for each engine runs
an optional warm-up and ``repeats`` trials, resetting the server before each so its
peak in-flight count and delay error belong to that trial alone.  Medians and spread
(min, max) of every figure go into the results; the last trial of each engine keeps
its request timeline for the figures.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from concur.bench import references
from concur.bench.scenarios import Scenario, Sweep, scenarios
from concur.engines import ENGINES, available_engines
from concur.experiment import book_urls, drawn_ideal_s
from concur.lifetime import tied
from concur.records import CrawlConfig
from concur.report import ideal_seconds

SCHEMA = "concur-bench/1"
MEDIAN_KEYS = (
    "wall_s",
    "req_per_s",
    "efficiency",
    "cpu_s",
    "cpu_us_per_request",
    "peak_rss_mb",
    "peak_in_flight",
    "ok",
    "failed",
    "attempts",
)
Log = Callable[[str], None]


def machine_info() -> dict[str, Any]:
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = []
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def library_versions() -> dict[str, str]:
    out = {}
    for dist in (
        "concur",
        "aiohttp",
        "uvloop",
        "httptools",
        "httpx",
        "httpcore",
        "tornado",
        "gevent",
        "requests",
        "urllib3",
        "pycurl",
        "scrapy",
        "matplotlib",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _trial(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one trial in a fresh interpreter and return its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "concur.bench.trial"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        **tied(),
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"trial exited {proc.returncode}: {tail}"}
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer


def _median_of(trials: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    median: dict[str, Any] = {}
    spread: dict[str, Any] = {}
    for key in MEDIAN_KEYS:
        values = [t[key] for t in trials if t.get(key) is not None]
        if values:
            median[key] = statistics.median(values)
            spread[key] = [min(values), max(values)]
    for q in ("p50", "p95", "p99"):
        values = [t["latency_ms"][q] for t in trials]
        median.setdefault("latency_ms", {})[q] = statistics.median(values)
        spread.setdefault("latency_ms", {})[q] = [min(values), max(values)]
    return median, spread


def _spec(
    engine: str, sc: Scenario, base: str, n: int, keep: bool, ca_file: str | None = None
) -> dict[str, Any]:
    config = CrawlConfig(
        concurrency=sc.concurrency, timeout=sc.timeout, retries=sc.retries, ca_file=ca_file
    )
    return {
        "engine": engine,
        "urls": {
            "base": base,
            "n": n,
            "name": engine,
            "delay_ms": sc.delay_ms,
            "latency": sc.latency,
            "extra": sc.extra_query(),
        },
        "config": config.to_dict(),
        "timeline": keep,
        "latencies": keep,
    }


def run_scenario(
    sc: Scenario,
    engines: Sequence[str],
    repeats: int,
    warmup: bool,
    log: Log,
    server: Any,
    progress: Log | None = None,
) -> dict[str, Any]:
    """Every engine on one scenario against a running server; returns its results block.

    ``log`` gets a line per engine; ``progress`` (a live status line) one per trial.
    """
    progress = progress or (lambda line: None)
    out: dict[str, Any] = {"kind": "scenario", "params": sc.to_dict(), "why": sc.why, "results": {}}
    ideal = scenario_ideal(sc, server.url)
    out["params"]["ideal_s"] = ideal
    for engine in engines:
        n = sc.n
        if engine == "serial" and sc.serial_n:
            n = min(sc.n, sc.serial_n)
        limit = max(120.0, 20 * (sc.ideal_s or 1.0) * (sc.n / n))
        if warmup:
            progress(f"  {engine:<10} warm-up ({min(n, 200)} requests)")
            server.reset()
            _trial(_spec(engine, sc, server.url, min(n, 200), False, server.ca_file), limit)
        trials: list[dict[str, Any]] = []
        last: dict[str, Any] = {}
        error = ""
        for i in range(repeats):
            progress(f"  {engine:<10} trial {i + 1}/{repeats} ({n:,} requests)")
            server.reset()
            spec = _spec(engine, sc, server.url, n, i == repeats - 1, server.ca_file)
            answer = _trial(spec, limit)
            if "error" in answer:
                error = answer["error"]
                break
            summary = answer["summary"]
            stats = server.stats()
            summary["peak_in_flight"] = stats["peak_in_flight"]
            summary["server_delay_error_ms"] = stats["delay_error_ms"]
            if n != sc.n:  # serial: a reduced run, scaled to the scenario's size
                summary["scaled_from"] = n
                summary["wall_s"] = summary["wall_s"] * sc.n / n
                summary["cpu_s"] = summary["cpu_s"] * sc.n / n
            summary["ideal_s"] = ideal
            summary["efficiency"] = (
                ideal / summary["wall_s"] if ideal and summary["wall_s"] else None
            )
            trials.append(summary)
            last = answer
        if error:
            log(f"  {engine:<10} error: {error}")
            out["results"][engine] = {"error": error}
            continue
        median, spread = _median_of(trials)
        out["results"][engine] = {
            "trials": trials,
            "median": median,
            "spread": spread,
            "n": n,
            "timeline": last.get("timeline", []),
            "timeline_step": last.get("timeline_step", 1),
            "latencies_ms": last.get("latencies_ms", []),
        }
        eff = median.get("efficiency")
        eff_text = f"  efficiency {eff:.1%}" if eff is not None else ""
        log(
            f"  {engine:<10} wall {median['wall_s']:.3f} s  {median['req_per_s']:,.0f} req/s  "
            f"{median['cpu_us_per_request']:,.0f} µs CPU/req{eff_text}"
        )
    return out


def scenario_ideal(sc: Scenario, base: str, seed: int = 0) -> float | None:
    """Little's law for a fixed delay; for drawn latencies, the exact ideal of the very
    delays the server (seeded with ``seed``) will give these URLs.  None with faults:
    retries and Retry-After waits have no ideal to speak of."""
    if sc.faults:
        return None
    if sc.latency:
        urls = book_urls(base, sc.n, "ideal", latency=sc.latency)
        return drawn_ideal_s(urls, sc.concurrency, seed)
    return sc.ideal_s


def run_sweep(
    sw: Sweep,
    engines: Sequence[str],
    log: Log,
    server: Any,
    progress: Log | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """``repeats`` trials per engine per (delay, concurrency) point: the book's sweep, extended.

    Each point keeps the median of every figure and its ``spread`` (min, max).
    """
    progress = progress or (lambda line: None)
    keys = ("wall_s", "req_per_s", "cpu_us_per_request", "failed")
    points = []
    for sc in sw.points():
        point: dict[str, Any] = {
            "delay_ms": sc.delay_ms,
            "concurrency": sc.concurrency,
            "n": sc.n,
            "ideal_s": ideal_seconds(sc.n, sc.concurrency, (sc.delay_ms or 0) / 1e3),
            "results": {},
        }
        for engine in engines:
            if engine in sw.skip:
                continue
            runs: list[dict[str, Any]] = []
            for i in range(repeats):
                progress(f"  {sc.delay_ms:g} ms  c={sc.concurrency:<5} {engine} {i + 1}/{repeats}")
                server.reset()
                answer = _trial(_spec(engine, sc, server.url, sc.n, False), 120.0 + sc.n)
                if "error" in answer:
                    break
                runs.append(answer["summary"] | {"peak": server.stats()["peak_in_flight"]})
            if "error" in answer:
                point["results"][engine] = {"error": answer["error"]}
                continue
            point["results"][engine] = {k: statistics.median(r[k] for r in runs) for k in keys} | {
                "peak_in_flight": max(r["peak"] for r in runs),
                "trials": len(runs),
                "spread": {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys},
            }
        points.append(point)
        best = max((r.get("req_per_s", 0) for r in point["results"].values()), default=0)
        log(f"  {sc.delay_ms:g} ms  c={sc.concurrency:<5} best {best:,.0f} req/s")
    params = {
        "repeats": repeats,
        "concurrencies": list(sw.concurrencies),
        "delays_ms": list(sw.delays_ms),
        "waves": sw.waves,
        "skipped": list(sw.skip),
    }
    return {"kind": "sweep", "params": params, "title": sw.title, "why": sw.why, "points": points}


def sweep(
    concurrencies: Sequence[int],
    delays_ms: Sequence[float] = (100.0,),
    engines: Sequence[str] | None = None,
    *,
    waves: int = 3,
    min_n: int = 20,
    repeats: int = 1,
    log: Log = lambda line: None,
) -> dict[str, Any]:
    """One concurrency sweep of your own, from Python (a notebook), on a server of its own.

    Every (delay, concurrency) point fetches ``max(min_n, waves × concurrency)`` URLs
    with each engine (all installed ones by default; serial is left out, its concurrency
    is always one), ``repeats`` trials each, every trial in a fresh interpreter, as
    ``concur bench sweep`` does.  Returns the block that command saves under
    ``scenarios.sweep``: ``points``, each with its ``ideal_s`` and per-engine medians
    (``wall_s``, ``req_per_s``, ``cpu_us_per_request``, ``failed``, ``peak_in_flight``).
    """
    from mockserver.testing import serve

    chosen = list(engines) if engines else available_engines()
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s): {', '.join(unknown)}")
    book = scenarios(False)["sweep"]
    sw = Sweep(
        "sweep", book.title, tuple(concurrencies), tuple(delays_ms), waves, min_n, why=book.why
    )
    with serve(mode="subprocess", seed=0, max_delay_ms=600_000.0) as server:
        return run_sweep(sw, chosen, log, server, repeats=repeats)


def run_bench(
    names: Sequence[str],
    engines: Sequence[str] | None = None,
    *,
    quick: bool = False,
    repeats: int = 3,
    warmup: bool = True,
    with_references: bool = True,
    log: Log = lambda line: None,
    progress: Log | None = None,
) -> dict[str, Any]:
    """Run the named scenarios on the engines (all installed ones by default).

    ``log`` receives the lines worth keeping, ``progress`` what is running now.
    """
    from mockserver.testing import serve

    table = scenarios(quick)
    chosen = list(engines) if engines else available_engines()
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s): {', '.join(unknown)}")
    started = time.time()
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "repeats": repeats,
        "warmup": warmup,
        "machine": machine_info(),
        "versions": library_versions(),
        "engines": chosen,
        "scenarios": {},
    }
    for name in names:
        item = table[name]
        log(f"{name}: {item.title}")
        tls = isinstance(item, Scenario) and item.tls
        with serve(mode="subprocess", seed=0, max_delay_ms=600_000.0, tls=tls) as server:
            if isinstance(item, Sweep):
                block = run_sweep(item, chosen, log, server, progress, repeats)
            else:
                block = run_scenario(item, chosen, repeats, warmup, log, server, progress)
                # --quick keeps its minute by measuring wrk and Scrapy on the book only
                if with_references and (not quick or name == "book"):
                    ideal = block["params"]["ideal_s"]
                    block["references"] = references.measure(
                        item, server, quick, log, ideal, repeats
                    )
                else:  # why not, as data: the report says it
                    block["references"] = references.skipped(
                        "--quick measures wrk and Scrapy on the book scenario only"
                        if with_references
                        else "turned off (--no-references)"
                    )
            results["scenarios"][name] = block
    results["duration_s"] = round(time.time() - started, 1)
    return results


def quick_defaults(repeats: int | None, warmup: bool | None, quick: bool) -> tuple[int, bool]:
    """``--quick`` means one trial and no warm-up unless told otherwise."""
    return (
        repeats if repeats is not None else (1 if quick else 3),
        warmup if warmup is not None else not quick,
    )
