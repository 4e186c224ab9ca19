"""Step 1, serial: one request after another, each on a blocking socket.

Each fetch connects, sends a GET written by hand, and reads until the server closes
the connection.  ``recv`` blocks: while the server waits its delay, this program waits
too, with the CPU idle.  So the crawl takes the *sum* of its waits, N x delay, however
fast the machine (Little's law with one request in flight: 1 / delay requests a second).

Everything after this step overlaps those waits; steps 2 and 6 reuse :func:`fetch` as
it is, steps 3-5 reuse :func:`request` and :func:`parse`.

Run it: ``concur learn 1`` (or ``python -m concur.path.step1_serial -n 20``).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

Result = tuple[int, int, float, float]  # status, body bytes, start, end (perf_counter)


def request(url: str) -> tuple[tuple[str, int], bytes]:
    """Where to connect, and the bytes of a minimal HTTP/1.1 GET of ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    return (parts.hostname or "localhost", parts.port or 80), head.encode("ascii")


def parse(response: bytes) -> tuple[int, int]:
    """The status and body size of a whole answer ("HTTP/1.1 200 OK\\r\\n...\\r\\n\\r\\nbody")."""
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), len(body)


def fetch(url: str) -> Result:
    start = time.perf_counter()
    address, data = request(url)
    with socket.create_connection(address) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):  # blocks until bytes come, b"" once closed
            chunks.append(chunk)
    return (*parse(b"".join(chunks)), start, time.perf_counter())


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    return {url: fetch(url) for url in urls}  # concurrency ignored: one at a time


if __name__ == "__main__":
    from concur.path.harness import main

    main(1, crawl)
