"""The book's experiment as data: the URLs a crawler fetches from the mock server."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit


def book_urls(
    base: str,
    n: int,
    name: str,
    *,
    delay_ms: float | None = 100.0,
    latency: str | None = None,
    extra: str = "",
) -> list[str]:
    """``n`` distinct ``/add`` URLs on the server at ``base``.

    ``name`` labels the server's timeline (it does not change the delays: the server
    leaves it out of a request's identity).  Each URL carries ``id=i`` where the book
    used ten random letters: it defeats caches just as well and keeps runs repeatable.
    ``latency`` (a spec such as ``lognormal:50,1000``) replaces the fixed ``delay_ms``.
    """
    wait = f"latency={quote(latency, safe=':,')}" if latency is not None else f"delay={delay_ms:g}"
    tail = f"&{extra}" if extra else ""
    return [f"{base}/add?name={quote(name)}&{wait}&id={i}{tail}" for i in range(n)]


def drawn_ideal_s(urls: Sequence[str], concurrency: int, seed: int) -> float:
    """The ideal wall time of fetching ``urls`` from a server seeded with ``seed``.

    Each URL's delay is the one the server will draw for it (the same function of the
    seed and the request, :func:`mockserver.routes.first_delay_ms`), and ``concurrency``
    slots take the URLs in order: the ideal for any latency distribution, not only a
    fixed delay.
    """
    from concur.report import ideal_of_delays
    from mockserver.routes import first_delay_ms

    delays = [first_delay_ms(_target(url), seed) / 1000.0 for url in urls]
    return ideal_of_delays(delays, concurrency)


def _target(url: str) -> str:
    """``/path?query`` of an absolute URL: what the server sees on its request line."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
