"""The WHATWG URL parser (ada-url, the parser in Node.js) as two calls: string in, string out.

A crawler resolves every href of every page it reads.  :func:`resolve` does that the way a
browser does (the WHATWG URL Standard, which is what a page's author tested against), and
:func:`parse` reads an absolute URL the same way.  Both return the URL *serialised* by
the standard, or None where the standard says "failure":

* the scheme and host are lower case, an IDN host is punycode (UTS #46), an IPv4 address
  in any spelling (``0x7f.1``) is dotted decimal, an IPv6 address is compressed;
* the default port is gone, ``.`` and ``..`` segments (``%2e`` too) are resolved, ``\\``
  is ``/`` in http(s) URLs, spaces, controls and non-ASCII are UTF-8 percent-escapes;
* tabs and newlines anywhere, and controls or spaces at either end, are removed.

What the standard leaves alone (the case of ``%2f``, ``%7e`` that could be ``~``, an
empty ``?``, the fragment, the order of query parameters) is
:mod:`concur.crawl.urls`' business: this module only parses.

Why the C API and not ``ada_url.join_url``: the work of one call is a few hundred
nanoseconds of C, and the Python around it is most of the cost.  ``join_url`` encodes
the base again for every href, registers a finaliser per URL (``ffi.gc``) and checks
validity in a separate call; calling ada's C functions through the package's own cffi
module (the base encoded once a page) does one parse, one read and one free, in about
60 % of the time (~1.3 µs against ~2.2 µs a call, at tens of distinct hrefs a page).
The answer is copied out before the parsed URL is freed: ada's strings point into it.
Should a future ada-url move its cffi module, the public functions take over with the
same results, only slower.
"""

from __future__ import annotations

__all__ = ["parse", "resolve"]

try:  # the C API, through the cffi module that ada_url's own adapter calls
    from ada_url._ada_wrapper import ffi as _ffi
    from ada_url._ada_wrapper import lib as _lib
except ImportError:  # pragma: no cover - a future layout: the public API, slower
    _lib = None


if _lib is not None:
    _parse = _lib.ada_parse
    _parse_with_base = _lib.ada_parse_with_base
    _get_href = _lib.ada_get_href
    _free = _lib.ada_free
    _unpack = _ffi.unpack

    def resolve(href: str, base: bytes) -> str | None:
        """``href`` resolved against ``base`` (UTF-8, encoded once per page), serialised; or None.

        None when the standard fails: an unusable base, a bad host or port, ``http://``.
        """
        try:
            raw = href.encode()
        except UnicodeEncodeError:  # a lone surrogate (from a broken &#xD800; reference)
            return None
        url = _parse_with_base(raw, len(raw), base, len(base))
        try:
            out = _get_href(url)  # empty when the parse failed: no URL serialises to ""
            return _unpack(out.data, out.length).decode() if out.length else None
        finally:
            _free(url)

    def parse(url: str) -> str | None:
        """The absolute URL ``url`` serialised by the standard, or None if it is not one."""
        try:
            raw = url.encode()
        except UnicodeEncodeError:
            return None
        parsed = _parse(raw, len(raw))
        try:
            out = _get_href(parsed)
            return _unpack(out.data, out.length).decode() if out.length else None
        finally:
            _free(parsed)

else:  # pragma: no cover
    from ada_url import join_url as _join_url
    from ada_url import parse_url as _parse_url

    def resolve(href: str, base: bytes) -> str | None:
        try:
            return _join_url(base.decode(), href)
        except (ValueError, UnicodeError):
            return None

    def parse(url: str) -> str | None:
        try:
            return _parse_url(url, ("href",))["href"]
        except (ValueError, UnicodeError):
            return None
