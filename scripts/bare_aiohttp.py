"""The floor for the asyncio engines: a bare aiohttp loop with no records, retries or checks.

    python scripts/bare_aiohttp.py URL_BASE N CONCURRENCY [--uvloop]

Prints one JSON line: wall time and client CPU per request.  concur's uvloop engine is
compared with this in docs/benchmarks.md (its own overhead).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import aiohttp


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main(base: str, n: int, concurrency: int) -> None:
    urls = iter([f"{base}/add?name=bare&delay=0&id={i}" for i in range(n)])
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for url in urls:
                async with session.get(url) as resp:
                    await resp.read()

        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, used = time.perf_counter() - t0, cpu() - c0
    print(json.dumps({"n": n, "wall_s": wall, "cpu_us_per_request": used / n * 1e6}))


if __name__ == "__main__":
    base, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.run(main(base, n, c))
    else:
        asyncio.run(main(base, n, c))
