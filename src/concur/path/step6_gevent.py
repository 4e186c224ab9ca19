"""Step 6, gevent: step 1's blocking ``fetch`` again, made cooperative by a patch.

``monkey.patch_all()`` replaces ``socket``, ``select``, ``time.sleep``, ``threading``
and friends with versions that, instead of blocking, switch to another *greenlet* (a
green thread: a function with its own stack, switched by gevent, not by the OS).
gevent's hub runs an event loop like step 3's underneath, and wakes each greenlet when
its socket is ready.  So step 1's ``fetch`` - which never says ``yield`` or ``await`` -
overlaps with C others, on one thread, with no change at all.

What it costs: the patch changes the whole process, for every library in it, and cannot
be undone; it must come before anything else imports ``socket`` (so concur runs this
step in a fresh process of its own).  The waits are invisible: any call that blocks
without going through a patched module (a C library's own I/O, a long computation)
stalls every greenlet at once, and nothing in the code shows where switches happen.

Run it: ``concur learn 6`` (it needs ``pip install 'concur[gevent]'``).
"""

from __future__ import annotations

import sys

try:
    from gevent import monkey
except ImportError:  # an optional extra: say how to get it, and stop
    print("step 6 needs gevent: pip install 'concur[gevent]'", file=sys.stderr)
    raise SystemExit(2) from None

monkey.patch_all()  # first, before anything imports socket: blocking calls now switch

import gevent.pool  # noqa: E402

from concur.path.step1_serial import Result, fetch  # noqa: E402  step 1's, unchanged


def crawl(urls: list[str], concurrency: int) -> dict[str, Result]:
    pool = gevent.pool.Pool(concurrency)  # at most C greenlets at once
    return dict(zip(urls, pool.map(fetch, urls), strict=True))  # each blocks only itself


if __name__ == "__main__":
    from concur.path.harness import main

    main(6, crawl)
