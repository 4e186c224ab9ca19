"""HTTPS and ``--resolve`` on every engine, against the real mock server over loopback.

The server (``tls=True``) makes a CA at start-up and a certificate for 127.0.0.1,
localhost and ``site.example``; a client trusts it through ``CrawlConfig.ca_file`` or
``SSL_CERT_FILE``, and anything else is a certificate error of its own kind, never
retried.  ``resolve`` sends a recorded name to the server's address while the URL, the
Host header, SNI and the certificate check keep the name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import ENGINES, Engine, get_engine
from concur.engines.connect import parse_resolve, resolved
from concur.errors import EngineUnavailable
from concur.records import CrawlConfig, ErrorKind
from mockserver.testing import RunningServer, serve

pytest.importorskip("trustme")

VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    name: (name, {}) for name in ENGINES if name != "tornado"
}
VARIANTS["tornado-curl"] = ("tornado", {"client": "curl"})
VARIANTS["tornado-simple"] = ("tornado", {"client": "simple"})
ALL = list(VARIANTS)
NAME = "site.example"  # a name only --resolve can reach


def _engine(impl: str) -> Engine:
    name, options = VARIANTS[impl]
    try:
        return get_engine(name, **options)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RunningServer]:
    with serve(tls=True, tls_names=(NAME,), site_pages=40, site_hosts=2) as server:
        yield server


@pytest.fixture(scope="module")
def other_tls_server() -> Iterator[RunningServer]:
    """A second server with a CA of its own: its certificate is not trusted by the first's."""
    with serve(tls=True) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_inherited_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


def _host_header(server: RunningServer, target: str) -> str:
    seen = [r for r in server.requests() if r.target == target]
    assert seen, f"the server never saw {target}"
    headers = {k.lower(): v for k, v in seen[-1].headers.items()}
    return headers["host"]


@pytest.mark.parametrize("impl", ALL)
def test_https_with_ca_file(impl: str, tls_server: RunningServer) -> None:
    run = _engine(impl)
    urls = [f"{tls_server.url}/add?name=tls-{impl}&i={i}" for i in range(6)]
    urls.append(tls_server.url.replace("127.0.0.1", "localhost") + f"/bytes/300?name=tls-{impl}")
    result = run(urls, CrawlConfig(concurrency=3, timeout=10, ca_file=tls_server.ca_file))
    assert [(r.status, r.error) for r in result.records] == [(200, None)] * 7
    assert result.records[-1].nbytes == 300


@pytest.mark.parametrize("impl", ALL)
def test_ssl_cert_file_is_read(
    impl: str, tls_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_server.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_file)
    result = _engine(impl)([f"{tls_server.url}/add?name=env-{impl}"], CrawlConfig(timeout=10))
    assert (result.records[0].status, result.records[0].error) == (200, None)


@pytest.mark.parametrize("impl", ALL)
def test_untrusted_certificate_is_its_own_kind(
    impl: str, tls_server: RunningServer, other_tls_server: RunningServer
) -> None:
    """Another CA's server, and a name the certificate does not carry: both certificate
    errors, each tried once whatever ``retries`` says; the good URL beside them is kept."""
    port = int(tls_server.url.rsplit(":", 1)[1])
    config = CrawlConfig(
        timeout=10,
        retries=2,
        backoff=0.01,
        ca_file=tls_server.ca_file,
        resolve=(("wrong.example", port, "127.0.0.1"),),
    )
    urls = [
        f"{other_tls_server.url}/add?name=untrusted-{impl}",
        f"https://wrong.example:{port}/add?name=wrongname-{impl}",
        f"{tls_server.url}/add?name=fine-{impl}",
    ]
    result = _engine(impl)(urls, config)
    kinds = [(r.error, r.attempts) for r in result.records]
    assert kinds[:2] == [(ErrorKind.CERTIFICATE, 1)] * 2, [r.detail for r in result.records]
    assert (result.records[2].status, result.records[2].error) == (200, None)
    assert all(r.detail for r in result.records[:2])  # a one-line reason


@pytest.mark.parametrize("impl", ALL)
def test_resolve_keeps_the_name(impl: str, tls_server: RunningServer) -> None:
    """https://site.example:PORT/ reaches 127.0.0.1: the Host header and the certificate
    check say site.example, and the record keeps the URL as given."""
    port = int(tls_server.url.rsplit(":", 1)[1])
    url = f"https://{NAME}:{port}/add?name=resolve-{impl}"
    config = CrawlConfig(
        timeout=10, ca_file=tls_server.ca_file, resolve=((NAME, port, "127.0.0.1"),)
    )
    result = _engine(impl)([url], config)
    assert (result.records[0].url, result.records[0].status) == (url, 200)
    assert _host_header(tls_server, f"/add?name=resolve-{impl}") == f"{NAME}:{port}"


@pytest.mark.parametrize("impl", ALL)
def test_resolve_over_plain_http(impl: str, mockserver: RunningServer) -> None:
    port = int(mockserver.url.rsplit(":", 1)[1])
    url = f"http://recorded.example:{port}/add?name=plain-resolve-{impl}"
    config = CrawlConfig(timeout=10, resolve=(("RECORDED.example", port, "127.0.0.1"),))
    # The same name on another port is not resolved: a DNS error, as curl gives.
    other = f"http://recorded.example:{port + 1 if port < 65535 else port - 1}/"
    result = _engine(impl)([url, other], config)
    assert (result.records[0].status, result.records[0].error) == (200, None)
    assert result.records[1].error is ErrorKind.DNS
    assert _host_header(mockserver, f"/add?name=plain-resolve-{impl}") == (
        f"recorded.example:{port}"
    )


@pytest.mark.parametrize("impl", [i for i in ALL if i != "serial"])
def test_crawl_over_https_matches_the_ground_truth(impl: str, tls_server: RunningServer) -> None:
    """Crawl mode over TLS: robots.txt, links and pages, exactly the site's truth."""
    truth = tls_server.get_json("/__site")
    plan = CrawlPlan(
        (tls_server.url + "/",), CrawlOptions(per_host=4), domains=("127.0.0.1", "127.0.0.2")
    )
    config = CrawlConfig(concurrency=8, timeout=10, ca_file=tls_server.ca_file)
    result = _engine(impl).crawl(plan, config)
    fetched = {r.url for r in result.records if r.error is None and r.status == 200}
    assert all(u.startswith("https://") for u in fetched)
    assert fetched == set(truth["expected"]), [r for r in result.records if r.error][:3]


def test_parse_resolve() -> None:
    assert parse_resolve("Example.COM:443:127.0.0.1") == ("example.com", 443, "127.0.0.1")
    assert parse_resolve("example.com:8080:[::1]") == ("example.com", 8080, "::1")
    for bad in ("example.com:443", "example.com:x:127.0.0.1", "a:0:127.0.0.1", "a:80:host"):
        with pytest.raises(ValueError):
            parse_resolve(bad)
    config = CrawlConfig(resolve=(("example.com", 443, "10.0.0.1"),))
    assert resolved(config, "EXAMPLE.com", 443) == "10.0.0.1"
    assert resolved(config, "example.com", 80) == "example.com"


def _ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("impl", ALL)
def test_an_ipv6_literal(impl: str) -> None:
    with serve(host="::1") as server:
        url = f"{server.url}/add?name=v6-{impl}"
        assert url.startswith("http://[::1]:")
        result = _engine(impl)([url], CrawlConfig(timeout=10))
    record = result.records[0]
    assert (record.status, record.error) == (200, None), record.detail


@pytest.mark.parametrize("impl", ALL)
def test_a_name_is_looked_up(impl: str, mockserver: RunningServer) -> None:
    """``localhost``: through each library's resolver (the protocol engine's cache too),
    twice, on a server listening on 127.0.0.1."""
    port = int(mockserver.url.rsplit(":", 1)[1])
    urls = [f"http://localhost:{port}/bytes/7?i={i}" for i in range(2)]
    result = _engine(impl)(urls, CrawlConfig(timeout=10))
    assert [(r.status, r.nbytes) for r in result.records] == [(200, 7)] * 2
