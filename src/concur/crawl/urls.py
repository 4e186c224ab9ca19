"""URL normalisation: one spelling per page, so that de-duplication means something.

A crawler meets the same page under many spellings: ``HTTP://Example.COM:80/a/./b/../c?``,
``http://example.com/a/c#top`` and ``http://example.com/a/%63`` are one page.  If each
spelling were queued, the crawl would fetch pages twice and a redirect loop written with
varying case would never end.  :func:`normalize` maps every spelling to one canonical
string, using only the equivalences RFC 3986 (section 6.2.2) guarantees, plus two that
crawlers conventionally assume (fragments never reach the server; query parameter order
rarely matters, which :func:`normalize` can be told not to assume):

* scheme and host are case-insensitive, so they are lower-cased; an IDN host becomes its
  ASCII (punycode) form, which is what DNS and the ``Host`` header see; a trailing dot
  is dropped;
* the default port (80 for http, 443 for https) is dropped, an empty path becomes ``/``;
* ``.`` and ``..`` segments are resolved, as a server would;
* percent-escapes get upper-case hex digits, escapes of unreserved characters
  (``A-Z a-z 0-9 - . _ ~``) are decoded, a ``%`` that starts no escape becomes ``%25``,
  and characters that may not appear raw (spaces, controls, non-ASCII, ``"<>\\^`{|}``)
  are encoded as UTF-8 escapes, as browsers do;
* the fragment is dropped (it never reaches the server), as is an empty query
  (``?``) and empty ``&&`` pairs;
* query pairs are sorted by name (stable, so repeated names keep their order) unless
  ``sort_query=False``: sites that mean something by parameter order are rare, and
  crawling every permutation of a faceted-search URL is the classic crawler trap.

Only http and https URLs normalise, on a host of letters, digits, ``-``, ``_`` and dots
(or an IP address) and a port other than 0; anything else gives ``None``, which callers
treat as "not a page": :func:`join` is how hrefs found in pages become absolute URLs, and
it rejects ``javascript:``, ``mailto:``, ``data:`` and hrefs no parser accepts.

How: the WHATWG URL parser does the parsing and joining (:mod:`concur.crawl.whatwg`, ada
in C: what a browser would request for that href), and :func:`_finish` then applies only
the rules above that the standard does not (escape case and unreserved escapes, the
fragment, the empty query and pairs, the order of pairs, the trailing dot, the few
characters the standard leaves raw).  Most links of most pages come out of the parser
already canonical, and one regular expression lets them through untouched; the commonest
hrefs of all do not need the parser (:class:`Joiner`).

Where this differs from the ``urllib.parse`` normaliser it replaced (every one is the
standard's reading, the one a browser has; ``tests/crawl/test_crawl_urls_equivalence.py``
checks that nothing else differs):

* hosts are parsed as the standard says: an IPv4 address in any spelling becomes dotted
  decimal (``0x7f.1`` -> ``127.0.0.1``), an IPv6 address is compressed
  (``[::FFFF:1.2.3.4]`` -> ``[::ffff:102:304]``), escapes in a host are decoded
  (``Ex%41mple.com``), and IDNA follows UTS #46 (``faß.de`` -> ``xn--fa-hia.de``, where
  Python's IDNA 2003 codec gave ``fass.de``); names UTS #46 refuses give None;
* any run of slashes (or backslashes, or none) after ``http:`` starts the host:
  ``http:///x``, ``http:/x`` and an href ``///x`` are ``http://x/``, ``http://h\\x`` is
  ``http://h/x`` (they were None or a path); ``https:x`` on an http page is
  ``https://x/``; an empty host (``//``, ``http://``) is None; text between an IPv6
  address's ``]`` and the port or path is an error, not ignored;
* relative references are read as the standard reads them, not as ``urljoin`` did:
  ``.;x`` is a file name (not ``.`` with RFC 1808 parameters), ``./a//b`` keeps its
  empty segment, and tabs and newlines are dropped *before* an href is read
  (``/<tab>/x`` is scheme-relative);
* ``'`` in a query is ``%27`` (the standard's query set), and ``[`` ``]`` always stay raw
  (they were escaped when something else in the same path or query needed escaping);
* control characters at either end are stripped, not escaped; user info is escaped as
  the standard escapes it.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from concur.crawl.whatwg import parse, resolve

__all__ = [
    "Joiner",
    "check_url",
    "host_key",
    "hostname",
    "is_private",
    "join",
    "normalize",
    "page_ref",
    "private_jump",
]

# What a URL looks like when no rule is left to apply: the parser's output with a
# host of plain labels, a port that is not 0, a path of characters concur leaves raw,
# no escape, no query, no fragment.  Most links, on most pages.
_CANONICAL = re.compile(
    r"https?://[a-z0-9\-_]+(?:\.[a-z0-9\-_]+)*(?::[1-9][0-9]{0,4})?"
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/\[\]]*"
)
_HOST_OK = re.compile(r"[a-z0-9\-_.]+")
# Characters the standard may leave raw (it depends on the component, and on the version
# of the standard) that concur always escapes.
_RAW = re.compile(r'["<>\\^`{|}]')
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})?")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

# What the standard strips from both ends of an href: C0 controls and space.
_STRIP = "".join(map(chr, range(0x21)))


def _escape_raw(m: re.Match[str]) -> str:
    return f"%{ord(m.group()):02X}"


def _fix_escape(m: re.Match[str]) -> str:
    hex2 = m.group(1)
    if hex2 is None:  # a "%" not followed by two hex digits: escape the "%" itself
        return "%25"
    ch = chr(int(hex2, 16))
    return ch if ch in _UNRESERVED else "%" + hex2.upper()


def _clean(component: str) -> str:
    """Escape what concur never leaves raw, then make every escape canonical."""
    if _RAW.search(component) is not None:
        component = _RAW.sub(_escape_raw, component)
    if "%" in component:
        component = _ESCAPE.sub(_fix_escape, component)
    return component


def _finish(url: str, sort_query: bool) -> str | None:
    """concur's spelling of ``url``, a URL serialised by the WHATWG parser; None if not a page.

    The parser has already lower-cased scheme and host, encoded the host (IDNA) and
    everything that cannot be raw, dropped the default port and resolved dot segments;
    what is left is cheap string work, and for most URLs nothing at all.
    """
    if _CANONICAL.fullmatch(url) is not None:
        return url
    if url.startswith("http://"):
        start = 7
    elif url.startswith("https://"):
        start = 8
    else:
        return None  # javascript:, mailto:, data:, ftp: ...
    rest = url.partition("#")[0]
    rest, _, query = rest.partition("?")
    cut = rest.find("/", start)  # the standard always writes a path for http(s)
    if cut < 0:
        cut = len(rest)
    userinfo, at, hostport = rest[start:cut].rpartition("@")
    if hostport.startswith("["):  # an IPv6 address, already canonical
        end = hostport.find("]") + 1
        host, port = hostport[:end], hostport[end + 1 :]
    else:
        host, _, port = hostport.partition(":")
        if host.endswith("."):  # "example.com." is example.com; "0x7f.1.." then reads
            host = host.rstrip(".")  # as an IPv4 address: parse the result once more
            if not host:
                return None
            authority = f"{userinfo}{at}{host}:{port}" if port else f"{userinfo}{at}{host}"
            again = parse(url[:start] + authority + url[cut:])
            return None if again is None else _finish(again, sort_query)
        if _HOST_OK.fullmatch(host) is None:  # "a!b": not a name DNS can answer
            return None
    if port == "0":
        return None
    netloc = f"{host}:{port}" if port else host
    if at and userinfo:
        netloc = f"{_clean(userinfo)}@{netloc}"
    path = _clean(rest[cut:] or "/")
    if query:
        pairs = [_clean(p) for p in query.split("&") if p]
        if sort_query and len(pairs) > 1:
            pairs.sort(key=lambda p: p.partition("=")[0])
        query = "&".join(pairs)
    return f"{url[:start]}{netloc}{path}?{query}" if query else f"{url[:start]}{netloc}{path}"


def normalize(url: str, *, sort_query: bool = True) -> str | None:
    """The canonical spelling of an absolute http(s) URL, or None if it is not one.

    ``normalize(normalize(u)) == normalize(u)`` for every ``u`` it accepts.
    """
    parsed = parse(url)
    return None if parsed is None else _finish(parsed, sort_query)


def page_ref(href: str) -> str:
    """The part of an href that can name another page: no fragment, nothing around it.

    ``" a.html#top "`` and ``"a.html"`` lead to the same page, so a page's hrefs are
    de-duplicated on this before any is joined.  ``""`` means the page itself.  (Only the
    ends of the whole href are stripped, as the standard does: in ``"a #top"`` the space
    belongs to the path, and :meth:`Joiner.ref` keeps it there.)
    """
    href = href.strip(_STRIP)
    cut = href.find("#")
    return href if cut < 0 else href[:cut]


# A relative reference that is nothing but path segments of characters concur leaves raw,
# none of them "." or ".." (no segment starts with a dot) and no ":" (which could start a
# scheme): the standard resolves it by appending it to the base's directory, and the
# result needs no rule of _finish.  Table-of-contents links look like this.
_SEGMENT = r"[A-Za-z0-9\-_~!$&'()*+,;=@][A-Za-z0-9\-._~!$&'()*+,;=@]*"
_PLAIN_REF = re.compile(rf"/?{_SEGMENT}(?:/{_SEGMENT})*/?")


@functools.lru_cache(maxsize=1024)
def _plain_origin(origin: str) -> bool:
    """Whether the parser writes ``origin`` (``http://host:port``) as it is: asked once a host.

    Not so for a default port, an IPv4 address in another spelling (``1.2.3``), an
    ``xn--`` label that is not valid punycode.
    """
    return parse(origin + "/") == origin + "/"


class Joiner:
    """Resolves hrefs found in one page against its base URL, quickly.

    Built once per page: the base is parsed and encoded once.  Called once per distinct
    href: the WHATWG parser joins it, in C, and :func:`_finish` adds concur's rules.  Two
    common hrefs skip the parser, because its answer is known: a plain relative path
    (``sql-select.html``, ``/docs/``) against a canonical base is appended to the base's
    directory or origin, and an absolute URL already written canonically is itself, once
    its host and port are known to come out of the parser unchanged (checked once a host).
    A test holds both shortcuts to the parser's answers.
    """

    __slots__ = ("base", "sort_query", "_base", "_bad_base", "_dir", "_origin")

    def __init__(self, base: str, *, sort_query: bool = True) -> None:
        self.base = base
        self.sort_query = sort_query
        try:
            self._base = base.encode()
        except UnicodeEncodeError:
            self._base = b""
        parsed = parse(base)
        # An unusable base still lets absolute hrefs through, as urljoin did.
        self._bad_base = parsed is None
        self._dir = self._origin = ""
        if parsed is not None and _finish(parsed, sort_query) == base:  # canonical: no "#"
            cut = base.find("/", base.find("//") + 2)
            path = base[cut:].partition("?")[0]
            self._origin = base[:cut]
            self._dir = base[: cut + path.rfind("/") + 1]

    def __call__(self, href: str | None) -> str | None:
        """The normalised absolute URL ``href`` points to, or None if it is not a web page."""
        return None if href is None else self.ref(page_ref(href))

    def ref(self, ref: str) -> str | None:
        """:meth:`__call__` for an href already cut by :func:`page_ref` (the hot path)."""
        if not ref:
            return None  # the page itself: never a new URL
        if self._dir and _PLAIN_REF.fullmatch(ref) is not None:  # never "//host/..."
            return self._origin + ref if ref[0] == "/" else self._dir + ref
        if _CANONICAL.fullmatch(ref) is not None:  # absolute, and written canonically?
            cut = ref.find("/", 8)  # the end of "http(s)://host[:port]"
            if "/." not in ref[cut:] and _plain_origin(ref[:cut]):
                return ref  # no dot segment, and a host and port the parser keeps as they are
        if ref[-1] <= " ":  # a space before the "#" page_ref cut: keep it inside the URL
            ref += "#"
        url = parse(ref) if self._bad_base else resolve(ref, self._base)
        return None if url is None else _finish(url, self.sort_query)


def join(base: str, href: str | None, *, sort_query: bool = True) -> str | None:
    """``href`` resolved against ``base`` and normalised; None for non-http(s) or malformed hrefs.

    An empty or fragment-only href (``""``, ``#top``) also gives None: it names the page
    it sits on, which is never a new URL.  To resolve many hrefs of one page, build one
    :class:`Joiner` instead.
    """
    return Joiner(base, sort_query=sort_query)(href)


def host_key(url: str) -> str:
    """The origin of a normalised URL, ``scheme://host[:port]``: the unit of politeness.

    robots.txt applies per origin (RFC 9309), so the crawl keeps one queue, one robots
    policy and one delay per origin.
    """
    cut = url.find("/", url.find("//") + 2)
    head = url if cut < 0 else url[:cut]
    if "@" in head:
        scheme, _, rest = head.partition("://")
        head = f"{scheme}://{rest.rpartition('@')[2]}"
    return head


def hostname(url: str) -> str:
    """The host name of a normalised URL, without port or user info (for scope rules)."""
    netloc = host_key(url).partition("://")[2]
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.partition(":")[0]


# -- which inputs are fetchable at all ----------------------------------------------------

# The everyday start of a fetchable URL: scheme, host and port (captured), then the end
# or a path, query or fragment.  Matching only this prefix (the rest needs no whitespace
# and nothing unprintable) keeps the common case to a few hundred nanoseconds; anything
# else gets the careful check, which also says what is wrong.
_PLAIN_START = re.compile(r"https?://[A-Za-z0-9.\-]+(?::([1-9][0-9]{0,4}))?(?=[/?#]|\Z)")


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be fetched (one line), or None if it can.

    A URL list is fetched as given (no normalisation: the user asked for those URLs);
    what cannot be fetched at all still gets its record, with this reason.
    """
    if isinstance(url, str):
        plain = _PLAIN_START.match(url)
        if plain is not None and " " not in url and url.isprintable():
            port = plain[1]
            if port is None or len(port) < 5 or int(port) <= 65535:
                return None
    return _careful_check(url)


def _careful_check(url: str) -> str | None:
    """:func:`check_url` for anything that is not plainly fine: says what is wrong."""
    if not isinstance(url, str) or not url.strip():
        return "empty URL"
    url = url.strip()
    if len(url.split(None, 1)) > 1:
        return "URL contains whitespace"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return f"malformed URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return (
            f"unsupported scheme {parts.scheme!r}" if parts.scheme else "missing scheme (http://)"
        )
    if not parts.hostname:
        return "missing host"
    if port == 0:
        return "port 0 is not a port"
    return None


# -- private addresses ----------------------------------------------------------------------


def is_private(url: str) -> bool:
    """Whether ``url`` names a host on this machine or a private network, by its address.

    Loopback (127.0.0.0/8, ::1, ``localhost``), link-local (169.254.0.0/16 — where cloud
    metadata services answer — and fe80::/10), private (10/8, 172.16/12, 192.168/16,
    fc00::/7), unspecified, multicast and reserved addresses.  Decided from the URL
    alone: a public name that *resolves* to a private address is not caught here.
    """
    return _private_host(hostname(url))


@functools.lru_cache(maxsize=4096)
def _private_host(host: str) -> bool:
    """:func:`is_private` for one host name: decided once per host, not once per link."""
    import ipaddress

    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def private_jump(source: str, target: str) -> str | None:
    """Why following ``source`` → ``target`` is refused: a public host leading to a private one.

    A page on the public web that links or redirects to 127.0.0.1, 169.254.169.254 or a
    private network would make the crawler reach into the machine it runs on, or the
    network it sits in (server-side request forgery).  Seeds on private addresses, and
    private hosts leading to each other (the mock server's site), are not affected.
    """
    if is_private(target) and not is_private(source):
        return f"not followed: {hostname(target)} is a private address (--allow-private)"
    return None
