"""What an operating-system error means for a fetch: the one errno mapping every engine uses.

Under every HTTP library's exceptions there is usually a socket error, and its meaning
does not depend on the library: a name that did not resolve, a port nobody listens on,
a peer that reset the connection, a timeout, a TLS handshake that failed.  Each
engine's classifier unwraps its library's exceptions and asks :func:`os_kind`.
"""

from __future__ import annotations

import errno
import socket
import ssl

from concur.records import ErrorKind

__all__ = ["RESET_ERRNOS", "os_kind"]

RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})
_RESET_TYPES = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def os_kind(exc: OSError) -> ErrorKind:
    """The error kind of an ``OSError`` raised while connecting, sending or receiving."""
    if isinstance(exc, socket.gaierror):
        return ErrorKind.DNS
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED
    if isinstance(exc, _RESET_TYPES) or exc.errno in RESET_ERRNOS:
        return ErrorKind.RESET
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return ErrorKind.TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):  # not trusted for its name
        return ErrorKind.CERTIFICATE
    if isinstance(exc, ssl.SSLError):  # a handshake failure
        return ErrorKind.CONNECT
    return ErrorKind.CONNECT  # unreachable network, no route, ...
