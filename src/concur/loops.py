"""Blocking code that owns an event loop, called where one may already be running.

``asyncio.run`` and :class:`asyncio.Runner` refuse to start inside a running loop (a
Jupyter cell, an async web handler) with "cannot be called from a running event loop":
the same trap as Twisted's ``ReactorNotRestartable`` for Scrapy users.  concur's
synchronous front doors (every async engine's driver, :func:`concur.api.fetch` and
friends, the GIL lab) go through :func:`outside_loop`, so they work in both places.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["outside_loop"]

T = TypeVar("T")


def outside_loop(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a fresh thread of its own when this thread runs an event loop.

    Blocking code that starts a loop of its own (``asyncio.run``, an
    :class:`asyncio.Runner`) fails where one is already running — a Jupyter cell, an async
    web handler — with "cannot be called from a running event loop".  Run aside, it
    owns its loop as it would in a script; this thread waits for it, and gets its result
    or its exception.  Without a running loop ``fn`` simply runs here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: nothing runs a loop in this thread
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def aside() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=aside, name="concur-outside-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
