"""Link extraction with selectolax, and sitemaps."""

from __future__ import annotations

import gzip

from concur.crawl.links import extract_links, is_html, looks_like_html, parse_sitemap

BASE = "http://example.com/dir/page.html"


def page(body: str, head: str = "") -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


def test_relative_absolute_and_other_hosts() -> None:
    body = page(
        '<a href="a.html">a</a><a href="/root">r</a><a href="../up">u</a>'
        '<a href="http://Other.example/x">o</a><a href="//cdn.example/y">c</a>'
        '<area href="map.html">'
    )
    assert extract_links(body, BASE, "text/html") == [
        "http://example.com/dir/a.html",
        "http://example.com/root",
        "http://example.com/up",
        "http://other.example/x",
        "http://cdn.example/y",
        "http://example.com/dir/map.html",
    ]


def test_duplicates_fragments_and_query_variants_collapse() -> None:
    body = page(
        '<a href="a.html">1</a><a href="a.html#x">2</a><a href="./a.html">3</a>'
        '<a href="/dir/a.html#y">4</a><a href="q?b=2&a=1">5</a><a href="q?a=1&b=2">6</a>'
        '<a href="q?a=1&b=2&">7</a><a href="Q?a=1">8</a>'
    )
    assert extract_links(body, BASE) == [
        "http://example.com/dir/a.html",
        "http://example.com/dir/q?a=1&b=2",
        "http://example.com/dir/Q?a=1",  # paths are case-sensitive
    ]


def test_malformed_and_non_http_hrefs_are_skipped() -> None:
    body = page(
        '<a href="javascript:void(0)">j</a><a href="mailto:a@b.c">m</a>'
        '<a href="data:text/html,x">d</a><a href="http://[::1">bad</a><a href="#top">t</a>'
        '<a href="">empty</a><a href>bare</a><a>none</a><a href="http://e.com:99999/">p</a>'
        '<a href="tel:123">t</a><a href=" ok.html ">ok</a>'
    )
    assert extract_links(body, BASE, "text/html; charset=utf-8") == [
        "http://example.com/dir/ok.html"
    ]


def test_base_href_changes_relative_links() -> None:
    body = page('<a href="x.html">x</a><a href="/abs">y</a>', head='<base href="/other/">')
    assert extract_links(body, BASE) == [
        "http://example.com/other/x.html",
        "http://example.com/abs",
    ]
    body = page('<a href="x.html">x</a>', head='<base href="http://cdn.example/b/">')
    assert extract_links(body, BASE) == ["http://cdn.example/b/x.html"]
    body = page('<a href="x.html">x</a>', head='<base href="javascript:x">')
    assert extract_links(body, BASE) == ["http://example.com/dir/x.html"]  # unusable base


def test_link_rel_next_prev_but_not_alternate() -> None:
    head = (
        '<link rel="next" href="p2.html"><link rel="prev" href="p0.html">'
        '<link rel="alternate" type="application/rss+xml" href="feed.xml">'
        '<link rel="stylesheet" href="s.css">'
    )
    assert extract_links(page("", head), BASE) == [
        "http://example.com/dir/p2.html",
        "http://example.com/dir/p0.html",
    ]


def test_nofollow_only_when_asked() -> None:
    body = page('<a href="a" rel="nofollow">a</a><a href="b">b</a>')
    assert len(extract_links(body, BASE)) == 2
    assert extract_links(body, BASE, respect_nofollow=True) == ["http://example.com/dir/b"]
    meta = page('<a href="b">b</a>', head='<meta name="robots" content="noindex, nofollow">')
    assert extract_links(meta, BASE, respect_nofollow=True) == []
    assert extract_links(meta, BASE) == ["http://example.com/dir/b"]


def test_not_html_gives_nothing() -> None:
    body = page('<a href="a">a</a>')
    assert extract_links(body, BASE, "application/json") == []
    assert extract_links(body, BASE, "image/png") == []
    assert extract_links(b"\x89PNG\r\n\x1a\n\x00\x00", BASE) == []
    assert extract_links(b"", BASE, "text/html") == []


def test_links_in_comments_and_scripts_are_not_links() -> None:
    body = page('<!-- <a href="hidden">h</a> --><script>var a = "<a href=\'js\'>";</script>')
    assert extract_links(body, BASE) == []


def test_charset_from_content_type() -> None:
    body = '<a href="caf\u00e9.html">x</a>'.encode("latin-1")
    assert extract_links(body, BASE, "text/html; charset=ISO-8859-1") == [
        "http://example.com/dir/caf%C3%A9.html"
    ]


def test_is_html_and_sniffing() -> None:
    assert is_html("text/html")
    assert is_html("Text/HTML; charset=UTF-8")
    assert is_html("application/xhtml+xml")
    assert not is_html("text/plain")
    assert not is_html("")
    assert not is_html(None)
    assert looks_like_html(b"  <!DOCTYPE html><html>")
    assert not looks_like_html(b'{"a": 1}')


URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://example.com/a</loc><lastmod>2024-01-01</lastmod></url>
  <url><loc> http://Example.com/b#frag </loc></url>
  <url><loc>http://example.com/a</loc></url>
  <url><loc>mailto:x@y</loc></url>
</urlset>"""

INDEX = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>http://example.com/s1.xml</loc></sitemap>
  <sitemap><loc>http://example.com/s2.xml.gz</loc></sitemap>
</sitemapindex>"""


def test_sitemap_urlset() -> None:
    sm = parse_sitemap(URLSET)
    assert sm.pages == ("http://example.com/a", "http://example.com/b")
    assert sm.sitemaps == ()


def test_sitemap_index_gzip_text_and_truncated() -> None:
    assert parse_sitemap(INDEX).sitemaps == (
        "http://example.com/s1.xml",
        "http://example.com/s2.xml.gz",
    )
    assert parse_sitemap(gzip.compress(URLSET)).pages == parse_sitemap(URLSET).pages
    text = b"http://example.com/t1\n\nnot a url\nhttp://example.com/t2\r\n"
    assert parse_sitemap(text).pages == ("http://example.com/t1", "http://example.com/t2")
    cut = URLSET[: URLSET.index(b"<url><loc>http://example.com/a</loc></url>")] + b"<url><loc"
    assert parse_sitemap(cut).pages == ("http://example.com/a", "http://example.com/b")
    assert parse_sitemap(b"\x1f\x8bnot really gzip").pages == ()
    assert len(parse_sitemap(URLSET, max_urls=1).pages) == 1
