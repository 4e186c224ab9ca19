"""The lab's workloads: pure-Python CPU, CPU that releases the GIL, and I/O on 127.0.0.1.

Three kinds of work behave three ways under the GIL:

* **pure-Python CPU** (:func:`count`, :func:`py_hash`, :class:`CpuThreads`) holds the GIL
  the whole time it runs: threads take turns, one switch interval at a time;
* **GIL-releasing CPU** (:func:`sha_work` — hashlib over 256 KiB blocks — and
  :func:`bcrypt_hash`) drops the GIL inside C code, so threads overlap like processes;
* **I/O** (:func:`http_get`, :func:`aio_get`, :func:`ping_pong`) mostly waits with the GIL
  released; it needs the GIL back only to handle each answer — which is exactly when a
  CPU-bound neighbour makes it wait.

Everything here is standard library except :func:`bcrypt_hash`, so the same workloads run
on another interpreter (a free-threaded build) given only ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from typing import Any
from urllib.parse import urlsplit

from concur.lifetime import tied

# --- pure-Python CPU -------------------------------------------------------------------


def count(n: int) -> int:
    """Pure-Python arithmetic in a loop: holds the GIL for its whole run."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def py_hash(password: bytes, rounds: int) -> int:
    """A pure-Python key-stretching hash (FNV-1a over ``rounds`` passes): the GIL never drops."""
    h = 0xCBF29CE484222325
    for _ in range(rounds):
        for byte in password:
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class CpuThreads:
    """``n`` threads spinning in pure Python until the ``with`` block ends, counting their loops.

    ``loops[i]`` counts thread ``i``'s 1,000-iteration loops as it goes: its CPU throughput
    is the difference of two readings over the time between them.  Entering waits until
    every thread is spinning.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.loops = [0] * n
        self._stop = False
        self._started = [threading.Event() for _ in range(n)]
        self._threads = [
            threading.Thread(target=self._spin, args=(i,), name=f"cpu-{i}", daemon=True)
            for i in range(n)
        ]

    def _spin(self, i: int) -> None:
        self._started[i].set()
        loops = self.loops
        while not self._stop:
            for _ in range(1000):
                pass
            loops[i] += 1

    def __enter__(self) -> CpuThreads:
        for t in self._threads:
            t.start()
        for e in self._started:
            e.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        for t in self._threads:
            t.join()


def spin_until(stop: Any, ready: Any) -> None:
    """A CPU-bound process body: spin in pure Python until ``stop`` (an mp Event) is set."""
    ready.set()
    while not stop.is_set():
        for _ in range(20_000):
            pass


def mp_context() -> BaseContext:
    """forkserver where it exists (safe beside threads, cheap per process), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


@contextlib.contextmanager
def cpu_processes(n: int, ctx: BaseContext | None = None) -> Iterator[None]:
    """``n`` processes spinning in pure Python for the duration of the ``with`` block."""
    ctx = ctx or mp_context()
    stop = ctx.Event()
    ready = [ctx.Event() for _ in range(n)]
    procs = [ctx.Process(target=spin_until, args=(stop, r), daemon=True) for r in ready]  # type: ignore[attr-defined]
    for p in procs:
        p.start()
    try:
        for r in ready:
            r.wait(timeout=30)
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


# --- CPU that releases the GIL ---------------------------------------------------------

_BLOCK = bytes(range(256)) * 1024  # 256 KiB: hashlib releases the GIL above 2 KiB


def sha_work(blocks: int) -> str:
    """SHA-256 over ``blocks`` x 256 KiB: the hashing runs in C with the GIL released."""
    h = hashlib.sha256()
    for _ in range(blocks):
        h.update(_BLOCK)
    return h.hexdigest()


def bcrypt_hash(password: bytes, cost: int) -> bytes:
    """bcrypt at ``cost`` (needs ``pip install 'concur[gil]'``): it releases the GIL too."""
    import bcrypt

    result: bytes = bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost))
    return result


def nap(seconds: float) -> None:
    """Sleep; used to make a process pool start all of its workers before timing."""
    time.sleep(seconds)


def calibrate(fn: Callable[[int], object], target_s: float) -> int:
    """The ``n`` for which ``fn(n)`` takes about ``target_s`` on this machine, unloaded."""
    n = 1

    def timed(k: int) -> float:
        t = time.perf_counter()
        fn(k)
        return time.perf_counter() - t

    took = timed(n)
    while took < 0.02:
        n *= 4 if took < 0.005 else 2
        took = timed(n)
    best = min(took, timed(n), timed(n))
    return max(1, round(n * target_s / best))


# --- I/O -----------------------------------------------------------------------------


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.hostname or "127.0.0.1", parts.port or 80, target


def http_get(url: str) -> int:
    """A blocking GET on a fresh connection (http.client); returns the body length."""
    host, port, target = _target(url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", target)
        return len(conn.getresponse().read())
    finally:
        conn.close()


async def aio_get(url: str) -> int:
    """The asyncio twin of :func:`http_get`, on bare asyncio streams (no library)."""
    host, port, target = _target(url)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return len(data.partition(b"\r\n\r\n")[2])


class Saver:
    """Blocking POSTs over keep-alive connections, one connection per thread."""

    def __init__(self, base_url: str) -> None:
        self.host, self.port, _ = _target(base_url)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[http.client.HTTPConnection] = []

    def post(self, target: str, body: bytes) -> int:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        conn.request("POST", target, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return int(resp.status)

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


@contextlib.contextmanager
def echo_peer(python: str | None = None) -> Iterator[tuple[str, int]]:
    """Run :mod:`concur.gil.peer` in a subprocess; yields its ``(host, port)``."""
    proc = subprocess.Popen(
        [python or sys.executable, "-m", "concur.gil.peer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        **tied(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("echo on "):
            raise RuntimeError(f"echo peer did not start: {line!r}")
        host, _, port = line.split()[-1].rpartition(":")
        yield host, int(port)
    finally:
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ping_pong(address: tuple[str, int], seconds: float, message: bytes = b"ping") -> list[float]:
    """Round trips to an echo server for ``seconds``; returns each round-trip time (s)."""
    rtts: list[float] = []
    now = time.perf_counter
    with socket.create_connection(address, timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        size = len(message)
        t = now()
        end = t + seconds
        while t < end:
            sock.sendall(message)
            got = 0
            while got < size:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("echo peer closed the connection")
                got += len(chunk)
            t2 = now()
            rtts.append(t2 - t)
            t = t2
    return rtts


# --- watching the GIL ----------------------------------------------------------------


def trace_running(start_at: float, seconds: float, gap: float = 2e-4) -> list[tuple[float, float]]:
    """When did this thread run?  Spin reading the clock from ``start_at`` for ``seconds``.

    A pure-Python loop reads ``time.perf_counter()`` every fraction of a microsecond while it
    runs; a jump of more than ``gap`` between two readings means the thread was stopped —
    waiting for the GIL, or descheduled by the OS.  Returns the ``(start, end)`` spans it ran
    (perf_counter seconds: one system-wide clock on Linux and macOS, so processes compare).
    """
    now = time.perf_counter
    while now() < start_at:
        pass
    end = start_at + seconds
    t = begin = last = now()
    spans: list[tuple[float, float]] = []
    while t < end:
        t = now()
        if t - last > gap:
            spans.append((begin, last))
            begin = t
        last = t
    spans.append((begin, last))
    return spans
