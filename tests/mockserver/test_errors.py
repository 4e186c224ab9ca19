"""A bug is a 500 told on stderr, never a silent 400; a value that cannot work is refused early.

httptools reports an exception raised inside a parser callback as a parse error, so a
route that raised used to be answered "400 malformed request" and logged nowhere
(issue 11: ``/add?latency=pareto:1,0.0001`` divided by zero).  Here the router is
replaced by one with real bugs in it, and the server must answer 500, say so once per
kind of bug on the ``mockserver`` logger, and keep serving.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from raw_http import connect, get, one, read_responses, read_until_closed

from mockserver import routes
from mockserver.config import ConfigError, ServerConfig
from mockserver.latency import Latency, SpecError
from mockserver.loop import new_event_loop
from mockserver.routes import Plan, Request
from mockserver.server import MockServer
from mockserver.state import ServerState
from mockserver.testing import serve

Router = Callable[[Request, ServerState], Plan]


@contextmanager
def serving(router: Router) -> Iterator[MockServer]:
    """A mock server in a thread whose router is ``router``."""
    loop = new_event_loop()
    server = MockServer(ServerConfig())
    server.router = router
    thread = threading.Thread(target=loop.run_forever, name="buggy-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def buggy(req: Request, state: ServerState) -> Plan:
    """The real routes, plus two bugs: ``/divide`` raises, ``/nothing`` returns no plan."""
    if req.target.startswith("/divide"):
        return Plan(body=b"%d" % (1 // 0))
    if req.target.startswith("/nothing"):
        result: Any = None  # a route that forgot its return: the protocol trips over it
        return result  # type: ignore[no-any-return]
    return routes.plan(req, state)


def bug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mockserver"]


def test_a_route_that_raises_is_a_500_told_once(caplog: pytest.LogCaptureFixture) -> None:
    with serving(buggy) as server, connect(server.url) as sock:
        sock.sendall(get("/divide") + get("/divide?again=1") + get("/add"))
        first, second, after = read_responses(sock, 3)
        assert (first.status, first.body) == (500, b"internal error: ZeroDivisionError\n")
        assert second.status == 500
        assert (after.status, after.body) == (200, b".")  # the connection goes on
        stats = server.state.recorder.stats()
    assert stats["internal_errors"] == 2
    assert stats["bad_requests"] == 0  # not the client's fault
    lines = bug_lines(caplog)
    assert len(lines) == 1, lines  # once per kind, not once per request
    assert "GET /divide" in lines[0] and "ZeroDivisionError" in lines[0]
    assert "\n" not in lines[0]


def test_a_bug_past_the_route_is_a_500_and_a_close(caplog: pytest.LogCaptureFixture) -> None:
    # The route returned nothing: the protocol itself raises inside the parser's callback.
    # The parser cannot go on after that, so the answer is 500 and a close, not a 400.
    with serving(buggy) as server:
        with connect(server.url) as sock:
            sock.sendall(get("/nothing") + get("/add"))
            raw = read_until_closed(sock)
        assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert raw.endswith(b"\r\n\r\ninternal error: AttributeError\n")
        assert b"Connection: close" in raw
        assert one(server.url, "/add").body == b"."  # and the server is fine
    lines = bug_lines(caplog)
    assert len(lines) == 1 and "AttributeError" in lines[0], lines


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"seed": 99999999999999999999}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        ({"max_delay_ms": math.nan}, "max_delay_ms"),
        ({"max_delay_ms": -1.0}, "max_delay_ms"),
        ({"max_delay_ms": math.inf}, "max_delay_ms"),
        ({"latency": Latency("pareto", 1.0, 0.0001)}, "latency"),
        ({"latency": Latency("lognormal", 1.0, 1e308)}, "latency"),
        ({"idle_timeout_s": 0.0}, "idle_timeout_s"),
        ({"header_timeout_s": math.nan}, "header_timeout_s"),
        ({"max_names": 0}, "max_names"),
        ({"max_identities": 0}, "max_identities"),
        ({"max_pipeline": 0}, "max_pipeline"),
    ],
)
def test_a_config_that_cannot_work_is_refused_when_made(
    overrides: dict[str, Any], field: str
) -> None:
    # Refused where it is given, with a one-line reason, not by every request later.
    with pytest.raises(ConfigError) as info:
        ServerConfig(**overrides)
    assert info.value.field == field
    assert isinstance(info.value, SpecError) and "\n" not in str(info.value)
    with pytest.raises(SpecError), serve(**overrides):
        pass


def test_the_extremes_that_work_are_accepted() -> None:
    ServerConfig(seed=2**63 - 1, max_delay_ms=0.0)
    ServerConfig(seed=-(2**63), latency=Latency("pareto", 1.0, 0.05))  # heavy, but finite
    with serve(seed=2**63 - 1, latency="uniform:0,1") as server:
        assert one(server.url, "/add?id=1").body == b"."


BUGGY_PROCESS = """
import sys, urllib.error, urllib.request
sys.path.insert(0, {here!r})
from test_errors import buggy, serving
with serving(buggy) as server:
    for target in ("/divide", "/divide?id=2", "/divide?id=3", "/add"):
        try:
            urllib.request.urlopen(server.url + target, timeout=5).close()
        except urllib.error.HTTPError as exc:
            print(exc.code)
            exc.close()
"""


def test_a_bug_is_one_line_on_the_stderr_of_a_server_process() -> None:
    # As in ``python -m mockserver``: nobody set logging up, and the line still shows.
    script = BUGGY_PROCESS.format(here=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["500", "500", "500"]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mockserver: internal error (a bug) answering GET /divide: ")
    assert "ZeroDivisionError: integer division or modulo by zero (" in lines[0]
