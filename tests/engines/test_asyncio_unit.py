"""The aiohttp engine's error mapping, as a unit: each aiohttp failure and its error kind.

A real socket adds nothing to this question, and no mock is needed either:
:func:`~concur.engines.asyncio_engine.classify` is a function of the exception.  (The
test extra used to declare aioresponses for tests like these; it cannot build answers
on aiohttp 3.14, whose ``ClientResponse`` takes a ``stream_writer`` it does not pass —
pnuckowski/aioresponses#289 — and none of concur's tests needs to fake an answer: the
answers, headers, limits and retries are tested against the real mock server.)
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from concur.engines.asyncio_engine import classify
from concur.records import ErrorKind

KEY = ConnectionKey("unit.test", 80, False, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), ErrorKind.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), ErrorKind.RESET),
        (aiohttp.ClientPayloadError("cut short"), ErrorKind.TRUNCATED),
        (aiohttp.InvalidURL("http://["), ErrorKind.INVALID_URL),
        (aiohttp.ClientConnectorError(KEY, socket.gaierror(-2, "Name not known")), ErrorKind.DNS),
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")),
            ErrorKind.REFUSED,
        ),
        (aiohttp.ClientConnectorError(KEY, OSError(113, "No route to host")), ErrorKind.CONNECT),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.RESET),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), ErrorKind.RESET),
        (ssl.SSLError(1, "certificate verify failed"), ErrorKind.CONNECT),
        (ValueError("a value aiohttp refused"), ErrorKind.OTHER),
    ],
)
def test_each_aiohttp_failure_becomes_its_error_kind(exc: BaseException, kind: ErrorKind) -> None:
    attempt = classify(exc)
    assert attempt.error is kind and attempt.status is None
    assert attempt.detail and "\n" not in attempt.detail


def test_anything_else_is_raised_not_hidden() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("a bug in concur, not a network failure"))
