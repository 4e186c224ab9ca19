"""The book's experiment as data: the URLs a crawler fetches from the mock server."""

from __future__ import annotations

from urllib.parse import quote


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
