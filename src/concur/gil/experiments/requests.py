"""Experiment 7, requests under CPU load: crawl timelines with and without a CPU-bound neighbour.

The same crawl of the mock server (N requests that each wait on the server, C at a
time) runs with the threads, asyncio and gevent engines, first alone, then beside
one pure-Python thread spinning in the *same process*.  Each engine runs in a fresh
interpreter.  threads and asyncio are called through ``concur.engines.get_engine``;
the gevent engine crawls in a child process of its own (so its patching cannot leak),
where a neighbour in our process could not reach its GIL, so here the lab patches its
own fresh interpreter and calls that engine's in-process ``crawl`` there.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats
from concur.gil.experiments import Check, near, switch_interval

if TYPE_CHECKING:
    from concur.gil.lab import Lab

ENGINES = ("threads", "asyncio", "gevent")

EXPLAIN = (
    "What you should see, and why: alone, every engine finishes close to the ideal "
    "ceil(N/C) x delay, its timeline a neat staircase of C requests at a time.  With a "
    "CPU-bound thread in the process, every answer that arrives must wait for the GIL "
    "before the client can read it and send the next request, up to a switch interval "
    "each time: the staircase stretches and the requests themselves look slower, although "
    "the server answered just as fast.  It hits every model, threads, asyncio and gevent "
    "alike: an event loop is one thread that needs the GIL too."
)


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    engines = result.get("engines") or {}
    if result.get("skipped") or not engines:
        return []
    ideal = result["params"]["ideal_s"]
    step = 0.2 * switch_interval(result)
    alone = {e: c["alone"]["wall_s"]["median"] / ideal for e, c in engines.items()}
    longer = {
        e: c["neighbour"]["wall_s"]["median"] / c["alone"]["wall_s"]["median"]
        for e, c in engines.items()
    }
    p50 = {
        e: (c["alone"]["request_p50"], c["neighbour"]["request_p50"]) for e, c in engines.items()
    }
    return [
        Check(
            f"alone, every engine finishes close to the ideal {ideal:.2f} s (within 1.5x)",
            ", ".join(f"{e} {near(v, 1.5)}x" for e, v in alone.items()),
            all(v <= 1.5 for v in alone.values()),
        ),
        Check(
            "beside a CPU thread, every engine's crawl stretches (at least 10 % longer)",
            ", ".join(f"{e} {near(v, 1.1)}x" for e, v in longer.items()),
            all(v >= 1.1 for v in longer.values()),
        ),
        Check(
            "beside a CPU thread, every engine's requests look slower (median up by over "
            f"{step * 1e3:g} ms)",
            ", ".join(f"{e} {a * 1e3:.0f} -> {b * 1e3:.0f} ms" for e, (a, b) in p50.items()),
            all(b - a > step for a, b in p50.values()),
        ),
    ]


# --- the child's side -----------------------------------------------------------------


def _start_thread(fn: Any) -> None:
    """Start a real OS thread, even in a gevent-patched process."""
    import _thread

    start = _thread.start_new_thread
    try:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            start = monkey.get_original("_thread", "start_new_thread")
    except ImportError:
        pass
    start(fn, ())


class _Neighbour:
    """One pure-Python thread spinning until stopped (plain flags: nothing gevent patches)."""

    def __init__(self) -> None:
        self.stop = False
        self.done = False
        self.loops = 0

    def spin(self) -> None:
        while not self.stop:
            for _ in range(1000):
                pass
            self.loops += 1
        self.done = True

    def __enter__(self) -> _Neighbour:
        _start_thread(self.spin)
        while self.loops == 0:
            time.sleep(0.0005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        while not self.done:
            time.sleep(0.001)


def _crawler(engine: str) -> Any:
    """A function ``urls, config -> (wall_s, ok, spans)`` for ``engine``, or a reason string."""
    from concur.records import CrawlConfig  # noqa: F401  (imported for the engines)

    if engine == "gevent":
        try:
            from concur.engines import gevent_engine
        except ImportError as exc:
            return f"gevent engine unavailable here: {exc}"

        def run_gevent(urls: list[str], config: Any) -> tuple[float, int, list[list[float]]]:
            # the blocking driver on greenlets, in this process (patched by the experiment)
            result = gevent_engine.run_here("gevent", ("list", urls), config)
            return result.wall_s, result.ok, [[r.start, r.end] for r in result.records]

        return run_gevent
    from concur.engines import get_engine
    from concur.errors import EngineUnavailable

    try:
        runner = get_engine(engine)
    except (EngineUnavailable, ImportError, KeyError) as exc:
        return f"{exc}"

    def run_engine(urls: list[str], config: Any) -> tuple[float, int, list[list[float]]]:
        result = runner(urls, config)
        return result.wall_s, result.ok, [[r.start, r.end] for r in result.records]

    return run_engine


def crawl_cells(job: dict[str, Any]) -> dict[str, Any]:
    """(In a fresh child.)  Crawl alone and beside a neighbour, ``repeats`` times each."""
    from concur.records import CrawlConfig

    crawl = _crawler(job["engine"])
    if isinstance(crawl, str):
        return {"unavailable": crawl}
    config = CrawlConfig(concurrency=job["concurrency"], timeout=60)
    urls = job["urls"]
    crawl(urls[: job["concurrency"]], config)  # warm up: imports, first connections
    out: dict[str, list[dict[str, Any]]] = {"alone": [], "neighbour": []}
    for _ in range(job["repeats"]):
        wall, ok, spans = crawl(urls, config)
        out["alone"].append({"wall_s": wall, "ok": ok, "spans": spans})
        with _Neighbour():
            wall, ok, spans = crawl(urls, config)
        out["neighbour"].append({"wall_s": wall, "ok": ok, "spans": spans})
    return {"cells": out}


# --- the lab's side -------------------------------------------------------------------


def _cell(got: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [g["wall_s"] for g in got]
    shown = sorted(got, key=lambda g: g["wall_s"])[len(got) // 2]
    per_request = [[e - s for s, e in g["spans"]] for g in got]
    return {
        "wall_s": stats.spread(walls),
        "ok": min(g["ok"] for g in got),
        "request_p50": stats.percentile([stats.percentile(r, 50) for r in per_request], 50),
        "request_p99": stats.percentile([stats.percentile(r, 99) for r in per_request], 50),
        "spans": [[round(s, 5), round(e, 5)] for s, e in shown["spans"]],
    }


def run(lab: Lab) -> dict[str, Any]:
    from concur.experiment import book_urls
    from concur.gil.lab import run_child

    p = {
        "requests": lab.pick(60, 200),
        "delay_ms": lab.pick(20, 50),
        "concurrency": lab.pick(10, 20),
        "repeats": lab.pick(1, 3),
    }
    p["ideal_s"] = math.ceil(p["requests"] / p["concurrency"]) * p["delay_ms"] / 1e3
    base = lab.server_url()
    engines: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for engine in ENGINES:
        urls = book_urls(base, p["requests"], f"gil-{engine}", delay_ms=p["delay_ms"])
        job = {
            "kind": "crawl",
            "engine": engine,
            "urls": urls,
            "concurrency": p["concurrency"],
            "repeats": p["repeats"],
        }
        try:
            got = run_child(job, timeout=300)
        except RuntimeError as exc:
            got = {"unavailable": str(exc)}
        if "unavailable" in got:
            unavailable[engine] = got["unavailable"]
            continue
        engines[engine] = {k: _cell(v) for k, v in got["cells"].items()}
    return {"params": p, "engines": engines, "unavailable": unavailable, "skipped": False}


def summary(result: dict[str, Any]) -> list[str]:
    p = result["params"]
    lines = [
        f"{p['requests']} requests x {p['delay_ms']} ms, {p['concurrency']} at a time "
        f"(ideal {p['ideal_s']:.2f} s)",
        f"{'engine':<10}{'alone':>9}{'+ CPU thread':>14}{'slower':>8}"
        f"{'req p50 alone':>15}{'with CPU':>10}",
    ]
    for engine, cells in result["engines"].items():
        a, n = cells["alone"], cells["neighbour"]
        lines.append(
            f"{engine:<10}{a['wall_s']['median']:>8.2f}s{n['wall_s']['median']:>13.2f}s"
            f"{n['wall_s']['median'] / a['wall_s']['median']:>7.1f}x"
            f"{a['request_p50'] * 1e3:>12.1f} ms{n['request_p50'] * 1e3:>7.1f} ms"
        )
    for engine, why in result["unavailable"].items():
        lines.append(f"{engine}: skipped ({why})")
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.request_timelines(result, out_dir / "requests.png")]
