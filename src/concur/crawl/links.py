"""Link extraction: from a fetched page to the URLs it points at, with a real HTML parser.

Regular expressions miss links split over lines, find links inside comments and scripts,
and do not know ``<base href>``; an HTML5 parser builds the same tree a browser builds.
selectolax's lexbor backend does that in C, at tens of microseconds for a typical page,
which matters when the crawler aims at a few hundred microseconds of CPU per page.

Which elements count as links (a decision, written down):

* ``<a href>`` and ``<area href>``: the navigational links of HTML;
* ``<link rel="next">`` / ``<link rel="prev">`` in ``<head>``: pagination that a
  page may announce only there;
* not ``<link rel="alternate">`` (feeds, print versions, translations: other formats of
  the same content, which would cost a fetch each for no new page), not ``<img>``,
  ``<script>`` or ``<iframe>`` sources (resources, not pages).

``<base href>`` (the first one, in ``<head>``) changes what relative hrefs mean, as in a
browser.  ``rel="nofollow"`` (on a link) and ``<meta name="robots" content="nofollow">``
are honoured only when asked: they are hints to search engines about ranking, not
access rules; robots.txt is the access rule.

Every result is absolute and normalised (:mod:`concur.crawl.urls`), fragments are gone,
duplicates are removed keeping the first occurrence, and hrefs that are not http(s)
(``javascript:``, ``mailto:``, ``data:``) or do not parse are skipped.

Sitemaps (``<urlset>`` and ``<sitemapindex>`` XML, gzipped or not, or plain text with
one URL per line) are read by :func:`parse_sitemap`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import NamedTuple, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from selectolax.lexbor import LexborHTMLParser, LexborNode

from concur.crawl.urls import Joiner, join, normalize, page_ref

__all__ = [
    "PageFacts",
    "Sitemap",
    "extract_links",
    "is_html",
    "looks_like_html",
    "parse_sitemap",
    "read_page",
]

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_UTF8 = ("utf-8", "utf8", "us-ascii", "ascii")

MAX_SITEMAP_URLS = 50_000  # the sitemap protocol's own limit per file
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # uncompressed, also the protocol's limit


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
    if head is not None:  # one walk over <head> (a handful of nodes), not a selector each
        base_node = None
        for node in head.traverse():
            tag = node.tag
            if tag == "title":
                if not title:
                    title = " ".join(node.text().split())[:TITLE_CHARS]
            elif tag == "base":
                if base_node is None and "href" in node.attrs:
                    base_node = node
            elif tag == "link":
                attrs = node.attrs
                rels = (attrs.get("rel") or "").lower().split()
                if "next" in rels or "prev" in rels:
                    href = attrs.get("href")
                    if href:
                        hrefs.append(href)
            elif tag == "meta" and respect_nofollow:
                attrs = node.attrs
                if (attrs.get("name") or "").lower() in ("robots", "concur"):
                    if "nofollow" in (attrs.get("content") or "").lower():
                        return PageFacts([], title or _title(head))
        if base_node is not None:
            resolved = join(base_url, base_node.attrs.get("href"), sort_query=sort_query)
            if resolved is not None:
                base = resolved

    for tag in ("a", "area"):
        for node in tree.tags(tag):
            attrs = node.attrs
            href = attrs.get("href")
            if not href:
                continue
            if respect_nofollow:
                rel = attrs.get("rel")
                if rel and "nofollow" in rel.lower().split():
                    continue
            hrefs.append(href)

    # Per distinct reference, not per href: nav bars and tables of contents repeat hrefs,
    # and "a.html#intro", "a.html#usage" are one page.  Each is joined once, in C.
    joiner = Joiner(base, sort_query=sort_query)
    out: dict[str, None] = {}
    for ref in dict.fromkeys(map(page_ref, dict.fromkeys(hrefs))):
        url = joiner.ref(ref)
        if url is not None:
            out[url] = None
    return PageFacts(list(out), title)


def _title(head: LexborNode) -> str:
    node = head.css_first("title")
    return " ".join(node.text().split())[:TITLE_CHARS] if node is not None else ""


@dataclass(frozen=True, slots=True)
class Sitemap:
    """What one sitemap file lists: pages, and (for a sitemap index) further sitemaps."""

    pages: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: a 50 KiB gzip file can expand to gigabytes."""
    try:
        return zlib.decompressobj(wbits=31).decompress(body, limit)
    except zlib.error:
        return b""


def parse_sitemap(body: bytes, *, max_urls: int = MAX_SITEMAP_URLS) -> Sitemap:
    """Read the ``<loc>`` entries of a sitemap (XML, gzipped XML or plain text).

    Entries that do not normalise are dropped; a file that stops parsing half-way gives
    the entries before the error, which is what a crawler wants from a truncated file.
    """
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, MAX_SITEMAP_BYTES)
    body = body[:MAX_SITEMAP_BYTES]
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        return _parse_text_sitemap(stripped, max_urls)

    pages: list[str] = []
    nested: list[str] = []
    root: str | None = None
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    for offset in range(0, len(stripped), 1 << 16):  # in chunks: events stay few, memory flat
        try:
            parser.feed(stripped[offset : offset + (1 << 16)])
        except ParseError:
            stop = True  # keep what was read before the error
        else:
            stop = False
        for item in parser.read_events():
            event, elem = cast("tuple[str, object]", item)
            if not isinstance(elem, Element):
                continue
            tag = elem.tag.rpartition("}")[2]  # namespaces vary: compare local names
            if event == "start":
                if root is None:
                    root = tag
                continue
            if tag == "loc" and elem.text:
                url = normalize(elem.text.strip())
                if url is not None:
                    (nested if root == "sitemapindex" else pages).append(url)
            elif tag in ("url", "sitemap"):
                elem.clear()  # done with this entry: do not keep the whole tree
        if stop or len(pages) + len(nested) >= max_urls:
            break
    pages = list(dict.fromkeys(pages))[:max_urls]
    nested = list(dict.fromkeys(nested))[: max(0, max_urls - len(pages))]
    return Sitemap(tuple(pages), tuple(nested))


def _parse_text_sitemap(body: bytes, max_urls: int) -> Sitemap:
    pages: dict[str, None] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        url = normalize(line.strip()) if line.strip() else None
        if url is not None:
            pages[url] = None
            if len(pages) >= max_urls:
                break
    return Sitemap(tuple(pages))
