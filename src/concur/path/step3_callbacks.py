"""Step 3, callbacks: one thread, non-blocking sockets, and an event loop.

A non-blocking socket never waits: ``connect`` returns at once, and ``recv`` is only
called when the selector (epoll, kqueue) has said the socket is readable.  The loop at
the bottom is the whole event loop: ask the selector which sockets are ready, call the
function registered for each.  C fetches are in flight and nothing ever blocks but
``select``, which waits for *all* of them at once.

What it costs: ``fetch`` no longer reads top to bottom.  Step 1's few lines are cut
into ``start``, ``connected`` and ``readable``, and the state that lived in local
variables (the socket, the chunks so far) is kept alive by closures between calls.
Errors, timeouts and "then fetch the next one" all have to be threaded through the
callbacks by hand.  Step 4 gets the straight-line code back.

Run it: ``concur learn 3``.
"""

from __future__ import annotations

import selectors
import socket
import time

from concur.path.step1_serial import Result, parse, request


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    selector = selectors.DefaultSelector()
    todo = list(reversed(urls))  # pop() takes them from the end: in order
    results: dict[str, Result] = {}

    def start() -> None:  # begin fetching the next URL, and return at once
        url = todo.pop()
        address, data = request(url)
        began = time.perf_counter()
        chunks: list[bytes] = []
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(address)  # EINPROGRESS: connecting goes on without us

        def connected() -> None:  # called once the socket is writable: connected
            sock.send(data)  # a hundred bytes fit the socket's buffer at once
            selector.modify(sock, selectors.EVENT_READ, readable)

        def readable() -> None:  # called whenever bytes (or the end) have arrived
            if chunk := sock.recv(65536):
                chunks.append(chunk)
                return
            selector.unregister(sock)
            sock.close()
            results[url] = (*parse(b"".join(chunks)), began, time.perf_counter())
            if todo:
                start()  # this slot's next URL

        selector.register(sock, selectors.EVENT_WRITE, connected)

    for _ in range(min(concurrency, len(urls))):
        start()
    while selector.get_map():  # the event loop: wait for any socket, run its callback
        for key, _events in selector.select():
            key.data()
    selector.close()
    return results


if __name__ == "__main__":
    from concur.path.harness import main

    main(3, crawl)
