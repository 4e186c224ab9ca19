"""Step 2, threads: step 1's ``fetch``, unchanged, run by C threads at once.

Nothing in ``fetch`` knows about concurrency.  Each thread blocks in ``recv`` just as
step 1 did, but the operating system runs another thread meanwhile, so C requests wait
together and N requests take about N / C x delay.  The GIL does not get in the way:
a thread releases it whenever it blocks on a socket.

What it costs: a thread (its stack, and a switch every time one wakes) per request in
flight, and shared state needs care - here the queue of URLs (``queue.Queue`` locks
for us) and the results (one ``dict`` item set per URL, atomic under the GIL).
``concurrent.futures.ThreadPoolExecutor(C).map(fetch, urls)`` does all of this in one
line; written out, it shows what the pool is.

Run it: ``concur learn 2``.
"""

from __future__ import annotations

import queue
import threading

from concur.path.step1_serial import Result, fetch


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for url in urls:
        todo.put(url)
    results: dict[str, Result] = {}

    def worker() -> None:  # each thread: take a URL, fetch it, until none is left
        while True:
            try:
                url = todo.get_nowait()
            except queue.Empty:
                return
            results[url] = fetch(url)  # blocks this thread only

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, len(urls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


if __name__ == "__main__":
    from concur.path.harness import main

    main(2, crawl)
