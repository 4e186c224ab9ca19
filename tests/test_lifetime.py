"""Every process concur starts dies with its parent, whatever kills the parent (kill -9)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mockserver.testing import RunningServer

PARENT = """
import os, sys
from concur.engines import get_engine
from concur.records import CrawlConfig

def tell(record):
    if record.index == 0:  # the workers are up and fetching: say so, then wait to be killed
        print("started", flush=True)

urls = [sys.argv[2] + f"/add?name=orphans&delay=60000&id={i}" for i in range(8)]
urls[0] = sys.argv[2] + "/add?name=orphans&id=first"
get_engine(sys.argv[1]).fetch(urls, CrawlConfig(concurrency=8, timeout=120), tell)
"""


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rpartition(")")[2].split()[1])
            except OSError:
                continue
            if ppid == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
@pytest.mark.parametrize("engine", ["processes", "gevent"])
def test_worker_processes_die_with_a_killed_parent(engine: str, mockserver: RunningServer) -> None:
    if engine == "gevent" and importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent is not installed")
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), engine, mockserver.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "started"
        workers = _children(parent.pid)
        assert workers, "the engine started no worker process"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "a worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
