"""The site's ground truth: which URLs a correct crawl finds, and the rules it assumes.

Rules the ground truth assumes
------------------------------

* Links are the ``href`` of ``<a>`` elements, with surrounding whitespace stripped and
  character references decoded, resolved against the first ``<base href>`` of the page
  if any, else against the page's final URL (after redirects).  Text in ``<script>``,
  in comments and in non-HTML bodies holds no links.
* Normal form of a URL (:func:`normalise`): scheme and host lower-case; default port
  (80, 443) dropped; empty path becomes ``/``; dot segments (``.``, ``..``) resolved,
  also in absolute URLs (``urllib.parse.urljoin`` leaves those alone); fragment
  dropped; userinfo dropped; query kept byte for byte (``?v=1`` and ``?ref=nav&v=2`` are
  pages of their own; an empty ``?`` is dropped); only ``http`` and ``https`` URLs.
  The site writes no percent-escapes and its queries in sorted parameter order, so a
  normaliser that also decodes unreserved escapes or sorts parameters (as
  ``concur.crawl.urls.normalize`` does by default) agrees on every URL of the site.
* In scope: the site's H hosts and nothing else.
* robots.txt: the ``User-agent: *`` group applies; rules are plain path prefixes (no
  wildcards), and first-match and longest-match readings agree on every URL.  A URL
  that a redirect leads to is checked against robots.txt like any other.
* Redirects are followed as new URLs: the source is not a page, its target is.  A
  redirect does not add to the depth; a link does.

Ground truth: ``GET /__site``
-----------------------------

A breadth-first search over the generator (not over HTML: over the links each page is
made of) from the root gives every URL reachable by links and redirects.  ``expected``
lists, sorted, the normal forms of those that robots.txt allows and that answer 2xx
(HTML pages, their query variants, and non-HTML files; not robots.txt or the sitemaps,
which no page links to), ``disallowed`` the reachable
URLs robots.txt forbids, ``redirects`` maps each reachable redirecting URL to its
target, ``not_found`` lists the reachable 404s.  ``counts`` gives their sizes,
``by_depth`` and ``max_depth``.  ``?summary=1`` leaves the lists out; ``?depth=D`` keeps
URLs at most D links from the root.  The search runs once, on the first request (about
1-2 s per 100,000 pages, during which the server answers nothing else) and is cached;
its memory is a few bytes per page (``bytearray``s and ``array``s, no object per page):
a summary of a million pages peaks near 60 MB of RSS.  The full lists of such a site
are 50 MB of JSON; ask for them only when you need them.
"""

from __future__ import annotations

import time
from array import array
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from mockserver.site.graph import FILE, GONE, HSLOTS, R1, SLOTS, VAR2, SiteGraph


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: ``/a/./b/../c`` -> ``/a/c``."""
    if "." not in path:
        return path
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/".join(out) or "/"


def normalise(url: str, base: str | None = None) -> str | None:
    """The normal form of ``url`` (resolved against ``base``), or None if it has none.

    The rules of the module docstring, as code: a reference for crawlers and tests.
    """
    url = url.strip(" \t\n\r\f")
    try:
        if base is not None:
            url = urljoin(base, url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # http://[bad, a port out of range
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host.lower()
    default = 80 if scheme == "http" else 443
    netloc = host if port is None or port == default else f"{host}:{port}"
    path = remove_dot_segments(parts.path or "/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


class Search:
    """The breadth-first search's result, kept compact: arrays of nodes, a depth per node."""

    __slots__ = ("depth", "expected", "disallowed", "redirects", "not_found", "seconds")

    def __init__(self, n_nodes: int) -> None:
        self.depth = bytearray(n_nodes)  # 0: not reached; else 1 + links from the root
        self.expected = array("q")
        self.disallowed = array("q")
        self.redirects = array("q")
        self.not_found = array("q")
        self.seconds = 0.0


def search(g: SiteGraph) -> Search:
    """The breadth-first search over the generator, from the root."""
    started = time.perf_counter()
    t = Search(g.n_nodes)
    depth = t.depth
    expanded = bytearray(g.pages)
    host_base = g.host_base
    level = array("q", [0])
    depth[0] = 1
    d = 1
    while level:
        nxt = array("q")
        i = 0
        while i < len(level):  # a level grows while it runs: redirects add no depth
            node = level[i]
            i += 1
            if g.disallowed(g.node_host(node), g.node_path(node)):
                t.disallowed.append(node)
                continue
            slot = (node - host_base) % HSLOTS if node >= host_base else node % SLOTS
            if node >= host_base or slot >= R1:
                target = g.redirect_target(node)
                t.redirects.append(node)
                if target >= 0 and not depth[target]:
                    depth[target] = d
                    level.append(target)
            elif slot == GONE:
                t.not_found.append(node)
            else:
                t.expected.append(node)
                if slot == FILE:
                    continue
                j = node // SLOTS
                if expanded[j]:
                    continue
                expanded[j] = 1
                child_depth = min(d + 1, 255)
                for target in g.links(j):
                    if not depth[target]:
                        depth[target] = child_depth
                        nxt.append(target)
        level = nxt
        d += 1
    t.seconds = time.perf_counter() - started
    return t


class GroundTruth:
    """The ``/__site`` document of one site; the search runs on the first request."""

    def __init__(self, graph: SiteGraph) -> None:
        self.graph = graph
        self._search: Search | None = None

    @property
    def searched(self) -> bool:
        """Whether the search has run (it is the one costly step)."""
        return self._search is not None

    def search(self) -> Search:
        """The breadth-first search over the generator, computed once."""
        if self._search is None:
            self._search = search(self.graph)
        return self._search

    def document(self, summary: bool = False, max_depth: int | None = None) -> dict[str, Any]:
        """The ``/__site`` document (see the module docstring)."""
        g = self.graph
        t = self.search()
        depth = t.depth
        limit = 255 if max_depth is None else max_depth + 1

        def keep(nodes: array[int]) -> array[int]:
            if max_depth is None:
                return nodes
            return array("q", [n for n in nodes if depth[n] <= limit])

        lists = {
            "expected": keep(t.expected),
            "disallowed": keep(t.disallowed),
            "redirects": keep(t.redirects),
            "not_found": keep(t.not_found),
        }
        levels = [0] * 256
        html_pages = 0
        host_base = g.host_base
        for n in lists["expected"]:  # no list of P ints: a million-page summary stays small
            levels[depth[n]] += 1
            if n < host_base and n % SLOTS <= VAR2:
                html_pages += 1
        reached = [k for k, count in enumerate(levels) if count]
        by_depth = levels[1 : reached[-1] + 1] if reached else []
        counts = {
            "expected": len(lists["expected"]),
            "html": html_pages,
            "other": len(lists["expected"]) - html_pages,
            "disallowed": len(lists["disallowed"]),
            "redirects": len(lists["redirects"]),
            "not_found": len(lists["not_found"]),
            "max_depth": len(by_depth) - 1,
            "by_depth": by_depth,
        }
        doc: dict[str, Any] = describe(g)
        doc["counts"] = counts
        doc["search_s"] = round(t.seconds, 3)
        if not summary:
            url = g.url
            doc["expected"] = sorted(url(n) for n in lists["expected"])
            doc["disallowed"] = sorted(url(n) for n in lists["disallowed"])
            doc["redirects"] = {
                url(n): url(g.redirect_target(n)) for n in sorted(lists["redirects"], key=url)
            }
            doc["not_found"] = sorted(url(n) for n in lists["not_found"])
        return doc


def describe(g: SiteGraph) -> dict[str, Any]:
    """The site in a few lines: root, seed, size, hosts, their crawl delays and robots rules."""
    return {
        "root": g.root,
        "seed": g.seed,
        "pages": g.pages,
        "hosts": list(g.authorities),
        "crawl_delay": {
            a: (g.crawl_delay if g.crawl_delay and h == g.hosts - 1 else None)
            for h, a in enumerate(g.authorities)
        },
        "robots": {
            a: [f"{kind}: {rule}" for kind, rule in g.rules[h]] for h, a in enumerate(g.authorities)
        },
    }
