"""Link extraction as concur had it before ada-url (frozen), on :mod:`urls_reference`.

``src/concur/crawl/links.py`` as of commit 8eb3f48: ``read_page`` and what it needs,
verbatim (sitemaps left out).  ``test_crawl_urls_equivalence.py`` holds today's
``extract_links`` to its answers on real pages, and ``scripts/bench_links.py
--reference`` times it beside today's, in the same process.
"""

from __future__ import annotations

from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser
from urls_reference import Joiner, join

__all__ = ["PageFacts", "extract_links", "read_page"]

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_UTF8 = ("utf-8", "utf8", "us-ascii", "ascii")


def is_html(content_type: str | None) -> bool:
    """True for an HTML (or XHTML) Content-Type header, parameters ignored."""
    if not content_type:
        return False
    mime = content_type.partition(";")[0].strip().lower()
    return mime in _HTML_TYPES


def looks_like_html(body: bytes) -> bool:
    """A guess for bodies sent without a Content-Type: does it start like an HTML document?"""
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<a ", b"<!--"))


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


class PageFacts(NamedTuple):
    """What one parse of an HTML page gives the crawl: its links and its title."""

    links: list[str]  # normalised absolute URLs, in document order, without repeats
    title: str  # the <title>, whitespace collapsed, at most TITLE_CHARS ("" if none)


TITLE_CHARS = 300


def extract_links(
    body: bytes,
    base_url: str,
    content_type: str | None = None,
    *,
    respect_nofollow: bool = False,
    sort_query: bool = True,
) -> list[str]:
    """The normalised absolute URLs an HTML page links to, in document order, without repeats.

    ``base_url`` is the URL the page was fetched from.  When ``content_type`` is given and
    is not HTML, the answer is ``[]``; None means "parse it anyway".  A ``charset``
    parameter other than UTF-8 decodes the body first (non-ASCII hrefs need it).
    """
    return read_page(
        body, base_url, content_type, respect_nofollow=respect_nofollow, sort_query=sort_query
    ).links


def read_page(
    body: bytes,
    base_url: str,
    content_type: str | None = None,
    *,
    respect_nofollow: bool = False,
    sort_query: bool = True,
) -> PageFacts:
    """:func:`extract_links` and the page's title, from one parse (see there)."""
    if content_type is not None and not is_html(content_type):
        return PageFacts([], "")
    data: bytes | str = body
    charset = _charset(content_type) if content_type else None
    if charset is not None and charset not in _UTF8:
        try:
            data = body.decode(charset, "replace")
        except LookupError:  # an unknown charset name: read it as UTF-8
            pass
    tree = LexborHTMLParser(data)

    base = base_url
    hrefs: list[str] = []
    title = ""
    head = tree.head
    if head is not None:
        node = head.css_first("title")
        if node is not None:
            title = " ".join(node.text().split())[:TITLE_CHARS]
        node = head.css_first("base[href]")
        if node is not None:
            resolved = join(base_url, node.attributes.get("href"), sort_query=sort_query)
            if resolved is not None:
                base = resolved
        if respect_nofollow:
            for meta in head.css("meta[name]"):
                attrs = meta.attributes
                if (attrs.get("name") or "").lower() in ("robots", "concur"):
                    if "nofollow" in (attrs.get("content") or "").lower():
                        return PageFacts([], title)
        for link in head.css("link[rel][href]"):
            attrs = link.attributes
            rels = (attrs.get("rel") or "").lower().split()
            if "next" in rels or "prev" in rels:
                href = attrs.get("href")
                if href:
                    hrefs.append(href)

    for tag in ("a", "area"):
        for node in tree.tags(tag):
            attrs = node.attributes
            href = attrs.get("href")
            if not href:
                continue
            if respect_nofollow:
                rel = attrs.get("rel")
                if rel and "nofollow" in rel.lower().split():
                    continue
            hrefs.append(href)

    joiner = Joiner(base, sort_query=sort_query)
    out: dict[str, None] = {}
    for href in dict.fromkeys(hrefs):  # nav bars repeat hrefs: join each spelling once
        url = joiner(href)
        if url is not None:
            out[url] = None
    return PageFacts(list(out), title)
