"""Where the book experiment's time goes, engine by engine, read off the server's timeline.

    python scripts/book_budget.py [ENGINE ...] [--repeat R] [-n N] [-c C] [--delay MS]

Every request of the book's experiment waits the same 100 ms, so the requests reach the
server in waves of C and the wall time splits exactly into measured parts
(:mod:`concur.budget` says how): before the first arrival and after the last answer,
spreading wave 1, the later waves, and the last answer.

The ideal (ceil(N/C) x delay) counts none of them; efficiency is ideal / wall.  Each
engine runs in a fresh process against a fresh server subprocess; the medians of
``--repeat`` runs are printed as a table (milliseconds).  The pseudo-engine ``bare`` is
aiohttp on uvloop with nothing of concur's: the floor the uvloop engine is held to.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from typing import Any

DEFAULT = ["bare", "uvloop", "asyncio", "httpx", "tornado", "gevent", "processes", "threads"]
PARTS = ["outside", "wave0", "later", "last"]


def measure(engine: str, n: int, c: int, delay_ms: float) -> dict[str, float]:
    """One run of ``engine`` against a fresh server: the wall time and its four parts (s)."""
    from concur.budget import budget
    from concur.engines import ENGINES, get_engine
    from concur.experiment import book_urls
    from concur.records import CrawlConfig
    from mockserver.testing import serve

    with serve(mode="subprocess") as server:
        urls = book_urls(server.url, n, engine, delay_ms=delay_ms)
        if engine == "bare":  # it keeps no records: the server's count below checks it
            wall, ok = bare_aiohttp(urls, c), n
        else:
            result = get_engine(engine)(urls, CrawlConfig(concurrency=c))
            wall, ok = result.wall_s, result.ok
        seen = server.timeline(engine)["requests"]
    if len(seen) != n or ok != n:
        raise SystemExit(f"{engine}: {ok} ok, server saw {len(seen)} of {n}")
    slots = c if engine == "bare" or ENGINES[engine].concurrent else 1  # serial: one
    arrivals = [r["start"] for r in seen]
    spent = budget(arrivals, max(r["end"] for r in seen), wall, slots, delay_ms / 1e3)
    assert spent is not None
    return {"wall": wall, "ideal": math.ceil(n / slots) * delay_ms / 1e3, **spent.to_dict()}


def bare_aiohttp(urls: list[str], c: int) -> float:
    """The floor: ``bench_overhead``'s bare aiohttp loop on uvloop, timed."""
    import time

    import uvloop
    from bench_overhead import bare  # a sibling script: its directory is on sys.path

    t0 = time.perf_counter()
    uvloop.run(bare(urls, c))
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engines", nargs="*", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("-c", type=int, default=100)
    parser.add_argument("--delay", type=float, default=100.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child: one run, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.n, args.c, args.delay)))
        return 0
    waves = math.ceil(args.n / args.c)
    print(f"{args.n} requests x {args.delay:g} ms, {args.c} in flight ({waves} waves); ms, medians")
    print(
        f"{'engine':10s} {'wall':>7s} {'eff':>5s} {'outside':>8s} {'wave 0':>7s}"
        f" {'later':>7s} {'/wave':>6s} {'last':>6s}"
    )
    for engine in args.engines:
        runs: list[dict[str, Any]] = []
        for _ in range(args.repeat):
            child = [sys.executable, __file__, "--one", engine, "-n", str(args.n)]
            child += ["-c", str(args.c), "--delay", str(args.delay)]
            out = subprocess.run(child, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{engine:10s} failed: {(out.stderr or out.stdout).strip()[-200:]}")
                break
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if not runs:
            continue
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "ideal", "waves", *PARTS)}
        ms = {k: med[k] * 1e3 for k in PARTS}
        per_wave = ms["later"] / max(1, med["waves"] - 1)
        print(
            f"{engine:10s} {med['wall'] * 1e3:7.1f} {med['ideal'] / med['wall']:5.2f}"
            f" {ms['outside']:8.1f} {ms['wave0']:7.1f} {ms['later']:7.1f} {per_wave:6.1f}"
            f" {ms['last']:6.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
