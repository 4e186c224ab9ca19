"""One HTTP attempt as a value: what an engine reports, whatever its library or job.

An engine's fetcher turns one GET into an :class:`Attempt`; everything after that —
is it a usable answer, is it retried and when, what record it becomes, which links it
holds — is decided once, by the job that asked for it (a URL list or a crawl's
scheduler), never by the engine.  So the value carries what those rules need and no
more: the status, the few headers they read (``Location`` for redirects,
``Retry-After`` for backoff, ``Content-Type`` for link extraction), the body or only
its size, an error kind with a one-line detail, and the requests the HTTP library
re-sent by itself (libcurl does, once, when a reused connection dies unanswered: the
record's attempts count what the server saw).  A job that keeps bodies (a crawl) also
gets every response header as received, for what reads a page whole (a per-page hook,
a WARC record); a URL list, which only counts bytes, does not pay for them.  A job that
writes WARC files (``CrawlConfig.warc``, either job) gets what a record holds besides:
the payload as received (Content-Encoding intact), the request headers sent, and the
status line's reason phrase.

A named tuple, like :class:`~concur.crawl.frontier.Job`: one is made per request, so
making one must be cheap, and the child-process driver pickles it across a pipe.
"""

from __future__ import annotations

from typing import NamedTuple

from concur.records import ErrorKind

__all__ = ["Attempt", "answer", "failure", "one_line", "too_large"]


class Attempt(NamedTuple):
    """The outcome of one attempt at one URL, before retries are decided."""

    status: int | None = None  # None when no HTTP answer came
    nbytes: int = 0  # body bytes received (after decompression)
    error: ErrorKind | None = None  # None: a usable answer; HTTP for a status >= 400
    detail: str = ""  # one line on the error
    body: bytes | None = None  # the body, when the job asked to keep it
    content_type: str = ""  # the Content-Type header (kept with the body)
    location: str = ""  # the Location header of a 3xx not followed
    retry_after: str | None = None  # the Retry-After header of a 429 or 503, as sent
    resent: int = 0  # requests the library re-sent on its own within this attempt
    # The response's header lines as (name, value) pairs, in the order received: names
    # as sent (not lower-cased), a repeated header as separate pairs, values as text
    # (latin-1 where the library gives bytes).  Empty unless the job keeps bodies or
    # writes WARC records, and for an attempt that failed (too large included): only an
    # answer carries them.
    headers: tuple[tuple[str, str], ...] = ()
    # Only with ``CrawlConfig.warc`` set (else None, (), ""), and only on an answer:
    # the payload as received — Transfer-Encoding undone (it is transport), any
    # Content-Encoding (gzip, br...) not; ``body`` and ``nbytes`` stay the decoded ones.
    raw: bytes | None = None
    # The request's header lines as the library sent them, as far as it shows them (names
    # as sent, in order); ``Host`` is missing where the library leaves it to a lower layer.
    sent: tuple[tuple[str, str], ...] = ()
    reason: str = ""  # the status line's reason phrase as received ("" if the library hides it)


def answer(
    status: int,
    nbytes: int,
    body: bytes | None = None,
    content_type: str = "",
    location: str = "",
    retry_after: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    raw: bytes | None = None,
    sent: tuple[tuple[str, str], ...] = (),
    reason: str = "",
) -> Attempt:
    """An HTTP answer: usable below 400, an :attr:`ErrorKind.HTTP` error from 400 on."""
    if status >= 400:
        error: ErrorKind | None = ErrorKind.HTTP
        detail = f"HTTP {status}"
    else:
        error = None
        detail = ""
    return Attempt(
        status,
        nbytes,
        error,
        detail,
        body,
        content_type,
        location,
        retry_after,
        0,
        headers,
        raw,
        sent,
        reason,
    )


def failure(kind: ErrorKind, detail: str, status: int | None = None, nbytes: int = 0) -> Attempt:
    """An attempt that failed with ``kind`` (``status`` if the answer had begun)."""
    return Attempt(status, nbytes, kind, detail)


def too_large(status: int | None, limit: int) -> Attempt:
    """A body over ``limit`` bytes: the answer is dropped, its status kept."""
    return Attempt(status, limit, ErrorKind.TOO_LARGE, f"body over {limit} bytes")


def one_line(exc: BaseException) -> str:
    """``ExcType: message`` on one line, for an attempt's detail."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}"[:300] if text else name


def verdict(attempt: Attempt) -> tuple[ErrorKind | None, str]:
    """The error kind and detail a crawl records for ``attempt``: its own, or HTTP for an
    answer of 400 and more the engine left unmarked, or OTHER when no status came."""
    error, detail = attempt.error, attempt.detail
    if error is None:
        if attempt.status is None:
            return ErrorKind.OTHER, detail or "no HTTP status reported"
        if attempt.status >= 400:
            return ErrorKind.HTTP, detail
    return error, detail
