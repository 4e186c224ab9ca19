"""Experiment 1, the speedup matrix: three workloads x five concurrency models.

The same batch of equal tasks runs serially, then in a thread pool, a process pool,
asyncio tasks and gevent greenlets (10 workers each); the speed-up is serial time over
the model's time, measured side by side in each repeat.  Process pools are started
before the clock starts; gevent runs in a fresh interpreter (its monkey-patching must
not leak).  In asyncio and gevent, CPU work runs inline: nothing overlaps it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats, workloads
from concur.gil.experiments import Check, near, usable_cpus

if TYPE_CHECKING:
    from concur.gil.lab import Lab

WORKLOADS = {"pure": "pure-Python CPU", "releasing": "GIL-releasing CPU", "io": "I/O (HTTP)"}
MODELS = ("serial", "threads", "processes", "asyncio", "gevent")

EXPLAIN = (
    "What you should see, and why: pure-Python CPU gains nothing from threads (about 1x): "
    "the GIL lets one thread run bytecode at a time, so they only take turns.  Processes "
    "each have their own GIL and run on several cores at once, approaching the number of "
    "idle cores (they need idle cores: on a busy machine they gain less).  hashlib releases "
    "the GIL while it hashes, so threads run on several cores too, like processes.  I/O "
    "waits with the GIL released, so every model that can wait for many things at once "
    "(threads, processes, asyncio, gevent) is several times faster than serial, approaching "
    "the number of workers; asyncio and gevent never run CPU work in parallel, which is why "
    "they stay at 1x on both CPU rows."
)


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    models = result["models"]
    workers = result["params"]["workers"]
    cores = min(usable_cpus(result), workers)

    def x(workload: str, model: str) -> float:
        return float(result["speedup"][workload][model]["median"])

    threads, processes = x("pure", "threads"), x("pure", "processes")
    checks = [
        Check(
            "pure-Python CPU: threads gain nothing (under 1.3x)",
            f"threads {near(threads, 1.3)}x",
            threads < 1.3,
        )
    ]
    if cores >= 2:
        checks.append(
            Check(
                f"pure-Python CPU: processes run on several cores at once (over 1.3x, toward "
                f"the {cores} usable cores)",
                f"processes {near(processes, 1.3)}x",
                processes > 1.3,
            )
        )
    else:
        checks.append(
            Check(
                "pure-Python CPU: with one usable CPU, processes cannot run side by side "
                "either (under 1.3x)",
                f"processes {near(processes, 1.3)}x",
                processes < 1.3,
            )
        )
    t, p = x("releasing", "threads"), x("releasing", "processes")
    checks.append(
        Check(
            "GIL-releasing CPU: threads keep up with processes (at least 3/4 of their speed-up"
            + (", and over 1.3x)" if cores >= 2 else ")"),
            f"threads {near(t, 1.3)}x, processes {p:.2f}x",
            t >= 0.75 * p and (t > 1.3 or cores < 2),
        )
    )
    floor = max(2.0, workers / 3)
    io = {m: x("io", m) for m in models if m != "serial"}
    checks.append(
        Check(
            f"I/O: every model overlaps its waits (over {floor:.1f}x, toward the {workers} "
            "workers)",
            ", ".join(f"{m} {v:.1f}x" for m, v in io.items()),
            all(v > floor for v in io.values()),
        )
    )
    inline = {m: (x("pure", m), x("releasing", m)) for m in ("asyncio", "gevent") if m in models}
    checks.append(
        Check(
            "asyncio and gevent never run CPU work in parallel (both CPU rows under 1.3x)",
            ", ".join(f"{m} {near(a, 1.3)}x and {near(b, 1.3)}x" for m, (a, b) in inline.items()),
            all(max(pair) < 1.3 for pair in inline.values()),
        )
    )
    return checks


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "count": workloads.count,
    "sha_work": workloads.sha_work,
    "http_get": workloads.http_get,
}


def _tasks(lab: Lab, p: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    n_pure = lab.size("count", workloads.count, p["cpu_ms"] / 1e3)
    n_sha = lab.size("sha_work", workloads.sha_work, p["cpu_ms"] / 1e3)
    base = lab.server_url()
    urls = [f"{base}/add?name=gil-speedup&delay={p['io_ms']}&id={i}" for i in range(p["io_tasks"])]
    return {
        "pure": ("count", [n_pure] * p["cpu_tasks"]),
        "releasing": ("sha_work", [n_sha] * p["cpu_tasks"]),
        "io": ("http_get", urls),
    }


def _serial(fn: Callable[[Any], Any], args: list[Any]) -> float:
    t = time.perf_counter()
    for a in args:
        fn(a)
    return time.perf_counter() - t


def _threads(fn: Callable[[Any], Any], args: list[Any], workers: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(fn, args))
    return time.perf_counter() - t


def _asyncio(fn_name: str, args: list[Any], workers: int) -> float:
    fn = _FUNCTIONS[fn_name]

    async def main() -> float:
        sem = asyncio.Semaphore(workers)

        async def one(a: Any) -> Any:
            async with sem:
                if fn_name == "http_get":
                    return await workloads.aio_get(a)
                return fn(a)  # CPU work runs inline: the loop cannot overlap it

        t = time.perf_counter()
        await asyncio.gather(*(one(a) for a in args))
        return time.perf_counter() - t

    return asyncio.run(main())


def gevent_cells(job: dict[str, Any]) -> dict[str, Any]:
    """(In a monkey-patched child.)  Time each workload serially and in a gevent pool.

    The serial run is repeated here, side by side, so that gevent's speed-up does not
    compare two moments of a noisy machine.
    """
    import gevent.pool

    out: dict[str, list[float]] = {}
    serial: dict[str, list[float]] = {}
    for _ in range(job["repeats"]):
        for key, (fn_name, args) in job["tasks"].items():
            fn = _FUNCTIONS[fn_name]
            serial.setdefault(key, []).append(_serial(fn, args))
            pool = gevent.pool.Pool(job["workers"])
            t = time.perf_counter()
            pool.map(fn, args)
            out.setdefault(key, []).append(time.perf_counter() - t)
    return {"seconds": out, "serial": serial}


def run(lab: Lab) -> dict[str, Any]:
    from concur.gil.lab import run_child

    p = {
        "cpu_tasks": lab.pick(10, 20),
        "io_tasks": lab.pick(20, 40),
        "workers": 10,
        "cpu_ms": lab.pick(10, 25),
        "io_ms": lab.pick(8, 50),
        "repeats": lab.pick(3, 5),
    }
    tasks = _tasks(lab, p)
    workers = p["workers"]
    pool = lab.pool(workers)
    times: dict[str, dict[str, list[float]]] = {w: {m: [] for m in MODELS} for w in WORKLOADS}
    skipped: dict[str, str] = {}
    for _ in range(p["repeats"]):
        for key, (fn_name, args) in tasks.items():
            fn = _FUNCTIONS[fn_name]
            row = times[key]
            row["serial"].append(_serial(fn, args))
            row["threads"].append(_threads(fn, args, workers))
            t = time.perf_counter()
            list(pool.map(fn, args))
            row["processes"].append(time.perf_counter() - t)
            row["asyncio"].append(_asyncio(fn_name, args, workers))
    try:
        job = {
            "kind": "gevent_speedup",
            "tasks": tasks,
            "workers": workers,
            "repeats": p["repeats"],
        }
        got = run_child(job, python=None, timeout=300)
    except RuntimeError as exc:
        got = {"unavailable": str(exc)}
    serial = {w: {m: times[w]["serial"] for m in MODELS} for w in WORKLOADS}
    if "unavailable" in got:
        skipped["gevent"] = got["unavailable"]
    else:
        for key, values in got["seconds"].items():
            times[key]["gevent"] = values
            serial[key]["gevent"] = got["serial"][key]
    models = [m for m in MODELS if m not in skipped]
    seconds = {w: {m: stats.spread(times[w][m]) for m in models} for w in WORKLOADS}
    speedup = {
        w: {
            m: stats.spread([s / t for s, t in zip(serial[w][m], times[w][m], strict=True)])
            for m in models
        }
        for w in WORKLOADS
    }
    return {
        "params": p,
        "workloads": WORKLOADS,
        "models": models,
        "seconds": seconds,
        "speedup": speedup,
        "skipped": False,
        "unavailable": skipped,
    }


def summary(result: dict[str, Any]) -> list[str]:
    models = result["models"]
    lines = [f"{'speed-up over serial':<22}" + "".join(f"{m:>11}" for m in models)]
    for key, label in result["workloads"].items():
        row = result["speedup"][key]
        lines.append(f"{label:<22}" + "".join(f"{row[m]['median']:>10.2f}x" for m in models))
    serial = ", ".join(
        f"{result['workloads'][k]} {result['seconds'][k]['serial']['median'] * 1e3:.0f} ms"
        for k in result["workloads"]
    )
    lines.append(f"serial times: {serial}")
    for model, why in result["unavailable"].items():
        lines.append(f"{model}: skipped ({why})")
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.speedup_heatmap(result, out_dir / "speedup.png")]
