"""``python -m concur.gil.peer``: a tiny blocking TCP echo server for round-trip experiments.

The convoy and switch-interval experiments time socket ping-pong between a client
thread and this server.  It runs in its own process so that its replies never wait
for the client's GIL: every microsecond of delay the client sees beyond the
unloaded round trip is spent inside the client process.

It listens on 127.0.0.1 on a free port, prints ``echo on 127.0.0.1:PORT``, and exits
when its standard input closes (its parent went away) or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time


def _echo(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                conn.sendall(data)
            except OSError:
                return


def _exit_when_stdin_closes() -> None:
    try:
        sys.stdin.read()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m concur.gil.peer", description=__doc__)
    parser.add_argument(
        "--lifetime", type=float, default=900.0, help="exit after this many seconds"
    )
    args = parser.parse_args(argv)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    host, port = server.getsockname()[:2]
    print(f"echo on {host}:{port}", flush=True)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    deadline = time.monotonic() + args.lifetime
    with server:
        while time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
