"""urllib3's exceptions as error kinds, once: for requests (serial, threads, processes) and gevent.

requests wraps urllib3, which wraps ``http.client`` and socket errors, each layer in its
own way — ``ConnectionError(MaxRetryError(reason=NewConnectionError(...)))``,
``ChunkedEncodingError(ProtocolError(msg, IncompleteRead(...)))`` — and gevent's engine
meets the same urllib3 exceptions unwrapped.  The innermost error is the informative
one, so :func:`classify` walks the whole chain (causes, contexts, ``.reason``,
exceptions in ``.args``) and decides in one order of precedence for both.

Both engines share one more thing urllib3 keeps to itself: the header lines it sends.
Its response does not hold the request, and requests' ``PreparedRequest`` misses what
``http.client`` adds below it (``Host``, and urllib3's ``Accept-Encoding: identity``),
so :class:`SentHeaders` has a connection remember each line as it is put.  Only a
fetcher that writes WARC records uses such connections.

And both make their connections the same way (:mod:`concur.engines.connect`): a
:class:`PoolManager` that trusts the config's :func:`~concur.engines.connect.ssl_context`
and sends a ``--resolve``'d ``host:port`` to its address (:class:`ResolvingHTTPConnection`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
import urllib3.exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import SKIP_HEADER

from concur.attempt import Attempt, failure, one_line
from concur.engines.connect import resolve_map, ssl_context
from concur.engines.oserrors import RESET_ERRNOS, os_kind
from concur.records import CrawlConfig, ErrorKind

__all__ = [
    "PoolManager",
    "ResolvingHTTPConnection",
    "ResolvingHTTPSConnection",
    "SentHeaders",
    "classify",
]

R = requests.exceptions

_INVALID_URL = (
    R.InvalidURL,
    R.MissingSchema,
    R.InvalidSchema,
    R.URLRequired,
    u3.LocationValueError,
)
_TIMEOUTS = (R.Timeout, u3.TimeoutError, TimeoutError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, outermost first (breadth first, each once)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        inner = [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
        todo += [x for x in inner if isinstance(x, BaseException)]


def classify(exc: BaseException) -> Attempt:
    """Map a requests/urllib3/http.client/socket exception to concur's error kinds."""
    chain = list(_chain(exc))
    # requests' exceptions are OSErrors too, but they only wrap the real one
    os_errors = [
        x for x in chain if isinstance(x, OSError) and not isinstance(x, R.RequestException)
    ]

    def find(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    def out(kind: ErrorKind, cause: BaseException | None = None) -> Attempt:
        return failure(kind, one_line(cause if cause is not None else exc))

    if e := find(*_INVALID_URL):
        return out(ErrorKind.INVALID_URL, e)
    if e := find(R.TooManyRedirects, u3.ResponseError):  # "too many redirects"
        return out(ErrorKind.OTHER, e)
    if e := find(ssl.SSLCertVerificationError):  # not trusted, or not for this name
        return out(ErrorKind.CERTIFICATE, e)  # the ssl error's own words, not its wrappers'
    # before timeouts: urllib3's NewConnectionError subclasses ConnectTimeoutError
    if e := find(socket.gaierror, u3.NameResolutionError):
        return out(ErrorKind.DNS, e)
    if e := find(ConnectionRefusedError):
        return out(ErrorKind.REFUSED, e)
    if e := next(
        (x for x in chain if isinstance(x, _TIMEOUTS) and not isinstance(x, u3.NewConnectionError)),
        None,
    ):
        return out(ErrorKind.TIMEOUT, e)
    bad = find(u3.InvalidChunkLength)
    if bad is not None and getattr(bad, "length", b"").strip():
        return out(ErrorKind.PROTOCOL, bad)  # a chunk size line that is not one
    if e := find(http.client.IncompleteRead):  # urllib3's own and InvalidChunkLength too
        return out(ErrorKind.TRUNCATED, e)  # the body ended before its length
    if isinstance(exc, R.ChunkedEncodingError):  # broke off inside the body
        return out(ErrorKind.TRUNCATED, os_errors[0] if os_errors else None)
    if e := find(http.client.RemoteDisconnected):  # closed before a status line: a subclass
        return out(ErrorKind.RESET, e)  # of BadStatusLine, so it is tested first
    if e := find(http.client.HTTPException, u3.DecodeError):
        return out(ErrorKind.PROTOCOL, e)  # BadStatusLine, LineTooLong, bad gzip...
    if e := next((x for x in os_errors if x.errno in RESET_ERRNOS), None):
        return out(ErrorKind.RESET, e)
    if e := find(R.SSLError, u3.SSLError, u3.NewConnectionError):
        return out(ErrorKind.CONNECT, e)  # TLS handshake, unreachable network...
    if os_errors:
        return out(os_kind(os_errors[-1]), os_errors[-1])
    if isinstance(exc, R.ConnectionError | u3.ProtocolError):
        return out(ErrorKind.CONNECT)
    return out(ErrorKind.OTHER)  # InvalidHeader, a bug: the detail says which


class SentHeaders(http.client.HTTPConnection):
    """A mixin for urllib3's connections: ``sent`` is the last request's header lines.

    ``http.client`` puts every line through :meth:`putheader` (``Host`` too, from
    ``putrequest``), so the list is what went on the wire, in order.  Put it first among
    the bases: urllib3's own ``putheader`` drops a value of ``SKIP_HEADER``, so does this.
    """

    sent: list[tuple[str, str]]

    def putrequest(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        self.sent = []
        super().putrequest(method, url, *args, **kwargs)

    def putheader(self, header: str | bytes, *values: Any) -> None:
        super().putheader(header, *values)
        if any(value == SKIP_HEADER for value in values):
            return
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        text = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]
        self.sent.append((name, "\r\n\t".join(text)))  # http.client folds many values so


# -- how connections are made: the CAs trusted, the address dialled ----------------------


class ResolvingHTTPConnection(HTTPConnection):
    """urllib3's connection, dialling ``address`` when one is given (``--resolve``).

    urllib3 keeps a single name per connection: ``host`` reads ``_dns_host``, and the
    Host header, SNI, the certificate check and the socket's connect all use it.  Only
    the connect must go elsewhere, so the name is swapped for the address while
    :meth:`_new_conn` opens the socket and put back before anything else reads it.
    Without an address (every connection when ``resolve`` is empty) nothing changes.
    """

    def __init__(self, *args: Any, address: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    def _new_conn(self) -> socket.socket:
        if self.address is None:
            return super()._new_conn()
        name, self._dns_host = self._dns_host, self.address
        try:
            return super()._new_conn()
        finally:
            self._dns_host = name


class ResolvingHTTPSConnection(ResolvingHTTPConnection, HTTPSConnection):
    """The same over TLS: SNI and the certificate's name stay ``host``."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = ResolvingHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = ResolvingHTTPSConnection


Pools = dict[str, type[HTTPConnectionPool]]


class PoolManager(urllib3.PoolManager):
    """urllib3's pool manager, connecting as the config says.

    * an https pool trusts :func:`~concur.engines.connect.ssl_context` — the same CAs
      as every other engine — and nothing else (requests and urllib3 would load
      certifi's or the system's bundle into a context of their own).  It is asked for
      when the first https pool is made, so a plain-HTTP crawl never loads a CA store;
    * a pool for a ``--resolve``'d ``host:port`` gives its connections the address.

    Both are settled once per pool (per host), never per request.  ``pools`` are the
    pool classes by scheme (default: plain ones); their connection classes must derive
    from :class:`ResolvingHTTPConnection`.
    """

    def __init__(self, config: CrawlConfig, pools: Pools | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = dict(pools or {"http": _HTTPPool, "https": _HTTPSPool})
        self.config = config
        self.addresses = resolve_map(config)

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        if scheme == "https":
            context = dict(self.connection_pool_kw if request_context is None else request_context)
            context["ssl_context"] = ssl_context(self.config)
            request_context = context
        pool = super()._new_pool(scheme, host, port, request_context)
        if self.addresses:
            address = self.addresses.get((host.lower().strip("[]"), port))
            if address is not None:
                pool.conn_kw["address"] = address
        return pool
