"""Step 5, asyncio: step 4 with ``yield`` spelled ``await``, and a real event loop.

Put step 4 beside this one: ``fetch`` has the same shape, ``worker`` is the same, and
``yield from`` became ``await``.  What went away is the plumbing: asyncio's event loop
is step 4's scheduler and selector loop (with timers, errors and cancellation besides),
and its streams wait for a connection and read to the end without us naming sockets
and events.  ``asyncio.gather`` starts the C workers as tasks and waits for them all.

What it costs: the loop's machinery - a task, futures, a transport and a protocol per
connection - is more CPU per request than step 4's bare generators; ``concur learn``
shows how much.  What it buys is everything built on it: aiohttp, timeouts
(``asyncio.timeout``), cancellation, and uvloop, a faster loop with the same interface.

Run it: ``concur learn 5``.
"""

from __future__ import annotations

import asyncio
import time

from concur.path.step1_serial import Result, parse, request


async def fetch(url: str) -> Result:
    start = time.perf_counter()
    (host, port), data = request(url)
    reader, writer = await asyncio.open_connection(host, port)  # wait until connected
    writer.write(data)
    response = await reader.read()  # wait for every byte, to the end of the stream
    writer.close()
    await writer.wait_closed()
    return (*parse(response), start, time.perf_counter())


async def crawl_async(urls: list[str], concurrency: int) -> dict[str, Result]:
    todo = list(reversed(urls))  # pop() takes them from the end: in order
    results: dict[str, Result] = {}

    async def worker() -> None:  # one of C: URL after URL
        while todo:
            url = todo.pop()
            results[url] = await fetch(url)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    return asyncio.run(crawl_async(urls, concurrency))


if __name__ == "__main__":
    from concur.path.harness import main

    main(5, crawl)
