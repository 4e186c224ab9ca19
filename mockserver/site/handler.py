"""The site over HTTP: which URL answers what, on which host.

:class:`Site` is the server's router while the site is on.  It maps a request's
``Host`` and path to a node of the graph, answers with the node's body
(:mod:`~mockserver.site.render`) through the shared parameters of every endpoint
(:func:`mockserver.routes.common`), and tells the counters (:mod:`~mockserver.site.checks`).

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
``/__site``        the ground truth (:mod:`~mockserver.site.truth`) and the server-side
                   crawl checks (:mod:`~mockserver.site.checks`), on any host
=================  ===========================================================================

Any other path, and any request whose Host is not one of the site's (``localhost``),
goes to the ordinary endpoints (``/add``, ``/__stats``...), which keep working.

Latency and faults: site answers honour ``--latency`` and ``--faults`` (and the
``delay=``... query parameters) like every endpoint, except that robots.txt and the
sitemap are never faulted, so the robots policy never depends on a draw.
"""

from __future__ import annotations

import html
import json

from mockserver import routes
from mockserver.config import ServerConfig
from mockserver.latency import SpecError
from mockserver.routes import JSON, Plan, Request
from mockserver.site.checks import Checks
from mockserver.site.graph import (
    FILE,
    GONE,
    HOME,
    HSLOTS,
    LOOP_A,
    LOOP_B,
    R1,
    R2,
    R3,
    ROBOTS,
    SITEMAP,
    SLOTS,
    VARIANTS,
    SiteGraph,
)
from mockserver.site.render import HTML, Renderer
from mockserver.site.truth import GroundTruth
from mockserver.state import ServerState

_TOP_PATHS = frozenset({"/", "/robots.txt", "/sitemap.xml"})
_PREFIXES = ("/p/", "/private/", "/f/", "/r/", "/loop/", "/trap/")
_CHAIN_STATUS = {R1: 301, R2: 302, R3: 307}


class Site:
    """One synthetic site: its graph, bodies, ground truth and counters, behind one router.

    ``plan(req, state)`` is the server's router while the site is on: site paths on a
    site host are answered here, everything else goes on to :func:`mockserver.routes.plan`.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.graph = SiteGraph(
            config.site_pages,
            config.site_hosts,
            config.seed,
            config.site_crawl_delay,
            scheme="https" if config.tls else "http",
        )
        self.renderer = Renderer(self.graph)
        self.truth = GroundTruth(self.graph)
        self.checks = Checks(self.graph)
        self.names: list[str] = []  # timeline names, one per host
        self.bind(config.port)

    def bind(self, port: int) -> None:
        """Learn the port the server listens on: absolute links and names carry it."""
        self.graph.bind(port)
        self.names = [f"site:{a}" for a in self.graph.authorities]

    @property
    def addresses(self) -> list[str]:
        """The site's hosts, ``127.0.0.1`` ... ``127.0.0.H``: the server listens on each."""
        return self.graph.addresses

    def reset_stats(self) -> None:
        """Clear the counters (``/__reset``)."""
        self.checks.reset()

    def plan(self, req: Request, state: ServerState) -> Plan:
        """The router while the site is on (see the class docstring)."""
        path, _, query = req.target.partition("?")
        if not (path in _TOP_PATHS or path.startswith(_PREFIXES)):
            if path == "/__site":
                return self._endpoint(query, state)
            return routes.plan(req, state)
        host = req.headers.get("host")
        h = 0 if host is None else self.graph.host_ids.get(host.partition(":")[0], -1)
        if h < 0:  # localhost, a name: not one of the site's hosts
            return routes.plan(req, state)
        try:
            return self._serve(req, state, h, path, query)
        except (routes.BadRequest, SpecError) as exc:
            state.recorder.bad_requests += 1
            reason = str(exc).splitlines()[0] if str(exc) else "bad request"
            return Plan(status=400, body=f"bad request: {reason}\n".encode(), internal=True)

    def _serve(self, req: Request, state: ServerState, h: int, path: str, query: str) -> Plan:
        checks = self.checks
        robots = path == "/robots.txt"
        checks.arrival(h, robots)
        node, content = self._resolve(h, path, query)
        q = routes.parse_query(query)
        if robots or path == "/sitemap.xml":
            q.setdefault("faults", "")  # never faulted: the robots policy must not be a draw
        p: Plan = routes.common(req, state, path, q, lambda draws: content)
        p.name = self.names[h]
        p.replayable = False  # every request must reach the counters below

        url = self.graph.origins[h] + req.target
        if self.graph.disallowed(h, path if not query else f"{path}?{query}"):
            checks.disallowed_fetch(url)
        cfg = state.config
        refused = bool(cfg.max_in_flight) and state.recorder.in_flight >= cfg.max_in_flight
        checks.answer(node, url, delivered=p.fault is None and not refused)
        return p

    def _not_found(self, what: str) -> Plan:
        body = f"<!DOCTYPE html>\n<title>Not found</title>\n<p>No {html.escape(what)} here.</p>\n"
        return Plan(status=404, body=body.encode(), content_type=HTML)

    def _redirect(self, node: int) -> Plan:
        g = self.graph
        target = g.redirect_target(node)
        if node >= g.host_base:
            status = 302
            slot = (node - g.host_base) % HSLOTS
            location = "/loop/b" if slot == LOOP_A else g.url(target)
        else:
            slot = node % SLOTS
            status = _CHAIN_STATUS[slot]
            location = g.url(target) if slot == R1 else g.node_path(target)
        return Plan(status=status, content_type=HTML, headers=[("Location", location)])

    def _resolve(self, h: int, path: str, query: str) -> tuple[int, Plan]:
        """The node of a request (-1: not a URL of the site) and the plan of its answer."""
        g = self.graph
        renderer = self.renderer
        slot = 0
        if query:
            slot = VARIANTS.index(query) if query in VARIANTS else -1
        host_node = g.host_base + h * HSLOTS
        if path == "/":
            if h:
                return (host_node + HOME if slot == 0 else -1), self._redirect(host_node + HOME)
            return (slot if slot >= 0 else -1), Plan(body=renderer.page_html(0), content_type=HTML)
        if path == "/robots.txt":
            return (host_node + ROBOTS if slot == 0 else -1), Plan(body=renderer.robots_txt(h))
        if path == "/sitemap.xml":
            body = renderer.sitemap_xml(h)
            return (host_node + SITEMAP if slot == 0 else -1), Plan(
                body=body, content_type="application/xml"
            )
        head, _, rest = path[1:].partition("/")
        if head == "trap":
            self.checks.trap(rest)
            return -1, self._not_found("trap")
        if head == "loop":
            if h == 0 and rest in ("a", "b"):
                node = host_node + (LOOP_A if rest == "a" else LOOP_B)
                return (node if slot == 0 else -1), self._redirect(node)
            return -1, self._not_found("loop")
        if head == "r":
            hops, _, tail = rest.partition("/")
            j = self._page_id(tail)
            if hops in ("1", "2", "3") and 0 <= j < g.pages and g.chain_host(j) == h:
                node = j * SLOTS + R1 + int(hops) - 1
                return (node if slot == 0 else -1), self._redirect(node)
            return -1, self._not_found("redirect")
        if head == "f":
            stem = rest.partition(".")[0]
            j = self._page_id(stem)
            if 0 <= j < g.pages and g.host_of(j) == h and g.file_path(j) == path:
                body, ctype = renderer.file_body(j)
                return (j * SLOTS + FILE if slot == 0 else -1), Plan(body=body, content_type=ctype)
            return -1, self._not_found("file")
        j = self._page_id(rest)
        if head == "p" and g.pages <= j < 2 * g.pages and g.host_of(j - g.pages) == h:
            node = (j - g.pages) * SLOTS + GONE
            return (node if slot == 0 else -1), self._not_found("page")
        if 0 < j < g.pages and g.host_of(j) == h and g.page_path(j) == path:
            node = j * SLOTS + slot if slot >= 0 else -1
            return node, Plan(body=renderer.page_html(j), content_type=HTML)
        return -1, self._not_found("page")

    @staticmethod
    def _page_id(text: str) -> int:
        if not text.isdigit() or not text.isascii() or (text[0] == "0" and text != "0"):
            return -1
        return int(text) if len(text) <= 9 else -1

    def _endpoint(self, query: str, state: ServerState) -> Plan:
        """``/__site``: the ground truth, or with ``stats=1`` the checks."""
        q = routes.parse_query(query)
        try:
            if routes.flag(q, "stats"):
                stats = self.checks.stats(state.recorder.timelines, self.names)
                doc = {"root": self.graph.root, "stats": stats}
            else:
                max_depth = routes.int_param(q, "depth", -1, 0, 254)
                doc = self.truth.document(
                    summary=routes.flag(q, "summary"),
                    max_depth=None if max_depth < 0 else max_depth,
                )
        except routes.BadRequest as exc:
            return Plan(status=400, body=f"bad request: {exc}\n".encode(), internal=True)
        return Plan(body=json.dumps(doc).encode(), content_type=JSON, internal=True)
