"""HTTP-level faults: what a real server or network does to a client on a bad day.

Each fault is a kind a crawler must map to an error record:

============  ===================================================================
``500``       an HTTP 5xx answer (``5xx`` picks 500/502/503/504, seeded; or a code)
``429``       429 Too Many Requests with ``Retry-After`` (``retry_after`` seconds)
``reset``     the connection is reset (TCP RST) instead of an answer
``hang``      the request is never answered; the connection stays open
``truncate``  the body stops short of its ``Content-Length`` and the connection closes
``malformed`` a status line no HTTP parser accepts, then close
============  ===================================================================

A request asks for one with ``fault=KIND``, or for a chance of several with
``faults=KIND:RATE,KIND:RATE``; the server can have default rates too
(``--faults 5xx:0.05,reset:0.01``).  The draw is seeded like latency: a hash of the
seed and the request's identity, so every client sees the same faults.
"""

from __future__ import annotations

from mockserver.latency import SpecError

KINDS = ("5xx", "429", "reset", "hang", "truncate", "malformed")
_ALIASES = {"500": "5xx", "502": "5xx", "503": "5xx", "504": "5xx", "timeout": "hang"}
SERVER_ERRORS = (500, 502, 503, 504)

FaultRates = tuple[tuple[str, float], ...]


def normalise(kind: str) -> str:
    """The canonical name of a fault kind; raise :class:`SpecError` for an unknown one."""
    k = kind.strip().lower()
    k = _ALIASES.get(k, k)
    if k not in KINDS:
        raise SpecError(f"fault: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return k


def canonical(kind: str) -> str:
    """Like :func:`normalise`, but a server error code (``503``) stays that code."""
    k = normalise(kind)
    code = kind.strip()
    return code if k == "5xx" and code.isdigit() else k


def parse_rates(spec: str) -> FaultRates:
    """Parse ``KIND:RATE,...`` into ``((kind, rate), ...)``; rates must add up to at most 1."""
    out: list[tuple[str, float]] = []
    for part in spec.split(","):
        if not part.strip():
            continue
        kind, sep, rate_text = part.partition(":")
        if not sep:
            raise SpecError(f"faults: {part!r} should be KIND:RATE, e.g. 5xx:0.05")
        try:
            rate = float(rate_text)
        except ValueError:
            raise SpecError(f"faults: rate {rate_text!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise SpecError(f"faults: rate {rate_text!r} must be between 0 and 1")
        out.append((canonical(kind), rate))
    if sum(rate for _, rate in out) > 1.0 + 1e-9:
        raise SpecError("faults: rates add up to more than 1")
    return tuple(out)


def choose(rates: FaultRates, u: float) -> str | None:
    """The fault picked by the uniform number ``u`` (None: no fault)."""
    acc = 0.0
    for kind, rate in rates:
        acc += rate
        if u < acc:
            return kind
    return None


def weighted_codes(spec: str) -> tuple[tuple[int, float], ...]:
    """Parse ``/status/`` paths: ``404`` or ``200:3,500:1`` (weights, not rates)."""
    out: list[tuple[int, float]] = []
    for part in spec.split(","):
        code_text, _, weight_text = part.partition(":")
        try:
            code = int(code_text)
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise SpecError(f"status: {part!r} should be CODE or CODE:WEIGHT") from None
        if not 200 <= code <= 599:  # 1xx are interim answers, never the last word
            raise SpecError(f"status: {code} is not a final HTTP status code (200-599)")
        if not weight >= 0:
            raise SpecError(f"status: weight {weight_text!r} must be >= 0")
        out.append((code, weight))
    total = sum(w for _, w in out)
    if not out or total <= 0:
        raise SpecError("status: needs at least one code with a positive weight")
    return tuple((c, w / total) for c, w in out)


def pick_weighted(choices: tuple[tuple[int, float], ...], u: float) -> int:
    acc = 0.0
    for code, share in choices:
        acc += share
        if u < acc:
            return code
    return choices[-1][0]
