"""Where a request's CPU goes, layer by layer: loop, protocol, parser, client library.

    python scripts/bench_protocol.py [--n 20000] [--concurrency 100] [--rounds 5]

Five clients fetch ``n`` zero-delay URLs from one mock server (a subprocess of its own),
``concurrency`` in flight, each trial in a fresh interpreter, the clients interleaved
round by round so that a shared machine's drift hits them alike; the table shows the
median client CPU per request (user + system over the fetching only, imports and
start-up left out) and wall time:

``protocol``  uvloop and an ``asyncio.Protocol`` that writes a request and counts bytes
              up to the end of the answer it knows is coming: the loop and the socket.
``+ parser``  the same with httptools parsing the answers: the bare floor a client can
              reach in Python (the issue's "60-line client").
``engine``    concur's protocol engine: the floor plus concur (URLs checked, request heads,
              a timeout per request, records, the job, retries armed).
``aiohttp``   a bare aiohttp loop on uvloop: a client library, nothing of concur's.
``uvloop``    concur's uvloop engine: aiohttp plus concur.

``engine`` against ``+ parser`` is concur's own cost; ``aiohttp`` against ``+ parser``
is the library's.  The figures go in docs/benchmarks.md ("The protocol engine").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

CLIENTS = ("protocol", "parser", "engine", "aiohttp", "uvloop")
LABELS = {
    "protocol": "loop + protocol",
    "parser": "+ httptools parser (floor)",
    "engine": "concur protocol engine",
    "aiohttp": "bare aiohttp on uvloop",
    "uvloop": "concur uvloop engine",
}


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# -- the bare clients: one connection per worker, one request at a time on each --------


class _Counting(asyncio.Protocol):
    """No parser: an answer ends once its head and its one-byte body are in (/add's)."""

    def __init__(self) -> None:
        self.buf = b""
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end != -1 and len(self.buf) >= end + 5 and self.done is not None:
            self.buf = self.buf[end + 5 :]
            self.done.set_result(None)


class _Parsing(asyncio.Protocol):
    """httptools parses the answers; a request ends at on_message_complete."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.done is not None:
            self.done.set_result(None)


async def _bare(make: Callable[[], asyncio.Protocol], host: str, port: int, targets: list[str],
                concurrency: int) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    work = iter(targets)

    async def worker() -> None:
        _, proto = await loop.create_connection(make, host, port)
        for target in work:
            proto.done = loop.create_future()  # type: ignore[attr-defined]
            proto.transport.write(  # type: ignore[attr-defined]
                f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
            )
            await proto.done  # type: ignore[attr-defined]
        proto.transport.close()  # type: ignore[attr-defined]

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _aiohttp(urls: list[str], concurrency: int) -> None:
    import aiohttp

    work = iter(urls)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for url in work:
                async with session.get(url) as resp:
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def trial(client: str, base: str, n: int, concurrency: int, delay_ms: float) -> dict[str, float]:
    """One client's run, in this (fresh) process: CPU µs per request and wall seconds."""
    import uvloop

    from concur.experiment import book_urls

    urls = book_urls(base, n, f"layers-{client}", delay_ms=delay_ms)
    host, port = base.split("//")[1].split(":")
    targets = ["/" + url.split("/", 3)[3] for url in urls]
    if client in ("engine", "uvloop"):
        from concur.engines import get_engine
        from concur.records import CrawlConfig

        engine = get_engine("protocol" if client == "engine" else "uvloop")
        config = CrawlConfig(concurrency=concurrency, timeout=60)
        engine(urls[:200], config)  # warm: the first run imports and makes its caches
        c0, t0 = cpu(), time.perf_counter()
        result = engine(urls, config)
        c1, t1 = cpu(), time.perf_counter()
        assert all(r.ok for r in result.records), result.records[:3]
    else:
        if client == "aiohttp":
            coro = lambda: _aiohttp(urls, concurrency)  # noqa: E731
        else:
            make = _Counting if client == "protocol" else _Parsing
            coro = lambda: _bare(make, host, int(port), targets, concurrency)  # noqa: E731
        uvloop.run(_warm(client, base, host, int(port), targets, concurrency))
        c0, t0 = cpu(), time.perf_counter()
        uvloop.run(coro())
        c1, t1 = cpu(), time.perf_counter()
    return {"cpu_us": (c1 - c0) / n * 1e6, "wall_s": t1 - t0}


async def _warm(client: str, base: str, host: str, port: int, targets: list[str], c: int) -> None:
    if client == "aiohttp":
        await _aiohttp([base + t for t in targets[:200]], c)
    else:
        make = _Counting if client == "protocol" else _Parsing
        await _bare(make, host, port, targets[:200], c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="the server's delay")
    parser.add_argument("--json", metavar="FILE", help="also write the trials here")
    parser.add_argument("--trial", nargs=2, metavar=("CLIENT", "BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        client, base = args.trial
        print(json.dumps(trial(client, base, args.n, args.concurrency, args.delay_ms)))
        return

    from mockserver.testing import serve

    runs: dict[str, list[dict[str, float]]] = {c: [] for c in CLIENTS}
    with serve(mode="subprocess") as server:
        for r in range(args.rounds):
            order = CLIENTS[r % len(CLIENTS) :] + CLIENTS[: r % len(CLIENTS)]
            for client in order:
                out = subprocess.run(
                    [sys.executable, __file__, "--trial", client, server.url, "--n", str(args.n),
                     "--concurrency", str(args.concurrency), "--delay-ms", str(args.delay_ms)],
                    capture_output=True, text=True, check=True, timeout=600,
                )  # fmt: skip
                runs[client].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {client:<9} {runs[client][-1]}", file=sys.stderr)
    floor = statistics.median(t["cpu_us"] for t in runs["parser"])
    print(f"\n{args.n:,} requests at {args.delay_ms:g} ms, {args.concurrency} in flight, "
          f"medians of {args.rounds} interleaved rounds\n")  # fmt: skip
    print("| layer | CPU µs/request | × floor | wall s |\n|---|---:|---:|---:|")
    for client in CLIENTS:
        cpu_us = statistics.median(t["cpu_us"] for t in runs[client])
        wall = statistics.median(t["wall_s"] for t in runs[client])
        print(f"| {LABELS[client]} | {cpu_us:.1f} | {cpu_us / floor:.2f} | {wall:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "concurrency": args.concurrency, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
