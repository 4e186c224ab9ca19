"""``concur gil --quick`` end to end: it completes, writes JSON and PNGs, and the GIL shows.

One quick run (about 25 s on two cores) is shared by every test here.  The bounds are
generous on purpose: only a real regression, not a noisy machine, should break them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from concur.commands import gil as gil_command
from concur.gil.experiments import EXPERIMENTS
from concur.gil.machine import usable_cpus

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="concur gil")
    gil_command.add_arguments(parser)
    args = parser.parse_args(argv)
    args._parser = parser
    return gil_command.run(args)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("gil")
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = _run(["--quick", "--out", str(out)])
    assert code == 0
    return out, printed.getvalue()


def _doc(out: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return data


def test_every_experiment_writes_json_with_machine_info(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    for exp in EXPERIMENTS:
        doc = _doc(out, exp.name)
        assert doc["schema"] == "concur-gil/1"
        assert doc["experiment"] == exp.name
        machine = doc["machine"]
        for key in (
            "python",
            "free_threaded_build",
            "gil_enabled",
            "switch_interval_s",
            "cpu_count",
        ):
            assert key in machine
        assert machine["switch_interval_s"] > 0


def test_figures_are_valid_pngs(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    from matplotlib.image import imread

    for exp in EXPERIMENTS:
        doc = _doc(out, exp.name)
        if doc["result"].get("skipped"):
            continue
        assert doc["figures"], exp.name
        for name in doc["figures"]:
            path = out / name
            assert path.read_bytes()[:8] == PNG_MAGIC
            image = imread(path)
            assert image.shape[0] > 100 and image.shape[1] > 100


def test_prints_each_result_with_an_explanation(quick_run: tuple[Path, str]) -> None:
    _, printed = quick_run
    assert printed.count("What you should see, and why") == len(EXPERIMENTS)
    for exp in EXPERIMENTS:
        assert f"{exp.number}. {exp.name}" in printed


def test_freethreaded_says_it_is_skipped_without_python(quick_run: tuple[Path, str]) -> None:
    out, printed = quick_run
    doc = _doc(out, "freethreaded")
    assert doc["result"]["skipped"] is True
    assert "--python" in doc["result"]["reason"]
    assert "skipped: no --python given" in printed


def test_pure_python_threads_do_not_speed_up(quick_run: tuple[Path, str]) -> None:
    speedup = _doc(quick_run[0], "speedup")["result"]["speedup"]
    assert speedup["pure"]["threads"]["median"] < 1.3


@pytest.mark.skipif(usable_cpus() < 2, reason="processes need two cores to speed up")
def test_processes_speed_up_pure_python(
    quick_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The best repeat of up to three runs: on a shared VM a neighbour (or the hypervisor)
    # can take the second core for a whole quick run, but no amount of noise makes one
    # core do the work of two.
    best = [_doc(quick_run[0], "speedup")["result"]["speedup"]["pure"]["processes"]["max"]]
    while best[-1] <= 1.3 and len(best) < 3:
        assert _run(["speedup", "--quick", "--out", str(tmp_path)]) == 0
        best.append(_doc(tmp_path, "speedup")["result"]["speedup"]["pure"]["processes"]["max"])
    capsys.readouterr()
    assert max(best) > 1.3, best


def test_io_threads_overlap_their_waits(quick_run: tuple[Path, str]) -> None:
    doc = _doc(quick_run[0], "speedup")
    assert doc["params"]["workers"] == 10
    assert doc["result"]["speedup"]["io"]["threads"]["median"] > 5


def test_a_cpu_thread_slows_the_io_thread_down(quick_run: tuple[Path, str]) -> None:
    cells = _doc(quick_run[0], "convoy")["result"]["cells"]
    alone = cells["threads-0"]["rate_per_s"]["median"]
    assert cells["threads-1"]["rate_per_s"]["median"] < alone
    assert cells["threads-2"]["rate_per_s"]["median"] < alone


def test_switch_interval_is_restored(quick_run: tuple[Path, str]) -> None:
    import sys

    docs = [_doc(quick_run[0], e.name) for e in EXPERIMENTS]
    assert {d["machine"]["switch_interval_s"] for d in docs} == {sys.getswitchinterval()}


def test_threads_take_turns_on_the_gil(quick_run: tuple[Path, str]) -> None:
    panels = _doc(quick_run[0], "timeline")["result"]["panels"]
    # Two spinning threads add up to about one core, never two.
    assert panels["threads"]["cores_busy"]["median"] < 1.4
