"""threads + requests: C operating-system threads, each making blocking requests.

What it teaches: blocking code overlaps its waits once several threads run it.  A
thread blocked in ``recv`` has released the GIL, so while one thread waits for the
network the others run; the OS decides who runs next (pre-emptive), and the GIL lets
only one of them execute Python at a time.  For I/O-bound work that is nearly enough:
the book's 1,000 × 100 ms at 100 threads take ~1.1 s here (asyncio ~1.05 s); the gap
is requests' CPU, ~0.5 ms per request, queued behind one GIL.

How it is built: the blocking driver (:mod:`concur.engines.drive_threads`) starts
``config.concurrency`` worker threads (no more than there are URLs); each takes the
next task from the job behind one lock, so each URL goes to exactly one worker and
never more than C requests are in flight, without a task or a future per URL.  The
requests :class:`~concur.engines.requests_fetcher.Fetcher` gives each thread a
``requests.Session`` of its own — a keep-alive connection of its own, and requests
does not promise that sessions are thread-safe — through a ``threading.local``.
``on_record`` is called under the job's lock, so a callback never runs in two threads
at once.

What to look for: efficiency within 5-10 % of asyncio's at C = 100; CPU µs per request
higher than serial's (thread switches and GIL hand-offs, ``sys.getswitchinterval``),
growing with C (~370 µs at C = 10, ~550 µs at C = 100 and 500 here); memory grows with
C too (each thread has a stack, however little of it is resident).  Raise ``-c`` to a
few thousand: the GIL, not the network, becomes the limit.

Compare with: ``serial`` (the same fetcher, one thread), ``gevent`` (the same
blocking style, switched by an event loop instead of the OS), ``asyncio`` (explicit
``await`` instead of pre-emption) and ``processes`` (the same threads spread over one
process per CPU, each with a GIL of its own).
"""

from __future__ import annotations

from concur.engines.requests_fetcher import Fetcher

__all__ = ["Fetcher"]
