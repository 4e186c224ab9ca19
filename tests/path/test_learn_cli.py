"""``concur learn`` and ``python -m concur.path.stepN_...`` as a learner runs them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from concur.cli import main
from concur.path import STEPS

HAS_GEVENT = importlib.util.find_spec("gevent") is not None

WITHOUT_GEVENT = """\
import runpy, sys
sys.modules["gevent"] = None  # the import system now treats it as not installed
if sys.argv[1] == "learn":
    from concur.cli import main
    raise SystemExit(main(sys.argv[1:]))
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_module(sys.argv[0], run_name="__main__")
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_no_step_lists_them_in_reading_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[: len(STEPS)]] == [
        [str(s.number), s.name] for s in STEPS
    ]
    assert "concur learn 1 --code" in out[-1]


def test_code_prints_the_crawler_without_running_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "6", "--code"]) == 0  # read from its file: nothing patched here
    out = capsys.readouterr().out
    assert "monkey.patch_all()" in out and "def crawl(" in out
    if HAS_GEVENT:
        from gevent import monkey

        assert not monkey.is_module_patched("socket")


def test_a_step_that_is_not_there_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["learn", "7"])
    assert stop.value.code == 2
    assert "the steps are 1-6" in capsys.readouterr().err


def test_learn_runs_a_step_on_its_own_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "3", "-n", "30", "-c", "10", "--delay", "20ms", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] == 30 and summary["server_peak_in_flight"] == 10
    assert summary["ideal_s"] == pytest.approx(0.06)


def test_a_step_runs_as_a_module() -> None:
    done = _python("-m", "concur.path.step1_serial", "-n", "5", "--delay", "10")
    assert done.returncode == 0, done.stderr
    assert "efficiency" in done.stdout and "in flight   peak 1 (server)" in done.stdout
    assert "step 1: one request after another" in done.stderr


@pytest.mark.parametrize(
    "argv", [["learn", "6"], ["concur.path.step6_gevent", "-n", "5"]], ids=["learn", "module"]
)
def test_without_gevent_step_6_says_how_to_install_it(argv: list[str]) -> None:
    done = _python("-c", WITHOUT_GEVENT, *argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["step 6 needs gevent: pip install 'concur[gevent]'"]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["learn", "-n", "5"], "-n: only with a STEP"),
        (["learn", "--json"], "--json: only with a STEP"),
        (["learn", "--code"], "--code: only with a STEP"),
        (["learn", "4", "--code", "-n", "5"], "runs nothing: no -n with it"),
        (["learn", "4", "--code", "--json", "--delay", "5"], "no --delay, --json with it"),
        (["learn", "1", "--delay", "11m"], "the mock server's cap"),
    ],
)
def test_a_flag_that_does_not_apply_is_a_usage_error(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not silently ignored; and a delay the server would refuse (400) is refused here."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_c_on_the_serial_step_is_named_as_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "1", "-c", "10", "-n", "2", "--delay", "1", "--json"]) == 0
    captured = capsys.readouterr()
    assert "step 1 makes one request at a time: -c 10 is ignored" in captured.err
    assert json.loads(captured.out)["concurrency"] == 1


def test_more_concurrency_than_urls_starts_no_more_workers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Steps 4 and 5 start C workers: -c 10**9 with 5 URLs must not start a billion."""
    for number in ("4", "5"):
        argv = ["learn", number, "-n", "5", "-c", str(10**9), "--delay", "1", "--json"]
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["ok"] == 5


def test_a_module_takes_the_same_values_as_learn() -> None:
    """Units as concur learn takes them; nan, and a usage error, on one line."""
    done = _python("-m", "concur.path.step3_callbacks", "-n", "4", "--delay", "5ms", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ideal_s"] == pytest.approx(0.005)
    for bad in (["--delay", "nan"], ["-n", "0"], ["--delay", "11m"]):
        done = _python("-m", "concur.path.step3_callbacks", *bad)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_step_that_raises_is_one_line_not_a_traceback() -> None:
    """The steps handle no errors: what one raises ends the run as one line, exit 2."""
    from concur.errors import ConcurError
    from concur.path import harness

    def refused(urls: list[str], concurrency: int) -> dict[str, harness.Answer]:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(ConcurError, match=r"step 3 failed: ConnectionRefusedError: .*refused"):
        harness.lesson(3, n=2, concurrency=2, delay_ms=1, crawl=refused)


def test_a_thread_that_raises_leaves_its_urls_unanswered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Step 2's threads: one that raises is named once on stderr; the rest of the run goes on."""
    import threading

    from concur.path import harness
    from concur.path.step1_serial import fetch

    def crawl(urls: list[str], concurrency: int) -> dict[str, harness.Answer]:
        results: dict[str, harness.Answer] = {}

        def work(url: str) -> None:
            if url.endswith("id=0"):
                raise OSError(24, "Too many open files")
            results[url] = fetch(url)

        threads = [threading.Thread(target=work, args=(u,)) for u in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    assert harness.lesson(2, n=3, concurrency=3, delay_ms=1, as_json=True, crawl=crawl) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["ok"], summary["errors"]) == (2, {"other": 1})
    assert "1 of its threads stopped" in captured.err and "Too many open files" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.skipif(not HAS_GEVENT, reason="gevent is not installed")
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_step_6_s_child_dies_with_concur_learn() -> None:
    """kill -9 of concur learn 6 leaves no step-6 child crawling on."""
    import os
    import signal
    import time

    learn = subprocess.Popen(
        [sys.executable, "-m", "concur", "learn", "6", "-n", "200", "-c", "2", "--delay", "100"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )

    def children() -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(learn.pid), "-f", "step6_gevent --child"],
            capture_output=True,
            text=True,
        )
        return [int(pid) for pid in found.stdout.split()]

    try:
        deadline = time.monotonic() + 30
        while not (child := children()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child, "the step-6 child never started"
    finally:
        learn.kill()
        learn.wait()

    def alive(pid: int) -> bool:  # a zombie no init has reaped yet is dead too
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state != "Z"

    deadline = time.monotonic() + 10
    while alive(child[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(child[0]):
        os.kill(child[0], signal.SIGKILL)
        pytest.fail("the step-6 child outlived concur learn")
