"""Each experiment's text, checked against the run it is printed with.

For every experiment: ``check`` on a hand-made result that shows what the text says
(every claim holds) and on one that does not (the claim named fails); and the lab's
printed output says which held, which did not, and what can explain it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from concur.gil import lab as lab_module
from concur.gil import machine
from concur.gil.experiments import EXPERIMENTS, Check, get
from concur.gil.lab import Lab, checked, run_one

MACHINE = {
    "usable_cpus": 2,
    "cpu_count": 2,
    "switch_interval_s": 0.005,
    "free_threaded_build": False,
    "gil_enabled": True,
    "load_average": [0.5, 0.5, 0.5],
}


def sp(value: float) -> dict[str, Any]:
    """A repeated measurement whose repeats all gave ``value``."""
    return {"median": value, "min": value, "max": value, "n": 3, "values": [value] * 3}


def speedup() -> dict[str, Any]:
    rows = {
        "pure": {"threads": 1.0, "processes": 1.9, "asyncio": 1.0, "gevent": 1.0},
        "releasing": {"threads": 1.9, "processes": 1.9, "asyncio": 1.0, "gevent": 1.0},
        "io": {"threads": 9.7, "processes": 9.6, "asyncio": 9.8, "gevent": 9.6},
    }
    return {
        "params": {"workers": 10},
        "models": ["serial", "threads", "processes", "asyncio", "gevent"],
        "speedup": {
            w: {"serial": sp(1.0)} | {m: sp(v) for m, v in r.items()} for w, r in rows.items()
        },
    }


EDGES = [1e-6 * 10 ** (i / 4) for i in range(25)]  # 1 us to 1 s


def histogram(at: dict[float, int]) -> list[int]:
    """Round-trip counts per EDGES bin, ``{seconds: count}``."""
    counts = [0] * (len(EDGES) - 1)
    for seconds, n in at.items():
        counts[max(i for i, e in enumerate(EDGES[:-1]) if e <= seconds)] += n
    return counts


def convoy() -> dict[str, Any]:
    def cell(rate: float, p50: float, hist: dict[float, int]) -> dict[str, Any]:
        return {"rate_per_s": sp(rate), "p50": p50, "histogram": histogram(hist)}

    return {
        "edges": EDGES,
        "cells": {
            "threads-0": cell(15_000, 7e-5, {7e-5: 1000}),
            "threads-1": cell(450, 1e-5, {1e-5: 200, 5.2e-3: 250}),
            "threads-2": cell(35, 2e-2, {2e-2: 35}),
            "processes-1": cell(140_000, 1e-5, {1e-5: 1000}),
            "pinned-0": cell(16_000, 7e-5, {7e-5: 1000}),
            "pinned-1": cell(190, 5e-3, {5e-3: 190}),
        },
    }


def switch() -> dict[str, Any]:
    def point(interval: float, p99: float, share: float) -> dict[str, Any]:
        return {"interval_s": interval, "p99": sp(p99), "cpu_share": sp(share)}

    return {
        "points": [
            point(1e-5, 2e-4, 0.53),
            point(1e-3, 2.2e-3, 0.90),
            point(5e-3, 1.03e-2, 0.97),
            point(1e-1, 0.203, 0.99),
        ]
    }


def timeline() -> dict[str, Any]:
    def panel(cores: float, block_ms: float) -> dict[str, Any]:
        return {"cores_busy": sp(cores), "median_block_ms": sp(block_ms)}

    return {
        "panels": {
            "threads": panel(0.98, 5.1),
            "threads-1ms": panel(0.97, 1.09),
            "processes": panel(1.99, 110.0),
        }
    }


def lag() -> dict[str, Any]:
    def cell(p50_ms: float, warnings: int) -> dict[str, Any]:
        return {"p50": sp(p50_ms / 1e3), "warnings": sp(warnings)}

    return {
        "params": {"job_s": 0.15},
        "cells": {
            "idle": cell(0.33, 0),
            "inline": cell(591, 16),
            "thread-pure": cell(5.5, 0),
            "thread-releasing": cell(0.29, 0),
            "process": cell(0.32, 0),
        },
    }


def mixed() -> dict[str, Any]:
    slower = {
        "no_io": 1.0,
        "serial": 8.4,
        "batched": 1.5,
        "async": 1.14,
        "uvloop": 1.14,
        "threads": 0.66,
        "py_no_io": 1.0,
        "py_threads": 1.19,
    }
    return {"bcrypt_ms": 13.6, "times_slower": {k: sp(v) for k, v in slower.items()}}


def requests() -> dict[str, Any]:
    def cell(wall: float, p50: float) -> dict[str, Any]:
        return {"wall_s": sp(wall), "request_p50": p50}

    return {
        "params": {"ideal_s": 0.5},
        "engines": {
            e: {"alone": cell(0.55, 0.052), "neighbour": cell(0.8, 0.063)}
            for e in ("threads", "asyncio", "gevent")
        },
    }


def freethreaded() -> dict[str, Any]:
    other = {
        "speedup": speedup(),
        "convoy": {
            "cells": {
                "threads-0": {"rate_per_s": sp(15_000)},
                "threads-1": {"rate_per_s": sp(14_000)},
            }
        },
        "switch": {
            "points": [{"interval_s": 1e-5, "p99": sp(2e-4)}, {"interval_s": 0.1, "p99": sp(3e-4)}]
        },
    }
    other["speedup"]["speedup"]["pure"]["threads"] = sp(1.9)
    return {
        "machines": {
            "this": MACHINE,
            "other": MACHINE | {"free_threaded_build": True, "gil_enabled": False},
        },
        "other": other,
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to a result: ``a.b.c`` (``points.3.p99``: an index in a list) set to ``value``."""

    def change(result: dict[str, Any]) -> None:
        *where, last = path.split(".")
        node: Any = result
        for key in where:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return change


# experiment: (a result where every claim holds, a change that breaks one, the claim it breaks)
CASES: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], str]] = {
    "speedup": (speedup, _set("speedup.pure.threads", sp(1.8)), "threads gain nothing"),
    "convoy": (convoy, _set("cells.threads-1.rate_per_s", sp(9_000)), "several times fewer"),
    "switch": (switch, _set("points.3.p99", sp(0.01)), "waits about a whole interval"),
    "timeline": (timeline, _set("panels.threads.cores_busy", sp(1.8)), "about one core"),
    "lag": (lag, _set("cells.thread-pure.p50", sp(0.4e-3)), "still makes the loop late"),
    "mixed": (mixed, _set("times_slower.uvloop", sp(2.03)), "uvloop makes little difference"),
    "requests": (requests, _set("engines.gevent.neighbour.wall_s", sp(0.56)), "stretches"),
    "freethreaded": (
        freethreaded,
        _set("other.convoy.cells.threads-1.rate_per_s", sp(400)),
        "barely slows",
    ),
}


def _view(result: dict[str, Any], cpus: int = 2) -> dict[str, Any]:
    return result | {
        "machine": MACHINE | {"usable_cpus": cpus, "cpu_count": cpus},
        "skipped": False,
    }


def test_every_experiment_has_a_case_and_a_check() -> None:
    assert set(CASES) == {e.name for e in EXPERIMENTS}
    for exp in EXPERIMENTS:
        assert callable(exp.load().check)


@pytest.mark.parametrize("name", list(CASES))
def test_claims_hold_on_a_result_that_shows_them(name: str) -> None:
    make, _, _ = CASES[name]
    checks = get(name).load().check(_view(make()))
    assert checks and all(isinstance(c, Check) for c in checks)
    assert [c.claim for c in checks if not c.holds] == []
    assert all(c.measured for c in checks)


@pytest.mark.parametrize("name", list(CASES))
def test_a_claim_fails_on_a_result_that_contradicts_it(name: str) -> None:
    make, change, claim = CASES[name]
    result = make()
    change(result)
    failed = [c for c in get(name).load().check(_view(result)) if not c.holds]
    assert len(failed) == 1, failed
    assert claim in failed[0].claim


def test_a_figure_is_never_rounded_onto_the_other_side_of_its_bound() -> None:
    """0.8977 under "under 0.9x" printed as 0.90x read as a ✓ that contradicts itself."""
    from concur.gil.experiments import near

    assert near(0.66, 0.9) == "0.66" and near(1.19, 0.8, 1.5) == "1.19"
    assert near(0.8977, 0.9) == "0.898"
    assert near(1.2996, 1.3) == "1.2996"  # four places before it leaves 1.3
    assert near(1.3004, 1.3) == "1.3004"
    assert near(1.3, 1.3) == "1.30"  # on the bound, shown on it
    assert near(0.7999, 0.8, 1.5) == "0.7999" and near(1.5, 0.8, 1.5) == "1.50"


def test_the_measured_figure_agrees_with_the_mark() -> None:
    result = mixed()
    result["times_slower"]["threads"] = sp(0.897748955459214)  # a real run's
    result["times_slower"]["py_threads"] = sp(1.4996)
    checks = {c.claim: c for c in get("mixed").load().check(_view(result))}
    hashing = next(c for claim, c in checks.items() if "two cores hashing" in claim)
    assert hashing.holds and hashing.measured == "threads 0.898x"
    pure = next(c for claim, c in checks.items() if "pure-Python hash" in claim)
    assert pure.holds and pure.measured == "1.4996x"


@pytest.mark.parametrize("name", list(CASES))
def test_a_skipped_run_claims_nothing(name: str) -> None:
    assert get(name).load().check({"skipped": True, "reason": "no"}) == []


def test_the_issue_s_runs_are_flagged() -> None:
    """Issue 15: "uvloop changes nothing" beside 2.03x against 1.34x; a convoy of 1/11."""
    result = mixed()
    result["times_slower"]["async"] = sp(1.34)
    result["times_slower"]["uvloop"] = sp(2.03)
    uv = next(c for c in get("mixed").load().check(_view(result)) if "uvloop" in c.claim)
    assert not uv.holds and "2.03x" in uv.measured and "1.34x" in uv.measured
    # short hashes (--quick): the text no longer claims that uvloop changes nothing
    result["bcrypt_ms"] = 4.1
    assert not any("uvloop" in c.claim for c in get("mixed").load().check(_view(result)))


def test_claims_follow_the_machine() -> None:
    """With one usable CPU, processes are expected to take turns, not to speed up."""
    result = speedup()
    result["speedup"]["pure"]["processes"] = sp(1.0)
    result["speedup"]["releasing"]["threads"] = sp(1.0)
    result["speedup"]["releasing"]["processes"] = sp(1.0)
    assert all(c.holds for c in get("speedup").load().check(_view(result, cpus=1)))
    two = get("speedup").load().check(_view(result, cpus=2))
    assert sum(not c.holds for c in two) == 2
    other = freethreaded()
    other["machines"]["other"] = MACHINE  # it has a GIL after all
    other["other"]["speedup"]["speedup"]["pure"]["threads"] = sp(1.0)
    checks = get("freethreaded").load().check(_view(other))
    assert len(checks) == 1 and checks[0].holds and "has a GIL" in checks[0].claim


def test_printed_checks_say_what_held_and_why_not() -> None:
    ok = Check("threads gain nothing (under 1.3x)", "threads 1.04x", True)
    bad = Check("processes run side by side (over 1.3x)", "processes 0.85x", False)
    lines = checked([ok], ["a reason"])
    text = "\n".join(lines)
    assert "In this run" in text and "threads 1.04x" in text and "did not hold" not in text
    assert "a reason" not in text  # reasons only when something did not hold
    text = "\n".join(checked([ok, bad], ["other programs used 0.80 of the 2 usable CPUs"]))
    assert "1 of 2 expectations did not hold in this run" in text
    assert "processes 0.85x" in text and "other programs used 0.80" in text
    text = "\n".join(checked([bad], []))
    assert "Nothing stood out" in text
    assert checked([], ["x"]) == []


def test_caveats_name_what_the_machine_did() -> None:
    quiet = machine.caveats(MACHINE, {"other_cpus": 0.0, "steal_cpus": 0.0})
    assert quiet == []
    busy = machine.caveats(
        MACHINE | {"usable_cpus": 1, "cpu_count": 4, "load_average": [3.0, 2.0, 1.0]},
        {"other_cpus": 0.8, "steal_cpus": 0.2},
        quick=True,
    )
    text = "\n".join(busy)
    for words in (
        "0.80 of the 1 usable",
        "steal",
        "1 of the 4 CPUs",
        "one usable CPU",
        "3.0",
        "--quick",
    ):
        assert words in text, words
    nogil = machine.caveats(MACHINE | {"free_threaded_build": True, "gil_enabled": False}, {"x": 1})
    assert any("free-threaded" in line for line in nogil)
    assert any("could not be measured" in line for line in machine.caveats(MACHINE, {}))


def test_contention_from_two_snapshots() -> None:
    before = {"wall": 10.0, "busy": 1000, "steal": 5, "ours": 300, "tick": 100, "cpus": 2}
    after = {"wall": 12.0, "busy": 1300, "steal": 25, "ours": 500, "tick": 100, "cpus": 2}
    got = machine.contention(before, after)
    assert got["other_cpus"] == pytest.approx(0.5)  # 300 busy ticks, 200 ours, over 2 s
    assert got["steal_cpus"] == pytest.approx(0.1)
    assert got["ours_cpus"] == pytest.approx(1.0)
    assert machine.contention(None, after) == {}
    snap = machine.cpu_snapshot()
    if snap is not None:  # Linux: this very process is in its own tree
        assert snap["cpus"] >= 1 and snap["ours"] >= 0


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.parametrize("name", ["mixed", "convoy"])
def test_the_lab_prints_and_saves_the_checks(
    name: str, broken: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run_one with a hand-made result in place of a measurement."""
    make, change, claim = CASES[name]
    result = make() | {"params": {"job_s": 0.15, "workers": 10, "ideal_s": 0.5}, "skipped": False}
    if broken:
        change(result)
    module = get(name).load()
    monkeypatch.setattr(module, "run", lambda lab: copy.deepcopy(result))
    monkeypatch.setattr(module, "summary", lambda view: ["(summary)"])
    monkeypatch.setattr(module, "figures", lambda view, out: [])
    monkeypatch.setattr(lab_module, "_marks", lambda: ("✓", "✗"))
    lines: list[str] = []
    with Lab(out=tmp_path, quick=True) as lab:
        doc = run_one(lab, name, echo=lines.append)
    text = "\n".join(lines)
    assert "What you should see, and why" in text and "In this run:" in text
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["checks"] == doc["checks"] and saved["checks"]
    assert {"claim", "measured", "holds"} <= set(saved["checks"][0])
    assert "--quick" in " ".join(saved["caveats"])
    if broken:
        assert "✗" in text and "did not hold in this run" in text
        assert "That can happen here because" in text and "--quick" in text
        assert [c["holds"] for c in saved["checks"]].count(False) == 1
        assert claim in next(c["claim"] for c in saved["checks"] if not c["holds"])
    else:
        assert "✗" not in text and "did not hold" not in text and "✓" in text
