"""``concur learn`` and ``python -m concur.path.stepN_...`` as a learner runs them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

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
