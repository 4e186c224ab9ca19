"""Start a mock server on a free port for a test, a benchmark or a demo.

>>> with serve(latency="100") as server:          # doctest: +SKIP
...     urllib.request.urlopen(server.url + "/add?name=demo").read()
...     server.timeline("demo")["peak_in_flight"]

``serve(mode="thread")`` runs the server's event loop in a daemon thread of this process
(fast to start, sees every ``ServerConfig`` field); ``mode="subprocess"`` runs
``python -m mockserver`` so the server does not share the GIL with the client under
test — what engine tests and benchmarks want.  Both bind 127.0.0.1 on a free port.
A subprocess server dies with this process, whatever kills it (``kill -9`` too): see
:mod:`mockserver.lifeline`.

What a test tells the server and asks of it goes over HTTP (the control endpoints), so it
works the same in both modes:

>>> with serve() as server:                       # doctest: +SKIP
...     server.expect("/api/items", method="GET", json=[{"id": 1}])
...     server.expect("/flaky", responses=[{"status": 503}, {"status": 503}, {"body": "ok"}])
...     run_the_code_under_test(server.url)
...     [r.path for r in server.requests(method="GET")]

Async test suites use :func:`serve_async` (``async with``), whose
:class:`AsyncRunningServer` has the same methods, awaited.  The pytest fixtures
(``mockserver``, ``mockserver_async``, ``mockserver_factory`` and the ``mockserver``
marker) are in :mod:`mockserver.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from mockserver import faults as faults_mod
from mockserver import latency as latency_mod
from mockserver import lifeline
from mockserver.config import ServerConfig
from mockserver.control import (
    UNSET,
    MockServerError,
    RecordedRequest,
    RecordedRequests,
    call,
    call_async,
    fetch,
    parse_log,
    route_doc,
    select,
)
from mockserver.loop import new_event_loop
from mockserver.server import MockServer


class RunningServer:
    """A started server: its URL, and blocking helpers to set it up and read what it saw.

    :meth:`expect` adds a canned answer (or a sequence of them) for a route,
    :meth:`requests` reads the log of requests received, :meth:`reset` forgets both (and
    the timelines and counters).  Each is one HTTP request to the server's control
    endpoints (``/__routes``, ``/__requests``, ``/__reset``): see :mod:`mockserver.canned`.
    """

    def __init__(self, url: str, config: ServerConfig, ca_file: str | None = None) -> None:
        self.url = url
        self.config = config
        # With tls: the PEM file of the CA that signed the server's certificate; a client
        # under test trusts it with --ca-file, SSL_CERT_FILE or ssl.create_default_context.
        self.ca_file = ca_file

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.url + path

    def get(self, path: str, timeout: float = 10.0) -> bytes:
        tls = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        with urllib.request.urlopen(self.url + path, timeout=timeout, context=tls) as resp:
            return bytes(resp.read())

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/__stats")
        return result

    def timeline(self, name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/__timeline?name={name}")
        return result

    def reset(self) -> None:
        """Forget recordings, repeat counts, run-time routes and logged requests."""
        self.get("/__reset")

    def expect(
        self,
        path: str,
        *,
        method: str | None = None,
        query: Mapping[str, str] | str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: str | bytes | None = None,
        json: Any = UNSET,
        content_type: str | None = None,
        delay_ms: float | None = None,
        fault: str | None = None,
        responses: Sequence[Mapping[str, Any]] | None = None,
        times: int | None = None,
        name: str = "",
    ) -> int:
        """Answer requests for ``path`` with a canned answer; returns the route's id.

        Matching: ``method`` (None: any; HEAD is its own method), the exact ``path`` as
        sent (percent-encoding kept), and ``query`` (None: any query; a dict, or a string
        ``"a=1&b=2"``, or ``?a=1`` in the path: exactly these parameters, in any order).
        Routes are tried in the order they were added; they come before the built-in
        endpoints, and ``/__*`` paths cannot be registered.

        The answer: ``status`` (200), ``headers``, and a body — ``json=`` (any JSON value,
        ``Content-Type: application/json``), ``body=`` text (``text/plain``) or bytes
        (``application/octet-stream``); ``content_type=`` or a ``Content-Type`` header
        overrides the type.  ``delay_ms`` delays it (default: the server's latency);
        ``fault`` (``reset``, ``hang``, ``truncate``, ``malformed``) is carried out
        instead of answering (default: the server's fault rates).

        ``responses=[{...}, {...}]`` gives a sequence instead, each entry a dict of those
        same arguments: each request gets the next one, and **the last one repeats** —
        "503 twice, then 200" is ``responses=[{"status": 503}, {"status": 503}, {}]``.
        ``times=N`` retires the route after N requests: later ones go on to the next
        matching route, or to the built-in endpoints (a 404 for an unknown path).
        ``name`` is the timeline the route's requests are recorded under.
        """
        answer = {
            "status": status,
            "headers": headers,
            "body": body,
            "json": json,
            "content_type": content_type,
            "delay_ms": delay_ms,
            "fault": fault,
        }
        doc = route_doc(
            path,
            method=method,
            query=query,
            responses=responses,
            times=times,
            name=name,
            answer=answer,
        )
        route_id: int = call(self.url, "POST", "/__routes", doc)["id"]
        return route_id

    def routes(self) -> list[dict[str, Any]]:
        """The routes added, with how many requests each has ``served``."""
        doc: list[dict[str, Any]] = call(self.url, "GET", "/__routes")["routes"]
        return doc

    def clear_routes(self, route_id: int | None = None) -> None:
        """Remove every route added at run time, or the one of this id."""
        call(self.url, "DELETE", "/__routes" + ("" if route_id is None else f"?id={route_id}"))

    def request_log(self) -> RecordedRequests:
        """The requests received since the last reset, and how many the log dropped."""
        return parse_log(call(self.url, "GET", "/__requests"))

    def requests(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The requests received since the last reset (with this method and path), in order.

        Every request is kept but the control endpoints' own, up to the server's
        ``request_log`` count and ``request_log_bytes`` (see :meth:`request_log`).
        """
        return select(self.request_log(), method, path)

    def clear_requests(self) -> None:
        """Empty the request log (``reset`` does too)."""
        call(self.url, "DELETE", "/__requests")


class AsyncRunningServer:
    """:class:`RunningServer`'s helpers for async tests: the same methods, awaited.

    The control requests go over asyncio streams, so an async test never blocks its loop
    (a server in the same loop, ``serve_async(mode="loop")``, keeps answering).
    """

    def __init__(self, url: str, config: ServerConfig, ca_file: str | None = None) -> None:
        self.url = url
        self.config = config
        # With tls: the PEM file of the CA that signed the server's certificate; a client
        # under test trusts it with --ca-file, SSL_CERT_FILE or ssl.create_default_context.
        self.ca_file = ca_file

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.url + path

    async def get(self, path: str, timeout: float = 10.0) -> bytes:
        """The body of ``GET path``; :class:`MockServerError` for a status of 400 or more."""
        status, body = await fetch(self.url, "GET", path, timeout=timeout)
        if status >= 400:
            raise MockServerError(status, "GET", path, body)
        return body

    async def get_json(self, path: str) -> Any:
        return json.loads(await self.get(path))

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/__stats")
        return result

    async def timeline(self, name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json(f"/__timeline?name={name}")
        return result

    async def reset(self) -> None:
        """Forget recordings, repeat counts, run-time routes and logged requests."""
        await self.get("/__reset")

    async def expect(
        self,
        path: str,
        *,
        method: str | None = None,
        query: Mapping[str, str] | str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: str | bytes | None = None,
        json: Any = UNSET,
        content_type: str | None = None,
        delay_ms: float | None = None,
        fault: str | None = None,
        responses: Sequence[Mapping[str, Any]] | None = None,
        times: int | None = None,
        name: str = "",
    ) -> int:
        """See :meth:`RunningServer.expect`."""
        answer = {
            "status": status,
            "headers": headers,
            "body": body,
            "json": json,
            "content_type": content_type,
            "delay_ms": delay_ms,
            "fault": fault,
        }
        doc = route_doc(
            path,
            method=method,
            query=query,
            responses=responses,
            times=times,
            name=name,
            answer=answer,
        )
        route_id: int = (await call_async(self.url, "POST", "/__routes", doc))["id"]
        return route_id

    async def routes(self) -> list[dict[str, Any]]:
        doc: list[dict[str, Any]] = (await call_async(self.url, "GET", "/__routes"))["routes"]
        return doc

    async def clear_routes(self, route_id: int | None = None) -> None:
        query = "" if route_id is None else f"?id={route_id}"
        await call_async(self.url, "DELETE", "/__routes" + query)

    async def request_log(self) -> RecordedRequests:
        return parse_log(await call_async(self.url, "GET", "/__requests"))

    async def requests(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """See :meth:`RunningServer.requests`."""
        return select(await self.request_log(), method, path)

    async def clear_requests(self) -> None:
        await call_async(self.url, "DELETE", "/__requests")


def _config(config: ServerConfig | None, overrides: dict[str, Any]) -> ServerConfig:
    cfg = config or ServerConfig()
    if isinstance(overrides.get("latency"), str):
        overrides["latency"] = latency_mod.parse(overrides["latency"])
    if isinstance(overrides.get("faults"), str):
        overrides["faults"] = faults_mod.parse_rates(overrides["faults"])
    port = overrides.pop("port", 0)  # a free port unless one is asked for (a resumed crawl)
    return replace(cfg, port=port, **overrides)


@contextlib.contextmanager
def serve(
    config: ServerConfig | None = None, *, mode: str = "thread", **overrides: Any
) -> Iterator[RunningServer]:
    """Run a mock server for the duration of the ``with`` block; yields a :class:`RunningServer`.

    Keyword overrides are ``ServerConfig`` fields; ``latency`` and ``faults`` may be spec
    strings, ``replay`` a list of WARC paths (:mod:`mockserver.replay`).  ``mode`` is
    ``"thread"`` or ``"subprocess"``.  ``port`` is a free one unless given.
    """
    cfg = _config(config, overrides)
    if mode == "thread":
        with _serve_thread(cfg) as server:
            yield server
    elif mode == "subprocess":
        with _serve_subprocess(cfg) as server:
            yield server
    else:
        raise ValueError(f"mode must be 'thread' or 'subprocess', not {mode!r}")


@contextlib.asynccontextmanager
async def serve_async(
    config: ServerConfig | None = None, *, mode: str = "thread", **overrides: Any
) -> AsyncIterator[AsyncRunningServer]:
    """``async with serve_async(...) as server:``: :func:`serve` for async code.

    ``mode`` is ``"thread"`` or ``"subprocess"`` (started and stopped off the event loop,
    so the loop keeps running meanwhile), or ``"loop"``: the server runs in the caller's
    own event loop, no thread at all — then the client under test must be async too, as a
    blocking call in that loop would wait for a server that cannot answer.
    """
    if mode not in ("thread", "subprocess", "loop"):
        raise ValueError(f"mode must be 'thread', 'subprocess' or 'loop', not {mode!r}")
    if mode == "loop":
        cfg = _config(config, overrides)
        server = MockServer(cfg)
        await server.start()
        try:
            yield AsyncRunningServer(server.url, cfg, server.ca_file)
        finally:
            await server.close()
        return
    with contextlib.ExitStack() as stack:
        running = await asyncio.to_thread(
            stack.enter_context, serve(config, mode=mode, **overrides)
        )
        try:
            yield AsyncRunningServer(running.url, running.config, running.ca_file)
        finally:
            await asyncio.to_thread(stack.close)


@contextlib.contextmanager
def _serve_thread(cfg: ServerConfig) -> Iterator[RunningServer]:
    server = MockServer(cfg)  # first: a recording that cannot be read leaves no loop open
    loop = new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=main, name="mockserver", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        raise failure[0]
    try:
        yield RunningServer(server.url, cfg, server.ca_file)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


# The config fields ``command`` passes to ``python -m mockserver``; a subprocess server
# cannot be given the others (serve() says so rather than ignore them).
CLI_FIELDS = frozenset(
    {
        "host",
        "port",
        "seed",
        "latency",
        "max_delay_ms",
        "faults",
        "max_in_flight",
        "over_limit_status",
        "workers",
        "site_pages",
        "site_hosts",
        "site_crawl_delay",
        "idle_timeout_s",
        "header_timeout_s",
        "request_log",
        "replay",
        "replay_root",
        "tls",
        "tls_names",
        "tls_ca",
    }
)


def command(cfg: ServerConfig) -> list[str]:
    """The ``python -m mockserver`` command line for a config (its CLI-visible fields)."""
    args = [sys.executable, "-m", "mockserver", "--host", cfg.host, "--port", str(cfg.port)]
    args += [
        "--seed",
        str(cfg.seed),
        "--latency",
        str(cfg.latency),
        "--max-delay",
        str(cfg.max_delay_ms),
    ]
    if cfg.faults:
        args += ["--faults", ",".join(f"{k}:{r}" for k, r in cfg.faults)]
    if cfg.max_in_flight:
        args += [
            "--max-in-flight",
            str(cfg.max_in_flight),
            "--over-limit",
            str(cfg.over_limit_status),
        ]
    if cfg.workers != 1:
        args += ["--workers", str(cfg.workers)]
    args += ["--request-log", str(cfg.request_log)]
    if cfg.site_pages:
        args += ["--site", str(cfg.site_pages), "--site-hosts", str(cfg.site_hosts)]
        args += ["--site-crawl-delay", str(cfg.site_crawl_delay)]
    if cfg.replay:
        args += ["--replay", *cfg.replay]
        for root in cfg.replay_root:
            args += ["--replay-root", root]
    if cfg.tls:
        args += ["--tls"]
        for name in cfg.tls_names:
            args += ["--tls-name", name]
        if cfg.tls_ca:
            args += ["--tls-ca", cfg.tls_ca]
    args += [
        "--idle-timeout",
        str(cfg.idle_timeout_s),
        "--header-timeout",
        str(cfg.header_timeout_s),
    ]
    return args


@contextlib.contextmanager
def _serve_subprocess(cfg: ServerConfig) -> Iterator[RunningServer]:
    default = ServerConfig()
    hidden = [
        f.name
        for f in fields(cfg)
        if f.name not in CLI_FIELDS and getattr(cfg, f.name) != getattr(default, f.name)
    ]
    if hidden:
        raise ValueError(
            f"mode='subprocess' cannot set {', '.join(hidden)} (not on mockserver's command "
            "line): use mode='thread'"
        )
    # stderr goes to a file, not a pipe: nobody drains a pipe while the server runs, and a
    # server that logs enough would block on a full one.
    with tempfile.TemporaryFile("w+") as errors:
        # The lifeline: the server holds the read end of a pipe whose write end only this
        # process holds, and exits when it reads end-of-file, that is when this process dies.
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[lifeline.ENV] = lifeline.child_env(read_fd)
        try:
            proc = subprocess.Popen(
                command(cfg),
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
                pass_fds=(read_fd,),
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if " on " not in line:
                proc.kill()
                proc.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(f"mockserver did not start: {(line + errors.read()).strip()}")
            url = line.split(" on ", 1)[1].split()[0]
            ca_file = None
            if cfg.tls:  # the next line names the CA's file
                ca_line = proc.stdout.readline()
                ca_file = ca_line.split(" CA ", 1)[1].split()[0] if " CA " in ca_line else None
            yield RunningServer(url, cfg, ca_file)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            os.close(write_fd)
