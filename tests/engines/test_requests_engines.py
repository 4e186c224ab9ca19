"""What only the requests engines (serial, threads, processes) need checking beyond the contract.

requests has no whole-request timeout, so ``requests_fetcher`` adds one (a watchdog);
urllib3's exceptions are mapped in one function (shared with gevent); the process
engine must survive its workers.
"""

from __future__ import annotations

import errno
import http.client
import os
import ssl

import pytest
import requests
import urllib3.exceptions

from concur.attempt import Attempt
from concur.engines import get_engine, processes
from concur.engines.urllib3_errors import classify
from concur.records import CrawlConfig, ErrorKind, FetchRecord
from mockserver.testing import RunningServer

ENGINES = {name: get_engine(name) for name in ("serial", "threads", "processes")}


@pytest.mark.parametrize("impl", list(ENGINES))
def test_timeout_bounds_the_whole_request(impl: str, mockserver: RunningServer) -> None:
    # headers at once, then a byte every 0.3 s: no single read ever waits 0.5 s
    drip = f"{mockserver.url}/drip?name=w&bytes=10&duration=3000&chunks=10"
    urls = [drip, f"{mockserver.url}/add"]
    result = ENGINES[impl](urls, CrawlConfig(concurrency=2, timeout=0.5))
    slow, fast = result.records
    assert slow.error is ErrorKind.TIMEOUT, slow
    assert slow.elapsed < 1.5  # 0.5 s and scheduling slack, far from the drip's 3 s
    assert fast.ok


R = requests.exceptions
U = urllib3.exceptions


def _aborted(inner: Exception) -> Exception:  # before the status line came
    return R.ConnectionError(U.ProtocolError("Connection aborted.", inner))


def _refused() -> Exception:
    reason = U.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    reason.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return R.ConnectionError(U.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_refused(), ErrorKind.REFUSED),
        (R.ConnectTimeout("connect timed out"), ErrorKind.TIMEOUT),
        (_aborted(ConnectionResetError(errno.ECONNRESET, "reset")), ErrorKind.RESET),
        (_aborted(http.client.RemoteDisconnected("closed")), ErrorKind.RESET),
        (_aborted(http.client.BadStatusLine("HTTP/1.1 OK maybe")), ErrorKind.PROTOCOL),
        (
            R.ChunkedEncodingError(U.ProtocolError("broken", http.client.IncompleteRead(b"", 5))),
            ErrorKind.TRUNCATED,
        ),
        (R.SSLError(ssl.SSLError(1, "handshake failure")), ErrorKind.CONNECT),
        (R.InvalidURL("bad label"), ErrorKind.INVALID_URL),
        (R.TooManyRedirects("Exceeded 10 redirects."), ErrorKind.OTHER),
        (R.InvalidHeader("bad header value"), ErrorKind.OTHER),
        (R.ContentDecodingError(U.DecodeError("bad gzip")), ErrorKind.PROTOCOL),
    ],
)
def test_classify(exc: Exception, kind: ErrorKind) -> None:
    outcome = classify(exc)
    assert outcome.error is kind, outcome
    assert outcome.detail


def test_process_layout() -> None:
    assert processes.layout(100, processes=2) == [50, 50]
    assert processes.layout(3, processes=4) == [1, 1, 1]  # no idle workers
    assert processes.layout(7, processes=3) == [3, 2, 2]
    assert sum(processes.layout(2000)) == 2000


def _crash(*args: object) -> None:
    os._exit(3)


@pytest.mark.skipif(processes._context().get_start_method() != "fork", reason="needs fork")
def test_dead_workers_still_give_one_record_per_url(
    mockserver: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "_worker", _crash)  # forked children run the patched one
    urls = [f"{mockserver.url}/add?id={i}" for i in range(5)]
    seen: list[FetchRecord] = []
    result = get_engine("processes").fetch(urls, CrawlConfig(concurrency=2), seen.append)
    assert [r.url for r in result.records] == urls
    assert all(r.error is ErrorKind.OTHER and "code 3" in r.detail for r in result.records)
    assert len(seen) == 5


def _crash_on_third(*args: object) -> None:
    """A worker that fetches two URLs, then dies holding the third (and any others)."""
    import os as os_

    tasks, results, inherited, config, redirects, keep_body, threads = args
    for conn in inherited:  # type: ignore[attr-defined]
        conn.close()
    results.send(("ready", 0.0))  # type: ignore[attr-defined]
    served = 0
    while True:
        key, url = tasks.recv()  # type: ignore[attr-defined]
        if served == 2:
            os_._exit(9)
        served += 1
        results.send((key, Attempt(200, 1)))  # type: ignore[attr-defined]


@pytest.mark.skipif(processes._context().get_start_method() != "fork", reason="needs fork")
def test_a_worker_dying_midway_loses_only_what_it_held(
    mockserver: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "_worker", _crash_on_third)
    urls = [f"{mockserver.url}/add?id={i}" for i in range(6)]
    engine = get_engine("processes", processes=1)
    result = engine.fetch(urls, CrawlConfig(concurrency=1))
    assert [r.url for r in result.records] == urls  # every URL, in order, once
    assert [r.ok for r in result.records[:2]] == [True, True]
    held, rest = result.records[2], result.records[3:]
    assert held.error is ErrorKind.OTHER and "code 9" in held.detail and held.attempts == 1
    assert all(r.error is ErrorKind.OTHER and r.attempts == 0 for r in rest)
