"""Ctrl-C and SIGTERM keep what was done (issue 11, item 7).

A real ``concur crawl`` process fetches URLs from a real mock server, some answered at
once and some never within the test; once the quick ones are answered, the test sends
SIGINT or SIGTERM, as a terminal or ``kill`` would.  The run must stop promptly with 130
or 143, write every record it finished to ``-o`` (valid JSON lines, the quick URLs among
them), print its summary marked interrupted, and print no traceback.  A crawl kept in
``--db`` also says the command that continues it, and that command does.
"""

from __future__ import annotations

import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from concur.engines import available_engines
from mockserver.testing import RunningServer

ENGINES = [e for e in ("asyncio", "threads", "processes", "tornado") if e in available_engines()]
SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}
QUICK, SLOW = 20, 3


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "concur", "crawl", "--no-progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """Ctrl-C reaches the run even when this test runs as a background job, whose
    children start with SIGINT ignored (and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(done: Any, run: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert run.poll() is None, f"the run ended before {what}: {run.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within 30 s"
        time.sleep(0.02)


def _stop(run: subprocess.Popen[str], how: signal.Signals) -> tuple[str, str, float]:
    """Send ``how``; the run's stdout, stderr and how long it took to end."""
    t0 = time.monotonic()
    run.send_signal(how)
    try:
        out, err = run.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
        raise AssertionError(f"{how.name} did not stop the run within 30 s") from None
    return out, err, time.monotonic() - t0


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("how", list(SIGNALS), ids=lambda s: s.name)
@pytest.mark.parametrize("engine", ENGINES)
def test_a_signal_keeps_the_records_done(
    engine: str, how: signal.Signals, mockserver: RunningServer, tmp_path: Path
) -> None:
    name = f"stop-{engine}-{how.name}"
    slow = [f"{mockserver.url}/add?name={name}&delay=60000&id=s{i}" for i in range(SLOW)]
    quick = [f"{mockserver.url}/add?name={name}&delay=0&id={i}" for i in range(QUICK)]
    out = tmp_path / "out.jsonl"
    # the slow URLs first: they hold their slots while the quick ones finish around them;
    # --timeout bounds how long a blocking thread may finish the request it is in
    run = _start(
        "--impl", engine, "-c", "8", "--timeout", "5s", "-o", str(out), "--json", *slow, *quick
    )
    _wait_for(lambda: mockserver.timeline(name)["count"] >= QUICK, run, "the quick answers")
    time.sleep(0.5)  # the records of the last answers reach the command
    stdout, stderr, took = _stop(run, how)

    assert run.returncode == SIGNALS[how], stderr
    assert "Traceback" not in stderr, stderr
    assert took < 15, f"{took:.1f} s to stop"
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] == {"signal": how.name, "resume": None}
    records = _lines(out)
    urls = [r["url"] for r in records]
    assert len(set(urls)) == len(urls) == summary["requests"]  # each once, all counted
    assert set(quick) <= set(urls) <= set(quick + slow)  # what was done, and nothing else
    assert [r["index"] for r in records] == sorted(r["index"] for r in records)
    assert all(r["error"] is None for r in records if r["url"] in quick)


def test_the_text_summary_says_interrupted(mockserver: RunningServer, tmp_path: Path) -> None:
    slow = [f"{mockserver.url}/add?name=stop-text&delay=60000&id={i}" for i in range(2)]
    run = _start("--impl", "asyncio", *slow)
    _wait_for(lambda: mockserver.timeline("stop-text")["in_flight"] >= 2, run, "both requests")
    stdout, stderr, _ = _stop(run, signal.SIGINT)
    assert run.returncode == 130
    assert stdout.startswith("INTERRUPTED by SIGINT"), stdout
    assert "requests    0: 0 ok, 0 failed" in stdout
    assert stderr == ""


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute("SELECT count(*) FROM urls WHERE state = 2").fetchone()
        conn.close()
        return int(n)
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("how", list(SIGNALS), ids=lambda s: s.name)
def test_a_stopped_crawl_says_how_to_resume_it(how: signal.Signals, tmp_path: Path) -> None:
    db, out = tmp_path / "crawl.db", tmp_path / "pages.jsonl"
    run = _start(
        "--site", "--pages", "300", "--latency", "20", "--db", str(db), "-o", str(out), "--json"
    )
    _wait_for(lambda: _done(db) >= 40, run, "40 pages")
    stdout, stderr, _ = _stop(run, how)
    assert run.returncode == SIGNALS[how], stderr
    assert "Traceback" not in stderr, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    command = f"concur crawl --site --db {db} --resume --impl asyncio -o {out}"
    assert summary["interrupted"] == {"signal": how.name, "resume": command}
    assert "ground_truth" not in summary  # the site's truth is for a whole crawl
    # -o with --db: every result in the file, so exactly what the file says is done
    records = _lines(out)
    assert len(records) == _done(db) >= 40
    assert len({r["url"] for r in records}) == len(records)

    # the command it printed continues the crawl to the site's exact ground truth
    argv = shlex.split(command)
    assert argv[:2] == ["concur", "crawl"]
    resumed = subprocess.run(
        [sys.executable, "-m", "concur", *argv[1:], "--no-progress", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    truth = final["ground_truth"]
    assert truth["exact"], truth
    assert final["crawl"]["pages"] < truth["expected"], "the resumed run started over"
    assert len(_lines(out)) == _done(db)
