"""The synthetic website: a seeded, multi-host site to crawl, with its own ground truth.

``python -m mockserver --site 10000`` serves, next to the usual endpoints, a website of
P pages spread over H virtual hosts (``--site-hosts``, default 3).  The hosts are the
loopback addresses ``127.0.0.1`` ... ``127.0.0.H`` on the server's one port: Linux routes
all of 127.0.0.0/8 to the loopback interface, so every HTTP client reaches them without
DNS tricks, and the server tells them apart by the ``Host`` header.  The root is
``http://127.0.0.1:PORT/``.

Why generated rather than stored?  A page is a pure function of ``(seed, page id)``: its
links, text and quirks are drawn from a random stream seeded by the two, the moment it
is asked for.  A million-page site costs a few bytes per page (fetch counters), and
the same seed gives the same site byte for byte — every engine crawls the same web.

URL layout (PORT is the server's port, ``j`` a page id in ``[0, P)``)
--------------------------------------------------------------------

=================  ===========================================================================
``/``              page 0, the root, on 127.0.0.1; on the other hosts, 302 to the root
``/p/j``           page j, on exactly one host: 127.0.0.(1 + j mod (H-1)) (127.0.0.1 when
                   H <= 2), except the last min(8, P/10) pages, which live on 127.0.0.H
``/private/j``     page j when it is *private* (some leaves): robots.txt disallows it
``/p/j?v=1``       query variants of a page (also ``?ref=nav&v=2``): same page, distinct URL
``/p/(P+j)``       a link to a page that does not exist, on page j's host: 404
``/f/j.pdf``       non-HTML, on page j's host: ``application/pdf``; ``/f/j`` is ``image/png``
``/f/j.txt``       (no extension to go by); ``.txt`` is ``text/plain`` holding a fake link
``/r/n/j``         a redirect chain on the host after page j's: ``/r/3/j`` 307 -> ``/r/2/j``
                   302 -> ``/r/1/j`` 301 -> page j (absolute URL, so the last hop changes host)
``/loop/a``        a redirect loop on 127.0.0.1: ``/loop/a`` -> ``/loop/b`` -> ``/loop/a``
``/trap/...``      404s only a regex "parser" finds: in ``<script>``, in comments, in text
``/robots.txt``    per host: a group for ``otherbot`` (``Disallow: /``), then for ``*``:
                   ``Disallow: /private/`` (``/private`` from the third host on), ``/f/`` too
                   on 127.0.0.2 when H >= 3, ``Crawl-delay`` on the last host; a Sitemap line
``/sitemap.xml``   per host: up to 20 of its pages, all of them expected
``/__site``        the ground truth and the server-side crawl checks (below), on any host
=================  ===========================================================================

Any other path, and any request whose Host is not one of the site's (``localhost``),
goes to the ordinary endpoints (``/add``, ``/__stats``...), which keep working.

Each page is real HTML (title, text, links in a nav and inline).  Page j links to its
parent ``(j-1) // 8`` and its children ``8j+1 ... 8j+8`` — a spanning tree, so every page
is reachable from the root within ``log8 P`` links — and to a few random pages, and now
and then to a file, a missing page, a redirect chain or a query variant.  Links take
every form a crawler must resolve: relative (``7``, ``./7``, ``../p/7``), absolute path,
absolute URL, scheme-relative, upper-case scheme, dot segments (``/x/../p/7``), with
fragments, padded with whitespace, entity-encoded (``&amp;``), duplicated; some pages
(page 1 always) have a ``<base href="http://OTHER-HOST:PORT/b/">``, so their relative
links resolve on another host; and there are hrefs to skip (``javascript:``,
``mailto:``, ``tel:``, ``ftp:``, ``http://[bad``, ``http://``, empty, blank, ``#top``,
and ``http://localhost:PORT/about``, which is outside the site's hosts).  The root shows
one of everything, so even a ten-page site exercises every rule.  The last host
(with H >= 2) holds at most 8 pages, all linked from the root: its ``Crawl-delay``
(``--site-crawl-delay``, default 0.1 s) then costs a crawl a second at most.

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

Checks: ``GET /__site?stats=1``
-------------------------------

Every site request is recorded under the timeline name ``site:HOST`` (e.g.
``site:127.0.0.2:PORT``), so ``/__timeline?name=site:127.0.0.2:PORT`` has its start
and end.  ``stats`` also gives, per host, the requests, the peak in flight, and the
smallest gap between two request arrivals (``min_gap_s``; ``min_gap_after_robots_s``
leaves out the gaps around robots.txt fetches: before it, a crawler cannot know the
delay);
site-wide, the URLs delivered more than once (``fetched_twice``: answers without an
injected fault, so a retried 429 is not a duplicate), the requests for URLs robots.txt
forbids (``disallowed_fetched``), hits on the traps, and requests for site paths that
are not part of the site (``unknown``).  Counters are a ``bytearray`` indexed by URL
(saturating at 255), and ``/__reset`` clears them.

Latency and faults: site answers honour ``--latency`` and ``--faults`` (and the
``delay=``... query parameters) like every endpoint, except that robots.txt and the
sitemap are never faulted, so the robots policy never depends on a draw.
"""

from __future__ import annotations

import hashlib
import html
import json
import posixpath
import random
import struct
import time
import zlib
from array import array
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from mockserver import routes
from mockserver.latency import SpecError
from mockserver.routes import JSON, Plan, Request

if TYPE_CHECKING:
    from mockserver.config import ServerConfig
    from mockserver.state import ServerState

HTML = "text/html; charset=utf-8"
FANOUT = 8  # children per page in the spanning tree
SMALL_HOST_PAGES = 8  # pages on the last (Crawl-delay) host at most
MAX_PAGES = 10_000_000
MAX_HOSTS = 64
SITEMAP_URLS = 20
_M32 = 0xFFFFFFFF

# A URL of the site is a node: ``j * SLOTS + slot`` for the URLs that belong to page j,
# ``host_base + h * HSLOTS + slot`` for those that belong to host h.
PAGE, VAR1, VAR2, FILE, GONE, R1, R2, R3 = range(8)
SLOTS = 8
HOME, ROBOTS, SITEMAP, LOOP_A, LOOP_B = range(5)
HSLOTS = 5
VARIANTS = ("", "v=1", "ref=nav&v=2")  # in sorted order: sorting normalisers agree
_CHAIN_STATUS = {R1: 301, R2: 302, R3: 307}

# A link's form: the style in the low 3 bits, flags above.
ABS_PATH, RELATIVE, ABSOLUTE, SCHEME_REL, UPPER_SCHEME, DOTS = range(6)
FRAG, PAD, UPPER_TAG = 8, 16, 32
_PREFIX_OF = {SCHEME_REL: "//", UPPER_SCHEME: "HTTP://"}

_TOP_PATHS = frozenset({"/", "/robots.txt", "/sitemap.xml"})
_PREFIXES = ("/p/", "/private/", "/f/", "/r/", "/loop/", "/trap/")
_TRAPS = ("script", "comment", "text")
_SKIPPED_HREFS = (
    "javascript:void(0)",
    "mailto:webmaster@site.invalid",
    "http://[bad",
    "",
    "   ",
    "tel:+15550100",
    "ftp://127.0.0.1/pub/file.txt",
    "http://",
    "#top",
)
_WORDS = (
    "thread event loop socket future task queue worker lock select poll epoll latency "
    "throughput request response header body crawl frontier robots politeness delay retry "
    "backoff budget timeout connection pool keep-alive pipeline parser buffer stream chunk "
    "server client proxy cache page link anchor host port path query fragment redirect "
    "scheme domain sitemap index archive report draft notes about contact news blog "
    "garden river mountain library window harbour lantern meadow orchard compass "
    "quietly slowly together always often never before after between within across"
).split()
_CORPUS_WORDS = 8192
_PAGE_CACHE = 16_384  # rendered pages kept (about 2 KB each): repeated crawls cost no rendering
_CAPS = 100_000  # distinct URLs remembered as fetched twice
_SAMPLES = 100  # sample of unknown targets kept


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


def _png(width: int, height: int, rgb: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & _M32
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + rgb * width for _ in range(height))
    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class _Truth:
    """The breadth-first search's result, kept compact: arrays of nodes, a depth per node."""

    __slots__ = ("depth", "expected", "disallowed", "redirects", "not_found", "seconds")

    def __init__(self, n_nodes: int) -> None:
        self.depth = bytearray(n_nodes)  # 0: not reached; else 1 + links from the root
        self.expected = array("q")
        self.disallowed = array("q")
        self.redirects = array("q")
        self.not_found = array("q")
        self.seconds = 0.0


class Site:
    """One synthetic site: the generator, the request handler, the ground truth and checks.

    ``plan(req, state)`` is the server's router while the site is on: site paths on a
    site host are answered here, everything else goes on to :func:`mockserver.routes.plan`.
    """

    def __init__(self, config: ServerConfig) -> None:
        pages, hosts = config.site_pages, config.site_hosts
        if not 1 <= pages <= MAX_PAGES:
            raise SpecError(f"site: pages must be between 1 and {MAX_PAGES:,}, not {pages}")
        if not 1 <= hosts <= MAX_HOSTS:
            raise SpecError(f"site: hosts must be between 1 and {MAX_HOSTS}, not {hosts}")
        if not 0.0 <= config.site_crawl_delay <= 60.0:
            raise SpecError("site: the crawl delay must be between 0 and 60 s")
        self.config = config
        self.pages = pages
        self.hosts = hosts
        self.seed = config.seed
        self.big = hosts - 1 if hosts >= 2 else 1  # hosts sharing the bulk of the pages
        self.small = min(SMALL_HOST_PAGES, pages // 10) if hosts >= 2 else 0
        self.first_small = pages - self.small  # pages [first_small, P) live on the last host
        self.crawl_delay = config.site_crawl_delay if hosts >= 2 else 0.0
        digest = hashlib.blake2b(f"concur-site:{config.seed}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "little")
        self.host_base = pages * SLOTS
        self.n_nodes = self.host_base + hosts * HSLOTS
        self.addresses = [f"127.0.0.{h + 1}" for h in range(hosts)]
        self.host_ids = {a: h for h, a in enumerate(self.addresses)}
        self.port = 0
        self.authorities: list[str] = []
        self.origins: list[str] = []
        self.names: list[str] = []
        self._rules = [self._robots_rules(h) for h in range(hosts)]
        self._disallow = [
            tuple(rule for kind, rule in rules if kind == "Disallow") for rules in self._rules
        ]
        self._truth: _Truth | None = None
        self._showcase: list[tuple[int, int]] | None = None
        # Page text is cut from one seeded stream of words: drawing each word is too slow.
        words = random.Random(self._key).choices(_WORDS, k=_CORPUS_WORDS)
        self._corpus = words
        self._cache: dict[int, bytes] = {}
        self.bind(config.port)
        self.reset_stats()

    def bind(self, port: int) -> None:
        """Learn the port the server listens on: absolute links and names carry it."""
        self.port = port
        self.authorities = [f"{a}:{port}" for a in self.addresses]
        self.origins = [f"http://{a}" for a in self.authorities]
        self.names = [f"site:{a}" for a in self.authorities]
        self._truth = None
        self._cache = {}

    @property
    def root(self) -> str:
        return self.origins[0] + "/"

    # -- the generator -----------------------------------------------------------------

    def _u(self, j: int, salt: int) -> float:
        """A seeded number in [0, 1) for page j and a purpose (a cheap integer hash)."""
        x = (j * 0x9E3779B1 + self._key + salt * 0x85EBCA77) & _M32
        x ^= x >> 16
        x = (x * 0x7FEB352D) & _M32
        x ^= x >> 15
        x = (x * 0x846CA68B) & _M32
        x ^= x >> 16
        return x / 4294967296.0

    def host_of(self, j: int) -> int:
        return self.hosts - 1 if j >= self.first_small else j % self.big

    def is_leaf(self, j: int) -> bool:
        return FANOUT * j + 1 >= self.pages

    def is_private(self, j: int) -> bool:
        """Private pages are leaves of the tree under ``/private/``, which robots.txt forbids."""
        last = self.first_small - 1
        if j < 2 or j > last or FANOUT * j + 1 < self.pages:
            return False
        return j == last or self._u(j, 1) < 0.04

    def has_base(self, j: int) -> bool:
        return j == 1 or (j > 1 and self._u(j, 2) < 0.03)

    def file_kind(self, j: int) -> int:
        return int(self._u(j, 3) * 3)

    def page_path(self, j: int) -> str:
        if j == 0:
            return "/"
        return f"/private/{j}" if self.is_private(j) else f"/p/{j}"

    def file_path(self, j: int) -> str:
        kind = self.file_kind(j)
        return f"/f/{j}.pdf" if kind == 0 else f"/f/{j}" if kind == 1 else f"/f/{j}.txt"

    def chain_host(self, j: int) -> int:
        """Redirect chains to page j live on the next host: the last hop changes host."""
        return (self.host_of(j) + 1) % self.big

    def _rng(self, j: int, purpose: int) -> random.Random:
        """Page j's random stream for one purpose (0 links, 1 text, 2 forms, 3 files)."""
        return random.Random(self._key ^ (j << 2 | purpose))

    def links(self, j: int) -> list[int]:
        """Page j's links (nodes), tree links first: a pure function of (seed, j)."""
        pages = self.pages
        r = self._rng(j, 0).random
        out = [((j - 1) // FANOUT) * SLOTS] if j else []
        first = FANOUT * j + 1
        out += range(first * SLOTS, min(first + FANOUT, pages) * SLOTS, SLOTS)
        add = out.append
        for _ in range(2 + int(r() * 6)):
            t = int(r() * pages)
            x = r()
            slot = VAR1 if x < 0.05 else VAR2 if x < 0.08 else PAGE
            if slot and self.is_private(t):
                slot = PAGE
            add(t * SLOTS + slot)
        if r() < 0.08:
            add(int(r() * pages) * SLOTS + FILE)
        if r() < 0.04:
            add(int(r() * pages) * SLOTS + GONE)
        if r() < 0.04:
            add(int(r() * pages) * SLOTS + R1 + int(r() * 3))
        if r() < 0.3:
            add(out[int(r() * len(out))])  # the same URL twice on a page
        if j == 0:
            out += [node for node, _ in self.showcase()]
        return out

    def forms(self, j: int, n: int) -> list[int]:
        """How page j writes its n links (a stream of its own: the search never needs it)."""
        r = self._rng(j, 2).random
        out = []
        for _ in range(n):
            style = int(r() * 6)
            x = r()
            flag = FRAG if x < 0.12 else PAD if x < 0.16 else UPPER_TAG if x < 0.2 else 0
            out.append(style | flag)
        if j == 0:
            showcase = self.showcase()
            out[n - len(showcase) :] = [form for _, form in showcase]
        return out

    def showcase(self) -> list[tuple[int, int]]:
        """The root's extra links: one of every kind, so a small site has them all."""
        if self._showcase is not None:
            return self._showcase
        pages = self.pages
        public = [j for j in range(1, min(pages, 200)) if not self.is_private(j)]
        items: list[tuple[int, int]] = []
        far = next((j for j in public if self.host_of(j) != 0), None)
        near = next((j for j in public if self.host_of(j) == 0), None)
        if near is not None:
            node = near * SLOTS
            items += [(node, RELATIVE), (node, DOTS), (node, ABS_PATH | FRAG), (node, PAD)]
            items += [(node + VAR1, RELATIVE), (node + VAR2, ABS_PATH)]
        if far is not None:
            node = far * SLOTS
            items += [(node, ABSOLUTE), (node, SCHEME_REL), (node, UPPER_SCHEME | UPPER_TAG)]
            items += [(node, DOTS | FRAG), (node + VAR1, ABSOLUTE)]
        target = far if far is not None else near
        if target is not None:
            items += [(target * SLOTS + R3, ABSOLUTE), (target * SLOTS + R2, ABSOLUTE)]
        private = self.first_small - 1
        if self.is_private(private):
            items += [(private * SLOTS, ABSOLUTE), (private * SLOTS + R1, ABSOLUTE)]
        for kind in range(3):
            j = next((j for j in range(min(pages, 200)) if self.file_kind(j) == kind), None)
            if j is not None:
                items.append((j * SLOTS + FILE, ABSOLUTE))
        items.append((SLOTS * (pages - 1) + GONE, ABSOLUTE))
        items.append((self.host_base + LOOP_A, ABS_PATH))
        items += [(self.host_base + h * HSLOTS + HOME, ABSOLUTE) for h in range(1, self.hosts)]
        items += [(j * SLOTS, ABSOLUTE) for j in range(self.first_small, pages)]
        self._showcase = items
        return items

    # -- nodes -------------------------------------------------------------------------

    def node_host(self, node: int) -> int:
        if node >= self.host_base:
            return (node - self.host_base) // HSLOTS
        j, slot = divmod(node, SLOTS)
        return self.chain_host(j) if slot >= R1 else self.host_of(j)

    def node_path(self, node: int) -> str:
        """The path (and query) of a node's URL."""
        if node >= self.host_base:
            slot = (node - self.host_base) % HSLOTS
            return ("/", "/robots.txt", "/sitemap.xml", "/loop/a", "/loop/b")[slot]
        j, slot = divmod(node, SLOTS)
        if slot == PAGE:
            return self.page_path(j)
        if slot <= VAR2:
            return f"{self.page_path(j)}?{VARIANTS[slot]}"
        if slot == FILE:
            return self.file_path(j)
        if slot == GONE:
            return f"/p/{self.pages + j}"
        return f"/r/{slot - R1 + 1}/{j}"

    def url(self, node: int) -> str:
        """A node's URL in normal form."""
        return self.origins[self.node_host(node)] + self.node_path(node)

    def redirect_target(self, node: int) -> int:
        """The node a redirecting node leads to (-1 if it does not redirect)."""
        if node >= self.host_base:
            h, slot = divmod(node - self.host_base, HSLOTS)
            if slot == HOME and h:
                return 0
            if h == 0 and slot in (LOOP_A, LOOP_B):
                return self.host_base + (LOOP_B if slot == LOOP_A else LOOP_A)
            return -1
        j, slot = divmod(node, SLOTS)
        if slot == R1:
            return j * SLOTS
        if slot > R1:
            return node - 1
        return -1

    def disallowed(self, host: int, path: str) -> bool:
        """Whether the ``User-agent: *`` group of the host's robots.txt forbids the path."""
        return path.startswith(self._disallow[host])

    # -- robots.txt, sitemap, pages, files ---------------------------------------------

    def _robots_rules(self, h: int) -> list[tuple[str, str]]:
        rules: list[tuple[str, str]] = []
        if h == 0:
            rules.append(("Allow", "/p/"))  # agrees with every Disallow under any reading
        rules.append(("Disallow", "/private/" if h < 2 else "/private"))
        if h == 1 and self.big > 1:
            rules.append(("Disallow", "/f/"))
        return rules

    def robots_txt(self, h: int) -> bytes:
        lines = [
            f"# robots.txt of {self.authorities[h]}, concur's synthetic site (seed {self.seed})",
            "User-agent: otherbot",
            "Disallow: /",
            "",
            "User-agent: *",
        ]
        lines += [f"{kind}: {rule}" for kind, rule in self._rules[h]]
        if self.crawl_delay and h == self.hosts - 1:
            lines.append(f"Crawl-delay: {self.crawl_delay:g}")
        lines += ["", f"Sitemap: {self.origins[h]}/sitemap.xml", ""]
        return "\n".join(lines).encode()

    def sitemap_pages(self, h: int) -> list[int]:
        if self.hosts >= 2 and h == self.hosts - 1:
            ids = range(self.first_small, self.pages)
        else:
            ids = range(h, self.first_small, self.big)
        out: list[int] = []
        for j in ids:
            if len(out) == SITEMAP_URLS:
                break
            if not self.is_private(j):
                out.append(j)
        return out

    def sitemap_xml(self, h: int) -> bytes:
        urls = "".join(
            f"  <url><loc>{self.url(j * SLOTS)}</loc></url>\n" for j in self.sitemap_pages(h)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{urls}</urlset>\n"
        ).encode()

    def href(self, node: int, form: int, base_host: int, base_dir: str) -> str:
        """How a page whose links resolve against (base_host, base_dir) writes a link."""
        target_host = self.node_host(node)
        target = self.node_path(node)
        style = form & 7
        if target_host == base_host and style in (ABS_PATH, RELATIVE, DOTS):
            if style == ABS_PATH:
                ref = target
            elif style == DOTS:
                ref = "/x/.." + target
            else:
                ref = self._relative(target, base_dir, node)
        else:
            prefix = _PREFIX_OF.get(style, "http://")
            path = "/x/.." + target if style == DOTS else target
            ref = prefix + self.authorities[target_host] + path
        if form & FRAG:
            ref += f"#s{node % 7}"
        ref = html.escape(ref)
        return f"  {ref}\n" if form & PAD else ref

    @staticmethod
    def _relative(target: str, base_dir: str, node: int) -> str:
        path, sep, query = target.partition("?")
        directory, _, name = path.rpartition("/")
        rel = posixpath.relpath(directory or "/", base_dir)
        if rel == ".":
            ref = (name or "./") if node % 2 else "./" + name
        else:
            ref = f"{rel}/{name}"
        return ref + sep + query

    def _anchor(self, node: int) -> str:
        if node >= self.host_base:
            return ("home", "robots", "sitemap", "elsewhere", "elsewhere")[
                (node - self.host_base) % HSLOTS
            ]
        j, slot = divmod(node, SLOTS)
        return (
            f"page {j}",
            f"page {j}, again",
            f"page {j}, sorted",
            f"file {j}",
            f"page {self.pages + j}",
            f"moved {j}",
            f"moved {j}",
            f"moved {j}",
        )[slot]

    def page_html(self, j: int) -> bytes:
        """Page j as HTML: a pure function of (seed, j, port); recent ones are cached."""
        cache = self._cache
        page = cache.get(j)
        if page is None:
            if len(cache) >= _PAGE_CACHE:
                cache.clear()
            page = cache[j] = self._render(j)
        return page

    def _render(self, j: int) -> bytes:
        host = self.host_of(j)
        path = self.page_path(j)
        head = ""
        if self.has_base(j):
            base_host, base_dir = (host + 1) % self.big, "/b/"
            head = f'<base href="{self.origins[base_host]}/b/">\n'
        else:
            base_host, base_dir = host, path[: path.rfind("/") + 1]
        links = self.links(j)
        forms = self.forms(j, len(links))
        r = self._rng(j, 1).random
        corpus = self._corpus
        span = len(corpus) - 32

        def text(n: int) -> str:
            start = int(r() * span)
            return " ".join(corpus[start : start + n])

        title = f"{text(3).capitalize()} — page {j}"
        n_tree = (1 if j else 0) + max(0, min(FANOUT, self.pages - (FANOUT * j + 1)))
        out = [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f"<title>{title}</title>\n{head}</head>\n<body>\n",
            f'<p id="top">{self.authorities[host]} · page {j} of {self.pages}</p>\n',
            f"<h1>{title}</h1>\n<nav>\n",
        ]
        for node, form in zip(links[:n_tree], forms, strict=False):
            out.append(self._a(node, form, base_host, base_dir))
        out.append("</nav>\n<main>\n<p>")
        for i in range(n_tree, len(links)):
            a = self._a(links[i], forms[i], base_host, base_dir)
            out.append(f"{text(3 + int(r() * 12))} {a} ")
            if i % 3 == 2:
                out.append("</p>\n<p>")
        out.append(f"{text(8 + int(r() * 20))}.</p>\n")
        skipped: tuple[str, ...] = _SKIPPED_HREFS if j == 0 else ()
        if not skipped and r() < 0.1:
            skipped = (_SKIPPED_HREFS[int(r() * len(_SKIPPED_HREFS))],)
        if skipped:
            out.append("<ul>\n")
            out += [f'<li><a href="{html.escape(h)}">{text(2)}</a></li>\n' for h in skipped]
            if j == 0:
                out.append('<li><a name="nowhere">an anchor with no href</a></li>\n')
                ext = f"http://localhost:{self.port}/about"
                out.append(f'<li><a href="{ext}">another site</a></li>\n')
            out.append("</ul>\n")
        out.append("</main>\n")
        if j == 0 or r() < 0.02:
            out.append(
                '<!-- old menu: <a href="/trap/comment">archive</a> -->\n'
                "<script>var tpl = '<a href=\"/trap/script\">' + name + '</a>';</script>\n"
            )
        out.append(f"<footer>{text(6)}</footer>\n</body>\n</html>\n")
        return "".join(out).encode()

    def _a(self, node: int, form: int, base_host: int, base_dir: str) -> str:
        href = self.href(node, form, base_host, base_dir)
        if form & UPPER_TAG:
            return f'<A HREF="{href}">{self._anchor(node)}</A>'
        return f'<a href="{href}">{self._anchor(node)}</a>'

    def file_body(self, j: int) -> tuple[bytes, str]:
        """A non-HTML body and its content type."""
        rng = self._rng(j, 3)
        kind = self.file_kind(j)
        if kind == 0:
            blob = rng.randbytes(256 + int(rng.random() * 2048))
            body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
            return body + b"stream\n" + blob + b"\nendstream\n%%EOF\n", "application/pdf"
        if kind == 1:
            side = 8 + int(rng.random() * 24)
            return _png(side, side, rng.randbytes(3)), "image/png"
        text = (
            f"Notes {j}. Not HTML, so not a place to look for links, although this looks\n"
            f'like one: <a href="/trap/text">more</a>, {self.origins[0]}/trap/text\n'
        )
        return text.encode(), "text/plain; charset=utf-8"

    # -- requests ----------------------------------------------------------------------

    def plan(self, req: Request, state: ServerState) -> Plan:
        """The router while the site is on (see the class docstring)."""
        path, _, query = req.target.partition("?")
        if not (path in _TOP_PATHS or path.startswith(_PREFIXES)):
            if path == "/__site":
                return self._endpoint(query, req, state)
            return routes.plan(req, state)
        host = req.headers.get("host")
        h = 0 if host is None else self.host_ids.get(host.partition(":")[0], -1)
        if h < 0:  # localhost, a name: not one of the site's hosts
            return routes.plan(req, state)
        try:
            return self._serve(req, state, h, path, query)
        except (routes.BadRequest, SpecError) as exc:
            state.recorder.bad_requests += 1
            reason = str(exc).splitlines()[0] if str(exc) else "bad request"
            return Plan(status=400, body=f"bad request: {reason}\n".encode(), internal=True)

    def _serve(self, req: Request, state: ServerState, h: int, path: str, query: str) -> Plan:
        now = time.perf_counter()
        last = self.last_arrival[h]
        if last and now - last < self.min_gap[h]:
            self.min_gap[h] = now - last
        self.last_arrival[h] = now
        robots = path == "/robots.txt"
        if not robots:
            last = self.last_after_robots[h]
            if last and now - last < self.min_gap_after_robots[h]:
                self.min_gap_after_robots[h] = now - last
        self.last_after_robots[h] = 0.0 if robots else now
        self.requests[h] += 1

        node, content = self._resolve(h, path, query)
        q = routes.parse_query(query)
        if robots or path == "/sitemap.xml":
            q.setdefault("faults", "")  # never faulted: the robots policy must not be a draw
        p: Plan = routes._common(req, state, path, q, lambda draws: content)
        p.name = self.names[h]
        p.replayable = False  # every request must reach the counters below

        if self.disallowed(h, path if not query else f"{path}?{query}"):
            self.disallowed_total += 1
            key = self.origins[h] + req.target
            if key in self.disallowed_hits or len(self.disallowed_hits) < 1000:
                self.disallowed_hits[key] = self.disallowed_hits.get(key, 0) + 1
        cfg = state.config
        if p.fault is not None or (
            cfg.max_in_flight and state.recorder.in_flight >= cfg.max_in_flight
        ):
            self.faulted += 1
            return p
        self.delivered += 1
        if node < 0:
            self.unknown += 1
            if len(self.unknown_sample) < _SAMPLES:
                self.unknown_sample.append(self.origins[h] + req.target)
            return p
        count = self.fetches[node]
        if count == 0:
            self.distinct += 1
        elif count == 1:
            if len(self.twice) < _CAPS:
                self.twice.add(node)
            else:
                self.twice_overflow += 1
        if count < 255:
            self.fetches[node] = count + 1
        return p

    def _not_found(self, what: str) -> Plan:
        body = f"<!DOCTYPE html>\n<title>Not found</title>\n<p>No {html.escape(what)} here.</p>\n"
        return Plan(status=404, body=body.encode(), content_type=HTML)

    def _redirect(self, node: int) -> Plan:
        target = self.redirect_target(node)
        if node >= self.host_base:
            status = 302
            slot = (node - self.host_base) % HSLOTS
            location = "/loop/b" if slot == LOOP_A else self.url(target)
        else:
            slot = node % SLOTS
            status = _CHAIN_STATUS[slot]
            location = self.url(target) if slot == R1 else self.node_path(target)
        return Plan(status=status, content_type=HTML, headers=[("Location", location)])

    def _resolve(self, h: int, path: str, query: str) -> tuple[int, Plan]:
        """The node of a request (-1: not a URL of the site) and the plan of its answer."""
        slot = 0
        if query:
            slot = VARIANTS.index(query) if query in VARIANTS else -1
        host_node = self.host_base + h * HSLOTS
        if path == "/":
            if h:
                return (host_node + HOME if slot == 0 else -1), self._redirect(host_node + HOME)
            return (slot if slot >= 0 else -1), Plan(body=self.page_html(0), content_type=HTML)
        if path == "/robots.txt":
            return (host_node + ROBOTS if slot == 0 else -1), Plan(body=self.robots_txt(h))
        if path == "/sitemap.xml":
            body = self.sitemap_xml(h)
            return (host_node + SITEMAP if slot == 0 else -1), Plan(
                body=body, content_type="application/xml"
            )
        head, _, rest = path[1:].partition("/")
        if head == "trap":
            if rest in _TRAPS:
                self.trap_hits[rest] += 1
            return -1, self._not_found("trap")
        if head == "loop":
            if h == 0 and rest in ("a", "b"):
                node = host_node + (LOOP_A if rest == "a" else LOOP_B)
                return (node if slot == 0 else -1), self._redirect(node)
            return -1, self._not_found("loop")
        if head == "r":
            hops, _, tail = rest.partition("/")
            j = self._page_id(tail)
            if hops in ("1", "2", "3") and 0 <= j < self.pages and self.chain_host(j) == h:
                node = j * SLOTS + R1 + int(hops) - 1
                return (node if slot == 0 else -1), self._redirect(node)
            return -1, self._not_found("redirect")
        if head == "f":
            stem = rest.partition(".")[0]
            j = self._page_id(stem)
            if 0 <= j < self.pages and self.host_of(j) == h and self.file_path(j) == path:
                body, ctype = self.file_body(j)
                return (j * SLOTS + FILE if slot == 0 else -1), Plan(body=body, content_type=ctype)
            return -1, self._not_found("file")
        j = self._page_id(rest)
        if head == "p" and self.pages <= j < 2 * self.pages and self.host_of(j - self.pages) == h:
            node = (j - self.pages) * SLOTS + GONE
            return (node if slot == 0 else -1), self._not_found("page")
        if 0 < j < self.pages and self.host_of(j) == h and self.page_path(j) == path:
            node = j * SLOTS + slot if slot >= 0 else -1
            return node, Plan(body=self.page_html(j), content_type=HTML)
        return -1, self._not_found("page")

    @staticmethod
    def _page_id(text: str) -> int:
        if not text.isdigit() or not text.isascii() or (text[0] == "0" and text != "0"):
            return -1
        return int(text) if len(text) <= 9 else -1

    # -- ground truth ------------------------------------------------------------------

    def truth(self) -> _Truth:
        """The breadth-first search over the generator, computed once."""
        if self._truth is not None:
            return self._truth
        started = time.perf_counter()
        t = _Truth(self.n_nodes)
        depth = t.depth
        expanded = bytearray(self.pages)
        host_base = self.host_base
        level = array("q", [0])
        depth[0] = 1
        d = 1
        while level:
            nxt = array("q")
            i = 0
            while i < len(level):  # a level grows while it runs: redirects add no depth
                node = level[i]
                i += 1
                if self.disallowed(self.node_host(node), self.node_path(node)):
                    t.disallowed.append(node)
                    continue
                slot = (node - host_base) % HSLOTS if node >= host_base else node % SLOTS
                if node >= host_base or slot >= R1:
                    target = self.redirect_target(node)
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
                    for target in self.links(j):
                        if not depth[target]:
                            depth[target] = child_depth
                            nxt.append(target)
            level = nxt
            d += 1
        t.seconds = time.perf_counter() - started
        self._truth = t
        return t

    def ground_truth(self, summary: bool = False, max_depth: int | None = None) -> dict[str, Any]:
        """The ``/__site`` document (see the module docstring)."""
        t = self.truth()
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
        host_base = self.host_base
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
        doc: dict[str, Any] = self.describe()
        doc["counts"] = counts
        doc["search_s"] = round(t.seconds, 3)
        if not summary:
            url = self.url
            doc["expected"] = sorted(url(n) for n in lists["expected"])
            doc["disallowed"] = sorted(url(n) for n in lists["disallowed"])
            doc["redirects"] = {
                url(n): url(self.redirect_target(n)) for n in sorted(lists["redirects"], key=url)
            }
            doc["not_found"] = sorted(url(n) for n in lists["not_found"])
        return doc

    def describe(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "seed": self.seed,
            "pages": self.pages,
            "hosts": list(self.authorities),
            "crawl_delay": {
                a: (self.crawl_delay if self.crawl_delay and h == self.hosts - 1 else None)
                for h, a in enumerate(self.authorities)
            },
            "robots": {
                a: [f"{kind}: {rule}" for kind, rule in self._rules[h]]
                for h, a in enumerate(self.authorities)
            },
        }

    # -- server-side checks ------------------------------------------------------------

    def reset_stats(self) -> None:
        hosts = self.hosts
        self.fetches = bytearray(self.n_nodes)
        self.requests = [0] * hosts
        self.last_arrival = [0.0] * hosts
        self.min_gap = [float("inf")] * hosts
        self.last_after_robots = [0.0] * hosts
        self.min_gap_after_robots = [float("inf")] * hosts
        self.delivered = 0
        self.faulted = 0
        self.distinct = 0
        self.twice: set[int] = set()
        self.twice_overflow = 0
        self.disallowed_total = 0
        self.disallowed_hits: dict[str, int] = {}
        self.unknown = 0
        self.unknown_sample: list[str] = []
        self.trap_hits = dict.fromkeys(_TRAPS, 0)

    def stats(self, state: ServerState) -> dict[str, Any]:
        timelines = state.recorder.timelines

        def gap(value: float) -> float | None:
            return None if value == float("inf") else value

        hosts = {}
        for h, a in enumerate(self.authorities):
            tl = timelines.get(self.names[h])
            hosts[a] = {
                "requests": self.requests[h],
                "peak_in_flight": tl.peak_in_flight if tl is not None else 0,
                "min_gap_s": gap(self.min_gap[h]),
                "min_gap_after_robots_s": gap(self.min_gap_after_robots[h]),
            }
        twice = sorted(self.twice, key=self.url)[:1000]
        return {
            "requests": sum(self.requests),
            "delivered": self.delivered,
            "faulted": self.faulted,
            "distinct": self.distinct,
            "hosts": hosts,
            "fetched_twice": {self.url(n): self.fetches[n] for n in twice},
            "fetched_twice_count": len(self.twice) + self.twice_overflow,
            "disallowed_fetched": dict(sorted(self.disallowed_hits.items())),
            "disallowed_fetched_count": self.disallowed_total,
            "trap_hits": dict(self.trap_hits),
            "unknown": self.unknown,
            "unknown_sample": list(self.unknown_sample),
        }

    def _endpoint(self, query: str, req: Request, state: ServerState) -> Plan:
        q = routes.parse_query(query)
        try:
            if routes._flag(q, "stats"):
                doc = {"root": self.root, "stats": self.stats(state)}
            else:
                max_depth = routes._int_param(q, "depth", -1, 0, 254)
                doc = self.ground_truth(
                    summary=routes._flag(q, "summary"),
                    max_depth=None if max_depth < 0 else max_depth,
                )
        except routes.BadRequest as exc:
            return Plan(status=400, body=f"bad request: {exc}\n".encode(), internal=True)
        return Plan(body=json.dumps(doc).encode(), content_type=JSON, internal=True)
