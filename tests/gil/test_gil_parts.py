"""The GIL lab's parts, without running whole experiments."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pytest

from concur.commands import gil as gil_command
from concur.gil import results, stats, workloads
from concur.gil.experiments import EXPERIMENTS, get
from concur.gil.lab import Lab, run_child, run_one
from concur.gil.machine import describe, machine_info


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="concur gil")
    gil_command.add_arguments(parser)
    args = parser.parse_args(argv)
    args._parser = parser
    return gil_command.run(args)


def test_experiments_in_reading_order() -> None:
    assert [e.number for e in EXPERIMENTS] == list(range(1, 9))
    names = [e.name for e in EXPERIMENTS]
    assert names[:3] == ["speedup", "convoy", "switch"] and names[-1] == "freethreaded"
    assert get("2").name == "convoy"
    with pytest.raises(KeyError):
        get("nope")
    for exp in EXPERIMENTS:
        module = exp.load()
        assert module.EXPLAIN.startswith("What you should see, and why")
        assert callable(module.run) and callable(module.summary) and callable(module.figures)


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--list"]) == 0
    printed = capsys.readouterr().out
    for exp in EXPERIMENTS:
        assert exp.name in printed


def test_unknown_experiment_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _run(["nope"])
    assert stop.value.code == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_python_must_be_an_executable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _run(["freethreaded", "--python", str(tmp_path / "no-such-python")])
    assert stop.value.code == 2
    assert "not an executable" in capsys.readouterr().err


def test_machine_info() -> None:
    info = machine_info()
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["switch_interval_s"] == sys.getswitchinterval()
    assert info["usable_cpus"] >= 1
    assert isinstance(info["free_threaded_build"], bool)
    assert "switch interval" in describe(info)


def test_stats() -> None:
    assert stats.percentile([3, 1, 2], 50) == 2
    assert stats.percentile([0, 10], 90) == pytest.approx(9)
    assert math.isnan(stats.percentile([], 50))
    s = stats.spread([4, 1, 3])
    assert (s["median"], s["min"], s["max"], s["n"]) == (3, 1, 4, 3)
    edges = stats.log_edges(1e-3, 1.0, per_decade=1)
    assert edges == pytest.approx([1e-3, 1e-2, 1e-1, 1.0])
    assert stats.histogram([1e-4, 5e-3, 0.5, 7.0], edges) == [2, 0, 2]


def test_results_json_has_no_nan(tmp_path: Path) -> None:
    doc = results.document(9, "demo", "Demo", {"params": {"a": 1}, "x": math.nan}, 0.5)
    assert doc["params"] == {"a": 1} and "params" not in doc["result"]
    path = results.write(doc, tmp_path)
    assert json.loads(path.read_text())["result"]["x"] is None


def test_workloads_compute() -> None:
    assert workloads.count(10) == sum(i * i % 7 for i in range(10))
    assert workloads.py_hash(b"abc", 2) != workloads.py_hash(b"abd", 2)
    assert len(workloads.sha_work(2)) == 64
    n = workloads.calibrate(workloads.count, 0.005)
    assert n > 100


def test_ping_pong_against_the_echo_peer() -> None:
    with workloads.echo_peer() as address:
        rtts = workloads.ping_pong(address, 0.05)
    assert len(rtts) > 10
    assert all(0 < r < 1 for r in rtts)


def test_cpu_threads_count_their_loops() -> None:
    import time

    with workloads.CpuThreads(2) as cpu:
        time.sleep(0.05)
        seen = list(cpu.loops)
    assert all(n > 0 for n in seen)


def test_trace_running_finds_the_gil_hand_offs() -> None:
    import threading
    import time

    lanes: list[list[tuple[float, float]]] = [[], []]
    start = time.perf_counter() + 0.01

    def trace(i: int) -> None:
        lanes[i] = workloads.trace_running(start, 0.05)

    threads = [threading.Thread(target=trace, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = sum(e - s for lane in lanes for s, e in lane)
    assert busy < 0.05 * 1.5  # two threads, about one core between them
    assert all(lane for lane in lanes)


def test_run_child_reports_failure() -> None:
    with pytest.raises(RuntimeError, match="unknown job kind"):
        run_child({"kind": "nothing-such"})
    probe = run_child({"kind": "probe"})
    assert probe["python"] == machine_info()["python"]


def test_one_experiment_without_output_dir() -> None:
    lines: list[str] = []
    with Lab(quick=True) as lab:
        doc = run_one(lab, "timeline", echo=lines.append)
    assert doc["figures"] == []
    assert any("cores busy" in line for line in lines)
    assert set(doc["result"]["panels"]) == {"threads", "threads-1ms", "processes"}


@pytest.mark.slow
def test_freethreaded_rerun_plumbing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --python set to this very interpreter: both sides run, side by side."""
    assert (
        _run(["freethreaded", "--quick", "--out", str(tmp_path), "--python", sys.executable]) == 0
    )
    doc = json.loads((tmp_path / "freethreaded.json").read_text())
    assert doc["result"]["skipped"] is False
    assert set(doc["result"]["other"]) == {"speedup", "convoy", "switch"}
    assert (tmp_path / "freethreaded.png").exists()
    assert "not a free-threaded build" in capsys.readouterr().out
