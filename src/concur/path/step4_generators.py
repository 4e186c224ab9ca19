"""Step 4, generator coroutines: step 3's event loop, step 1's straight-line code.

A generator stops at each ``yield`` and goes on from there when ``next()`` is called
again, its local variables intact.  So ``fetch`` is written top to bottom, like step 1,
and *yields* where step 1 blocked: "wake me when this socket is writable (readable)".
The scheduler, ``step``, runs a coroutine up to its next ``yield`` and registers the
socket it named with the selector; the event loop at the bottom calls ``step`` again
when that socket is ready.  ``yield from`` lets a coroutine call another one (each
worker fetches URL after URL) and receive its return value.

This is how asyncio began (Python 3.4's ``@asyncio.coroutine`` and ``yield from``;
A. Jesse Jiryu Davis and Guido van Rossum's crawler in *500 Lines or Less* builds the
same idea with futures and tasks).  What it costs: a generator frame per request in
flight, and a ``register``/``unregister`` pair per wait - still one thread, and no
callbacks in sight.

Run it: ``concur learn 4``.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Generator

from concur.path.step1_serial import Result, parse, request

Wait = tuple[socket.socket, int]  # what a coroutine yields: a socket and the event it needs


def fetch(url: str) -> Generator[Wait, None, Result]:
    start = time.perf_counter()
    address, data = request(url)
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(address)
    yield sock, selectors.EVENT_WRITE  # wait here until connected
    sock.send(data)
    chunks = []
    while True:
        yield sock, selectors.EVENT_READ  # wait here until bytes (or the end) arrive
        if not (chunk := sock.recv(65536)):
            break
        chunks.append(chunk)
    sock.close()
    return (*parse(b"".join(chunks)), start, time.perf_counter())


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    selector = selectors.DefaultSelector()
    todo = list(reversed(urls))  # pop() takes them from the end: in order
    results: dict[str, Result] = {}

    def worker() -> Generator[Wait, None, None]:  # one of C: URL after URL
        while todo:
            url = todo.pop()
            results[url] = yield from fetch(url)

    def step(coroutine: Generator[Wait, None, None]) -> None:  # the scheduler
        try:
            sock, event = next(coroutine)  # run it to its next wait
        except StopIteration:  # it has finished
            return
        selector.register(sock, event, coroutine)  # resume it when the socket is ready

    for _ in range(concurrency):
        step(worker())
    while selector.get_map():  # the event loop: wait for any socket, resume its coroutine
        for key, _events in selector.select():
            selector.unregister(key.fileobj)
            step(key.data)
    selector.close()
    return results


if __name__ == "__main__":
    from concur.path.harness import main

    main(4, crawl)
