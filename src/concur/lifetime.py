"""Processes concur starts die with their parent, whatever kills the parent.

A worker process (``processes``' forked workers, gevent's patched child) outliving the
crawl that started it holds sockets, files and CPU, and a ``--resume`` after ``kill -9``
would find it still crawling.  Closing pipes is not enough: a child busy in a fetch does
not read them.  So each child asks the kernel to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux), then checks the parent did not die
before the request took effect (:func:`die_with_parent`, for concur's own children);
elsewhere a daemon thread polls ``getppid()``.  Other programs concur starts (wrk, the
benchmark's trials, the GIL lab's helpers) are tied the same way from outside
(:func:`tied`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time
from typing import Any

__all__ = ["die_with_parent", "tied"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Call first thing in a child whose parent's pid is ``parent``."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the request took effect
                os._exit(1)
            return
    start = _original_thread_start()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    start(watch, ())


def _original_thread_start() -> Any:
    """A real thread, even in a process gevent has patched."""
    import _thread

    try:
        from gevent import monkey
    except ImportError:
        return _thread.start_new_thread
    return monkey.get_original("_thread", "start_new_thread")


def _tie() -> None:  # runs in the child between fork and exec: async-signal-safe calls only
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def tied() -> dict[str, Any]:
    """``subprocess`` keyword arguments that make the child die with this process.

    For children that are not Python or not concur's (wrk, a benchmark's trial): the
    kernel is asked in the child, before it runs its program (Linux; elsewhere, none).
    """
    return {"preexec_fn": _tie} if sys.platform.startswith("linux") else {}
