"""The recorded site's ground truth: the pages a crawl of the replay should find.

``GET /__replay`` answers, like ``/__site`` for the synthetic site, with ``expected``:
the recorded URLs that answered 2xx and that a crawler reaches from the root by
following links and redirects **through recorded answers only**.  The rules:

* the **root** is the first recorded page: the first response record whose path is
  not ``/robots.txt`` (a polite crawler fetches that before its seed), unless
  ``--replay-root URL`` names the roots;
* **links** are the ``href`` of ``<a>`` and ``<area>``, and of ``<link rel="next">`` and
  ``<link rel="prev">`` in ``<head>`` (the links concur's crawler follows), in 2xx HTML
  answers (``text/html``, ``application/xhtml+xml``, or no type and a body that starts
  like HTML), decoded per ``Content-Encoding`` (gzip, deflate; br with ``brotli``
  installed) and ``charset``, resolved against the first ``<base href>`` in ``<head>``
  if any, else the page's URL, and normalised as :func:`mockserver.site.normalise` says
  (fragments dropped, dot segments resolved, scheme and host lower case);
* a **redirect** (3xx with a ``Location``) leads to its target without adding depth;
* a link or redirect to a URL **never recorded** ends there (``counts.unrecorded``):
  out of the recording crawl's scope, forbidden by robots.txt, or past its limits.  A
  URL is looked up as written, then with its query parameters sorted (a crawler that
  sorts them recorded it so).

robots.txt is not read: a recording made by a crawler that obeys it holds no page it
forbids, so none is expected.  ``redirects`` maps each reached redirect to its target,
``failed`` each reached answer that is neither 2xx nor a redirect to its status;
``counts`` has their sizes, ``by_depth`` and ``max_depth``, and ``recorded`` how many
URLs the recording holds.  ``?depth=D`` keeps what is at most D links from the root.
The search runs once, on the first request, and is cached.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mockserver.replay.archive import Archive, Recorded
from mockserver.site.truth import normalise

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_DECODED = 64 * 1024 * 1024  # a small gzip bomb must not take the server's memory


def sorted_query(url: str) -> str:
    """``url`` with its query parameters sorted (the second key a URL is looked up by)."""
    parts = urlsplit(url)
    if "&" not in parts.query:
        return url
    query = "&".join(sorted(parts.query.split("&")))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def decoded(rec: Recorded) -> bytes | None:
    """The payload with its ``Content-Encoding`` undone; None if it cannot be."""
    body = rec.payload
    coding = (rec.header("content-encoding") or "").strip().lower()
    for step in reversed([c.strip() for c in coding.split(",") if c.strip()]):
        try:
            if step in ("gzip", "x-gzip"):
                body = zlib.decompressobj(wbits=47).decompress(body, _MAX_DECODED)
            elif step == "deflate":
                try:
                    body = zlib.decompressobj().decompress(body, _MAX_DECODED)
                except zlib.error:  # raw deflate, as some servers send it
                    body = zlib.decompressobj(wbits=-15).decompress(body, _MAX_DECODED)
            elif step == "br":
                import brotli  # optional

                body = brotli.decompress(body)
            elif step != "identity":
                return None
        except Exception:  # zlib.error, brotli's own error, brotli not installed
            return None
    return body


def is_html(rec: Recorded, body: bytes) -> bool:
    kind = (rec.header("content-type") or "").partition(";")[0].strip().lower()
    if kind:
        return kind in _HTML_TYPES
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<a ", b"<!--"))


def _charset(rec: Recorded) -> str | None:
    for param in (rec.header("content-type") or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


def read(rec: Recorded) -> tuple[bool, list[str]]:
    """Whether a recorded answer is HTML, and the normalised URLs it links to, in order."""
    body = decoded(rec)
    if body is None or not is_html(rec, body):
        return False, []
    from selectolax.lexbor import LexborHTMLParser  # a core dependency of concur

    data: bytes | str = body
    charset = _charset(rec)
    if charset is not None and charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            data = body.decode(charset, "replace")
        except LookupError:
            pass
    tree = LexborHTMLParser(data)
    base = rec.uri
    hrefs: list[str] = []
    head = tree.head
    if head is not None:
        node = head.css_first("base[href]")
        if node is not None:
            resolved = normalise(node.attributes.get("href") or "", rec.uri)
            if resolved is not None:
                base = resolved
        for link in head.css("link[rel][href]"):
            rels = (link.attributes.get("rel") or "").lower().split()
            if "next" in rels or "prev" in rels:
                hrefs.append(link.attributes.get("href") or "")
    for tag in ("a", "area"):
        for node in tree.tags(tag):
            href = node.attributes.get("href")
            if href:
                hrefs.append(href)
    out: dict[str, None] = {}
    for href in hrefs:
        url = normalise(href, base)
        if url is not None:
            out[url] = None
    return True, list(out)


class Search:
    """The breadth-first search's result: what was reached, how deep, in what role."""

    __slots__ = ("depth", "expected", "html", "redirects", "failed", "unrecorded", "seconds")

    def __init__(self) -> None:
        self.depth: dict[int, int] = {}  # record index -> links from the root
        self.expected: list[Recorded] = []
        self.html: set[int] = set()  # indices of the expected answers that are HTML
        self.redirects: list[tuple[Recorded, str]] = []  # a redirect and its target
        self.failed: list[Recorded] = []
        self.unrecorded: dict[str, None] = {}
        self.seconds = 0.0


class ReplayTruth:
    """The ``/__replay`` document of one archive; the search runs on the first request."""

    def __init__(self, archive: Archive, roots: Sequence[str] = ()) -> None:
        self.archive = archive
        self.by_url: dict[str, Recorded] = {}
        self.by_sorted: dict[str, Recorded] = {}
        for rec in archive.records:  # in recording order: the last of a URL wins
            url = normalise(rec.uri)
            if url is not None:
                self.by_url[url] = rec
                self.by_sorted[sorted_query(url)] = rec
        self.roots = [u for u in (normalise(r) for r in roots) if u is not None]
        if not self.roots:
            first = next((r for r in archive.records if not _is_robots(r)), None)
            if first is not None:
                self.roots = [first.uri]
        self._search: Search | None = None

    def find(self, url: str) -> Recorded | None:
        """The record of a normalised URL, as written or with its query sorted."""
        rec = self.by_url.get(url)
        return rec if rec is not None else self.by_sorted.get(sorted_query(url))

    def search(self) -> Search:
        """Breadth-first from the roots, through recorded answers (see the module doc)."""
        if self._search is not None:
            return self._search
        started = time.perf_counter()
        t = Search()
        level: list[str] = list(self.roots)
        d = 0
        while level:
            nxt: list[str] = []
            i = 0
            while i < len(level):  # a level grows while it runs: redirects add no depth
                url = level[i]
                i += 1
                rec = self.find(url)
                if rec is None:
                    t.unrecorded[url] = None
                    continue
                if rec.index in t.depth:
                    continue
                t.depth[rec.index] = d
                location = rec.header("location")
                if 300 <= rec.status < 400 and location is not None:
                    target = normalise(location, rec.uri)
                    if target is None:  # not an http(s) URL: nowhere a crawler goes
                        t.redirects.append((rec, location))
                        continue
                    found = self.find(target)
                    t.redirects.append((rec, found.uri if found is not None else target))
                    level.append(target)
                    continue
                if not 200 <= rec.status < 300:
                    t.failed.append(rec)
                    continue
                t.expected.append(rec)
                html, found_links = read(rec)
                if html:
                    t.html.add(rec.index)
                nxt.extend(found_links)
            level = nxt
            d += 1
        t.seconds = time.perf_counter() - started
        self._search = t
        return t

    def document(self, summary: bool = False, max_depth: int | None = None) -> dict[str, Any]:
        """The ``/__replay`` document (see the module docstring)."""
        t = self.search()
        depth = t.depth
        limit = max_depth if max_depth is not None else 1 << 30
        expected = [r for r in t.expected if depth[r.index] <= limit]
        failed = [r for r in t.failed if depth[r.index] <= limit]
        redirects = [(r, dst) for r, dst in t.redirects if depth[r.index] <= limit]
        levels: dict[int, int] = {}
        for rec in expected:
            levels[depth[rec.index]] = levels.get(depth[rec.index], 0) + 1
        top = max(levels, default=-1)
        html = sum(1 for r in expected if r.index in t.html)
        counts = {
            "expected": len(expected),
            "html": html,
            "other": len(expected) - html,
            "redirects": len(redirects),
            "failed": len(failed),
            "unrecorded": len(t.unrecorded),
            "max_depth": top,
            "by_depth": [levels.get(k, 0) for k in range(top + 1)],
        }
        doc: dict[str, Any] = {
            "root": self.roots[0] if self.roots else None,
            "roots": list(self.roots),
            "hosts": list(self.archive.authorities),
            "files": list(self.archive.files),
            "recorded": len(self.archive),
            "responses": self.archive.responses,
            "skipped": self.archive.skipped,
            "counts": counts,
            "search_s": round(t.seconds, 3),
        }
        if not summary:
            doc["expected"] = sorted(r.uri for r in expected)
            doc["redirects"] = dict(sorted((r.uri, dst) for r, dst in redirects))
            doc["failed"] = {r.uri: r.status for r in sorted(failed, key=lambda r: r.uri)}
            doc["unrecorded"] = sorted(t.unrecorded)[:1000]
        return doc


def _is_robots(rec: Recorded) -> bool:
    return rec.target == "/robots.txt"
