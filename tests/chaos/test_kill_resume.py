"""Chaos: kill the crawler at random points, resume, and nothing is lost, left behind or redone.

For every engine, a crawl of the synthetic site with ``--db`` is killed part-way — by
``kill -9``, SIGTERM or SIGINT, at a random number of finished pages — and resumed, again
and again, then run to its end.  The site's server belongs to the test, so it sees every
run: the crawl must end at the site's exact ground truth, no process of a killed run may
outlive it (workers, gevent's child, the embedded servers), and the pages answered twice
across all kills may be at most the requests that were in flight at each kill
(``--per-host 2`` × 3 hosts).  The short version (one kill per engine) runs in CI;
``pytest -m slow tests/chaos`` runs three kills per engine with each signal.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concur.engines import available_engines
from concur.store.sqlite import SqliteStore
from mockserver.testing import RunningServer, serve

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

ENGINES = available_engines()
HOSTS = ("127.0.0.2", "127.0.0.3")
IN_FLIGHT = 2 * 3  # --per-host 2, three hosts: the most a kill can cut off


def _crawl(engine: str, server: RunningServer, db: Path, *more: str) -> list[str]:
    domains = [arg for host in HOSTS for arg in ("--domain", host)]
    return [
        sys.executable, "-m", "concur", "crawl", "--impl", engine, "--follow",
        f"{server.url}/", *domains, "--per-host", "2", "--db", str(db), "--json",
        "--no-progress", *more,
    ]  # fmt: skip


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute("SELECT count(*) FROM urls WHERE state = 2").fetchone()
            return int(n)
    except sqlite3.Error:
        return 0


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a killed run and everything it started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def _interruptible() -> None:
    """SIGINT reaches the run even when the suite runs as a background job, whose children
    start with it ignored (and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _kill_at(command: list[str], db: Path, pages: int, how: signal.Signals) -> None:
    """Start a run in a session of its own, signal it once ``pages`` are done, reap it."""
    run = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_interruptible,
    )
    try:
        deadline = time.monotonic() + 60
        while _done(db) < pages and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(how)
        _, err = run.communicate(timeout=30)
        assert run.returncode != 0, "the signal did not stop the run"
        assert b"Traceback" not in err, err.decode(errors="replace")
        deadline = time.monotonic() + 5
        while _session_members(run.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _session_members(run.pid), "a process of the killed run outlived it"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _chaos(engine: str, tmp: Path, kills: list[signal.Signals], seed: int) -> None:
    rng = random.Random(seed)
    db = tmp / f"{engine}.db"
    with serve(mode="subprocess", site_pages=300, site_hosts=3, latency="10") as server:
        for i, how in enumerate(kills):
            more = ("--resume",) if i else ()
            pages = _done(db) + rng.randint(5, 60)
            _kill_at(_crawl(engine, server, db, *more), db, pages, how)
        last = subprocess.run(
            _crawl(engine, server, db, "--resume"), capture_output=True, text=True, timeout=120
        )
        assert last.returncode == 0, last.stderr
        assert "Traceback" not in last.stderr
        summary = json.loads(last.stdout.strip().splitlines()[-1])
        truth = server.get_json("/__site")
        stats = server.get_json("/__site?stats=1")["stats"]
    store = SqliteStore(db, resume=True)
    try:
        found = {
            r.url
            for r in store.records()
            if r.error is None and r.status is not None and 200 <= r.status < 300
        }
    finally:
        store.close()
    assert found == set(truth["expected"]), summary
    assert stats["disallowed_fetched_count"] == 0
    # a kill can cut off at most the requests in flight: only those are asked again
    assert stats["fetched_twice_count"] <= IN_FLIGHT * len(kills), stats["fetched_twice"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_crawl_resumes_to_the_ground_truth(engine: str, tmp_path: Path) -> None:
    _chaos(engine, tmp_path, [signal.SIGKILL], seed=len(engine))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_chaos_many_kills(engine: str, how: signal.Signals, tmp_path: Path) -> None:
    _chaos(engine, tmp_path, [how] * 3, seed=hash((engine, how)) & 0xFFFF)
