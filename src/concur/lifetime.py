"""Processes concur starts die with their parent, whatever kills the parent.

A worker process (``processes``' forked workers, gevent's patched child) outliving the
crawl that started it holds sockets, files and CPU, and a ``--resume`` after ``kill -9``
would find it still crawling.  Closing pipes is not enough: a child busy in a fetch does
not read them.  So each child asks the kernel to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux), then checks the parent did not die
before the request took effect.  Elsewhere a daemon thread polls ``getppid()``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time
from typing import Any

__all__ = ["die_with_parent"]

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
