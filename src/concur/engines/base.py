"""What every engine shares, so that engines differ only in how they schedule fetches.

An engine module supplies one thing: how to make *one attempt* at one URL with its
HTTP library (``fetch_once``), returning an :class:`Outcome`, and how to run many of
those at once.  Everything that decides semantics lives here, once:

* :func:`check_url` — which inputs are fetchable at all (the rest become records);
* :func:`retry_delay` — which outcomes are retried, and after how long
  (exponential backoff with full jitter, ``Retry-After`` honoured, both capped);
* :func:`fetch_sync` / :func:`drain_async` — the attempt loop around ``fetch_once``,
  producing the one :class:`~concur.records.FetchRecord` per URL;
* :class:`Meter` — wall time, CPU, peak memory and peak in flight for the result.
"""

from __future__ import annotations

import asyncio
import operator
import random
import re
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from concur.records import (
    RETRY_STATUSES,
    TRANSIENT,
    CrawlConfig,
    CrawlResult,
    ErrorKind,
    FetchRecord,
)

OnRecord = Callable[[FetchRecord], None] | None
"""An optional callback an engine calls with each record as it is done (progress bars)."""


@dataclass(slots=True)
class Outcome:
    """The result of one attempt, before retries are decided."""

    status: int | None = None
    nbytes: int = 0
    error: ErrorKind | None = None
    detail: str = ""
    retry_after: str | None = None  # the Retry-After header of a 429/503, as sent
    final_url: str = ""
    # requests the HTTP library re-sent by itself within this attempt (libcurl re-sends
    # once when a reused connection dies unanswered): the record's attempts count them
    resent: int = 0


# The everyday start of a fetchable URL: scheme, host and port (captured), then the end
# or a path, query or fragment.  Matching only this prefix (the rest needs no whitespace
# and nothing unprintable) keeps the common case to a few hundred nanoseconds; anything
# else gets the careful check, which also says what is wrong.
_PLAIN_START = re.compile(r"https?://[A-Za-z0-9.\-]+(?::([1-9][0-9]{0,4}))?(?=[/?#]|\Z)")


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be fetched (one line), or None if it can."""
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


def outcome_for_status(status: int, nbytes: int, final_url: str = "") -> Outcome:
    """An answer: usable below 400, an HTTP error record from 400 on."""
    if status >= 400:
        return Outcome(status, nbytes, ErrorKind.HTTP, f"HTTP {status}", final_url=final_url)
    return Outcome(status, nbytes, final_url=final_url)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Jitter:
    """Seeded backoff jitter for one URL, created only if the URL is ever retried."""

    __slots__ = ("seed", "_rng")

    def __init__(self, seed: int, index: int) -> None:
        self.seed = (seed, index)
        self._rng: random.Random | None = None

    def uniform(self, a: float, b: float) -> float:
        if self._rng is None:
            self._rng = random.Random(f"{self.seed[0]}:{self.seed[1]}")
        return self._rng.uniform(a, b)


def retry_delay(outcome: Outcome, attempt: int, config: CrawlConfig, rng: Jitter) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to stop here."""
    if outcome.error is None or attempt > config.retries:
        return None
    transient = outcome.error in TRANSIENT
    if outcome.error is ErrorKind.HTTP and outcome.status in RETRY_STATUSES:
        transient = True
    if not transient:
        return None
    wait = rng.uniform(0.0, config.backoff * 2 ** (attempt - 1))  # full jitter
    told = parse_retry_after(outcome.retry_after)
    if told is not None:
        wait = max(wait, told)
    return min(wait, config.max_backoff)


def _record(
    index: int, url: str, o: Outcome, attempts: int, start: float, end: float
) -> FetchRecord:
    final = o.final_url if o.final_url and o.final_url != url else ""
    return FetchRecord(
        index, url, o.status, o.nbytes, o.error, attempts, start, end, o.detail, final
    )


def invalid_record(index: int, url: str, why: str, now: float) -> FetchRecord:
    return FetchRecord(index, url, None, 0, ErrorKind.INVALID_URL, 0, now, now, why)


def fetch_sync(
    fetch_once: Callable[[str], Outcome],
    index: int,
    url: str,
    config: CrawlConfig,
    t0: float,
    sleep: Callable[[float], Any] = time.sleep,
) -> FetchRecord:
    """Attempt ``url`` until it succeeds or retries run out; never raises for a URL's fault."""
    start = time.perf_counter() - t0
    why = check_url(url)
    if why is not None:
        return invalid_record(index, url, why, start)
    target = url.strip()
    rng = Jitter(config.seed, index)  # draws (and seeds) nothing unless the URL is retried
    attempt = resent = 0
    while True:
        attempt += 1
        try:
            outcome = fetch_once(target)
        except Exception as exc:  # a library error the engine did not map: still a record
            outcome = Outcome(error=ErrorKind.OTHER, detail=one_line(exc))
        resent += outcome.resent
        wait = retry_delay(outcome, attempt, config, rng)
        if wait is None:
            return _record(index, url, outcome, attempt + resent, start, time.perf_counter() - t0)
        sleep(wait)


async def drain_async(
    fetch_once: Callable[[str], Awaitable[Outcome]],
    work: Iterator[tuple[int, str]],
    config: CrawlConfig,
    t0: float,
    records: list[FetchRecord],
    on_record: OnRecord = None,
) -> None:
    """One worker of an async engine: take ``(index, url)`` from ``work`` until it runs dry.

    The coroutine twin of :func:`fetch_sync` (same rules, ``asyncio.sleep`` between
    tries), written as the whole worker rather than one call per URL: a coroutine per
    URL is one more object to make and one more frame every resumption passes through
    (small: about 0.4 % of the uvloop engine's instructions per request, but free to
    avoid).  ``concurrency`` of these share one iterator, so each URL goes to exactly
    one worker, and each appends its records to ``records`` and calls ``on_record``.
    """
    clock = time.perf_counter
    for index, url in work:
        start = clock() - t0
        why = check_url(url)
        if why is not None:
            record = invalid_record(index, url, why, start)
        else:
            target = url.strip()
            rng = Jitter(config.seed, index)  # draws nothing unless the URL is retried
            attempt = resent = 0
            while True:
                attempt += 1
                try:
                    outcome = await fetch_once(target)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    outcome = Outcome(error=ErrorKind.OTHER, detail=one_line(exc))
                resent += outcome.resent
                wait = retry_delay(outcome, attempt, config, rng)
                if wait is None:
                    break
                await asyncio.sleep(wait)
            record = _record(index, url, outcome, attempt + resent, start, clock() - t0)
        records.append(record)
        if on_record is not None:
            on_record(record)


def one_line(exc: BaseException) -> str:
    """``ExcType: message`` on one line, for a record's detail."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}"[:300] if text else name


class InFlight:
    """Counts requests in flight and remembers the peak (thread-safe when asked)."""

    __slots__ = ("now", "peak", "_lock")

    def __init__(self, threadsafe: bool = False) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock() if threadsafe else None

    def enter(self) -> None:
        if self._lock is None:
            self.now += 1
            if self.now > self.peak:
                self.peak = self.now
            return
        with self._lock:
            self.now += 1
            if self.now > self.peak:
                self.peak = self.now

    def leave(self) -> None:
        if self._lock is None:
            self.now -= 1
            return
        with self._lock:
            self.now -= 1


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def own_peak_rss_kib() -> float:
    """This process's peak RSS in KiB.

    On Linux, ``ru_maxrss`` survives ``exec``: a process started from a large parent
    reports the parent's peak.  ``VmHWM`` belongs to the current address space only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    scale = 1 / 1024 if sys.platform == "darwin" else 1.0  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def peak_rss_mb() -> float:
    """Peak resident set size of this process or its largest waited-for child, in MiB."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    kids_kib = kids / 1024 if sys.platform == "darwin" else float(kids)
    return max(own_peak_rss_kib(), kids_kib) / 1024


_by_index = operator.attrgetter("index")


class Meter:
    """Measures a run: ``t0`` for record times, then :meth:`result` to package it."""

    def __init__(self) -> None:
        self.cpu0 = _cpu()
        self.t0 = time.perf_counter()

    def result(
        self,
        engine: str,
        config: CrawlConfig,
        records: Sequence[FetchRecord],
        peak_in_flight: int,
        extra_cpu_s: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> CrawlResult:
        wall = time.perf_counter() - self.t0
        cpu = _cpu() - self.cpu0 + extra_cpu_s
        ordered = tuple(sorted(records, key=_by_index))
        return CrawlResult(
            engine, config, ordered, wall, cpu, peak_rss_mb(), peak_in_flight, extra or {}
        )
