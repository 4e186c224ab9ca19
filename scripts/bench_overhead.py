"""concur's own overhead: the uvloop engine against a bare aiohttp loop on the same server.

    python scripts/bench_overhead.py [N] [REPEATS]

Both run in this process, interleaved, against one mock server (a subprocess) at zero
delay and 100 in flight; client CPU per request is user + system time over N requests.
The bare loop has no records, retries, URL checks, timeouts or headers: the floor.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys

import aiohttp
import uvloop

from concur.engines import get_engine
from concur.experiment import book_urls
from concur.records import CrawlConfig
from mockserver.testing import serve


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def bare(urls: list[str], concurrency: int) -> None:
    work = iter(urls)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for url in work:
                async with session.get(url) as resp:
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    engine = get_engine("uvloop")
    floor: list[float] = []
    ours: list[float] = []

    def run_bare() -> None:
        uvloop.run(bare(urls, 100))

    def run_ours() -> None:
        engine(urls, CrawlConfig(concurrency=100))

    with serve(mode="subprocess") as server:
        urls = book_urls(server.url, n, "overhead", delay_ms=0)
        engine(urls[:500], CrawlConfig(concurrency=100))  # warm-up
        for i in range(repeats):  # alternate which goes first: no order effect
            pair = [(run_bare, floor), (run_ours, ours)]
            for run, into in pair if i % 2 == 0 else pair[::-1]:
                c0 = cpu()
                run()
                into.append((cpu() - c0) / n * 1e6)
    f, o = statistics.median(floor), statistics.median(ours)
    ratio = statistics.median(b / a for a, b in zip(floor, ours, strict=True))
    runs = ", ".join(f"{x:.1f}" for x in floor)
    print(f"bare aiohttp + uvloop: {f:.1f} µs/request  (runs: {runs})")
    runs = ", ".join(f"{x:.1f}" for x in ours)
    print(f"concur uvloop engine:  {o:.1f} µs/request  (runs: {runs})")
    print(f"overhead: {o / f - 1:+.1%} (medians), {ratio - 1:+.1%} (median of paired ratios)")


if __name__ == "__main__":
    main()
