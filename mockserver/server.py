"""The HTTP/1.1 server: an asyncio Protocol driven by httptools, fast enough to vanish.

Why not aiohttp's or Tornado's server?  They spend 30-200 µs of Python per request;
here a zero-delay request costs a few microseconds, so the fixture is never what an
experiment measures.  The design in one paragraph:

* **One protocol object per connection**, fed bytes by the loop (uvloop when installed).
  httptools (the llhttp parser, in C) calls back ``on_url``, ``on_header`` and
  ``on_message_complete``; :func:`mockserver.routes.plan` turns the request into a
  :class:`~mockserver.routes.Plan` with no I/O, and the protocol carries it out.
* **Delays are timers, not sleeping tasks**: a delayed request is an entry in the
  list of the tenth of a millisecond it falls due, and each such bucket is one
  ``loop.call_later`` — no coroutine, no task object.  10,000 concurrent delayed
  requests are 10,000 list entries under a few hundred timer handles.
* **Pipelining keeps order**: a request that cannot be answered at once gets a
  :class:`_Pending` slot in the connection's queue; the head slot is rendered and
  written when its delay is over, then the next.  Responses produced in one
  ``data_received`` call leave in one ``write``.
* **Bounded buffers**: a request head over ``max_header_bytes`` gets 431, a body over
  ``max_body_bytes`` 413; answers are rendered only while the peer reads them (about
  1 MiB per read at most), and a body over a MiB is made and written a piece per loop
  turn under the transport's flow control (:mod:`mockserver.bodies`); reading pauses
  while the peer does not read our answers or while too many pipelined requests wait; a
  sweeper closes connections whose request head is too slow (slowloris) or that sit idle
  too long.
* **Tests' own routes and the request log cost the hot path almost nothing**: routes a
  test adds at run time (:mod:`mockserver.canned`) are looked up only while there are
  any; each request is logged for ``/__requests`` as the objects already made for it
  (:mod:`mockserver.requestlog`), up to a cap, and then only counted.
* **A bug is a 500, not a 400**: httptools reports an exception raised in a callback as
  a parse error; a route that raises is answered ``500 internal error: <kind>`` and told
  once per kind on stderr (the ``mockserver`` logger), and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from http import HTTPStatus

import httptools

from mockserver import routes
from mockserver.bodies import PIECE, Fill
from mockserver.config import ServerConfig
from mockserver.replay.handler import Replay
from mockserver.routes import BODYLESS, Plan, RawPlan, Request
from mockserver.site import Site
from mockserver.state import ServerState
from mockserver.timeline import Timeline
from mockserver.tls import ServerTLS

_now = time.perf_counter
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_MALFORMED = b"HTTP/1.1 OK maybe\r\nthis is not a status line\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_CHUNK = 16 * 1024
_log = logging.getLogger("mockserver")
_CONTROL = ("/__", "/metrics")  # the control endpoints' requests are not logged


def status_line(code: int) -> bytes:
    line = _STATUS_LINES.get(code)
    if line is None:
        line = _STATUS_LINES[code] = f"HTTP/1.1 {code} Unknown\r\n".encode()
    return line


def render_head(plan: Plan, length: int, chunked: bool) -> bytes:
    """Status line and headers of a plan's response."""
    if type(plan) is RawPlan:  # a recorded answer: its head as recorded (mockserver.replay)
        return plan.head + (b"Connection: close\r\n\r\n" if plan.close else b"\r\n")
    parts = [
        status_line(plan.status),
        b"Server: mockserver\r\nContent-Type: ",
        plan.content_type.encode(),
    ]
    if chunked:
        parts.append(b"\r\nTransfer-Encoding: chunked\r\n")
    elif plan.status in BODYLESS:  # 204 and 304 carry no body and no length (RFC 9110)
        parts.append(b"\r\n")
    else:
        parts.append(b"\r\nContent-Length: %d\r\n" % length)
    for name, value in plan.headers:
        parts.append(f"{name}: {value}\r\n".encode())
    if plan.close:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def frame(data: bytes, size: int) -> bytes:
    """``data`` as chunks of at most ``size`` bytes (``render``'s framing when ``_CHUNK``)."""
    if len(data) <= size:
        return chunk(data)
    return b"".join(chunk(data[i : i + size]) for i in range(0, len(data), size))


_simple_cache: dict[tuple[int, str, bytes, bool], bytes] = {}

# Replay cache (``ServerState.replay``): the exact bytes of a whole request ->
# (response, status, timeline name, delay).  Only requests whose plan is a pure
# function of those bytes and the server's config get in (a fixed delay, no seeded
# draw, no fault, keep-alive, a small answer): a load generator repeating one request
# then skips the parser and the router, and is still counted and recorded in full.
_REPLAY_MAX_KEY = 2048
_REPLAY_MAX_VALUE = 16 * 1024
_REPLAY_MAX_ENTRIES = 4096
# Bytes answered at once from one read; the rest of a long pipeline waits its turn.
_BATCH_BUDGET = 1 << 20


def render(plan: Plan, head_only: bool) -> bytes:
    """A whole response.  Small plain answers (the hot path) are cached as bytes."""
    body = plan.body
    simple = not plan.headers and not plan.chunked and len(body) <= 64
    if simple:
        key = (plan.status, plan.content_type, body, plan.close)
        cached = _simple_cache.get(key)
        if cached is None:
            cached = render_head(plan, len(body), False) + body
            if len(_simple_cache) < 4096:
                _simple_cache[key] = cached
        return cached[: len(cached) - len(body)] if head_only else cached
    if plan.chunked:
        head = render_head(plan, 0, True)
        if head_only:
            return head
        pieces = [chunk(body[i : i + _CHUNK]) for i in range(0, len(body), _CHUNK)]
        return head + b"".join(pieces) + b"0\r\n\r\n"
    head = render_head(plan, len(body), False)
    return head if head_only else head + body


class _Pending:
    """A request of this connection that has not been fully answered yet.

    Slots leave the connection's queue in request order.  A slot becomes *ready* when its
    delay is over, and the head slot is carried out (rendered and written) only when it
    is ready and the peer is reading: a client that pipelines big answers and never reads
    them costs the server queued plans, not rendered bytes.  ``timeline`` is None for an
    internal answer (stats, a refusal), which is written in order but not counted.
    """

    __slots__ = (
        "plan",
        "response",
        "status",
        "delay_s",
        "close",
        "start",
        "timeline",
        "head_only",
        "ready",
        "streaming",
    )

    def __init__(
        self,
        plan: Plan | None,
        response: bytes | None,
        status: int,
        delay_s: float,
        close: bool,
        start: float,
        timeline: Timeline | None,
        head_only: bool,
    ) -> None:
        self.plan = plan
        self.response = response  # the answer's bytes when known in advance, else rendered late
        self.status = status
        self.delay_s = delay_s
        self.close = close
        self.start = start
        self.timeline = timeline
        self.head_only = head_only
        self.ready = False
        self.streaming = False  # a drip under way: it stays at the head until its last byte


class _TooLarge(Exception):
    pass


class _Stream:
    """A body being written a piece per loop turn while the peer reads (``_stream``)."""

    __slots__ = ("pieces", "frame", "done", "scheduled")

    def __init__(self, pieces: Iterator[bytes], frame: int, done: Callable[[], None]) -> None:
        self.pieces = pieces
        self.frame = frame  # 0: raw bytes; else chunk frames of at most this many bytes
        self.done = done  # called once the last piece is written
        self.scheduled = False  # a _stream_step is due in the loop's ready queue


class Timers:
    """Delayed requests of one server, grouped by the tenth of a millisecond they fall due.

    One loop timer per bucket rather than one per request: at 100,000 delayed requests
    a second, timer handles were a tenth of the server's time.  A bucket never runs
    before its time, and runs as soon after it as the loop allows: libuv's timers have
    a 1 ms grain and fire up to a millisecond early or late, so a bucket that wakes
    early yields to the loop (``call_soon``, still serving I/O) until it is due.  That
    keeps the median delay error near 0.1 ms instead of the timer grain's ~1 ms, which
    over the book's ten rounds of 100 ms is a percent of the ideal.
    """

    __slots__ = ("loop", "buckets")
    GRAIN = 10_000.0  # buckets per second

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buckets: dict[int, list[tuple[HttpProtocol, _Pending]]] = {}

    def add(self, due: float, conn: HttpProtocol, slot: _Pending) -> None:
        """Call ``conn._due(slot)`` at ``due`` (a ``perf_counter`` time) or just after."""
        key = math.ceil(due * self.GRAIN)
        bucket = self.buckets.get(key)
        if bucket is None:
            self.buckets[key] = [(conn, slot)]
            self.loop.call_later(key / self.GRAIN - _now(), self._run, key)
        else:
            bucket.append((conn, slot))

    def _run(self, key: int) -> None:
        early = key / self.GRAIN - _now()
        if early > 0.0:
            if early > 0.002:  # far off (a loop clock jump): sleep again
                self.loop.call_later(early, self._run, key)
            else:
                self.loop.call_soon(self._run, key)
            return
        for conn, slot in self.buckets.pop(key):
            conn._due(slot)


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse, plan, wait, answer, in order."""

    def __init__(self, server: MockServer) -> None:
        state = self.state = server.state
        self.rec = state.recorder
        self.cfg = state.config
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[_Pending] = deque()
        self.batch: list[bytes] | None = None
        self.batch_size = 0
        self.close_pending = False
        self.closing = False
        self.eof = False
        self.lost = False
        self.paused = 0  # bit 1: peer not reading, bit 2: pipeline full
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.head_size = 0
        self.head_bytes = 0
        self.body_size = 0
        self.head_started = 0.0
        self.continue_owed = False  # Expect: 100-continue, and no byte of the body yet
        self.stream: _Stream | None = None
        self.last_activity = _now()
        self.error: tuple[int, str] | None = None
        self.in_message = False
        self.completed = 0
        self.replayable: tuple[bytes, int, str, float] | None = None
        self.replay = state.replay
        self.connections = server.connections
        timers = server.timers
        if timers is None:  # made by the first connection, in the loop
            timers = server.timers = Timers(self.loop)
        self.timers: Timers = timers
        self.plan_request = server.router
        # Run-time routes: the dict is emptied in place, never replaced, so testing it
        # is all the hot path pays while no test has added one (mockserver.canned).
        self.canned = state.routes.by_path
        self.log = state.log if self.cfg.request_log else None  # mockserver.requestlog

    # -- connection events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        rec = self.rec
        rec.connections += 1
        rec.open_connections += 1
        if rec.open_connections > rec.peak_connections:
            rec.peak_connections = rec.open_connections
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.stream = None
        self.connections.discard(self)
        rec = self.rec
        rec.open_connections -= 1
        now = _now()
        for slot in self.pending:
            if slot.timeline is not None:  # hung, reset or cut off: answered with nothing
                rec.in_flight -= 1
                slot.timeline.end(slot.start, now, 0)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = self.last_activity = _now()
        if not self.in_message and not self.pending:
            hit = self.replay.get(data)
            if hit is not None and self._replay(hit, data, now):
                return
        self.batch = []
        self.batch_size = 0
        self.completed = 0
        self.replayable = None
        started_idle = not self.in_message and not self.pending
        try:
            self.parser.feed_data(data)
            if self.head_started:  # this read ends inside a request head
                self._count_open_head(len(data))
            elif self.continue_owed:  # the client waits for a 100 before sending the body
                self._continue()
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._parse_error(exc)
        else:
            hit = self.replayable
            if hit is not None and started_idle and self.completed == 1 and not self.in_message:
                if len(data) <= _REPLAY_MAX_KEY and len(self.replay) < _REPLAY_MAX_ENTRIES:
                    self.replay[data] = hit
        finally:
            batch, self.batch = self.batch, None
            transport = self.transport
            if transport is not None and not transport.is_closing():
                if batch:
                    transport.write(b"".join(batch) if len(batch) > 1 else batch[0])
                if self.close_pending:
                    transport.close()
                elif self.pending and self.pending[0].ready:
                    self._pump()  # answers held back by the batch budget

    def _replay(self, hit: tuple[bytes, int, str, float], data: bytes, now: float) -> bool:
        """Answer a request seen before byte for byte (see ``ServerState.replay``)."""
        rec = self.rec
        if self.cfg.max_in_flight and rec.in_flight >= self.cfg.max_in_flight:
            return False
        response, status, name, delay_s = hit
        rec.total += 1
        log = self.log
        if log is not None:  # kept as bytes, parsed only if the log is read
            if log.room:
                log.add(now, data, 0, len(data))
            else:
                log.dropped += 1
        tl = rec.timelines.get(name) or rec.timeline(name)
        tl.begin()
        if not delay_s:
            if rec.in_flight >= rec.peak_in_flight:
                rec.peak_in_flight = rec.in_flight + 1
            tl.end(now, now, status)
            rec.by_status[status] += 1
            self.transport.write(response)  # type: ignore[union-attr]
            return True
        rec.in_flight += 1
        if rec.in_flight > rec.peak_in_flight:
            rec.peak_in_flight = rec.in_flight
        slot = _Pending(None, response, status, delay_s, False, now, tl, False)
        self.pending.append(slot)
        self.timers.add(now + delay_s, self, slot)
        return True

    def _count_open_head(self, n: int) -> None:
        """Bound a request head that is still unfinished after a read of ``n`` bytes.

        httptools keeps an unfinished header line in memory and calls ``on_header`` only
        once it is whole, so an endless line must be cut off by counting bytes as they
        come.  Only the head's own bytes count: a read that ends inside a head it did not
        begin in was all head.  Where in a read a head *began* httptools does not say, so
        that read's part is left out (``on_message_begin`` sets -1): the line held stays
        under ``max_header_bytes`` plus one read, and whole headers are counted exactly by
        ``on_header``.  (Counting the whole read, as before, counted the requests and
        bodies after a head as header bytes: a long pipeline got 431 mid-stream.)
        """
        if self.head_bytes < 0:
            self.head_bytes = 0
            return
        self.head_bytes += n
        if self.head_bytes > self.cfg.max_header_bytes:
            self._refuse(431, "request header fields too large")

    def _parse_error(self, exc: httptools.HttpParserError) -> None:
        if self.closing:
            return  # answered with Connection: close (or refused): what follows is ignored
        if self.error is not None:
            self._refuse(*self.error)  # a limit, raised by a callback as _TooLarge
            return
        cause = exc.__context__  # httptools chains what a callback raised
        if isinstance(exc, httptools.HttpParserCallbackError) and cause is not None:
            self._fail(cause)  # a bug in a callback, not the client's fault
            return
        self._refuse(400, f"malformed request: {exc}")

    def pause_writing(self) -> None:
        self._pause(1)

    def resume_writing(self) -> None:
        self._resume(1)
        stream = self.stream
        if stream is not None:
            if not stream.scheduled:
                self._schedule_stream(stream)
        elif self.pending and self.pending[0].ready:
            self._pump()

    def eof_received(self) -> bool:
        # A half-closed client still gets the answers it asked for; close when done.
        if not self.pending:
            return False
        self.closing = self.eof = True
        self.pending[-1].close = True
        self._pump()  # closes at once if a hung request is next: nothing more will come
        return True

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = True
        self.url = b""
        self.headers = {}
        self.body = []
        self.head_size = 0
        self.head_bytes = -1  # begun in this read: see _count_open_head
        self.body_size = 0
        self.head_started = _now()

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)
        if self.head_size > self.cfg.max_header_bytes:
            self.error = (414, "request target too long")
            raise _TooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size > self.cfg.max_header_bytes:
            self.error = (431, "request header fields too large")
            raise _TooLarge
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self.head_started = 0.0
        if "expect" in self.headers:
            self._expect(self.headers["expect"])

    def _expect(self, expect: str) -> None:
        """``Expect: 100-continue``: owe a ``100 Continue`` if a body is to come.

        It is sent at the end of the read (``_continue``) unless the body has begun to
        arrive by then (the client did not wait).  A body over the limit is refused at
        once, before the client sends it.  HTTP/1.0 requests ignore the expectation.
        """
        if expect.strip().lower() != "100-continue" or self.parser.get_http_version() != "1.1":
            return
        if "chunked" not in self.headers.get("transfer-encoding", "").lower():
            length = self.headers.get("content-length", "0").strip()
            n = int(length) if length.isdigit() else 0
            if n > self.cfg.max_body_bytes:
                self.error = (413, "request body too large")
                raise _TooLarge
            if n == 0:
                return
        self.continue_owed = True

    def _continue(self) -> None:
        self.continue_owed = False
        if not self.closing:
            self._answer_in_order(_CONTINUE, False)

    def on_body(self, body: bytes) -> None:
        self.continue_owed = False
        self.body_size += len(body)
        if self.body_size > self.cfg.max_body_bytes:
            self.error = (413, "request body too large")
            raise _TooLarge
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        self.continue_owed = False
        self.completed += 1
        if self.closing:
            return
        parser = self.parser
        method = parser.get_method().decode("latin-1")
        try:
            target = self.url.decode("utf-8")
        except UnicodeDecodeError:
            self._refuse(400, "request target is not UTF-8")
            return
        req = Request(method, target, self.headers, b"".join(self.body) if self.body else b"")
        try:
            if self.canned and not target.startswith("/__"):
                plan = routes.canned_plan(req, self.state) or self.plan_request(req, self.state)
            else:
                plan = self.plan_request(req, self.state)
        except Exception as exc:  # a bug in a route: 500, and the connection goes on
            plan = self._internal_error(exc, f"{method} {target}")
        log = self.log
        if log is not None and not (plan.internal and target.startswith(_CONTROL)):
            if log.room:
                log.add(self.last_activity, req, plan.route, self.head_size + self.body_size)
            else:
                log.dropped += 1
        if not parser.should_keep_alive():
            plan.close = True
        self._dispatch(plan, method == "HEAD")

    # -- carrying out a plan -----------------------------------------------------------

    def _dispatch(self, plan: Plan, head_only: bool) -> None:
        if plan.close:
            self.closing = True
        if plan.internal:
            self._answer_in_order(render(plan, head_only), plan.close)
            return
        rec = self.rec
        cfg = self.cfg
        rec.total += 1
        if cfg.max_in_flight and rec.in_flight >= cfg.max_in_flight:
            rec.rejected += 1
            rec.by_status[cfg.over_limit_status] += 1
            refusal = Plan(status=cfg.over_limit_status, body=b"over the in-flight limit\n")
            refusal.close = plan.close
            refusal.headers.append(("Retry-After", str(cfg.retry_after_s)))
            self._answer_in_order(render(refusal, head_only), plan.close)
            return
        if plan.fault is not None:
            rec.faults[plan.fault] += 1
        rec.in_flight += 1
        if rec.in_flight > rec.peak_in_flight:
            rec.peak_in_flight = rec.in_flight
        tl = rec.timeline(plan.name)
        tl.begin()
        start = _now()
        delay_s = plan.delay_s
        if (
            delay_s <= 0.0
            and plan.action is None
            and not self.pending
            and self.batch_size <= _BATCH_BUDGET
        ):
            # The hot path: answer at once, nothing queued, nothing scheduled.
            response = render(plan, head_only)
            if plan.replayable and not plan.close and len(response) <= _REPLAY_MAX_VALUE:
                self.replayable = (response, plan.status, plan.name, 0.0)
            self._write(response)
            rec.in_flight -= 1
            tl.end(start, start, plan.status)
            rec.by_status[plan.status] += 1
            if plan.close:
                self._close()
            return
        slot = _Pending(plan, None, plan.status, delay_s, plan.close, start, tl, head_only)
        if plan.replayable and not plan.close and not self.pending:
            # A delayed answer that is a pure function of the request: replay it next time.
            slot.response = response = render(plan, head_only)
            if len(response) <= _REPLAY_MAX_VALUE:
                self.replayable = (response, plan.status, plan.name, delay_s)
        pending = self.pending
        pending.append(slot)
        if len(pending) >= cfg.max_pipeline:
            self._pause(2)
        if plan.action == "hang":
            return  # never answered; accounted for when the connection goes
        if delay_s > 0.0:
            self.timers.add(start + delay_s, self, slot)
        else:
            slot.ready = True
            if pending[0] is slot:
                self._pump()

    def _due(self, slot: _Pending) -> None:
        """A delayed request's time has come: answer it, or mark it ready to follow its elders."""
        if self.lost:
            return
        self.rec.delay_error(_now() - slot.start - slot.delay_s)
        slot.ready = True
        if self.pending[0] is slot:
            self._pump()

    def _pump(self) -> None:
        """Carry out the ready requests at the head of the queue, in order, while the peer reads."""
        pending = self.pending
        transport = self.transport
        while pending:
            slot = pending[0]
            if not slot.ready:
                if self.eof and slot.plan is not None and slot.plan.action == "hang":
                    self._close()  # a client that timed out and left
                break
            if slot.streaming or self.paused & 1:
                break
            if transport is None or transport.is_closing():
                return
            if self.batch is not None and self.batch_size > _BATCH_BUDGET:
                break  # the rest goes once this read's answers are written
            if not self._carry_out(slot):
                return  # a drip under way, or the connection was reset
            pending.popleft()
            if slot.close:
                self._close()
                return
        if self.paused & 2 and len(pending) <= self.cfg.max_pipeline // 2:
            self._resume(2)

    def _carry_out(self, slot: _Pending) -> bool:
        """Write the head slot's answer.  False if it is not finished (drip) or was reset."""
        plan = slot.plan
        if slot.response is not None:
            self._write(slot.response)
        else:
            assert plan is not None
            action = plan.action
            if action is None:
                self._write(render(plan, slot.head_only))
            elif action == "stream":
                if not self._stream_body(slot, plan):
                    return False
            elif action == "drip":
                if not self._drip(slot):
                    return False
            elif action == "reset":
                self._reset()
                return False
            elif action == "truncate":
                slot.close = True
                if plan.source is not None:
                    if not self._truncate_source(slot, plan):
                        return False
                else:
                    head = render_head(plan, len(plan.body), False)
                    self._write(head if slot.head_only else head + plan.body[: len(plan.body) // 2])
            else:  # malformed
                slot.close = True
                self._write(_MALFORMED)
        self._end(slot)
        return True

    def _end(self, slot: _Pending) -> None:
        tl = slot.timeline
        if tl is None:
            return  # an internal answer: not counted
        rec = self.rec
        rec.in_flight -= 1
        rec.by_status[slot.status] += 1
        tl.end(slot.start, _now(), slot.status)

    def _drip(self, slot: _Pending) -> bool:
        """Stream a drip answer over its duration; True if it is already complete.

        Piece ``i`` is written (under flow control, a big one in several writes) ``step``
        seconds after piece ``i - 1`` was; chunked, each piece is one chunk.
        """
        plan = slot.plan
        assert plan is not None
        n, duration, pieces = plan.drip
        self._write(render_head(plan, n, plan.chunked))
        if slot.head_only or n == 0:
            if plan.chunked and not slot.head_only:
                self._write(_LAST_CHUNK)
            return True
        sizes = [n // pieces + (1 if i < n % pieces else 0) for i in range(pieces)]
        sizes = [s for s in sizes if s]
        step = duration / len(sizes)
        slot.streaming = True

        def send(i: int) -> None:
            if self.lost:
                return
            last = i == len(sizes) - 1

            def sent() -> None:
                if not last:
                    self.loop.call_later(step, send, i + 1)
                    return
                if plan.chunked:
                    self._write(_LAST_CHUNK)
                self._finish_stream(slot)

            self._stream(Fill(sizes[i]).pieces(), PIECE if plan.chunked else 0, sent)

        self.loop.call_later(step, send, 0)
        return False

    def _stream_body(self, slot: _Pending, plan: Plan) -> bool:
        """Write a large body a piece at a time (``mockserver.bodies``); True if done."""
        source = plan.source
        assert source is not None
        self._write(render_head(plan, source.length or 0, plan.chunked))
        if slot.head_only:
            return True
        size = _CHUNK if plan.chunked else 0  # the same chunks as render()

        def sent() -> None:
            if size:
                self._write(_LAST_CHUNK)
            self._finish_stream(slot)

        slot.streaming = True
        self._stream(source.pieces(), size, sent)
        return False

    def _truncate_source(self, slot: _Pending, plan: Plan) -> bool:
        """The ``truncate`` fault on a made body: its first half, then close; True if done."""
        source = plan.source
        assert source is not None
        n = source.length or 0
        self._write(render_head(plan, n, False))
        if slot.head_only or n // 2 == 0:
            return True
        slot.streaming = True
        self._stream(source.pieces(n // 2), 0, lambda: self._finish_stream(slot))
        return False

    def _finish_stream(self, slot: _Pending) -> None:
        """The head slot's streamed answer is all written: record it, and go on."""
        slot.streaming = False
        self._end(slot)
        self.pending.popleft()
        if slot.close:
            self._close()
        else:
            self._pump()

    def _stream(self, pieces: Iterator[bytes], frame_size: int, done: Callable[[], None]) -> None:
        """Write ``pieces`` after what is written so far, then call ``done``.

        One piece per turn of the loop (``call_soon`` between pieces, so other
        connections and timers run), and only while the transport is below its high-water
        mark: ``pause_writing`` stops the pieces and ``resume_writing`` goes on.  A peer
        that does not read costs a piece or two of memory, not the whole body.
        """
        stream = self.stream = _Stream(pieces, frame_size, done)
        if self.batch is None:
            self._stream_step()
        else:  # this read's answers are still being collected: the pieces go after them
            self._schedule_stream(stream)

    def _schedule_stream(self, stream: _Stream) -> None:
        stream.scheduled = True
        self.loop.call_soon(self._stream_step)

    def _stream_step(self) -> None:
        stream = self.stream
        if stream is None:
            return
        stream.scheduled = False
        transport = self.transport
        if self.lost or transport is None or transport.is_closing():
            self.stream = None
            return
        if self.paused & 1:
            return  # the peer is not reading: resume_writing goes on
        piece = next(stream.pieces, None)
        if piece is None:
            self.stream = None
            stream.done()
            return
        transport.write(frame(piece, stream.frame) if stream.frame else piece)
        if not self.paused & 1:  # else the write went over the high-water mark: wait
            self._schedule_stream(stream)

    def _answer_in_order(self, data: bytes, close: bool) -> None:
        """An immediate answer that must still wait for the requests before it."""
        if not self.pending:
            self._write(data)
            if close:
                self._close()
            return
        slot = _Pending(None, data, 0, 0.0, close, 0.0, None, False)
        slot.ready = True  # written out when the requests before it are
        self.pending.append(slot)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer an unusable request with a one-line reason and close the connection."""
        self.rec.bad_requests += 1
        self.closing = True
        plan = Plan(status=status, body=f"{reason}\n".encode(), close=True, internal=True)
        self._answer_in_order(render(plan, False), True)

    def _internal_error(self, exc: BaseException, request: str) -> Plan:
        """A bug met while answering: a 500 plan naming its kind, told once per kind.

        Once per kind of exception and place it was raised, so a bug hit by every request
        of a benchmark prints one line, not millions; ``internal_errors`` counts them all.
        """
        self.rec.internal_errors += 1
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = ("?", 0) if tb is None else (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        kind = type(exc).__name__
        key = (kind, *where)
        logged = self.state.errors_logged
        if key not in logged:
            logged.add(key)
            text = (str(exc).splitlines() or [""])[0][:200]
            _log.error(
                "mockserver: internal error (a bug) answering %s: %s: %s (%s:%d)",
                request[:200],
                kind,
                text,
                *where,
            )
        body = f"internal error: {kind}\n".encode()
        return Plan(status=500, body=body, internal=True)

    def _fail(self, exc: BaseException) -> None:
        """A bug in a parser callback: the parser is unusable, so 500 and close."""
        self.closing = True
        plan = self._internal_error(exc, "a request for " + self.url.decode("latin-1"))
        plan.close = True
        self._answer_in_order(render(plan, False), True)

    # -- transport helpers -------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        batch = self.batch
        if batch is not None:
            batch.append(data)
            self.batch_size += len(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        self.closing = True
        if self.batch is not None:
            self.close_pending = True
        elif self.transport is not None:
            self.transport.close()

    def _reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0) instead of an orderly close."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closing = True
        transport.abort()

    def _pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def _resume(self, reason: int) -> None:
        was = self.paused
        self.paused &= ~reason
        if (
            was
            and not self.paused
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self.transport.resume_reading()

    def check_timeouts(self, now: float) -> None:
        """Called by the sweeper about once a second."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.head_started and now - self.head_started > self.cfg.header_timeout_s:
            self.transport.close()  # slowloris: the request head never finished
        elif not self.pending and now - self.last_activity > self.cfg.idle_timeout_s:
            self.transport.close()


async def _sweep(connections: set[HttpProtocol], period: float = 1.0, slices: int = 10) -> None:
    """Check every connection's timeouts about once a ``period``, a slice at a time.

    One pass over 10,000 connections holds the loop for several milliseconds; in ten
    slices no timer waits more than a fraction of that behind the sweeper.
    """
    while True:
        conns = list(connections)
        step = max(1, -(-len(conns) // slices))
        for i in range(0, max(len(conns), 1), step):
            await asyncio.sleep(period / slices)
            now = _now()
            for conn in conns[i : i + step]:
                conn.check_timeouts(now)


_SITE_BIND_ATTEMPTS = 20


class MockServer:
    """A mock server inside the running event loop: ``await start()``, ``await close()``."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        sock: socket.socket | None = None,
        tls: ServerTLS | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self.state = ServerState(self.config)
        self.connections: set[HttpProtocol] = set()
        self.timers: Timers | None = None  # delayed requests; made by the first connection
        self.site = Site(self.config) if self.config.site_pages else None
        # A recorded site (--replay): its WARC files are read now, before listening.
        self.recording = Replay(self.config) if self.config.replay else None
        # The router: the synthetic site's, which hands other paths on to routes.plan,
        # or the recording's.
        self.router: Callable[[Request, ServerState], Plan] = routes.plan
        if self.site is not None:
            self.router = self.site.plan
            self.state.on_reset.append(self.site.reset_stats)
        elif self.recording is not None:
            self.router = self.recording.plan
            self.state.on_reset.append(self.recording.reset_stats)
        # HTTPS: the CA and certificate (mockserver.tls), made now unless given (--workers
        # share the parent's); a certificate names every host the site or recording has.
        self.tls = tls
        self._own_tls = False
        if self.config.tls and tls is None:
            self.tls = ServerTLS(self.tls_names(), self.config.tls_ca)
            self._own_tls = True
        self._ssl = self.tls.server_context() if self.tls is not None else None
        if self.tls is not None:
            self.state.ca_pem = self.tls.ca_pem
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._site_server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.port = 0

    def tls_names(self) -> list[str]:
        """Every name a client may reach this server by: its certificate's names."""
        names = [self.config.host, *self.config.tls_names]
        if self.site is not None:
            names += self.site.addresses
        if self.recording is not None:
            names += self.recording.archive.hosts
        return names

    @property
    def ca_file(self) -> str | None:
        """With tls: the PEM file of the CA a client must trust (``--ca-file``)."""
        return self.tls.ca_file if self.tls is not None else None

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        cfg = self.config
        for attempt in range(_SITE_BIND_ATTEMPTS):
            if self._sock is not None:
                server = await loop.create_server(
                    lambda: HttpProtocol(self), sock=self._sock, backlog=4096, ssl=self._ssl
                )
            else:
                server = await loop.create_server(
                    lambda: HttpProtocol(self),
                    cfg.host,
                    cfg.port,
                    backlog=4096,
                    reuse_port=cfg.workers > 1 or None,
                    ssl=self._ssl,
                )
            self.port = server.sockets[0].getsockname()[1]
            if self.site is None and self.recording is None:
                break
            try:
                self._site_server = await self._listen_site_hosts(loop, server)
                break
            except OSError:  # a free port here may be taken on 127.0.0.2: pick another
                server.close()
                await server.wait_closed()
                if cfg.port or self._sock is not None or attempt == _SITE_BIND_ATTEMPTS - 1:
                    raise
        self._server = server
        self._sweeper = loop.create_task(_sweep(self.connections))
        return self.url

    async def _listen_site_hosts(
        self, loop: asyncio.AbstractEventLoop, server: asyncio.Server
    ) -> asyncio.Server | None:
        """Listen on the site's other loopback addresses (127.0.0.2 ...) on the same port.

        The same for a recording's: every recorded host that is a 127.x.y.z address.
        """
        site = self.site or self.recording
        assert site is not None
        if self.site is not None:
            self.site.bind(self.port)
        self.state.recorder.reserved = set(site.names)  # past max_names, still recorded
        bound = {s.getsockname()[0] for s in server.sockets if s.family == socket.AF_INET}
        hosts = [] if "0.0.0.0" in bound else [a for a in site.addresses if a not in bound]
        if not hosts:
            return None
        return await loop.create_server(
            lambda: HttpProtocol(self), hosts, self.port, backlog=4096, ssl=self._ssl
        )

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._site_server is not None:
            self._site_server.close()
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._server.wait_closed()
        if self._site_server is not None:
            await self._site_server.wait_closed()
        if self._own_tls and self.tls is not None:
            self.tls.close()

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()
