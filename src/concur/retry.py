"""When a failed attempt is tried again, and after how long: the same rule in every job.

Transient failures (a connection that could not be made or was reset, a timeout, a
body cut short) and the statuses that mean "later" (429, 500, 502, 503, 504) are
retried, at most ``config.retries`` times.  The wait is exponential backoff with *full
jitter* — uniform between 0 and ``backoff × 2^(attempt-1)`` — so that many clients
failing together do not retry together; a ``Retry-After`` header is honoured when it
asks for longer; nothing waits more than ``config.max_backoff``.  The jitter is seeded
per URL (:class:`Jitter`), so a run is repeatable.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

from concur.attempt import Attempt
from concur.records import RETRY_STATUSES, TRANSIENT, CrawlConfig, ErrorKind

__all__ = ["Jitter", "parse_retry_after", "retry_delay"]


class Jitter:
    """Seeded backoff jitter for one URL; its generator is made only if the URL is retried."""

    __slots__ = ("seed", "_rng")

    def __init__(self, seed: int, index: int) -> None:
        self.seed = (seed, index)
        self._rng: random.Random | None = None

    def uniform(self, a: float, b: float) -> float:
        if self._rng is None:
            self._rng = random.Random(f"{self.seed[0]}:{self.seed[1]}")
        return self._rng.uniform(a, b)


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


def retry_delay(attempt: Attempt, number: int, config: CrawlConfig, rng: Jitter) -> float | None:
    """Seconds to wait before attempt ``number + 1`` after ``attempt``, or None to stop."""
    error = attempt.error
    if error is None or number > config.retries:
        return None
    transient = error in TRANSIENT or (error is ErrorKind.HTTP and attempt.status in RETRY_STATUSES)
    if not transient:
        return None
    wait = rng.uniform(0.0, config.backoff * 2 ** (number - 1))  # full jitter
    told = parse_retry_after(attempt.retry_after)
    if told is not None:
        wait = max(wait, told)
    return min(wait, config.max_backoff)
