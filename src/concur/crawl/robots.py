"""robots.txt: what a site asks crawlers not to fetch, and how slowly to fetch the rest.

The file is parsed by `protego <https://pypi.org/project/Protego/>`_ (the parser Scrapy
uses), which follows RFC 9309: the most specific group for our user agent applies,
and within it the longest matching rule wins, ``Allow`` winning ties; ``*`` and ``$``
wildcards work.  This module adds what the RFC leaves to the crawler, i.e. what the
HTTP answer for ``/robots.txt`` *means*, decided by :func:`policy_for_response`:

* **2xx** - parse the body (at most 512 KiB, the RFC's minimum).  A body that is not
  text (it contains NUL bytes) has no rules: allow all.
* **3xx** - the scheduler follows up to :data:`MAX_ROBOTS_REDIRECTS` redirects itself
  (engines never follow redirects in crawl mode); beyond that, as for 4xx.
* **4xx** (404, 401, 403, 410 ...) - "unavailable": there are no rules, allow all.  A
  site without a robots.txt has not asked for anything.  429 is the exception: it
  says "too many requests", so it is treated like 5xx.
* **5xx, 429, or no answer at all** (DNS, refused, timeout) - "unreachable": the
  site may have rules we cannot read, so assume the worst and disallow everything
  for a while (Google does the same), trying again with backoff.  Returned here as
  ``None``; the scheduler retries and, once its budget is spent, gives up on the host
  with :meth:`RobotsPolicy.disallow_all`.

``Crawl-delay`` (and ``Request-rate``, read as seconds per request) sets the minimum
time between two request starts to the host.  Policies are cached for
:data:`ROBOTS_TTL` seconds (the RFC asks for at most 24 hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protego import Protego

__all__ = [
    "MAX_ROBOTS_BYTES",
    "MAX_ROBOTS_REDIRECTS",
    "ROBOTS_TTL",
    "RobotsPolicy",
    "policy_for_response",
    "robots_url",
]

MAX_ROBOTS_BYTES = 512 * 1024
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 section 2.3.1.2
ROBOTS_TTL = 24 * 3600.0


def robots_url(host_key: str) -> str:
    """The robots.txt URL of an origin (``scheme://host[:port]``)."""
    return host_key + "/robots.txt"


@dataclass(frozen=True, slots=True)
class RobotsPolicy:
    """The rules of one origin, as far as this crawler is concerned.

    Build one with :meth:`parse`, :meth:`allow_all` or :meth:`disallow_all`.
    ``reason`` is a short phrase for the records of the URLs it forbids.
    """

    reason: str
    text: str = ""
    _parser: Any = field(default=None, repr=False, compare=False)  # protego.Protego or None
    _everything: bool | None = None  # a fixed answer for every URL, or None: ask the parser

    @classmethod
    def parse(cls, text: str) -> RobotsPolicy:
        """Rules from the text of a robots.txt file."""
        text = text[:MAX_ROBOTS_BYTES]
        parser = Protego.parse(text)
        # No Disallow line at all means nothing is forbidden: skip the parser per URL.
        trivial = "disallow" not in text.lower()
        return cls("disallowed by robots.txt", text, parser, True if trivial else None)

    @classmethod
    def allow_all(cls, reason: str = "no robots.txt rules") -> RobotsPolicy:
        return cls(reason, "", None, True)

    @classmethod
    def disallow_all(cls, reason: str) -> RobotsPolicy:
        return cls(reason, "", None, False)

    def allowed(self, url: str, user_agent: str) -> bool:
        """May ``user_agent`` fetch ``url``?  (``url`` absolute; only its path and query count.)"""
        if self._everything is not None:
            return self._everything
        return bool(self._parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        """Seconds between request starts the site asks of ``user_agent``, if it asks."""
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(user_agent)
        rate = self._parser.request_rate(user_agent)
        per_request = None
        if rate is not None and rate.requests:
            per_request = rate.seconds / rate.requests
        candidates = [float(d) for d in (delay, per_request) if d is not None and d >= 0]
        return max(candidates) if candidates else None

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """The ``Sitemap:`` URLs the file lists (for any user agent)."""
        if self._parser is None:
            return ()
        return tuple(self._parser.sitemaps)


def policy_for_response(
    status: int | None, body: bytes | None, *, reachable: bool = True
) -> RobotsPolicy | None:
    """What a robots.txt answer means (see the module docstring), or None if "unreachable".

    ``status`` None or ``reachable=False`` means no HTTP answer came (a network error).
    Redirects are the caller's business; one that reaches here (not followed) counts as
    "unavailable", i.e. allow all.
    """
    if status is None or not reachable:
        return None
    if status == 429 or status >= 500:
        return None
    if status >= 300:
        return RobotsPolicy.allow_all(f"robots.txt answered {status}: no rules")
    if status < 200:
        return None
    data = (body or b"")[:MAX_ROBOTS_BYTES]
    if b"\x00" in data:
        return RobotsPolicy.allow_all("robots.txt is not a text file: no rules")
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    return RobotsPolicy.parse(text)
