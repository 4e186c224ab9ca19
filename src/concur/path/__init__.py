"""A learner's path: six small crawlers, one concurrency model each, in reading order.

Each step fetches the book's experiment URLs (:func:`concur.experiment.book_urls`)
from the mock server and is at most 40 lines of crawler, nothing else: read them in order,
run each with ``concur learn N`` (or ``python -m concur.path.step1_serial``), and
compare its summary with the one before.  ``docs/path.md`` is the tutorial.

1. :mod:`.step1_serial` - one request after another on a blocking socket, with a
   hand-written HTTP/1.1 GET.  The crawl takes the sum of its waits.
2. :mod:`.step2_threads` - step 1's ``fetch``, unchanged, run by C threads at once.
   The operating system switches between them whenever one blocks.
3. :mod:`.step3_callbacks` - one thread, non-blocking sockets, a ``selectors`` loop
   that calls a function when a socket is ready.  Overlap without threads, but the
   fetch is cut into callbacks.
4. :mod:`.step4_generators` - the same loop drives generators: ``fetch`` reads like
   step 1 again, and ``yield`` marks where it waits.
5. :mod:`.step5_asyncio` - step 4 with ``yield`` spelled ``await``, and asyncio's
   loop as the scheduler.
6. :mod:`.step6_gevent` - step 1's blocking ``fetch`` once more, made cooperative by
   monkey-patching the socket module (``pip install 'concur[gevent]'``).

Every step has the same shape: ``crawl(urls, concurrency)`` returns, for each URL,
``(status, body bytes, start, end)`` with ``time.perf_counter()`` times.
:mod:`.harness` does the rest once for all of them: it starts the embedded mock
server, runs a step, turns its answers into :class:`~concur.records.FetchRecord`\\ s
and prints the summary ``concur crawl`` prints (:mod:`concur.report`).

The steps open a new connection for every request (``Connection: close``), so each
reads its answer to the end of the stream and needs no HTTP parser; ``concur crawl``'s
engines keep connections alive, which is one reason they spend less CPU per request.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STEPS", "Step", "step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the path: where its crawler is and what it shows."""

    number: int
    name: str  # the module is concur.path.step{number}_{name}
    line: str  # what it shows, in one line
    concurrent: bool = True  # False: one request at a time, whatever -c says
    isolated: bool = False  # it changes the process it runs in: run it in a fresh one
    extra: str = ""  # the optional dependency it needs: pip install 'concur[extra]'

    @property
    def module(self) -> str:
        return f"concur.path.step{self.number}_{self.name}"


STEPS = (
    Step(1, "serial", "one request after another on a blocking socket", concurrent=False),
    Step(2, "threads", "step 1's fetch run by C threads; the OS switches between them"),
    Step(3, "callbacks", "one thread, non-blocking sockets, a selector calling functions"),
    Step(4, "generators", "the same selector driving generators that yield where they wait"),
    Step(5, "asyncio", "step 4 with await, on asyncio's event loop and streams"),
    Step(
        6,
        "gevent",
        "step 1's fetch again, on monkey-patched green threads",
        isolated=True,
        extra="gevent",
    ),
)


def step(number: int) -> Step:
    """The step numbered ``number`` (1-6); ``ValueError`` for another number."""
    for s in STEPS:
        if s.number == number:
            return s
    raise ValueError(f"there is no step {number}: the steps are 1-{len(STEPS)}")
