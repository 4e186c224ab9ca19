"""URL normalisation: one spelling per page, so that de-duplication means something.

A crawler meets the same page under many spellings: ``HTTP://Example.COM:80/a/./b/../c?``,
``http://example.com/a/c#top`` and ``http://example.com/a/%63`` are one page.  If each
spelling were queued, the crawl would fetch pages twice and a redirect loop written with
varying case would never end.  :func:`normalize` maps every spelling to one canonical
string, using only the equivalences RFC 3986 (section 6.2.2) guarantees, plus two that
crawlers conventionally assume (fragments never reach the server; query parameter order
rarely matters, which :func:`normalize` can be told not to assume):

* scheme and host are case-insensitive, so they are lower-cased; an IDN host becomes its
  ASCII (punycode) form, which is what DNS and the ``Host`` header see;
* the default port (80 for http, 443 for https) is dropped, an empty path becomes ``/``;
* ``.`` and ``..`` segments are resolved, as a server would;
* percent-escapes get upper-case hex digits, escapes of unreserved characters
  (``A-Z a-z 0-9 - . _ ~``) are decoded, and characters that may not appear raw
  (spaces, non-ASCII, ``"<>`` ...) are encoded as UTF-8 escapes, as browsers do;
* the fragment is dropped (it never reaches the server), as is an empty query
  (``?``) and empty ``&&`` pairs;
* query pairs are sorted by name (stable, so repeated names keep their order) unless
  ``sort_query=False``: sites that mean something by parameter order are rare, and
  crawling every permutation of a faceted-search URL is the classic crawler trap.

Only http and https URLs normalise; anything else gives ``None``, which callers treat
as "not a page": :func:`join` is how hrefs found in pages become absolute URLs, and it
rejects ``javascript:``, ``mailto:``, ``data:`` and hrefs no parser accepts.

Everything here is pure string work, and it runs once per link found, so the everyday
case (an already canonical URL) takes a fast path checked by one regular expression.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

__all__ = [
    "Joiner",
    "check_url",
    "host_key",
    "hostname",
    "is_private",
    "join",
    "normalize",
    "private_jump",
]

_DEFAULT_PORT = {"http": "80", "https": "443"}

# Characters that may stay raw in a path or query: RFC 3986 unreserved + sub-delims +
# ":@" (+ "/?" where they are not delimiters).  "%" is kept so that existing escapes
# survive quoting; lone "%" signs are repaired afterwards by _fix_escapes.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$&'()*+,;=-._~%"

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})?")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

# An already canonical URL: lower-case http(s) scheme and host, optional non-default port
# (checked separately), a path and query of safe characters with no escapes and no
# fragment.  Most links on most pages look like this, and skip all the work below.
_CANONICAL = re.compile(
    r"https?://[a-z0-9\-]+(?:\.[a-z0-9\-]+)*(?::[1-9][0-9]{0,4})?"
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HOST_OK = re.compile(r"[a-z0-9\-_.]+")
_STRIP = " \t\n\r\f\v\x00"


def _fix_escape(m: re.Match[str]) -> str:
    hex2 = m.group(1)
    if hex2 is None:  # a "%" not followed by two hex digits: escape the "%" itself
        return "%25"
    ch = chr(int(hex2, 16))
    return ch if ch in _UNRESERVED else "%" + hex2.upper()


def _clean(component: str, safe: str) -> str:
    """Encode what may not appear raw, then make every escape canonical."""
    if not component.isascii() or not component.isprintable() or " " in component:
        component = quote(component, safe=safe)
    elif any(c in component for c in '"<>\\^`{|}'):
        component = quote(component, safe=safe)
    if "%" in component:
        component = _ESCAPE.sub(_fix_escape, component)
    return component


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for an absolute path: what ``/a/./b/../c`` means (``/a/c``)."""
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is the directory "/a/", not the file "/a"
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _is_canonical(url: str, sort_query: bool) -> bool:
    if _CANONICAL.fullmatch(url) is None:
        return False
    head, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    if ":" in netloc:
        port = netloc.rpartition(":")[2]
        if port == _DEFAULT_PORT[head] or int(port) > 65535:
            return False
    path, _, query = path.partition("?")
    if "/." in "/" + path:  # possibly a dot segment (or a dot file: the slow path decides)
        return False
    if query:
        pairs = query.split("&")
        if "" in pairs:
            return False
        if sort_query and len(pairs) > 1:
            names = [p.partition("=")[0] for p in pairs]
            if names != sorted(names):
                return False
    return True


def normalize(url: str, *, sort_query: bool = True) -> str | None:
    """The canonical spelling of an absolute http(s) URL, or None if it is not one.

    ``normalize(normalize(u)) == normalize(u)`` for every ``u`` it accepts.
    """
    if _is_canonical(url, sort_query):
        return url
    url = url.strip(_STRIP)
    if "\t" in url or "\n" in url or "\r" in url:  # browsers drop these anywhere in a URL
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # bad IPv6 literal, port out of range or not a number
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        return None
    host = parts.hostname
    if not host:
        return None
    if host.endswith("."):
        host = host.rstrip(".")
        if not host:
            return None
    if ":" in host:  # an IPv6 literal: urlsplit removed the brackets
        host = f"[{host}]"
    else:
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
        if _HOST_OK.fullmatch(host) is None:
            return None
    netloc = host
    if port is not None:
        if port == 0:
            return None
        if str(port) != _DEFAULT_PORT[scheme]:
            netloc = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        netloc = f"{_clean(userinfo, ':!$&()*+,;=-._~%')}@{netloc}"

    path = parts.path or "/"
    if "\\" in path:  # browsers read "\" as "/" in http(s) URLs
        path = path.replace("\\", "/")
    path = _clean(path, _PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    if "." in path:
        path = _remove_dot_segments(path)

    query = parts.query
    if query:
        pairs = [_clean(p, _QUERY_SAFE) for p in query.split("&") if p]
        if sort_query and len(pairs) > 1:
            pairs.sort(key=lambda p: p.partition("=")[0])
        query = "&".join(pairs)
    return f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"


class Joiner:
    """Resolves hrefs found in one page against its base URL, quickly.

    Built once per page (the base is split once), called once per href.  The common
    href shapes (absolute, root-relative, relative file names, query-only) are joined by
    string concatenation; anything unusual goes through :func:`urllib.parse.urljoin`.
    """

    __slots__ = ("base", "sort_query", "_origin", "_dir", "_path")

    def __init__(self, base: str, *, sort_query: bool = True) -> None:
        self.base = base
        self.sort_query = sort_query
        cut = base.find("/", base.find("//") + 2) if "//" in base else -1
        if cut < 0 or "#" in base or _SCHEME.match(base) is None:
            self._origin = ""  # unusual base: always use urljoin
            self._dir = self._path = ""
            return
        self._origin = base[:cut]
        path = base[cut:].partition("?")[0]
        self._path = base[:cut] + path
        self._dir = base[:cut] + path[: path.rfind("/") + 1]

    def __call__(self, href: str | None) -> str | None:
        """The normalised absolute URL ``href`` points to, or None if it is not a web page."""
        if href is None:
            return None
        href = href.strip(_STRIP)
        if not href or href[0] == "#":
            return None  # the page itself: never a new URL
        if "\\" in href:  # browsers read "\" as "/" before the query in http(s) URLs
            cut = min((i for i in (href.find("?"), href.find("#")) if i >= 0), default=len(href))
            href = href[:cut].replace("\\", "/") + href[cut:]
        first = href[0]
        if first == "/":
            if len(href) > 1 and href[1] in "/\\":  # "//host/path": scheme-relative
                absolute = self._slow(href)
            else:
                absolute = self._origin + href if self._origin else self._slow(href)
        elif first == "?":
            absolute = self._path + href if self._origin else self._slow(href)
        elif href.startswith(("http://", "https://")):
            absolute = href
        else:
            m = _SCHEME.match(href)
            if m is not None:  # javascript:, mailto:, data:, tel:, ftp:, HTTP: ...
                if m.group().lower() not in ("http:", "https:"):
                    return None
                absolute = self._slow(href)
            elif self._origin and href[0] != ".":
                absolute = self._dir + href
            else:
                absolute = self._slow(href)
        if absolute is None:
            return None
        return normalize(absolute, sort_query=self.sort_query)

    def _slow(self, href: str) -> str | None:
        try:
            return urljoin(self.base, href)
        except ValueError:
            return None


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
    import ipaddress

    host = hostname(url).rstrip(".").lower()
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
