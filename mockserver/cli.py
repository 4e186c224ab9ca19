"""Command-line front of the server, shared by ``python -m mockserver`` and ``concur serve``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from mockserver import faults, latency, lifeline
from mockserver.config import ConfigError, ServerConfig
from mockserver.latency import SpecError
from mockserver.loop import new_event_loop
from mockserver.replay.archive import ReplayError
from mockserver.server import MockServer
from mockserver.site.graph import MAX_HOSTS, MAX_PAGES
from mockserver.tls import ServerTLS, TLSUnavailable, require_trustme


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of delays, faults and bodies")
    parser.add_argument(
        "--latency",
        default="0",
        metavar="SPEC",
        help="default latency: MS, uniform:LO,HI, normal:MEAN,SD, lognormal:MEDIAN,P99, "
        "exp:MEAN, pareto:MIN,SHAPE (ms)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="RATES",
        help="default fault rates, e.g. 5xx:0.05,reset:0.01",
    )
    parser.add_argument(
        "--max-delay", type=float, default=600_000.0, metavar="MS", help="delay cap"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=0,
        metavar="N",
        help="answer 503 beyond N requests in flight",
    )
    parser.add_argument(
        "--over-limit", type=int, choices=(503, 429), default=503, help="status beyond the limit"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)"
    )
    parser.add_argument(
        "--request-log",
        type=int,
        default=10_000,
        metavar="N",
        help="keep the first N requests since a reset for GET /__requests; 0: none (default 10000)",
    )
    parser.add_argument("--idle-timeout", type=float, default=120.0, metavar="S")
    parser.add_argument("--header-timeout", type=float, default=30.0, metavar="S")
    parser.add_argument(
        "--site",
        type=int,
        default=0,
        metavar="PAGES",
        help="also serve a seeded synthetic website of PAGES pages, root http://127.0.0.1:PORT/"
        " (see mockserver.site)",
    )
    parser.add_argument(
        "--site-hosts",
        type=int,
        default=3,
        metavar="H",
        help="the site's virtual hosts: 127.0.0.1 ... 127.0.0.H on the same port (default 3)",
    )
    parser.add_argument(
        "--site-crawl-delay",
        type=float,
        default=0.1,
        metavar="S",
        help="Crawl-delay in the robots.txt of the site's last host; 0: none (default 0.1)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a CA made now and a certificate for every name served; prints "
        "the CA's file, also at /__ca.pem (pip install 'concur[tls]')",
    )
    parser.add_argument(
        "--tls-name",
        action="append",
        default=None,
        metavar="NAME",
        help="with --tls, a further name (or address) the certificate covers (repeatable)",
    )
    parser.add_argument(
        "--tls-ca",
        default=None,
        metavar="PATH",
        help="with --tls, write the CA's certificate here (default: a temporary file, removed "
        "when the server stops)",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="WARC",
        help="serve the answers recorded in these WARC files (any host, by Host and path), "
        "with their ground truth at /__replay (see mockserver.replay; needs warcio)",
    )
    parser.add_argument(
        "--replay-root",
        action="append",
        metavar="URL",
        help="where the recorded site's ground truth starts (repeatable; default: the first "
        "recorded page)",
    )


# The flag of each config field a flag sets, to name it in a refusal.
_FLAGS = {
    "host": "--host",
    "port": "--port",
    "seed": "--seed",
    "latency": "--latency",
    "faults": "--faults",
    "max_delay_ms": "--max-delay",
    "max_in_flight": "--max-in-flight",
    "over_limit_status": "--over-limit",
    "workers": "--workers",
    "idle_timeout_s": "--idle-timeout",
    "header_timeout_s": "--header-timeout",
    "request_log": "--request-log",
    "site_pages": "--site",
    "site_hosts": "--site-hosts",
    "site_crawl_delay": "--site-crawl-delay",
    "replay": "--replay",
    "replay_root": "--replay-root",
    "tls_names": "--tls-name",
    "tls_ca": "--tls-ca",
}


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build a config; raise SpecError with a one-line message for bad values.

    Whatever the server could not use is refused here, at start-up, rather than by
    every request later: a seed beyond 64 bits, a delay cap that is NaN or negative, a
    latency that cannot be sampled (``mockserver.config`` checks the fields).
    """
    if not 0 <= args.port <= 65535:
        raise SpecError(f"--port {args.port} is not a port number")
    if args.workers < 1:
        raise SpecError("--workers must be at least 1")
    if args.max_in_flight < 0:
        raise SpecError("--max-in-flight must be >= 0")
    if not 0 <= args.site <= MAX_PAGES:
        raise SpecError(f"--site must be between 0 and {MAX_PAGES} pages")
    if not 1 <= args.site_hosts <= MAX_HOSTS:
        raise SpecError(f"--site-hosts must be between 1 and {MAX_HOSTS}")
    if not 0 <= args.site_crawl_delay <= 60:
        raise SpecError("--site-crawl-delay must be between 0 and 60 s")
    if args.site and args.workers > 1:
        raise SpecError(
            "--site needs --workers 1: its ground truth and counters live in one process"
        )
    if args.replay and args.site:
        raise SpecError("--replay and --site cannot be combined: both answer 127.0.0.1's /")
    if args.replay and args.workers > 1:
        raise SpecError("--replay needs --workers 1: its truth and counters live in one process")
    if args.replay_root and not args.replay:
        raise SpecError("--replay-root needs --replay")
    try:
        return _config(args)
    except ConfigError as exc:
        flag = _FLAGS.get(exc.field, exc.field)
        raise SpecError(f"{flag} {_shown(exc.value)} {exc.reason}") from None


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        latency=latency.parse(args.latency),
        faults=faults.parse_rates(args.faults),
        max_delay_ms=args.max_delay,
        max_in_flight=args.max_in_flight,
        over_limit_status=args.over_limit,
        workers=args.workers,
        idle_timeout_s=args.idle_timeout,
        header_timeout_s=args.header_timeout,
        request_log=args.request_log,
        site_pages=args.site,
        site_hosts=args.site_hosts,
        site_crawl_delay=args.site_crawl_delay,
        replay=tuple(args.replay or ()),
        replay_root=tuple(args.replay_root or ()),
        tls=args.tls,
        tls_names=tuple(args.tls_name or ()),
        tls_ca=args.tls_ca,
    )


async def _serve(
    config: ServerConfig, sock: socket.socket | None, announce: bool, tls: ServerTLS | None = None
) -> None:
    server = MockServer(config, sock, tls)
    url = await server.start()
    if announce:
        desc = f"seed {config.seed}, latency {config.latency}, {config.workers} worker(s)"
        if config.site_pages:
            desc += f", site of {config.site_pages} pages on {config.site_hosts} host(s)"
        if server.recording is not None:
            desc += ", " + server.recording.describe()
        print(f"mockserver listening on {url} ({desc})", flush=True)
        if server.tls is not None:
            _announce_tls(server.tls, url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def _announce_tls(tls: ServerTLS, url: str) -> None:
    shown = ", ".join(tls.names[:6]) + (", ..." if len(tls.names) > 6 else "")
    print(
        f"mockserver CA {tls.ca_file} (also at {url}/__ca.pem), certificate for {shown}: "
        f"concur crawl --ca-file {tls.ca_file} ...",
        flush=True,
    )


def _reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(
    config: ServerConfig,
    mine: socket.socket,
    socks: list[socket.socket],
    fds: tuple[int, ...],
    tls: ServerTLS | None,
) -> NoReturn:
    """A forked worker: serve on its own socket, and never return into the parent's code.

    It dies with the parent process (``lifeline``): by SIGKILL from the kernel on Linux,
    and when the pipe ``fds[0]`` (whose write end only the parent holds) reads end-of-file.
    """
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        lifeline.die_with_parent()
        for fd in fds[1:]:  # the write end, and the parent's own lifeline: not ours
            os.close(fd)
        lifeline.watch(fds[0])
        for sock in socks:
            if sock is not mine:
                sock.close()
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(config, mine, False, tls))
    except KeyboardInterrupt:
        pass
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def run(config: ServerConfig, lifeline_fd: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM.  With several workers, fork one process per worker.

    The parent binds and listens on one SO_REUSEPORT socket per worker *before* it
    forks and announces the URL, so a client may connect as soon as it reads the line;
    the kernel spreads connections between the workers.  Stats and timelines are per
    worker.  SIGTERM or SIGINT to the parent stops the workers too, and the workers die
    with the parent whatever kills it (``kill -9`` included; see ``mockserver.lifeline``).
    ``lifeline_fd`` is the pipe from whoever started this process: end-of-file there
    ends this process too.
    """
    if config.workers == 1:
        if lifeline_fd is not None:
            lifeline.watch(lifeline_fd)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(config, None, True))
        return
    # One CA and certificate for every worker: made before they fork.
    tls = ServerTLS([config.host, *config.tls_names], config.tls_ca) if config.tls else None
    socks = [_reuseport_socket(config.host, config.port)]
    port = socks[0].getsockname()[1]
    socks += [_reuseport_socket(config.host, port) for _ in range(config.workers - 1)]
    for sock in socks:
        sock.listen(4096)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    children: list[int] = []
    read_fd, write_fd = os.pipe()  # the workers' lifeline: only this process writes (never)
    inherited = () if lifeline_fd is None else (lifeline_fd,)
    try:
        for mine in socks:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                _worker(config, mine, socks, (read_fd, write_fd, *inherited), tls)
            children.append(pid)
        os.close(read_fd)
        for sock in socks:  # the workers hold them now; the parent must not take connections
            sock.close()
        if lifeline_fd is not None:  # after the forks: a forked child inherits no thread
            lifeline.watch(lifeline_fd)
        host = f"[{config.host}]" if ":" in config.host else config.host
        url = f"{'https' if tls else 'http'}://{host}:{port}"
        print(f"mockserver listening on {url} ({config.workers} workers)", flush=True)
        if tls is not None:
            _announce_tls(tls, url)
        for pid in children:
            os.waitpid(pid, 0)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        if tls is not None:
            tls.close()


def main(argv: Sequence[str] | None = None, prog: str = "mockserver") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="concur's fixture HTTP server.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return serve_command(args, parser)


def serve_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    fd = lifeline.adopt()  # first: started by a parent that may die, die with it
    try:
        config = config_from_args(args)
    except SpecError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        if config.tls:
            require_trustme()  # before anything starts: the pip line, and exit 2
        run(config, fd)
    except (ReplayError, TLSUnavailable) as exc:  # an extra missing, a WARC unreadable
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0
