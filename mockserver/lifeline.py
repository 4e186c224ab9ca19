"""A server process dies with the process that started it, whatever kills that one.

A test, a benchmark or a crawl starts ``python -m mockserver`` as a child.  If the parent
is killed without cleaning up (``kill -9``, an OOM kill, a crash), an orphaned server
keeps its port, and the next run fails with "address already in use".  Two mechanisms,
because neither alone is enough:

* **Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``** in the child: the kernel kills it the
  moment its parent goes.  The catch: "parent" means the *thread* that started the child,
  so a child started from a short-lived thread would die with that thread.  The parent
  asks for it only when it starts the child from its main thread.
* **Everywhere: a lifeline pipe.**  The parent creates a pipe, hands the read end to the
  child and keeps the write end, on which it never writes.  When the parent dies, however
  it dies, the kernel closes its end; the child's blocked read returns end-of-file, and
  the child exits.  This also covers the moment before ``prctl`` ran (a parent killed
  right after it forked), and other systems.

The parent side is :func:`child_env` (the value of ``MOCKSERVER_LIFELINE`` for the child;
start it with ``pass_fds=(read_fd,)``); the child side is :func:`adopt` at the start of
its main, then :func:`watch` once it has forked whatever it forks (``--workers``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

ENV = "MOCKSERVER_LIFELINE"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def child_env(read_fd: int) -> str:
    """The ``MOCKSERVER_LIFELINE`` value for a child started from the calling thread."""
    deathsig = threading.current_thread() is threading.main_thread()
    return f"{read_fd}:{int(deathsig)}"


def adopt() -> int | None:
    """In a child: act on ``MOCKSERVER_LIFELINE`` (and remove it); the pipe to watch, if any."""
    value = os.environ.pop(ENV, None)
    if not value:
        return None
    fd_text, _, deathsig = value.partition(":")
    if deathsig == "1":
        die_with_parent()
    return int(fd_text)


def die_with_parent() -> bool:
    """Ask the kernel for SIGKILL when the parent (the thread that forked us) dies.

    Linux only; False elsewhere or if the call fails, and then the pipe does the job.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def watch(fd: int) -> threading.Thread:
    """Exit this process as soon as ``fd`` reads end-of-file: its writer, the parent, is gone.

    A daemon thread blocked in ``read`` holds no lock and costs the server nothing.  The
    exit is ``os._exit``: nobody is left to report to, and a wedged loop cannot delay it.
    """
    thread = threading.Thread(target=_wait_for_eof, args=(fd,), name="lifeline", daemon=True)
    thread.start()
    return thread


def _wait_for_eof(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 1)
        except InterruptedError:  # pragma: no cover - retried by Python since 3.5
            continue
        except OSError:
            data = b""  # a closed or invalid descriptor: the lifeline is gone too
        if not data:
            os._exit(0)
