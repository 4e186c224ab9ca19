"""What only the gevent engine has: a child process that patches itself and may die.

The contract suite covers its behaviour as an engine; these tests cover the parent's
side of the pipe: patching never reaches the caller, the clock starts when the child is
ready, a child that dies still leaves one record per URL, and a crawl whose child dies
says so.
"""

from __future__ import annotations

import importlib.util
import socket
import textwrap

import pytest

from concur.engines import get_engine
from concur.experiment import book_urls
from concur.records import CrawlConfig, ErrorKind, FetchRecord
from mockserver.testing import RunningServer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gevent") is None, reason="gevent is not installed"
)


def test_patching_stays_in_the_child(mockserver: RunningServer) -> None:
    unpatched = socket.socket
    result = get_engine("gevent").fetch(book_urls(mockserver.url, 5, "g", delay_ms=1))
    assert result.ok == 5
    assert socket.socket is unpatched
    from gevent import monkey

    assert not monkey.is_module_patched("socket")
    extra = result.extra
    assert extra["startup_s"] > 0 and extra["total_wall_s"] > result.wall_s
    assert result.peak_in_flight == 5


def _fake_child(body: str) -> str:
    """A stand-in child program: reads its job, says it is ready, reports one URL, then ``body``."""
    return textwrap.dedent(
        """\
        import json, os, sys, time
        job = json.load(sys.stdin.buffer)
        out = sys.stdout
        out.write(json.dumps({"ready": time.perf_counter(), "cpu_s": 0.0}) + "\\n")
        url = job["job"][0]
        out.write(json.dumps([0, url, 200, 1, None, 1, 0.001, 0.002, "", ""]) + "\\n")
        out.flush()
        """
    ) + textwrap.dedent(body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("sys.stderr.write('boom: out of luck\\n'); sys.exit(3)", ["code 3", "boom: out of luck"]),
        ("import signal; os.kill(os.getpid(), signal.SIGKILL)", ["signal 9"]),
    ],
)
def test_a_dying_child_loses_no_url(
    body: str, words: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from concur.engines import gevent_engine

    monkeypatch.setattr(gevent_engine, "_CHILD", _fake_child(body))
    urls = [f"http://127.0.0.1:9/{i}" for i in range(4)]
    seen: list[FetchRecord] = []
    result = get_engine("gevent").fetch(urls, CrawlConfig(), seen.append)
    assert [r.url for r in result.records] == urls
    assert sorted(r.index for r in seen) == [0, 1, 2, 3]
    assert result.records[0].ok
    for r in result.records[1:]:
        assert r.error is ErrorKind.OTHER
        assert all(w in r.detail for w in words), r.detail
    assert "boom" in capsys.readouterr().err or "signal" in words[0]


def test_a_crawl_whose_child_dies_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from concur.crawl import CrawlPlan
    from concur.engines import gevent_engine
    from concur.errors import WorkerDied

    monkeypatch.setattr(gevent_engine, "_CHILD", "import sys; sys.exit(5)")
    with pytest.raises(WorkerDied, match="exited with code 5"):
        get_engine("gevent").crawl(CrawlPlan(("http://127.0.0.1:9/",)))


def test_an_on_record_error_stops_the_child(mockserver: RunningServer) -> None:
    def explode(record: FetchRecord) -> None:
        raise RuntimeError("progress bar broke")

    urls = book_urls(mockserver.url, 20, "g", delay_ms=50)
    with pytest.raises(RuntimeError, match="progress bar broke"):
        get_engine("gevent").fetch(urls, CrawlConfig(concurrency=2), explode)


def test_name_lookups_are_shared_and_failures_not_kept() -> None:
    import gevent

    from concur.engines.gevent_engine import _SharedLookups

    calls: list[str] = []

    class Slow:
        def getaddrinfo(self, host: str, *rest: int) -> list[str]:
            calls.append(host)
            gevent.sleep(0.01)
            if host == "nowhere":
                raise socket.gaierror(-2, "Name or service not known")
            return [f"address of {host}"]

    lookups = _SharedLookups(Slow())
    asks = [gevent.spawn(lookups.getaddrinfo, "h", 80, 0, 1, 0, 0) for _ in range(50)]
    gevent.joinall(asks, raise_error=True)
    assert {g.value[0] for g in asks} == {"address of h"} and calls == ["h"]
    assert lookups.getaddrinfo("h", 80, 0, 1, 0, 0) == ["address of h"] and calls == ["h"]

    def ask_nowhere() -> object:
        try:
            return lookups.getaddrinfo("nowhere", 80)
        except socket.gaierror as exc:
            return exc

    failing = [gevent.spawn(ask_nowhere) for _ in range(3)]
    gevent.joinall(failing, raise_error=True)
    assert all(isinstance(g.value, socket.gaierror) for g in failing)
    with pytest.raises(socket.gaierror):
        lookups.getaddrinfo("nowhere", 80)
    assert calls == ["h", "nowhere", "nowhere"]  # shared while running, not kept after
