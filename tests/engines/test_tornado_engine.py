"""The tornado engine: both its clients keep the contract, its resolver shares lookups.

The registry has one ``tornado`` engine: the curl client when pycurl imports, else the
simple one; ``CONCUR_TORNADO_CLIENT`` picks either.  These tests run the contract
suite's own checks with each client chosen explicitly, so whichever is the default,
the two are held to exactly the same behaviour.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

import pytest
import test_contract as contract  # the sibling module; pytest puts tests/engines on sys.path

from concur.engines import EngineUnavailable
from concur.experiment import book_urls
from concur.records import CrawlConfig
from mockserver.testing import RunningServer

HAVE_PYCURL = importlib.util.find_spec("pycurl") is not None
HAVE_TORNADO = importlib.util.find_spec("tornado") is not None

pytestmark = pytest.mark.skipif(not HAVE_TORNADO, reason="tornado is not installed")

CHECKS: dict[str, Callable[[str, RunningServer], None]] = {
    "every_url_fetched_once": contract.test_every_url_fetched_once,
    "concurrency_limit_seen_by_server": contract.test_concurrency_limit_seen_by_server,
    "faults_become_error_records": contract.test_faults_become_error_records,
    "attempts_are_what_the_server_saw": contract.test_attempts_are_what_the_server_saw,
    "retries_redirects_and_gzip": contract.test_retries_redirects_and_gzip,
    "waits_overlap": contract.test_waits_overlap,
}


NEEDS_PYCURL = pytest.mark.skipif(
    not HAVE_PYCURL, reason="pycurl is not installed: pip install 'concur[curl]'"
)


@pytest.mark.parametrize("client", ["simple", pytest.param("curl", marks=NEEDS_PYCURL)])
@pytest.mark.parametrize("check", list(CHECKS))
def test_each_client_keeps_the_contract(
    client: str, check: str, mockserver: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCUR_TORNADO_CLIENT", client)
    CHECKS[check]("tornado", mockserver)


def test_default_client_is_curl_when_pycurl_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    from concur.engines.tornado_engine import default_client

    monkeypatch.delenv("CONCUR_TORNADO_CLIENT", raising=False)
    assert default_client() == ("curl" if HAVE_PYCURL else "simple")
    monkeypatch.setitem(sys.modules, "pycurl", None)  # as if it were not installed
    assert default_client() == "simple"
    monkeypatch.setenv("CONCUR_TORNADO_CLIENT", "Simple ")
    assert default_client() == "simple"


@pytest.mark.skipif(not HAVE_PYCURL, reason="pycurl is not installed: pip install 'concur[curl]'")
def test_curl_variant_is_named_and_recorded(mockserver: RunningServer) -> None:
    from concur.engines.tornado_engine import run, run_curl

    urls = book_urls(mockserver.url, 5, "v", delay_ms=1)
    assert run_curl(urls, CrawlConfig(concurrency=2)).engine == "tornado-curl"
    result = run(urls, CrawlConfig(concurrency=2), client="curl")
    assert (result.engine, result.extra["client"], result.ok) == ("tornado", "curl", 5)


def test_client_choice_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from concur.engines.tornado_engine import run

    monkeypatch.setenv("CONCUR_TORNADO_CLIENT", "urllib")
    with pytest.raises(EngineUnavailable, match="'urllib': choose one of simple, curl"):
        run([], CrawlConfig())


def test_curl_without_pycurl_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from concur.engines.tornado_engine import run

    monkeypatch.setitem(sys.modules, "pycurl", None)  # as if it were not installed
    with pytest.raises(EngineUnavailable, match=r"needs pycurl.*concur\[curl\]"):
        run(["http://127.0.0.1:1/"], CrawlConfig(), client="curl")


def test_simple_client_lookups_are_shared_and_failures_not_kept() -> None:
    import asyncio
    import socket

    from concur.engines.tornado_engine import _CachingResolver

    calls: list[str] = []

    class Slow:
        async def resolve(self, host: str, port: int, family: int) -> list[tuple[int, str]]:
            calls.append(host)
            await asyncio.sleep(0.01)
            if host == "nowhere":
                raise socket.gaierror(-2, "Name or service not known")
            return [(socket.AF_INET, host)]

        def close(self) -> None:
            pass

    async def main() -> None:
        resolver = _CachingResolver()
        resolver._inner = Slow()  # type: ignore[assignment]
        answers = await asyncio.gather(*(resolver.resolve("h", 80) for _ in range(50)))
        assert all(a == [(socket.AF_INET, "h")] for a in answers) and calls == ["h"]
        failed = await asyncio.gather(
            *(resolver.resolve("nowhere", 80) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(f, socket.gaierror) for f in failed)
        with pytest.raises(socket.gaierror):
            await resolver.resolve("nowhere", 80)
        assert calls == ["h", "nowhere", "nowhere"]
        resolver.close()

    asyncio.run(main())
