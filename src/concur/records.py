"""The contract every engine keeps: a config in, one frozen record per URL out.

Records are plain data so that reports, plots, benchmarks and tests read them without
knowing which concurrency model produced them.  Times are ``time.perf_counter()``
seconds measured from the start of the run (``CrawlResult.records[i].start``), so
timelines of different engines share an axis.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class ErrorKind(enum.StrEnum):
    """Why a URL did not give a usable answer.  Every engine maps its library's errors here."""

    INVALID_URL = "invalid_url"  # not an http(s) URL we can fetch
    DNS = "dns"  # the host name did not resolve
    REFUSED = "refused"  # nothing listens on that port (connection refused)
    CONNECT = "connect"  # other failures to connect (unreachable, TLS handshake)
    CERTIFICATE = "certificate"  # the server's TLS certificate is not trusted for its name
    TIMEOUT = "timeout"  # no complete answer within the timeout
    RESET = "reset"  # the peer reset or closed the connection before answering
    TRUNCATED = "truncated"  # the body ended before its announced length
    PROTOCOL = "protocol"  # a response no HTTP parser accepts
    TOO_LARGE = "too_large"  # the body is larger than ``max_body``
    HTTP = "http"  # an answer with a status >= 400 (the record keeps the status)
    ROBOTS = "robots"  # not fetched: robots.txt disallows it, or is unreachable
    BLOCKED = "blocked"  # not followed: a public host led to a private address
    OTHER = "other"  # anything else; the detail says what


TRANSIENT = frozenset({ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.RESET, ErrorKind.TRUNCATED})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    """How to fetch.  The same config means the same semantics on every engine."""

    concurrency: int = 100
    timeout: float = 30.0  # seconds for a whole request, connect to last byte
    retries: int = 0  # extra attempts after a transient failure, 5xx or 429
    backoff: float = 0.05  # base of exponential backoff, seconds (full jitter)
    max_backoff: float = 10.0  # no wait between attempts is longer, Retry-After included
    max_body: int = 16 * 1024 * 1024  # larger bodies become TOO_LARGE records
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str = "concur/0.1"
    max_redirects: int = 10
    seed: int = 0  # of the backoff jitter
    allow_private: bool = False  # follow a public host's redirects and links to private ones
    # Keep every exchange in WARC files at this path (concur.warc): the engines then hand
    # the job each answer's payload as received and the request headers they sent.
    warc: str | None = None
    warc_max_size: int | None = None  # bytes: a new WARC file once one passes this
    # curl's --resolve: connections to (host, port) go to this address instead of the one
    # DNS gives; the URL, the Host header, SNI and the certificate check keep the host.
    resolve: tuple[tuple[str, int, str], ...] = ()
    # Trust only the CAs in this PEM file for https (curl's --cacert); None: the
    # environment's SSL_CERT_FILE if set, else the system's store (concur.engines.connect).
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not self.timeout > 0:
            raise ValueError("timeout must be > 0 seconds")
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.max_body < 0:
            raise ValueError("max_body must be >= 0")
        if self.warc_max_size is not None and self.warc_max_size < 1024:
            raise ValueError("warc_max_size must be at least 1024 bytes")
        for entry in self.resolve:
            if len(entry) != 3 or not 0 < int(entry[1]) < 65536:
                raise ValueError(f"resolve entries are (host, port, address), not {entry!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["headers"] = [list(h) for h in self.headers]
        d["resolve"] = [list(r) for r in self.resolve]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrawlConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["headers"] = tuple(tuple(h) for h in kw.get("headers", ()))
        kw["resolve"] = tuple((h, int(p), a) for h, p, a in kw.get("resolve", ()))
        return cls(**kw)


@dataclass(frozen=True, slots=True, init=False)
class FetchRecord:
    """What happened to one input URL, whatever the engine.

    Frozen like every record here, but with its own ``__init__``: the one a frozen
    dataclass generates must step round its own ``__setattr__`` (which raises) with an
    ``object.__setattr__`` call per field, 2.4 µs for these ten fields, paid for every
    URL of every crawl.  Setting each slot through its descriptor takes a third of that
    (see ``_SLOT_SETTERS`` below).  Instances are exactly as frozen as before.
    """

    index: int  # position of the URL in the input
    url: str
    status: int | None  # the final HTTP status, None when no answer came
    nbytes: int  # body bytes received (after decompression)
    error: ErrorKind | None  # None: a usable answer (status < 400)
    attempts: int
    start: float  # seconds since the run started, first attempt
    end: float  # seconds since the run started, last byte or failure
    detail: str = ""  # one line on the error
    final_url: str = ""  # after redirects, when it differs from url

    def __init__(
        self,
        index: int,
        url: str,
        status: int | None,
        nbytes: int,
        error: ErrorKind | None,
        attempts: int,
        start: float,
        end: float,
        detail: str = "",
        final_url: str = "",
    ) -> None:
        (
            s_index,
            s_url,
            s_status,
            s_nbytes,
            s_error,
            s_attempts,
            s_start,
            s_end,
            s_detail,
            s_final,
        ) = _SLOT_SETTERS
        s_index(self, index)
        s_url(self, url)
        s_status(self, status)
        s_nbytes(self, nbytes)
        s_error(self, error)
        s_attempts(self, attempts)
        s_start(self, start)
        s_end(self, end)
        s_detail(self, detail)
        s_final(self, final_url)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def elapsed(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "url": self.url,
            "status": self.status,
            "bytes": self.nbytes,
            "error": None if self.error is None else str(self.error),
            "attempts": self.attempts,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "detail": self.detail,
            "final_url": self.final_url,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FetchRecord:
        """The record ``to_dict`` made: a :class:`PageRecord` when it has a page's fields."""
        fields = (
            d["index"],
            d["url"],
            d["status"],
            d["bytes"],
            None if d["error"] is None else ErrorKind(d["error"]),
            d["attempts"],
            d["start"],
            d["end"],
            d.get("detail", ""),
            d.get("final_url", ""),
        )
        if "depth" in d:
            page = (d["depth"], d.get("referrer", ""), d.get("content_type", ""))
            return PageRecord(*fields, *page, d.get("links", 0), d.get("title", ""))
        return FetchRecord(*fields)


_SLOT_SETTERS = tuple(vars(FetchRecord)[f.name].__set__ for f in fields(FetchRecord))
"""Each field's slot descriptor setter, in field order, for ``FetchRecord.__init__``."""


@dataclass(frozen=True, slots=True, init=False)
class PageRecord(FetchRecord):
    """A crawl's record: what happened to the URL, and what it was in the crawl.

    A URL list keeps :class:`FetchRecord` as it is; a crawl knows more about each page
    — how it was found and what it held — and says so: the records a crawl (``--follow``,
    ``--site``, a shared crawl) writes to ``-o``, its SQLite file and the Python API are
    these.  ``final_url`` is the redirect's target when the page was a redirect.
    """

    depth: int = 0  # links followed from a seed (a redirect's target keeps its depth)
    referrer: str = ""  # the page that linked to it (or redirected to it); "" for a seed
    content_type: str = ""  # the answer's Content-Type, as sent
    links: int = 0  # distinct links found on the page (HTML answers), in scope or not
    title: str = ""  # the HTML <title>, whitespace collapsed, at most 300 characters

    def __init__(
        self,
        index: int,
        url: str,
        status: int | None,
        nbytes: int,
        error: ErrorKind | None,
        attempts: int,
        start: float,
        end: float,
        detail: str = "",
        final_url: str = "",
        depth: int = 0,
        referrer: str = "",
        content_type: str = "",
        links: int = 0,
        title: str = "",
    ) -> None:
        FetchRecord.__init__(
            self, index, url, status, nbytes, error, attempts, start, end, detail, final_url
        )
        s_depth, s_referrer, s_ctype, s_links, s_title = _PAGE_SETTERS
        s_depth(self, depth)
        s_referrer(self, referrer)
        s_ctype(self, content_type)
        s_links(self, links)
        s_title(self, title)

    def to_dict(self) -> dict[str, Any]:
        d = FetchRecord.to_dict(self)
        d["depth"] = self.depth
        d["referrer"] = self.referrer
        d["content_type"] = self.content_type
        d["links"] = self.links
        d["title"] = self.title
        return d


_PAGE_SETTERS = tuple(
    vars(PageRecord)[name].__set__
    for name in ("depth", "referrer", "content_type", "links", "title")
)


@dataclass(frozen=True, slots=True)
class CrawlResult:
    """A whole run: the records (in input order) and what it cost the client."""

    engine: str
    config: CrawlConfig
    # Kept out of repr: asyncio.Runner (3.11) reprs the main task's result when it restores
    # the SIGINT handler, and 20,000 records take longer to repr than to fetch.
    records: tuple[FetchRecord, ...] = field(repr=False)
    wall_s: float
    cpu_s: float  # user + system CPU of the client, its worker processes included
    peak_rss_mb: float  # peak resident memory of the client process (largest worker)
    peak_in_flight: int  # most requests in flight at once, as the client counted
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> int:
        return sum(1 for r in self.records if r.error is None)

    @property
    def failed(self) -> int:
        return len(self.records) - self.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "config": self.config.to_dict(),
            "records": [r.to_dict() for r in self.records],
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_in_flight": self.peak_in_flight,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrawlResult:
        return cls(
            engine=d["engine"],
            config=CrawlConfig.from_dict(d["config"]),
            records=tuple(FetchRecord.from_dict(r) for r in d["records"]),
            wall_s=d["wall_s"],
            cpu_s=d["cpu_s"],
            peak_rss_mb=d["peak_rss_mb"],
            peak_in_flight=d["peak_in_flight"],
            extra=d.get("extra", {}),
        )
