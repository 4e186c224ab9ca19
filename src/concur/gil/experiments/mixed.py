"""Experiment 6, the book's mixed workload revisited: bcrypt, then an HTTP save.

Each task hashes a random 10-letter password with bcrypt and saves the hash with a
POST to the mock server, which waits (100 ms in the full run) and answers JSON.  The
book's variants — no I/O, serial, batched (aiohttp), full async, async on uvloop — give
its "times slower than doing no I/O" figure.  Then what the book never tried: tasks in
a thread pool (bcrypt releases the GIL, so two cores hash at once while the saves
wait), and the same with a pure-Python hash of the same cost, which never releases it.
The threaded variants are a pipeline: one hashing thread per core hands each hash to a
pool of I/O threads that save it, as the async variant hands it to a task.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import machine, stats, workloads
from concur.gil.experiments import Check, near, usable_cpus

if TYPE_CHECKING:
    from concur.gil.lab import Lab

VARIANTS = {
    "no_io": "no I/O",
    "serial": "serial",
    "batched": "batched (aiohttp)",
    "async": "async (aiohttp)",
    "uvloop": "async on uvloop",
    "threads": "threads, bcrypt",
    "py_no_io": "no I/O, pure-Python hash",
    "py_threads": "threads, pure-Python hash",
}
BASELINE = {"py_threads": "py_no_io", "py_no_io": "py_no_io"}  # the rest compare with no_io

EXPLAIN = (
    "What you should see, and why: serial pays every save in full, several times slower than "
    "no I/O.  Full async overlaps the saves with the hashing and hides most of their wait; "
    "batching overlaps them only within a batch and lands between the two.  When each hash "
    "takes 10 ms or more (the full run's cost 8), full async lands close to 1x (the book's "
    "1.04x; with fewer tasks than the book, the last save's wait shows more), and uvloop "
    "makes little difference: the time is bcrypt's, not the loop's.  With shorter hashes "
    "(--quick) the client's own cost per request shows next to them, and a faster loop can "
    "matter.  Threads do what the book's variants cannot: bcrypt releases the GIL, so with "
    "two idle cores two threads hash at once while other threads wait for their saves — "
    "under 1x the no-I/O time.  A pure-Python hash of the same cost holds the GIL, and "
    "threads are back to about 1x of its own no-I/O time."
)

LONG_HASH_MS = 10.0  # hashes this long dwarf the client's own cost per request


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    slower = {k: float(v["median"]) for k, v in result["times_slower"].items()}
    serial, full, batched = slower["serial"], slower["async"], slower["batched"]
    checks = [
        Check(
            "serial pays every save in full (over 2x no I/O)",
            f"serial {near(serial, 2)}x",
            serial > 2,
        ),
        Check(
            "full async hides most of the saves' wait (its time over no I/O under half of "
            "serial's)",
            f"async {full:.2f}x, serial {serial:.2f}x",
            full - 1 < (serial - 1) / 2,
        ),
        Check(
            "batching lands between full async and serial",
            f"batched {batched:.2f}x (async {full:.2f}x, serial {serial:.2f}x)",
            0.9 * full <= batched <= serial,
        ),
    ]
    hash_ms = float(result["bcrypt_ms"])
    if hash_ms >= LONG_HASH_MS:
        checks.append(
            Check(
                f"with {hash_ms:.1f} ms hashes, full async lands close to 1x (under 1.5x)",
                f"async {near(full, 1.5)}x",
                full < 1.5,
            )
        )
        if "uvloop" in slower:
            uv = slower["uvloop"]
            checks.append(
                Check(
                    f"with {hash_ms:.1f} ms hashes, uvloop makes little difference (within "
                    "20 % of asyncio's loop)",
                    f"uvloop {uv:.2f}x against asyncio {full:.2f}x",
                    0.8 <= uv / full <= 1.25,
                )
            )
    threads = slower["threads"]
    if usable_cpus(result) >= 2:
        checks.append(
            Check(
                "threads with bcrypt beat doing no I/O at all, two cores hashing (under 0.9x)",
                f"threads {near(threads, 0.9)}x",
                threads < 0.9,
            )
        )
    else:
        checks.append(
            Check(
                "with one usable CPU, threads with bcrypt can only overlap the saves: about "
                "1x (under 1.3x)",
                f"threads {near(threads, 1.3)}x",
                threads < 1.3,
            )
        )
    if "py_threads" in slower:
        py = slower["py_threads"]
        checks.append(
            Check(
                "threads with a pure-Python hash are back to about 1x of its own no-I/O time "
                "(0.8-1.5x)",
                f"{near(py, 0.8, 1.5)}x",
                0.8 <= py <= 1.5,
            )
        )
    return checks


Task = Callable[[int], bytes]


def _passwords(n: int) -> list[bytes]:
    rng = random.Random(8)
    return [("".join(rng.choices(string.ascii_lowercase, k=10))).encode() for _ in range(n)]


def _save_target(p: dict[str, Any], i: int) -> str:
    return f"/echo?name=gil-mixed&delay={p['delay_ms']}&id={i}"


def _body(digest: bytes) -> bytes:
    return json.dumps({"hash": digest.hex()}).encode()


class _Calls:
    """Per task: when its hash and its save started and ended (seconds since the run began)."""

    def __init__(self, n: int) -> None:
        self.t0 = time.perf_counter()
        self.rows = [[0.0, 0.0, 0.0, 0.0] for _ in range(n)]

    def mark(self, i: int, col: int) -> None:
        self.rows[i][col] = time.perf_counter() - self.t0


def _no_io(hash_fn: Task, n: int) -> None:
    for i in range(n):
        hash_fn(i)


def _serial(hash_fn: Task, n: int, p: dict[str, Any], base: str) -> None:
    saver = workloads.Saver(base)
    try:
        for i in range(n):
            saver.post(_save_target(p, i), _body(hash_fn(i)))
    finally:
        saver.close()


async def _aio_save(session: Any, base: str, target: str, body: bytes) -> None:
    async with session.post(base + target, data=body) as resp:
        await resp.read()


def _batched(hash_fn: Task, n: int, p: dict[str, Any], base: str) -> None:
    import aiohttp

    async def send(batch: list[tuple[int, bytes]]) -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(_aio_save(session, base, _save_target(p, i), b) for i, b in batch)
            )

    with asyncio.Runner() as runner:
        batch: list[tuple[int, bytes]] = []
        for i in range(n):
            batch.append((i, _body(hash_fn(i))))
            if len(batch) >= p["batch"]:
                runner.run(send(batch))
                batch = []
        if batch:
            runner.run(send(batch))


def _full_async(
    hash_fn: Task,
    n: int,
    p: dict[str, Any],
    base: str,
    loop_factory: Any = None,
    calls: _Calls | None = None,
) -> None:
    import aiohttp

    async def save(session: Any, i: int, body: bytes) -> None:
        if calls:
            calls.mark(i, 2)
        await _aio_save(session, base, _save_target(p, i), body)
        if calls:
            calls.mark(i, 3)

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            tasks = []
            for i in range(n):
                if calls:
                    calls.mark(i, 0)
                digest = hash_fn(i)  # in the loop, as the book does
                if calls:
                    calls.mark(i, 1)
                tasks.append(asyncio.create_task(save(session, i, _body(digest))))
                await asyncio.sleep(0)
            await asyncio.gather(*tasks)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def _threads(
    hash_fn: Task, n: int, p: dict[str, Any], base: str, calls: _Calls | None = None
) -> None:
    """Hash in one thread per core; hand each save to a pool of I/O threads (a pipeline)."""
    saver = workloads.Saver(base)

    def save(i: int, digest: bytes) -> None:
        if calls:
            calls.mark(i, 2)
        saver.post(_save_target(p, i), _body(digest))
        if calls:
            calls.mark(i, 3)

    try:
        with ThreadPoolExecutor(p["threads"]) as io_pool:

            def hash_then_save(i: int) -> None:
                if calls:
                    calls.mark(i, 0)
                digest = hash_fn(i)
                if calls:
                    calls.mark(i, 1)
                io_pool.submit(save, i, digest)

            with ThreadPoolExecutor(p["hashers"]) as cpu_pool:
                list(cpu_pool.map(hash_then_save, range(n)))
    finally:
        saver.close()


def _uvloop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(lab: Lab) -> dict[str, Any]:
    p = {
        "tasks": lab.pick(24, 60),
        "cost": lab.pick(6, 8),
        "delay_ms": lab.pick(10, 100),
        "batch": lab.pick(10, 15),
        "threads": lab.pick(10, 20),
        "hashers": machine.usable_cpus(),
        "repeats": lab.pick(2, 3),
    }
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return {
            "params": p,
            "skipped": True,
            "reason": "bcrypt is not installed: pip install 'concur[gil]'",
        }
    base = lab.server_url()
    n = p["tasks"]
    pws = _passwords(n)
    cost = p["cost"]

    def bcrypt_task(i: int) -> bytes:
        return workloads.bcrypt_hash(pws[i], cost)

    t = time.perf_counter()
    for pw in pws[:3]:
        workloads.bcrypt_hash(pw, cost)
    bcrypt_s = (time.perf_counter() - t) / 3
    rounds = lab.size(f"py_hash:{cost}", lambda r: workloads.py_hash(pws[0], r), bcrypt_s)
    p["py_hash_rounds"] = rounds

    def py_task(i: int) -> bytes:
        return workloads.py_hash(pws[i], rounds).to_bytes(8, "big")

    uv = _uvloop_factory()
    runners: dict[str, Callable[[_Calls], None]] = {
        "no_io": lambda c: _no_io(bcrypt_task, n),
        "serial": lambda c: _serial(bcrypt_task, n, p, base),
        "batched": lambda c: _batched(bcrypt_task, n, p, base),
        "async": lambda c: _full_async(bcrypt_task, n, p, base, calls=c),
        "uvloop": lambda c: _full_async(bcrypt_task, n, p, base, loop_factory=uv),
        "threads": lambda c: _threads(bcrypt_task, n, p, base, calls=c),
        "py_no_io": lambda c: _no_io(py_task, n),
        "py_threads": lambda c: _threads(py_task, n, p, base),
    }
    unavailable = {} if uv is not None else {"uvloop": "uvloop is not installed"}
    times: dict[str, list[float]] = {k: [] for k in runners if k not in unavailable}
    graphs: dict[str, list[tuple[float, list[list[float]]]]] = {"async": [], "threads": []}
    for _ in range(p["repeats"]):
        for key in times:
            c = _Calls(n)  # the call graph is recorded in every repeat (a few clock reads)
            runners[key](c)
            took = time.perf_counter() - c.t0
            times[key].append(took)
            if key in graphs:
                graphs[key].append((took, c.rows))
    calls = {}
    for key, runs in graphs.items():
        _, rows = sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # the median repeat's
        calls[key] = [[round(x, 5) for x in row] for row in rows]
    slower = {
        key: stats.spread(
            [a / b for a, b in zip(vals, times[BASELINE.get(key, "no_io")], strict=True)]
        )
        for key, vals in times.items()
    }
    return {
        "params": p,
        "variants": {k: v for k, v in VARIANTS.items() if k in times},
        "bcrypt_ms": bcrypt_s * 1e3,
        "seconds": {k: stats.spread(v) for k, v in times.items()},
        "times_slower": slower,
        "calls": calls,
        "unavailable": unavailable,
        "skipped": False,
    }


def summary(result: dict[str, Any]) -> list[str]:
    if result.get("skipped"):
        return [f"skipped: {result['reason']}"]
    p = result["params"]
    lines = [
        f"{p['tasks']} tasks: bcrypt cost {p['cost']} ({result['bcrypt_ms']:.1f} ms each), "
        f"then a POST the server answers after {p['delay_ms']} ms",
        f"{'variant':<28}{'time':>9}{'x no I/O':>10}",
    ]
    for key, label in result["variants"].items():
        lines.append(
            f"{label:<28}{result['seconds'][key]['median']:>8.2f}s"
            f"{result['times_slower'][key]['median']:>9.2f}x"
        )
    lines.append("(pure-Python rows compare with the pure-Python hash's own no-I/O time)")
    for what, why in result["unavailable"].items():
        lines.append(f"{what}: skipped ({why})")
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [
        plots.mixed_slower(result, out_dir / "mixed.png"),
        plots.mixed_calls(result, out_dir / "mixed-calls.png"),
    ]
