"""The normaliser concur had before ada-url: ``urllib.parse`` and pure Python (frozen).

This is ``src/concur/crawl/urls.py`` as of commit 8eb3f48 (its normalising half, verbatim
but for ``__all__``), kept as the reference the new implementation is compared with in
``test_crawl_urls_equivalence.py`` and by ``scripts/bench_links.py --reference``.  It lives
with the tests, not in the package: concur has one normaliser, and this one is a witness,
not an alternative.  Do not "fix" it: its quirks are what the comparison is about.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

__all__ = ["Joiner", "join", "normalize"]

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
