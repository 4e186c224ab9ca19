"""The synthetic site (``mockserver.site``) over real sockets on loopback.

The central check: a small, independent breadth-first crawler written here (http.client,
html.parser, urllib.robotparser) finds exactly the ground truth ``/__site`` announces —
so the HTML the site serves and the generator the ground truth is computed from agree.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest

from mockserver import cli
from mockserver.config import ServerConfig
from mockserver.latency import SpecError
from mockserver.site import Site, normalise, remove_dot_segments
from mockserver.testing import RunningServer, command, serve

PAGES = 300
HOSTS = 3
DELAY = 0.05


# -- a small crawler of our own ----------------------------------------------------------


class Client:
    """One keep-alive connection per host; redirects are answers, not followed."""

    def __init__(self) -> None:
        self.conns: dict[str, http.client.HTTPConnection] = {}

    def get(
        self, url: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        parts = urlsplit(url)
        conn = self.conns.get(parts.netloc)
        if conn is None:
            assert parts.hostname is not None
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            self.conns[parts.netloc] = conn
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    with Client() as client:
        return client.get(url, headers)


class LinkParser(HTMLParser):
    """The hrefs of ``<a>`` elements and the first ``<base href>``."""

    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        href = values.get("href")
        if tag == "base" and self.base is None and href is not None:
            self.base = href
        elif tag == "a" and href is not None:
            self.hrefs.append(href)


def links_of(url: str, body: bytes) -> list[str | None]:
    parser = LinkParser()
    parser.feed(body.decode("utf-8"))
    parser.close()
    base = normalise(parser.base, url) if parser.base is not None else url
    assert base is not None
    return [normalise(href, base) for href in parser.hrefs]


@dataclass
class Crawl:
    found: set[str] = field(default_factory=set)
    disallowed: set[str] = field(default_factory=set)
    redirects: dict[str, str] = field(default_factory=dict)
    not_found: set[str] = field(default_factory=set)
    content_types: dict[str, str] = field(default_factory=dict)
    skipped_hrefs: int = 0
    out_of_scope: set[str] = field(default_factory=set)


def crawl(root: str, hosts: list[str]) -> Crawl:
    """Breadth-first, one request at a time, honouring robots.txt (not its Crawl-delay)."""
    client = Client()
    robots: dict[str, urllib.robotparser.RobotFileParser] = {}
    result = Crawl()
    seen = {root}
    queue = deque([root])

    def enqueue(url: str | None) -> None:
        if url is None:
            result.skipped_hrefs += 1
        elif urlsplit(url).netloc not in hosts:
            result.out_of_scope.add(url)
        elif url not in seen:
            seen.add(url)
            queue.append(url)

    try:
        while queue:
            url = queue.popleft()
            netloc = urlsplit(url).netloc
            if netloc not in robots:
                status, _, body = client.get(f"http://{netloc}/robots.txt")
                assert status == 200
                rp = robots[netloc] = urllib.robotparser.RobotFileParser()
                rp.parse(body.decode().splitlines())
            if not robots[netloc].can_fetch("concur-test", url):
                result.disallowed.add(url)
                continue
            status, headers, body = client.get(url)
            if status in (301, 302, 303, 307, 308):
                target = normalise(headers["Location"], url)
                assert target is not None
                result.redirects[url] = target
                enqueue(target)
            elif status == 404:
                result.not_found.add(url)
            else:
                assert status == 200, (url, status)
                result.found.add(url)
                ctype = headers["Content-Type"]
                result.content_types[url] = ctype
                if ctype.startswith("text/html"):
                    for link in links_of(url, body):
                        enqueue(link)
    finally:
        client.close()
    return result


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[RunningServer]:
    with serve(site_pages=PAGES, site_hosts=HOSTS, site_crawl_delay=DELAY, seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def truth(site: RunningServer) -> dict[str, Any]:
    doc: dict[str, Any] = site.get_json("/__site")
    return doc


@pytest.fixture(scope="module")
def crawled(site: RunningServer, truth: dict[str, Any]) -> Crawl:
    return crawl(truth["root"], truth["hosts"])


def port_of(server: RunningServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def origin(server: RunningServer, host: int) -> str:
    return f"http://127.0.0.{host + 1}:{port_of(server)}"


# -- the rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "normal"),
    [
        ("HTTP://127.0.0.2:8080/p/7", None, "http://127.0.0.2:8080/p/7"),
        ("http://Example.COM:80/a", None, "http://example.com/a"),
        ("https://example.com:443", None, "https://example.com/"),
        ("http://h:81/p/x/../7#frag", None, "http://h:81/p/7"),
        ("http://h/x/../p/./7?b=2&a=1", None, "http://h/p/7?b=2&a=1"),
        ("  ../p/7\n", "http://h/p/12", "http://h/p/7"),
        ("7", "http://h/p/12?v=1", "http://h/p/7"),
        ("?v=2&ref=nav", "http://h/p/12", "http://h/p/12?v=2&ref=nav"),  # kept as is
        ("//h2:9/p/1", "http://h/p/12", "http://h2:9/p/1"),
        ("#top", "http://h/p/12", "http://h/p/12"),
        ("", "http://h/p/12", "http://h/p/12"),
        ("http://user:pw@h/", None, "http://h/"),
        ("http://[bad", None, None),
        ("http://", None, None),
        ("javascript:void(0)", "http://h/", None),
        ("mailto:a@b.invalid", "http://h/", None),
        ("ftp://h/x", None, None),
    ],
)
def test_normalise(url: str, base: str | None, normal: str | None) -> None:
    assert normalise(url, base) == normal


def test_remove_dot_segments() -> None:
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("/..") == "/"
    assert remove_dot_segments("/p/.") == "/p/"
    assert remove_dot_segments("/p/7") == "/p/7"


# -- the ground truth ------------------------------------------------------------------


def test_crawl_finds_exactly_the_ground_truth(crawled: Crawl, truth: dict[str, Any]) -> None:
    assert crawled.found == set(truth["expected"])
    assert crawled.disallowed == set(truth["disallowed"])
    assert crawled.redirects == truth["redirects"]
    assert crawled.not_found == set(truth["not_found"])
    assert truth["root"] in crawled.found
    # the quirks were there to be skipped or resolved
    assert crawled.skipped_hrefs >= 8
    assert any(urlsplit(u).hostname == "localhost" for u in crawled.out_of_scope)


def test_ground_truth_counts(truth: dict[str, Any], site: RunningServer) -> None:
    counts = truth["counts"]
    assert counts["expected"] == len(truth["expected"]) == counts["html"] + counts["other"]
    assert counts["disallowed"] == len(truth["disallowed"]) > 0
    assert counts["redirects"] == len(truth["redirects"]) > 0
    assert counts["not_found"] == len(truth["not_found"]) > 0
    assert sum(counts["by_depth"]) == counts["expected"]
    assert counts["by_depth"][0] == 1 and counts["max_depth"] == len(counts["by_depth"]) - 1
    assert 2 <= counts["max_depth"] <= 6
    assert truth["root"] == origin(site, 0) + "/"
    assert truth["hosts"] == [f"127.0.0.{h + 1}:{port_of(site)}" for h in range(HOSTS)]
    # every page is reachable: all public pages, and every private one is linked
    pages = {u for u in truth["expected"] if re.search(r"/p/\d+$", u)}
    private = {u for u in truth["disallowed"] if "/private/" in u}
    assert len(pages) + len(private) + 1 == PAGES  # + the root
    assert len(set(truth["expected"])) == len(truth["expected"])  # no duplicates
    for url in truth["expected"]:
        assert normalise(url) == url
    summary = site.get_json("/__site?summary=1")
    assert summary["counts"] == counts and "expected" not in summary


def test_ground_truth_by_depth(site: RunningServer, truth: dict[str, Any]) -> None:
    shallow = site.get_json("/__site?depth=1")
    by_depth = truth["counts"]["by_depth"]
    assert shallow["counts"]["by_depth"] == by_depth[:2]
    assert len(shallow["expected"]) == by_depth[0] + by_depth[1]
    assert set(shallow["expected"]) < set(truth["expected"])
    with pytest.raises(Exception, match="400"):
        site.get("/__site?depth=x")


def test_query_variants_are_pages_of_their_own(truth: dict[str, Any]) -> None:
    variants = [u for u in truth["expected"] if "?" in u]
    assert any(u.endswith("?v=1") for u in variants)
    assert any(u.endswith("?ref=nav&v=2") for u in variants)
    for url in variants:
        assert url.split("?")[0] in truth["expected"]


def test_every_expected_url_answers_2xx_to_a_fresh_client(
    site: RunningServer, truth: dict[str, Any]
) -> None:
    client = Client()
    try:
        for url in truth["expected"][::7]:
            status, _, body = client.get(url)
            assert status == 200 and body, url
    finally:
        client.close()


# -- pages, files, redirects, 404s -----------------------------------------------------


def test_pages_are_html_with_title_text_and_links(site: RunningServer) -> None:
    status, headers, body = fetch(origin(site, 0) + "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    text = body.decode()
    assert text.startswith("<!DOCTYPE html>") and "<title>" in text and "</html>" in text
    assert len(links_of(origin(site, 0) + "/", body)) >= 30
    for quirk in ("javascript:", "mailto:", "http://[bad", 'href=""', "HTTP://", "&amp;"):
        assert quirk in text, quirk
    assert "<script>" in text and "<!--" in text  # the traps
    status, _, body = fetch(origin(site, 1) + "/p/1")
    assert status == 200 and b"<base href=" in body


def test_non_html_content(truth: dict[str, Any]) -> None:
    files = [u for u in truth["expected"] if "/f/" in u]
    client = Client()
    seen = set()
    try:
        for url in files:
            status, headers, body = client.get(url)
            ctype = headers["Content-Type"]
            assert status == 200
            if url.endswith(".pdf"):
                assert ctype == "application/pdf" and body.startswith(b"%PDF-")
            elif url.endswith(".txt"):
                assert ctype.startswith("text/plain") and b"/trap/text" in body
            else:
                assert ctype == "image/png" and body.startswith(b"\x89PNG\r\n\x1a\n")
            seen.add(ctype.split(";")[0])
    finally:
        client.close()
    assert seen == {"application/pdf", "image/png", "text/plain"}


def test_redirect_chain_and_loop(site: RunningServer, truth: dict[str, Any]) -> None:
    redirects = truth["redirects"]
    start = next(u for u in redirects if "/r/3/" in u)
    client = Client()
    try:
        url, statuses = start, []
        while url in redirects:
            status, headers, _ = client.get(url)
            statuses.append(status)
            nxt = normalise(headers["Location"], url)
            assert nxt == redirects[url]
            url = nxt
        assert statuses == [307, 302, 301]
        assert url in truth["expected"] and "/r/" not in url
        # the chain from /r/2/ meets the one from /r/3/
        assert start.replace("/r/3/", "/r/2/") in redirects
        loop_a = origin(site, 0) + "/loop/a"
        assert redirects[loop_a] == origin(site, 0) + "/loop/b"
        assert redirects[origin(site, 0) + "/loop/b"] == loop_a
        status, headers, _ = client.get(loop_a)
        assert status == 302 and headers["Location"] == "/loop/b"
        status, headers, _ = client.get(origin(site, 1) + "/")
        assert status == 302 and headers["Location"] == origin(site, 0) + "/"
    finally:
        client.close()


def test_404s(site: RunningServer, truth: dict[str, Any]) -> None:
    client = Client()
    try:
        for url in truth["not_found"]:
            status, headers, _ = client.get(url)
            assert status == 404 and headers["Content-Type"].startswith("text/html")
        for path in ("/p/0", "/p/abc", "/p/007", "/p/1/x", "/f/1.gif", "/r/9/1", "/trap/x"):
            assert client.get(origin(site, 0) + path)[0] == 404, path
        assert client.get(origin(site, 0) + "/p/1")[0] == 404  # page 1 lives on 127.0.0.2
        assert client.get(origin(site, 1) + "/p/1")[0] == 200
    finally:
        client.close()


# -- robots.txt and sitemaps -----------------------------------------------------------


def test_robots_txt(site: RunningServer) -> None:
    client = Client()
    try:
        texts = [client.get(origin(site, h) + "/robots.txt") for h in range(HOSTS)]
    finally:
        client.close()
    for h, (status, headers, body) in enumerate(texts):
        text = body.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert "User-agent: otherbot\nDisallow: /\n" in text
        assert "User-agent: *" in text and "Disallow: /private" in text
        assert f"Sitemap: {origin(site, h)}/sitemap.xml" in text
        delays = re.findall(r"^Crawl-delay: (.+)$", text, re.M)
        assert delays == ([f"{DELAY:g}"] if h == HOSTS - 1 else [])
    assert "Disallow: /f/" in texts[1][2].decode()
    truth = site.get_json("/__site?summary=1")
    assert truth["crawl_delay"][f"127.0.0.{HOSTS}:{port_of(site)}"] == DELAY


def test_sitemaps_list_expected_pages(site: RunningServer, truth: dict[str, Any]) -> None:
    client = Client()
    try:
        for h in range(HOSTS):
            status, headers, body = client.get(origin(site, h) + "/sitemap.xml")
            assert status == 200 and headers["Content-Type"] == "application/xml"
            urls = re.findall(r"<loc>(.*?)</loc>", body.decode())
            assert urls and set(urls) <= set(truth["expected"])
            assert all(u.startswith(origin(site, h) + "/") for u in urls)
    finally:
        client.close()


# -- hosts -----------------------------------------------------------------------------


def test_every_host_listens_and_the_host_header_selects(site: RunningServer) -> None:
    port = port_of(site)
    for h in range(HOSTS):
        socket.create_connection((f"127.0.0.{h + 1}", port), timeout=5).close()
    client = Client()
    try:
        direct = client.get(origin(site, 1) + "/p/1")
        via_1 = client.get(origin(site, 0) + "/p/1", {"Host": f"127.0.0.2:{port}"})
        assert direct[0] == via_1[0] == 200 and direct[2] == via_1[2]
        assert client.get(origin(site, 1) + "/p/1", {"Host": f"127.0.0.1:{port}"})[0] == 404
        # a name that is not one of the site's hosts gets the ordinary endpoints
        status, _, body = client.get(origin(site, 0) + "/", {"Host": f"localhost:{port}"})
        assert status == 200 and b"/add" in body
        assert client.get(origin(site, 0) + "/add")[2] == b"."
    finally:
        client.close()


# -- determinism -----------------------------------------------------------------------


def test_same_seed_same_site() -> None:
    paths = ["/", "/robots.txt", "/sitemap.xml"] + [f"/p/{j}" for j in (3, 6, 9)]
    bodies = []
    for seed in (7, 7, 8):
        with serve(site_pages=100, site_hosts=2, seed=seed) as server:
            port = str(port_of(server))
            client = Client()
            try:
                pages = [
                    client.get(server.url + p)[2].replace(port.encode(), b"PORT") for p in paths
                ]
            finally:
                client.close()
            truth = server.get_json("/__site")
            bodies.append((pages, json.dumps(truth["expected"]).replace(port, "PORT")))
    assert bodies[0] == bodies[1]
    assert bodies[0][0][0] != bodies[2][0][0] and bodies[0][1] != bodies[2][1]


def test_pages_are_generated_on_demand() -> None:
    cfg = ServerConfig(site_pages=1_000_000, site_hosts=3, port=8080)
    one, two = Site(cfg), Site(cfg)
    for j in (0, 1, 12_345, 999_999):
        assert one.renderer.page_html(j) == two.renderer.page_html(j)
    assert one.graph.links(500_000) == two.graph.links(500_000)
    assert not one.truth.searched  # nothing was searched


# -- server-side checks ----------------------------------------------------------------


def test_stats_count_fetches_duplicates_and_disallowed(
    site: RunningServer, truth: dict[str, Any]
) -> None:
    site.reset()
    page = origin(site, 1) + "/p/1"
    private = next(u for u in truth["disallowed"] if "/private/" in u)
    client = Client()
    try:
        client.get(page)
        client.get(page)
        client.get(private)
        client.get(origin(site, 0) + "/trap/script")
        client.get(origin(site, 0) + "/p/2?fault=429")
        for h in range(HOSTS):
            client.get(origin(site, h) + "/robots.txt")
    finally:
        client.close()
    stats = site.get_json("/__site?stats=1")["stats"]
    assert stats["fetched_twice"] == {page: 2}
    assert stats["fetched_twice_count"] == 1
    assert list(stats["disallowed_fetched"]) == [private]
    assert stats["trap_hits"]["script"] == 1
    assert stats["faulted"] == 1
    assert stats["requests"] == 8 and stats["delivered"] == 7
    port = port_of(site)
    per_host = stats["hosts"]
    assert per_host[f"127.0.0.2:{port}"]["requests"] == 3  # page twice and robots
    assert per_host[f"127.0.0.2:{port}"]["peak_in_flight"] == 1
    assert per_host[f"127.0.0.2:{port}"]["min_gap_s"] > 0
    timeline = site.timeline(f"site:127.0.0.2:{port}")
    assert timeline["count"] == 3 and timeline["peak_in_flight"] == 1
    site.reset()
    stats = site.get_json("/__site?stats=1")["stats"]
    assert stats["requests"] == 0 and stats["fetched_twice"] == {}


def test_latency_and_per_host_concurrency() -> None:
    with serve(site_pages=50, site_hosts=2, latency="100") as server:
        url = server.url + "/p/2"
        t0 = time.perf_counter()
        assert fetch(url)[0] == 200
        assert time.perf_counter() - t0 >= 0.09
        barrier = threading.Barrier(4)

        def together() -> None:
            with Client() as client:
                barrier.wait()
                client.get(url)

        threads = [threading.Thread(target=together) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = server.get_json("/__site?stats=1")["stats"]
        host = stats["hosts"][f"127.0.0.1:{port_of(server)}"]
        assert host["peak_in_flight"] >= 2 and host["requests"] == 5
        assert host["min_gap_s"] < 0.09  # the four arrived together


def test_without_site_nothing_changes() -> None:
    with serve() as server:
        assert b"/add" in server.get("/")
        with pytest.raises(Exception, match="404"):
            server.get("/__site")


# -- size ------------------------------------------------------------------------------


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_large_site_stays_small_and_quick() -> None:
    cfg = ServerConfig(site_pages=100_000, site_hosts=3)
    proc = subprocess.Popen(command(cfg), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "site of 100000 pages on 3 host(s)" in line
        url = line.split(" on ", 1)[1].split()[0]
        port = urlsplit(url).port
        with Client() as client:
            t0 = time.perf_counter()
            status, _, body = client.get(url + "/__site?summary=1")
            assert status == 200 and time.perf_counter() - t0 < 30
            counts = json.loads(body)["counts"]
            assert counts["expected"] > 100_000 and counts["max_depth"] <= 8
            # a deep page is answered by its own host only
            deep = [client.get(f"http://127.0.0.{h + 1}:{port}/p/99990")[0] for h in range(3)]
            assert sorted(deep) == [200, 404, 404]
        assert _peak_rss_mb(proc.pid) < 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


# -- configuration ---------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_flags() -> None:
    cfg = cli.config_from_args(_args("--site", "500", "--site-hosts", "4"))
    assert (cfg.site_pages, cfg.site_hosts, cfg.site_crawl_delay) == (500, 4, 0.1)
    assert cli.config_from_args(_args()).site_pages == 0
    for bad in (
        ["--site", "-1"],
        ["--site", "10", "--site-hosts", "0"],
        ["--site", "10", "--workers", "2"],
    ):
        with pytest.raises(SpecError):
            cli.config_from_args(_args(*bad))
    cmd = command(ServerConfig(site_pages=500, site_hosts=4, site_crawl_delay=0.2))
    assert cmd[cmd.index("--site") :][:6] == [
        "--site",
        "500",
        "--site-hosts",
        "4",
        "--site-crawl-delay",
        "0.2",
    ]
