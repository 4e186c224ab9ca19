"""Where a connection goes and what it trusts: ``--resolve`` and ``--ca-file``, for every engine.

Two settings of :class:`~concur.records.CrawlConfig` change how a connection is made
without changing the URL:

``resolve``
    curl's ``--resolve HOST:PORT:ADDR``.  A connection to ``HOST:PORT`` goes to ``ADDR``
    instead of the address DNS gives; everything else still says ``HOST`` — the URL in
    the records, the ``Host`` header, TLS's server name (SNI) and the name the
    certificate must carry.  That is how a crawler reaches a recorded site on a replay
    server (``concur serve --replay``) with its URLs as recorded, or a staging server
    under the production name.

``ca_file``
    curl's ``--cacert``: trust the certificate authorities in this PEM file, and only
    them.  When it is not given, the ``SSL_CERT_FILE`` environment variable is read —
    the variable OpenSSL, curl and Python's ``ssl`` module read — and without either
    the system's store is used.

Each HTTP library spells these differently (aiohttp a resolver, urllib3 a connection
class, Tornado a host mapping, libcurl ``CURLOPT_RESOLVE`` and ``CURLOPT_CAINFO``), so
each engine applies them in its own module, from the values computed here once.  One
:func:`ssl_context` per config means every engine trusts exactly the same CAs: requests
and httpx would otherwise trust ``certifi``'s bundle and aiohttp the system's.

A certificate that is not trusted for its name is its own error kind,
:attr:`~concur.records.ErrorKind.CERTIFICATE` (:func:`is_certificate_error`), never
retried: waiting does not make a certificate valid.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from functools import lru_cache

from concur.records import CrawlConfig

__all__ = [
    "ca_file",
    "is_certificate_error",
    "parse_resolve",
    "resolve_map",
    "resolved",
    "ssl_context",
]


def parse_resolve(text: str) -> tuple[str, int, str]:
    """``"example.com:443:127.0.0.1"`` -> ``("example.com", 443, "127.0.0.1")``.

    curl's form: an IPv6 address may be in brackets (``example.com:443:[::1]``), and
    the host is matched without regard to case.  ``ValueError`` with a one-line reason
    when the text is not HOST:PORT:ADDR.
    """
    host, sep, rest = text.partition(":")
    port, sep2, addr = rest.partition(":")
    if not (sep and sep2 and host and port and addr):
        raise ValueError(
            f"--resolve wants HOST:PORT:ADDR, e.g. example.com:443:127.0.0.1, not {text!r}"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--resolve {text!r}: {port!r} is not a port number")
    addr = addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"--resolve {text!r}: {addr!r} is not an IP address") from None
    return host.lower().strip("[]"), int(port), addr


def resolve_map(config: CrawlConfig) -> dict[tuple[str, int], str]:
    """The config's ``resolve`` entries as ``{(host, port): address}``, hosts lower-cased."""
    return {(host.lower(), int(port)): addr for host, port, addr in config.resolve}


def resolved(config: CrawlConfig, host: str, port: int) -> str:
    """The address to connect to for ``host:port``: the ``--resolve`` one, else ``host``."""
    if not config.resolve:
        return host
    return resolve_map(config).get((host.lower().strip("[]"), port), host)


def ca_file(config: CrawlConfig) -> str | None:
    """The PEM file of trusted CAs: ``config.ca_file``, else ``$SSL_CERT_FILE``, else None."""
    return config.ca_file or os.environ.get("SSL_CERT_FILE") or None


def ssl_context(config: CrawlConfig) -> ssl.SSLContext:
    """The client TLS context for this config (one per CA file, shared: making one costs
    ~15 ms, most of it loading the system's store).  Verifies the certificate and the
    name, HTTP/1.1 offered by ALPN."""
    return _context(ca_file(config))


@lru_cache(maxsize=8)
def _context(cafile: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)  # cafile: only those CAs, as curl does
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def is_certificate_error(exc: BaseException | None) -> bool:
    """True if ``exc`` (or an exception it wraps) is a failed certificate verification."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        if isinstance(exc, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
