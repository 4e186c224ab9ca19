"""The WHATWG (ada-url) normaliser against the urllib one it replaced, on made-up and real URLs.

``urls_reference`` and ``links_reference`` are the old implementation, frozen.  Four kinds
of check:

* on URLs and hrefs drawn from everything *except* the features listed in
  ``DIFFERENCES``, old and new agree exactly;
* on anything at all, where old and new disagree the input has one of those features
  (the classifier below names it), and the new answer is canonical;
* each documented difference, as a pair of answers (old, new), so the table below is the
  specification of what changed;
* real pages: every page of Debian's PostgreSQL manual (when ``postgresql-doc-15`` is
  installed) and pages of the synthetic site give the same links as before, and the
  synthetic site's pages give exactly the links its generator put in them.
"""

from __future__ import annotations

import re
from pathlib import Path

import ada_url
import pytest
import urls_reference as old
from hypothesis import example, given, settings
from hypothesis import strategies as st
from links_reference import extract_links as reference_links

from concur.crawl import urls as new
from concur.crawl.links import extract_links
from concur.crawl.whatwg import parse, resolve
from mockserver.site.graph import SiteGraph
from mockserver.site.render import Renderer

BASES = [
    "http://example.com/dir/page.html?x=1",
    "https://h.example:8443/a/b/",
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/sql-select.html",
]

# -- what changed, on purpose ------------------------------------------------------------

# name -> (input, base or None for normalize, the old answer, the new answer)
DIFFERENCES: dict[str, tuple[str, str | None, str | None, str | None]] = {
    # hosts are parsed as the standard says
    "ipv4": ("http://0x7f.1/", None, "http://0x7f.1/", "http://127.0.0.1/"),
    "ipv6": (
        "http://[::FFFF:1.2.3.4]/",
        None,
        "http://[::ffff:1.2.3.4]/",
        "http://[::ffff:102:304]/",
    ),
    "ipv6-junk": ("http://[::1]x/a", None, "http://[::1]/a", None),
    "host-escape": ("http://Ex%41mple.com/", None, None, "http://example.com/"),
    "idna": ("http://faß.de/", None, "http://fass.de/", "http://xn--fa-hia.de/"),
    # any run of slashes (or backslashes) after http: starts the host; http:// alone fails
    "slashes": ("http:///path", None, None, "http://path/"),
    "slashes-href": ("///x/y", BASES[0], "http://example.com/x/y", "http://x/y"),
    "one-slash": ("http:/h.example/a", None, None, "http://h.example/a"),
    "other-scheme": ("https:x", BASES[0], None, "https://x/"),
    "empty-host": ("//", BASES[0], BASES[0], None),
    "backslash-host": ("http://h.example\\a", None, None, "http://h.example/a"),
    # escaping
    "brackets": (
        "a b[1]",
        BASES[0],
        "http://example.com/dir/a%20b%5B1%5D",
        "http://example.com/dir/a%20b[1]",
    ),
    "quote-in-query": (
        "?q='x'",
        BASES[0],
        "http://example.com/dir/page.html?q='x'",
        "http://example.com/dir/page.html?q=%27x%27",
    ),
    "userinfo": ("http://u;x@h.example/", None, "http://u;x@h.example/", "http://u%3Bx@h.example/"),
    "controls": ("a\x01", BASES[0], "http://example.com/dir/a%01", "http://example.com/dir/a"),
    "tabs": ("/\t/a", BASES[0], "http://example.com//a", "http://a/"),
    # urljoin's own readings of relative references
    "params": (".;x", BASES[0], "http://example.com/dir/;x", "http://example.com/dir/.;x"),
    "empty-segments": (
        "./a//b",
        BASES[0],
        "http://example.com/dir/a/b",
        "http://example.com/dir/a//b",
    ),
}


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_documented_differences(name: str) -> None:
    """Each deliberate difference, old answer and new: the standard's reading wins."""
    raw, base, before, after = DIFFERENCES[name]
    if base is None:
        assert (old.normalize(raw), new.normalize(raw)) == (before, after)
    else:
        assert (old.join(base, raw), new.join(base, raw)) == (before, after)
    assert classify(raw, base) != set(), "the classifier must know every documented case"


_C0 = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_NUMERIC = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _shape(href: str) -> tuple[object, ...]:
    """What decides how an href is read: its scheme, and whether it starts with two slashes."""
    scheme = _SCHEME.match(href.lower())
    return (scheme and scheme.group(), href[:2].replace("\\", "/") == "//")


def classify(raw: str, base: str | None) -> set[str]:
    """The documented features ``raw`` has (empty: old and new must agree on it)."""
    found = set()
    text = raw.strip(_C0)
    if text != raw:
        found.add("controls")
    kept = text
    text = re.sub(r"[\t\n\r]", "", text)
    if _shape(text) != _shape(kept):
        found.add("tabs")  # the standard drops them first, urljoin after reading the href
    body = text.partition("#")[0]
    scheme = _SCHEME.match(body.lower())
    if scheme is not None and scheme.group(1) in ("http", "https"):
        after = body[scheme.end() :]
        if base is not None and not base.startswith(scheme.group()):
            found.add("other-scheme")
    elif scheme is None and body[:2] in ("//", "\\\\", "/\\", "\\/"):
        after = body
    else:
        after = None
    if after is not None:  # an authority follows
        hier = after.lstrip("/\\")
        if after[: len(after) - len(hier)] != "//":
            found.add("slashes")
        authority = re.split(r"[/\\?#]", hier, maxsplit=1)[0]
        if hier[len(authority) : len(authority) + 1] == "\\":
            found.add("backslash-host")
        userinfo, at, hostport = authority.rpartition("@")
        if at:
            found.add("userinfo")
        if "[" in hostport or "]" in hostport:
            found.add("ipv6")
        if "%" in hostport:
            found.add("host-escape")
        if not hostport.isascii() or "xn--" in hostport.lower():
            found.add("idna")
        host = hostport.rpartition(":")[0] if ":" in hostport else hostport
        last = host.lower().rstrip(".").rpartition(".")[2]
        if not host or _NUMERIC.fullmatch(last):
            found.add("ipv4" if host else "empty-host")
    path, _, query = body.partition("?")
    path = path.replace("\\", "/")  # both read a backslash as a slash before the query
    if "[" in body or "]" in body:
        found.add("brackets")
    if "'" in query:
        found.add("quote-in-query")
    through_urljoin = body[:1] == "." or scheme is not None or after is not None
    if base is not None and through_urljoin and (";" in path or "//" in path.lstrip("/\\")):
        found.add("urljoin")  # its ";params" and empty segments (the old slow path)
    return found


# -- generated URLs: the same answers, but for the documented features --------------------

_COMMON = 'abcAB019-._~!$&()*+,=:@/?%\u00e9\u4e2d \\|^`{}"<>' + "\t"
_PIECES = [
    "%2e",
    "%2E",
    "..",
    ".",
    "./",
    "../",
    "%7e",
    "%41",
    "%zz",
    "%",
    "%2f",
    "&&",
    "a=1",
    "b=2",
]
_tail = st.lists(st.sampled_from([*_COMMON, *_PIECES]), max_size=12).map("".join)
_hosts = st.sampled_from(
    ["example.com", "EXAMPLE.com", "a-b.example", "a_b.example", "h.example.", "127.0.0.1"]
)
_ports = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":", ":99999", ":08080"])


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["http://", "https://", "HTTP://", "HtTpS://"]), _hosts, _ports, _tail)
@example("http://", "example.com", "", "/a/./b/../c?b=2&a=1#top")
def test_common_urls_normalise_as_before(scheme: str, host: str, port: str, tail: str) -> None:
    url = f"{scheme}{host}{port}/{tail}"
    assert new.normalize(url) == old.normalize(url)
    assert new.normalize(url, sort_query=False) == old.normalize(url, sort_query=False)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(BASES), st.sampled_from(["", "/", "?", "http://h.example/"]), _tail)
@example(BASES[0], "", "../x/./y.html?b=1&a=2#frag")
def test_common_hrefs_join_as_before(base: str, start: str, tail: str) -> None:
    href = start + tail
    if classify(href, base):
        return  # ";" and "//" after a dot segment: urljoin's own reading (see DIFFERENCES)
    assert new.join(base, href) == old.join(base, href)


# -- anything at all: differences are documented ones, answers canonical ------------------

_ANY = _COMMON + "[]';#\x00\x01\x7f\u00a0\u00df\n"
_any_host = st.sampled_from(
    [
        "example.com",
        "[::1]",
        "[::FFFF:1.2.3.4]",
        "0x7f.1",
        "1.2.3",
        "Ex%41mple.com",
        "b\u00fccher.example",
        "fa\u00df.de",
        "xn--bcher-kva.example",
        "user:pw@h.example",
        "@h.example",
        "a!b.example",
        "",
    ]
)
_any_tail = st.lists(st.sampled_from([*_ANY, *_PIECES]), max_size=12).map("".join)
_any_start = st.sampled_from(
    ["http://", "https://", "http:", "http:/", "http:///", "//", "///", "\\\\", "ftp://", ""]
)


@settings(max_examples=1500, deadline=None)
@given(_any_start, _any_host, _ports, _any_tail, st.sampled_from([None, *BASES]))
def test_any_difference_is_a_documented_one(
    start: str, host: str, port: str, tail: str, base: str | None
) -> None:
    raw = f"{start}{host}{port}{tail}"
    before = old.normalize(raw) if base is None else old.join(base, raw)
    after = new.normalize(raw) if base is None else new.join(base, raw)
    if after is not None:
        assert new.normalize(after) == after  # canonical: a fixed point
        assert "#" not in after
    if before != after:
        assert classify(raw, base), (raw, base, before, after)


# -- the fast paths are the parser's answers ----------------------------------------------

_plain = st.lists(
    st.sampled_from(list("abzAZ09-_~!$&'()*+,;=@.") + ["/", "x/", ".a", "a."]), min_size=1
).map("".join)


_leads = st.sampled_from(
    ["", "/", "http://h.example", "https://h.example:8443", "http://h.example:80", "http://1.2.3"]
    + ["http://0x7f.1", "http://a.0x1", "http://xn--a.example", "http://xn--bcher-kva.example"]
    + ["http://127.0.0.1:08080", "http://h.example:65536", "https://a_b.example"]
)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(BASES), _leads, _plain)
@example(BASES[0], "http://h.example", "/a/../b")
def test_shortcuts_are_what_the_parser_says(base: str, lead: str, ref: str) -> None:
    """A plain path appended to the base's directory, a canonical URL kept as it is:
    what parsing it with ada and finishing gives."""
    ref = lead + ref if lead.endswith("/") or not lead else f"{lead}/{ref}"
    joiner = new.Joiner(base)
    parsed = resolve(ref, base.encode())
    slow = None if parsed is None else new._finish(parsed, True)
    assert joiner.ref(ref) == slow


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(BASES), _any_tail)
def test_c_api_and_public_api_agree(base: str, href: str) -> None:
    """concur calls ada's C functions directly; the package's own functions say the same."""
    try:
        expected: str | None = ada_url.join_url(base, href)
    except ValueError:
        expected = None
    assert resolve(href, base.encode()) == expected
    try:
        expected = ada_url.parse_url(href, ("href",))["href"]
    except ValueError:
        expected = None
    assert parse(href) == expected


# -- real pages ---------------------------------------------------------------------------


PG_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@pytest.mark.skipif(not PG_DOCS.is_dir(), reason="apt-get install postgresql-doc-15")
def test_postgresql_manual_gives_the_same_links() -> None:
    """All ~1,200 pages of a site no one here wrote: the same links, in the same order."""
    pages = sorted(PG_DOCS.glob("*.html"))
    assert len(pages) > 1000
    for path in pages:
        body = path.read_bytes()
        url = f"http://127.0.0.1:8080/{path.name}"
        before = reference_links(body, url, "text/html")
        assert extract_links(body, url, "text/html") == before, path.name


def test_synthetic_site_gives_the_generators_links() -> None:
    """The site's pages (every awkward href form) against its generator and the old code."""
    graph = SiteGraph(pages=400, hosts=3, seed=7, port=8080)
    renderer = Renderer(graph)
    site = tuple(graph.origins)
    for j in range(400):
        url = graph.origins[graph.host_of(j)] + graph.page_path(j)
        body = renderer.page_html(j)
        links = extract_links(body, url, "text/html")
        assert links == reference_links(body, url, "text/html")
        assert {u for u in links if u.startswith(site)} == {graph.url(n) for n in graph.links(j)}
