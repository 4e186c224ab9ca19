"""The site's graph: which pages exist, on which host, at which URL, linking to what.

Why generated rather than stored?  A page is a pure function of ``(seed, page id)``: its
links, text and quirks are drawn from a random stream seeded by the two, the moment it
is asked for.  A million-page site costs a few bytes per page (fetch counters), and
the same seed gives the same site byte for byte — every engine crawls the same web.
Nothing here does I/O or keeps server state: :class:`SiteGraph` is the seed's answer to
"where is page j, and what does it link to?", and the other modules of the package
render it (:mod:`~mockserver.site.render`), search it (:mod:`~mockserver.site.truth`)
and serve it (:mod:`~mockserver.site.handler`).

Page j links to its parent ``(j-1) // 8`` and its children ``8j+1 ... 8j+8`` — a spanning
tree, so every page is reachable from the root within ``log8 P`` links — and to a few
random pages, and now and then to a file, a missing page, a redirect chain or a query
variant.  The root shows one of everything (:meth:`SiteGraph.showcase`), so even a
ten-page site exercises every rule.  The last host (with H >= 2) holds at most 8 pages,
all linked from the root: its ``Crawl-delay`` (``--site-crawl-delay``, default 0.1 s)
then costs a crawl a second at most.

Every URL of the site is a *node*, an integer: ``j * SLOTS + slot`` for the URLs that
belong to page j (the page, its query variants, its file, its missing twin, the three
hops of a redirect chain to it), ``host_base + h * HSLOTS + slot`` for those that belong
to host h (its home, robots.txt, sitemap, the redirect loop).  Arrays indexed by node
keep the search and the counters small.
"""

from __future__ import annotations

import hashlib
import random

from mockserver.latency import SpecError

FANOUT = 8  # children per page in the spanning tree
SMALL_HOST_PAGES = 8  # pages on the last (Crawl-delay) host at most
MAX_PAGES = 10_000_000
MAX_HOSTS = 64
SITEMAP_URLS = 20
_M32 = 0xFFFFFFFF

# The slots of a page's URLs, then of a host's (see the module docstring).
PAGE, VAR1, VAR2, FILE, GONE, R1, R2, R3 = range(8)
SLOTS = 8
HOME, ROBOTS, SITEMAP, LOOP_A, LOOP_B = range(5)
HSLOTS = 5
VARIANTS = ("", "v=1", "ref=nav&v=2")  # in sorted order: sorting normalisers agree

# A link's form (how a page writes it, see mockserver.site.render): the style in the low
# 3 bits, flags above.
ABS_PATH, RELATIVE, ABSOLUTE, SCHEME_REL, UPPER_SCHEME, DOTS = range(6)
FRAG, PAD, UPPER_TAG = 8, 16, 32


class SiteGraph:
    """P pages on H hosts, drawn from a seed: a pure function of ``(seed, node)``.

    The port and the scheme only enter the URLs (``authorities``, ``origins``):
    :meth:`bind` sets the port once the server knows it.
    """

    def __init__(
        self,
        pages: int,
        hosts: int,
        seed: int,
        crawl_delay: float = 0.1,
        port: int = 0,
        scheme: str = "http",
    ) -> None:
        if not 1 <= pages <= MAX_PAGES:
            raise SpecError(f"site: pages must be between 1 and {MAX_PAGES:,}, not {pages}")
        if not 1 <= hosts <= MAX_HOSTS:
            raise SpecError(f"site: hosts must be between 1 and {MAX_HOSTS}, not {hosts}")
        if not 0.0 <= crawl_delay <= 60.0:
            raise SpecError("site: the crawl delay must be between 0 and 60 s")
        self.pages = pages
        self.hosts = hosts
        self.seed = seed
        self.big = hosts - 1 if hosts >= 2 else 1  # hosts sharing the bulk of the pages
        self.small = min(SMALL_HOST_PAGES, pages // 10) if hosts >= 2 else 0
        self.first_small = pages - self.small  # pages [first_small, P) live on the last host
        self.crawl_delay = crawl_delay if hosts >= 2 else 0.0
        digest = hashlib.blake2b(f"concur-site:{seed}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "little")  # every draw of the site starts here
        self.host_base = pages * SLOTS
        self.n_nodes = self.host_base + hosts * HSLOTS
        self.addresses = [f"127.0.0.{h + 1}" for h in range(hosts)]
        self.host_ids = {a: h for h, a in enumerate(self.addresses)}
        self.port = 0
        self.scheme = scheme  # "https" when the server serves TLS: every absolute link says so
        self.authorities: list[str] = []
        self.origins: list[str] = []
        self.rules = [self._robots_rules(h) for h in range(hosts)]
        self._disallow = [
            tuple(rule for kind, rule in rules if kind == "Disallow") for rules in self.rules
        ]
        self._showcase: list[tuple[int, int]] | None = None
        self.bind(port)

    def bind(self, port: int) -> None:
        """Learn the port the server listens on: absolute links carry it."""
        self.port = port
        self.authorities = [f"{a}:{port}" for a in self.addresses]
        self.origins = [f"{self.scheme}://{a}" for a in self.authorities]

    @property
    def root(self) -> str:
        return self.origins[0] + "/"

    # -- pages -------------------------------------------------------------------------

    def _u(self, j: int, salt: int) -> float:
        """A seeded number in [0, 1) for page j and a purpose (a cheap integer hash)."""
        x = (j * 0x9E3779B1 + self.key + salt * 0x85EBCA77) & _M32
        x ^= x >> 16
        x = (x * 0x7FEB352D) & _M32
        x ^= x >> 15
        x = (x * 0x846CA68B) & _M32
        x ^= x >> 16
        return x / 4294967296.0

    def rng(self, j: int, purpose: int) -> random.Random:
        """Page j's random stream for one purpose (0 links, 1 text, 2 forms, 3 files)."""
        return random.Random(self.key ^ (j << 2 | purpose))

    def host_of(self, j: int) -> int:
        return self.hosts - 1 if j >= self.first_small else j % self.big

    def is_private(self, j: int) -> bool:
        """Private pages are leaves of the tree under ``/private/``, which robots.txt forbids."""
        last = self.first_small - 1
        if j < 2 or j > last or FANOUT * j + 1 < self.pages:
            return False
        return j == last or self._u(j, 1) < 0.04

    def has_base(self, j: int) -> bool:
        """Whether page j has a ``<base href>`` on another host (page 1 always does)."""
        return j == 1 or (j > 1 and self._u(j, 2) < 0.03)

    def file_kind(self, j: int) -> int:
        """Page j's file: 0 a PDF, 1 a PNG, 2 plain text."""
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

    def links(self, j: int) -> list[int]:
        """Page j's links (nodes), tree links first: a pure function of (seed, j)."""
        pages = self.pages
        r = self.rng(j, 0).random
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

    def showcase(self) -> list[tuple[int, int]]:
        """The root's extra links, with their forms: one of every kind, for even a small site."""
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

    # -- robots.txt and sitemaps -------------------------------------------------------

    def _robots_rules(self, h: int) -> list[tuple[str, str]]:
        """The ``User-agent: *`` group of host h's robots.txt, as (kind, path prefix)."""
        rules: list[tuple[str, str]] = []
        if h == 0:
            rules.append(("Allow", "/p/"))  # agrees with every Disallow under any reading
        rules.append(("Disallow", "/private/" if h < 2 else "/private"))
        if h == 1 and self.big > 1:
            rules.append(("Disallow", "/f/"))
        return rules

    def disallowed(self, host: int, path: str) -> bool:
        """Whether the ``User-agent: *`` group of the host's robots.txt forbids the path."""
        return path.startswith(self._disallow[host])

    def sitemap_pages(self, h: int) -> list[int]:
        """The pages host h's sitemap lists: up to 20 of its own, none private."""
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
