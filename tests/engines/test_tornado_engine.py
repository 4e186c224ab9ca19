"""The tornado engine: its client is an option, checked; its resolver shares lookups.

The registry has one ``tornado`` engine: the curl client when pycurl imports, else the
simple one; the option ``client`` picks either.  The contract suite
(``test_contract.py``) runs both clients explicitly, so whichever is the default, the
two are held to exactly the same behaviour.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from concur.engines import get_engine
from concur.errors import EngineUnavailable, SpecError
from concur.experiment import book_urls
from concur.records import CrawlConfig
from mockserver.testing import RunningServer

HAVE_PYCURL = importlib.util.find_spec("pycurl") is not None
HAVE_TORNADO = importlib.util.find_spec("tornado") is not None

pytestmark = pytest.mark.skipif(not HAVE_TORNADO, reason="tornado is not installed")


def test_default_client_is_curl_when_pycurl_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    from concur.engines.tornado_engine import default_client

    assert default_client() == ("curl" if HAVE_PYCURL else "simple")
    monkeypatch.setitem(sys.modules, "pycurl", None)  # as if it were not installed
    assert default_client() == "simple"


@pytest.mark.skipif(not HAVE_PYCURL, reason="pycurl is not installed: pip install 'concur[curl]'")
def test_the_client_is_named_in_the_result(mockserver: RunningServer) -> None:
    urls = book_urls(mockserver.url, 5, "v", delay_ms=1)
    for client in ("curl", "simple"):
        result = get_engine("tornado", client=client).fetch(urls, CrawlConfig(concurrency=2))
        assert (result.engine, result.extra["client"], result.ok) == ("tornado", client, 5)


def test_client_choice_is_checked() -> None:
    with pytest.raises(SpecError, match="'urllib' is not one of curl, simple"):
        get_engine("tornado", client="urllib")
    with pytest.raises(SpecError, match="has no option 'client'"):
        get_engine("asyncio", client="curl")


def test_curl_without_pycurl_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pycurl" else real(name, *a)
    )
    with pytest.raises(EngineUnavailable, match=r"needs pycurl.*concur\[curl\]"):
        get_engine("tornado", client="curl")


@pytest.mark.asyncio
async def test_simple_client_lookups_are_shared_and_failures_not_kept() -> None:
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
