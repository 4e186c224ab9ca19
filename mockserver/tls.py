"""HTTPS for the mock server: a certificate authority made at start-up, and a certificate
for every name the server answers to.

``concur serve --tls`` (``ServerConfig(tls=True)``) makes a fresh CA with trustme — the
test-certificate library urllib3, requests and Trio test with — and issues one leaf
certificate whose subject alternative names cover every name a client may use: the
address it listens on, ``localhost``, ``127.0.0.1`` and ``::1``, the synthetic site's
hosts (127.0.0.2 ...), every host of a replayed recording (``www.example.org`` reached
with ``--resolve``), and any ``tls_names`` given.  Nothing is written to the system's
trust store.  A client trusts the server by trusting the CA:

* the server writes the CA's certificate (PEM) to a file and prints where
  (``--tls-ca PATH`` chooses it; by default a file in the temporary directory, removed
  when the server stops): ``concur crawl --ca-file PATH`` or ``SSL_CERT_FILE=PATH``;
* it serves the same PEM at the well-known path ``/__ca.pem`` (fetch it once with
  verification off, or from the plain-HTTP server of a test);
* in tests, :attr:`ServerTLS.ca_file` or the fixtures' ``server.ca_file``.

The CA lives only as long as the server (its key is in memory), so a certificate
issued by one run is never trusted by the next: a client holding an old CA file gets
a certificate error, as it would from a real server whose certificate changed.

trustme is an extra: ``pip install 'concur[tls]'``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterable

__all__ = ["INSTALL", "ServerTLS", "TLSUnavailable", "require_trustme"]

INSTALL = "pip install 'concur[tls]'"
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


class TLSUnavailable(RuntimeError):
    """trustme is not installed: the message is the pip line that installs it."""


def require_trustme() -> None:
    """Raise :class:`TLSUnavailable` (with the pip line) when trustme cannot be imported."""
    try:
        import trustme  # noqa: F401
    except ImportError:
        raise TLSUnavailable(f"--tls needs trustme: {INSTALL}") from None


class ServerTLS:
    """A CA and a certificate for ``names``; the server's :class:`ssl.SSLContext`.

    Made once per server command and shared by its ``--workers`` (made before they fork).
    """

    def __init__(self, names: Iterable[str], ca_path: str | None = None) -> None:
        require_trustme()
        import trustme

        wanted = [*DEFAULT_NAMES, *names]
        self.names = tuple(dict.fromkeys(_san(n) for n in wanted if n and not _wildcard_bind(n)))
        self.ca = trustme.CA(organization_name="concur mock server")
        self.cert = self.ca.issue_cert(*self.names)
        self.ca_pem: bytes = self.ca.cert_pem.bytes()
        self._owned = ca_path is None
        if ca_path is None:
            fd, ca_path = tempfile.mkstemp(prefix="concur-ca-", suffix=".pem")
            os.close(fd)
        with open(ca_path, "wb") as f:
            f.write(self.ca_pem)
        self.ca_file = os.path.abspath(ca_path)

    def server_context(self) -> ssl.SSLContext:
        """The context the server listens with: this certificate, HTTP/1.1 by ALPN."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (for tests and the bench)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def close(self) -> None:
        """Remove the CA file if this object chose its place (a temporary file)."""
        if self._owned:
            with contextlib.suppress(OSError):
                os.unlink(self.ca_file)


def _san(name: str) -> str:
    """A name as a subject alternative name: IPv6 without brackets, hosts lower-cased."""
    name = name.strip("[]").lower()
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    return name


def _wildcard_bind(name: str) -> bool:
    """0.0.0.0 and :: are where a server listens, not names a client connects to."""
    return name.strip("[]") in ("0.0.0.0", "::")
