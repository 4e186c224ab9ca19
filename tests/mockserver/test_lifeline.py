"""A server process dies with its parent, whatever kills the parent (``kill -9`` included).

Issue 11: after ``kill -9`` of a crawl, its embedded mock server kept running and held the
port.  Here a real parent process starts a server, prints the server's pid, and is killed
with SIGKILL (no ``finally`` runs, no cleanup); the server must be gone within a second or
two and its port free.  Started from the parent's main thread the kernel kills it
(``PR_SET_PDEATHSIG``); started from another thread, only the lifeline pipe can.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raw_http import address

PARENT = """
import sys, threading, time
from mockserver.testing import serve

def main():
    with serve(mode="subprocess") as server:
        print(server.stats()["pid"], server.url, flush=True)
        time.sleep(600)

if sys.argv[1] == "thread":
    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
else:
    main()
"""


def alive(pid: int) -> bool:
    """Whether any thread of process ``pid`` still runs.

    A zombie nobody reaped yet does not count, but a killed process's main thread turns
    zombie before its other threads (the server's lifeline thread) have exited, and its
    sockets close with the last of them: until then it counts as alive.
    """
    try:
        threads = os.listdir(f"/proc/{pid}/task")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X") or len(threads) > 1


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def port_is_free(url: str) -> bool:
    try:
        socket.create_connection(address(url), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def kill_hard(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_server_dies_with_a_parent_killed_by_sigkill(started_from: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, started_from], stdout=subprocess.PIPE, text=True
    )
    server_pid = 0
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        server_pid = int(pid_text)
        assert alive(server_pid) and not port_is_free(url)
        parent.kill()  # SIGKILL: the parent cleans nothing up
        parent.wait(timeout=10)
        assert gone_within([server_pid], 2.0), "the server outlived its parent"
        assert port_is_free(url)
    finally:
        kill_hard([server_pid] if server_pid else [])
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_workers_die_with_a_server_killed_by_sigkill() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[3]
        workers = [
            int(p)
            for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        ]
        assert len(workers) == 2
        server.kill()
        server.wait(timeout=10)
        assert gone_within(workers, 2.0), "a worker outlived the server"
        assert port_is_free(url)
    finally:
        kill_hard(workers)
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_a_server_started_by_hand_is_not_tied_to_anything() -> None:
    # Without the lifeline variable (python -m mockserver in a shell), nothing changes:
    # the server outlives no one and is stopped by SIGTERM as ever.
    env = {k: v for k, v in os.environ.items() if k != "MOCKSERVER_LIFELINE"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("mockserver listening on ")
        time.sleep(0.2)
        assert server.poll() is None
        server.terminate()
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
