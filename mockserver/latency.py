"""Seeded latency: short spec strings parsed into distributions of delays.

A spec is ``KIND:ARGS`` with milliseconds everywhere (fractions allowed):

=====================  ==========================================================
``100`` / ``fixed:100``  always 100 ms
``uniform:50,150``     uniform between 50 and 150 ms
``normal:100,20``      mean 100, standard deviation 20 (clipped at 0)
``lognormal:50,1000``  median 50 and 99th percentile 1000 — a realistic web tail
``exp:100``            exponential with mean 100 (memoryless waits)
``pareto:20,1.5``      heavy tail: minimum 20 ms, shape 1.5 (smaller = heavier)
=====================  ==========================================================

Why seeded?  Each concurrency model must see *the same* delays, or a comparison of
engines measures luck.  So a delay is not drawn from a shared random stream (whose
order depends on arrival order, which differs between engines) but computed from a
hash of the seed and the request's identity: :func:`unit` maps ``(seed, key)`` to a
number in [0, 1), and each distribution turns that number into milliseconds through
its inverse CDF.

A spec must be *samplable*: every quantile a finite number of milliseconds.
``pareto:1,0.0001`` parses, but its median is ``2**10000`` ms, beyond any float, and
``lognormal:1,1e308`` overflows ``exp`` in its tail; :func:`parse` refuses such a spec
with a one-line reason where it is given (a flag, a query parameter), so
:meth:`Latency.sample` never raises while a request is being answered.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

_STD_NORMAL = NormalDist()
_Z99 = _STD_NORMAL.inv_cdf(0.99)
_TWO64 = float(2**64)


class SpecError(ValueError):
    """A latency, fault or parameter spec that cannot be parsed; the message is one line."""


def unit(seed: int, key: bytes) -> float:
    """A deterministic number in [0, 1) for ``(seed, key)``: same inputs, same number."""
    digest = hashlib.blake2b(
        key, digest_size=8, key=seed.to_bytes(8, "little", signed=True)
    ).digest()
    return int.from_bytes(digest, "little") / _TWO64


@dataclass(frozen=True, slots=True)
class Latency:
    """A delay distribution in milliseconds; :meth:`sample` maps a uniform number to a delay."""

    kind: str
    a: float = 0.0
    b: float = 0.0

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    def sample(self, u: float) -> float:
        """The delay (ms) at quantile ``u`` of the distribution (inverse-CDF sampling)."""
        kind, a, b = self.kind, self.a, self.b
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        if kind == "fixed":
            return a
        if kind == "uniform":
            return a + (b - a) * u
        if kind == "normal":
            return max(0.0, a + b * _STD_NORMAL.inv_cdf(u))
        if kind == "lognormal":
            sigma = math.log(b / a) / _Z99
            return a * math.exp(sigma * _STD_NORMAL.inv_cdf(u))
        if kind == "exp":
            return -a * math.log1p(-u)
        if kind == "pareto":
            return a / (1.0 - u) ** (1.0 / b)
        raise AssertionError(kind)  # parse() admits no other kind

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.a:g}"
        if self.kind == "exp":
            return f"exp:{self.a:g}"
        return f"{self.kind}:{self.a:g},{self.b:g}"


_ARITY = {"fixed": 1, "uniform": 2, "normal": 2, "lognormal": 2, "exp": 1, "pareto": 2}
_ALIASES = {"exponential": "exp", "const": "fixed", "heavy": "pareto"}


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise SpecError(f"{what}: {text!r} must be a finite number >= 0")
    return value


@lru_cache(maxsize=256)  # a Latency is immutable; the same query spec comes again and again
def parse(spec: str) -> Latency:
    """Parse a latency spec (see the module docstring); raise :class:`SpecError` if invalid."""
    text = spec.strip().lower()
    if not text:
        raise SpecError("latency: empty spec")
    kind, sep, rest = text.partition(":")
    if not sep:
        if kind in _ARITY or kind in _ALIASES:
            raise SpecError(f"latency: {spec!r} needs parameters, e.g. uniform:50,150")
        kind, rest = "fixed", text
    kind = _ALIASES.get(kind, kind)
    if kind not in _ARITY:
        raise SpecError(f"latency: unknown kind {kind!r} (one of {', '.join(_ARITY)})")
    args = [_number(x, f"latency {kind}") for x in rest.split(",")] if rest else []
    if len(args) != _ARITY[kind]:
        raise SpecError(f"latency: {kind} takes {_ARITY[kind]} number(s), got {len(args)}")
    a, b = args[0], (args[1] if len(args) > 1 else 0.0)
    if kind == "uniform" and b < a:
        raise SpecError("latency: uniform needs low <= high")
    if kind == "lognormal" and not (0 < a < b):
        raise SpecError("latency: lognormal needs 0 < median < p99")
    if kind == "pareto" and (a <= 0 or b <= 0):
        raise SpecError("latency: pareto needs a minimum > 0 and a shape > 0")
    return check(Latency(kind, a, b))


_PROBES = ((0.0, "lowest"), (0.5, "median"), (1.0, "highest"))


def check(lat: Latency) -> Latency:
    """``lat`` if every quantile is a finite delay, else :class:`SpecError` saying where not."""
    reason = unsamplable(lat)
    if reason is not None:
        raise SpecError(f"latency: {lat} {reason}")
    return lat


def unsamplable(lat: Latency) -> str | None:
    """Why ``lat`` cannot be sampled, or None when every draw is a finite delay.

    Each distribution's inverse CDF is monotonic in ``u``, so the lowest and highest
    draws :meth:`Latency.sample` can make (``u`` is clipped to ``[1e-12, 1 - 1e-12]``)
    bound all the others: if both are finite, every draw is.
    """
    for u, where in _PROBES:
        try:
            ms = lat.sample(u)
        except (ArithmeticError, ValueError):  # ZeroDivisionError, OverflowError
            ms = math.nan
        if not math.isfinite(ms):
            return f"cannot be sampled: its {where} delay is not a finite number of ms"
    return None


ZERO = Latency("fixed", 0.0)
