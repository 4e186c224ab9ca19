"""The site's bodies: each page's HTML, robots.txt, the sitemaps and the non-HTML files.

A :class:`Renderer` turns the nodes of a :class:`~mockserver.site.graph.SiteGraph` into
bytes, still as a pure function of ``(seed, page id, port)``: the words and the forms of
the links come from random streams of their own, so the search for the ground truth,
which needs only the links, never draws them.

Each page is real HTML (title, text, links in a nav and inline).  Links take every form
a crawler must resolve: relative (``7``, ``./7``, ``../p/7``), absolute path, absolute
URL, scheme-relative, upper-case scheme, dot segments (``/x/../p/7``), with fragments,
padded with whitespace, entity-encoded (``&amp;``), duplicated; some pages (page 1
always) have a ``<base href="http://OTHER-HOST:PORT/b/">``, so their relative links
resolve on another host; and there are hrefs to skip (``javascript:``, ``mailto:``,
``tel:``, ``ftp:``, ``http://[bad``, ``http://``, empty, blank, ``#top``, and
``http://localhost:PORT/about``, which is outside the site's hosts).  Links to the
traps (``/trap/...``) hide in ``<script>``, in comments and in text files.
"""

from __future__ import annotations

import html
import posixpath
import random
import struct
import zlib

from mockserver.site.graph import (
    ABS_PATH,
    DOTS,
    FANOUT,
    FRAG,
    HSLOTS,
    PAD,
    RELATIVE,
    SCHEME_REL,
    SLOTS,
    UPPER_SCHEME,
    UPPER_TAG,
    SiteGraph,
)

HTML = "text/html; charset=utf-8"
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
_M32 = 0xFFFFFFFF


def _png(width: int, height: int, rgb: bytes) -> bytes:
    """A valid PNG of one colour, written by hand (no imaging library)."""

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


class Renderer:
    """The bodies of one site's URLs; recently rendered pages are cached."""

    def __init__(self, graph: SiteGraph) -> None:
        self.graph = graph
        # Page text is cut from one seeded stream of words: drawing each word is too slow.
        self._corpus = random.Random(graph.key).choices(_WORDS, k=_CORPUS_WORDS)
        self._cache: dict[int, bytes] = {}
        self._cache_port = graph.port  # pages hold absolute links: a new port, new pages
        # How an absolute link starts, by its style (the site's scheme: http or https).
        self._prefix = f"{graph.scheme}://"
        self._prefix_of = {SCHEME_REL: "//", UPPER_SCHEME: f"{graph.scheme.upper()}://"}

    # -- robots.txt and sitemaps -------------------------------------------------------

    def robots_txt(self, h: int) -> bytes:
        g = self.graph
        lines = [
            f"# robots.txt of {g.authorities[h]}, concur's synthetic site (seed {g.seed})",
            "User-agent: otherbot",
            "Disallow: /",
            "",
            "User-agent: *",
        ]
        lines += [f"{kind}: {rule}" for kind, rule in g.rules[h]]
        if g.crawl_delay and h == g.hosts - 1:
            lines.append(f"Crawl-delay: {g.crawl_delay:g}")
        lines += ["", f"Sitemap: {g.origins[h]}/sitemap.xml", ""]
        return "\n".join(lines).encode()

    def sitemap_xml(self, h: int) -> bytes:
        g = self.graph
        urls = "".join(f"  <url><loc>{g.url(j * SLOTS)}</loc></url>\n" for j in g.sitemap_pages(h))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{urls}</urlset>\n"
        ).encode()

    # -- links -------------------------------------------------------------------------

    def forms(self, j: int, n: int) -> list[int]:
        """How page j writes its n links (a stream of its own: the search never needs it)."""
        r = self.graph.rng(j, 2).random
        out = []
        for _ in range(n):
            style = int(r() * 6)
            x = r()
            flag = FRAG if x < 0.12 else PAD if x < 0.16 else UPPER_TAG if x < 0.2 else 0
            out.append(style | flag)
        if j == 0:
            showcase = self.graph.showcase()
            out[n - len(showcase) :] = [form for _, form in showcase]
        return out

    def href(self, node: int, form: int, base_host: int, base_dir: str) -> str:
        """How a page whose links resolve against (base_host, base_dir) writes a link."""
        g = self.graph
        target_host = g.node_host(node)
        target = g.node_path(node)
        style = form & 7
        if target_host == base_host and style in (ABS_PATH, RELATIVE, DOTS):
            if style == ABS_PATH:
                ref = target
            elif style == DOTS:
                ref = "/x/.." + target
            else:
                ref = self._relative(target, base_dir, node)
        else:
            prefix = self._prefix_of.get(style, self._prefix)
            path = "/x/.." + target if style == DOTS else target
            ref = prefix + g.authorities[target_host] + path
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
        g = self.graph
        if node >= g.host_base:
            return ("home", "robots", "sitemap", "elsewhere", "elsewhere")[
                (node - g.host_base) % HSLOTS
            ]
        j, slot = divmod(node, SLOTS)
        return (
            f"page {j}",
            f"page {j}, again",
            f"page {j}, sorted",
            f"file {j}",
            f"page {g.pages + j}",
            f"moved {j}",
            f"moved {j}",
            f"moved {j}",
        )[slot]

    def _a(self, node: int, form: int, base_host: int, base_dir: str) -> str:
        href = self.href(node, form, base_host, base_dir)
        if form & UPPER_TAG:
            return f'<A HREF="{href}">{self._anchor(node)}</A>'
        return f'<a href="{href}">{self._anchor(node)}</a>'

    # -- pages and files ---------------------------------------------------------------

    def page_html(self, j: int) -> bytes:
        """Page j as HTML: a pure function of (seed, j, port); recent ones are cached."""
        cache = self._cache
        if self._cache_port != self.graph.port:
            cache.clear()
            self._cache_port = self.graph.port
        page = cache.get(j)
        if page is None:
            if len(cache) >= _PAGE_CACHE:
                cache.clear()
            page = cache[j] = self._render(j)
        return page

    def _render(self, j: int) -> bytes:
        g = self.graph
        host = g.host_of(j)
        path = g.page_path(j)
        head = ""
        if g.has_base(j):
            base_host, base_dir = (host + 1) % g.big, "/b/"
            head = f'<base href="{g.origins[base_host]}/b/">\n'
        else:
            base_host, base_dir = host, path[: path.rfind("/") + 1]
        links = g.links(j)
        forms = self.forms(j, len(links))
        r = g.rng(j, 1).random
        corpus = self._corpus
        span = len(corpus) - 32

        def text(n: int) -> str:
            start = int(r() * span)
            return " ".join(corpus[start : start + n])

        title = f"{text(3).capitalize()} — page {j}"
        n_tree = (1 if j else 0) + max(0, min(FANOUT, g.pages - (FANOUT * j + 1)))
        out = [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f"<title>{title}</title>\n{head}</head>\n<body>\n",
            f'<p id="top">{g.authorities[host]} · page {j} of {g.pages}</p>\n',
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
                ext = f"{g.scheme}://localhost:{g.port}/about"
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

    def file_body(self, j: int) -> tuple[bytes, str]:
        """A non-HTML body and its content type."""
        rng = self.graph.rng(j, 3)
        kind = self.graph.file_kind(j)
        if kind == 0:
            blob = rng.randbytes(256 + int(rng.random() * 2048))
            body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
            return body + b"stream\n" + blob + b"\nendstream\n%%EOF\n", "application/pdf"
        if kind == 1:
            side = 8 + int(rng.random() * 24)
            return _png(side, side, rng.randbytes(3)), "image/png"
        text = (
            f"Notes {j}. Not HTML, so not a place to look for links, although this looks\n"
            f'like one: <a href="/trap/text">more</a>, {self.graph.origins[0]}/trap/text\n'
        )
        return text.encode(), "text/plain; charset=utf-8"
