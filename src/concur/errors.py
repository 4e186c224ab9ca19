"""concur's exceptions: one tree, so ``except ConcurError`` catches every error concur raises.

A URL that fails is never an exception: it becomes a :class:`~concur.records.FetchRecord`
with an :class:`~concur.records.ErrorKind`.  Exceptions are for what stops a whole run
before or while it starts — a missing library, a bad option, a crawl file that is not
what was asked for, a worker process that died — and each message is one line a
terminal can show as it is::

    ConcurError
    ├── EngineUnavailable   an engine's optional library is missing (says the pip line)
    ├── SpecError           a bad option value: an engine option, a duration, a pattern
    ├── StoreError          a crawl file cannot be used
    │   └── StoreExistsError    it holds a crawl already, and resume was not asked for
    └── WorkerDied          a worker process of a crawl died; the crawl cannot go on

``SpecError`` is also a ``ValueError`` and ``WorkerDied`` a ``RuntimeError``, so code
written against the built-in kinds keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConcurError",
    "EngineUnavailable",
    "FrontierUnavailable",
    "SpecError",
    "StoreError",
    "StoreExistsError",
    "WorkerDied",
]


class ConcurError(Exception):
    """The root of every exception concur raises on purpose."""


class EngineUnavailable(ConcurError):
    """An engine whose optional dependency is not installed; the message says how to fix it."""


class SpecError(ConcurError, ValueError):
    """A value that cannot be used: an unknown engine option, a bad duration or pattern."""


class StoreError(ConcurError):
    """A crawl file that cannot be used as asked."""


class StoreExistsError(StoreError):
    """The file already holds a crawl, and ``resume`` was not asked for."""


class WorkerDied(ConcurError, RuntimeError):
    """A worker process died and the run cannot go on without it."""


class FrontierUnavailable(ConcurError):
    """A shared frontier's server cannot be reached, or refuses a write (full, read-only).

    ``transient`` is true for trouble that waiting may cure (no connection, a timeout, a
    server still loading its data), false for a refusal (out of memory, read-only).
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient
