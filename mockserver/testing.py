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

The ``mockserver`` pytest fixture is in :mod:`mockserver.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from mockserver import faults as faults_mod
from mockserver import latency as latency_mod
from mockserver import lifeline
from mockserver.config import ServerConfig
from mockserver.loop import new_event_loop
from mockserver.server import MockServer


class RunningServer:
    """A started server: its URL and small blocking helpers to read what it recorded."""

    def __init__(self, url: str, config: ServerConfig) -> None:
        self.url = url
        self.config = config

    def get(self, path: str, timeout: float = 10.0) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
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
        self.get("/__reset")


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
    strings.  ``mode`` is ``"thread"`` or ``"subprocess"``.
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


@contextlib.contextmanager
def _serve_thread(cfg: ServerConfig) -> Iterator[RunningServer]:
    loop = new_event_loop()
    server = MockServer(cfg)
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
        yield RunningServer(server.url, cfg)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


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
    if cfg.site_pages:
        args += ["--site", str(cfg.site_pages), "--site-hosts", str(cfg.site_hosts)]
        args += ["--site-crawl-delay", str(cfg.site_crawl_delay)]
    args += [
        "--idle-timeout",
        str(cfg.idle_timeout_s),
        "--header-timeout",
        str(cfg.header_timeout_s),
    ]
    return args


@contextlib.contextmanager
def _serve_subprocess(cfg: ServerConfig) -> Iterator[RunningServer]:
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
            yield RunningServer(url, cfg)
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
