"""The mock server over HTTPS: its CA, its certificate's names, the site's https links."""

from __future__ import annotations

import re
import ssl
import urllib.request

import pytest

from mockserver.config import ConfigError, ServerConfig
from mockserver.testing import serve

pytest.importorskip("trustme")


def _get(url: str, ca_file: str | None, host: str | None = None) -> bytes:
    context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(url, context=context, timeout=10) as resp:
        return bytes(resp.read())


@pytest.mark.parametrize("mode", ["thread", "subprocess"])
def test_every_name_is_in_the_certificate(mode: str) -> None:
    with serve(tls=True, site_pages=30, site_hosts=3, mode=mode) as server:
        assert server.url.startswith("https://") and server.ca_file
        port = server.url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "localhost", "127.0.0.2", "127.0.0.3"):
            assert _get(f"https://{host}:{port}/__health", server.ca_file) == b"ok\n"
        assert _get(f"{server.url}/__ca.pem", server.ca_file).startswith(b"-----BEGIN CERT")
        page = _get(server.url + "/", server.ca_file).decode()
        absolute = re.findall(r'href="([a-zA-Z]+)://127\.0\.0\.', page)
        assert absolute and {s.lower() for s in absolute} - {"ftp"} == {"https"}  # ftp: a trap
        truth = server.get_json("/__site")  # control requests speak TLS themselves
        assert truth["root"].startswith("https://")


def test_workers_share_one_ca() -> None:
    with serve(tls=True, workers=2, mode="subprocess") as server:
        for _ in range(8):  # connections spread over both workers: all trust one CA
            assert _get(server.url + "/__health", server.ca_file) == b"ok\n"


def test_a_new_server_has_a_new_ca() -> None:
    with serve(tls=True) as first:
        old = first.ca_file
        with serve(tls=True) as second, pytest.raises(urllib.error.URLError):
            _get(second.url + "/__health", old)


def test_close_makes_a_new_connection_per_request() -> None:
    with serve(tls=True) as server:
        context = ssl.create_default_context(cafile=server.ca_file)
        with urllib.request.urlopen(server.url + "/add?close=1", context=context) as resp:
            assert resp.headers["Connection"] == "close"


def test_tls_names_need_tls() -> None:
    with pytest.raises(ConfigError, match="needs tls"):
        ServerConfig(tls_names=("docs.example",))
    with pytest.raises(ConfigError, match="needs tls"):
        ServerConfig(tls_ca="/tmp/ca.pem")


def test_without_tls_there_is_no_ca() -> None:
    with serve() as server:
        assert server.ca_file is None
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url + "/__ca.pem", timeout=10)
        assert info.value.code == 404
        info.value.close()
