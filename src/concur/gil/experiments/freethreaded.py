"""Experiment 8, free-threaded Python: experiments 1-3 again on another interpreter.

``--python PATH`` names another interpreter — meant for a free-threaded build
(python3.13t, python3.14t) — which reruns the speed-up matrix, the convoy effect and
the switch-interval sweep with this concur on its ``PYTHONPATH``, against the same mock
server and echo peer.  Its workloads are standard library only (gevent and bcrypt
are optional there).  Without ``--python`` the experiment says so and is skipped.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil.experiments import Check, near
from concur.gil.machine import describe, free_threaded_build, machine_info

if TYPE_CHECKING:
    from concur.gil.lab import Lab

RERUN = ("speedup", "convoy", "switch")

EXPLAIN = (
    "What you should see, and why: on a free-threaded build with the GIL off there is no GIL "
    "to take turns on, so pure-Python threads speed up like processes (on two or more "
    "cores), an I/O thread's round trips barely notice a CPU-bound neighbour, and its p99 "
    "latency no longer follows the switch interval.  If the other interpreter has a GIL "
    "after all (an ordinary build, or an extension module that turned it back on: the "
    "machine info records whether it was on at the end), it shows the GIL's effects like "
    "this one: pure-Python threads stay at about 1x there too.  Free-threaded builds pay "
    "for all this with somewhat slower single-threaded code, which this experiment does not "
    "measure."
)


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    machine = result["machines"]["other"]
    other = result["other"]
    threads = float(other["speedup"]["speedup"]["pure"]["threads"]["median"])
    if machine["gil_enabled"]:
        return [
            Check(
                "the other interpreter has a GIL: pure-Python threads stay at about 1x there "
                "(under 1.3x)",
                f"threads {near(threads, 1.3)}x there",
                threads < 1.3,
            )
        ]
    cells = other["convoy"]["cells"]
    alone, beside = cells["threads-0"]["rate_per_s"]["median"], cells["threads-1"]
    kept = beside["rate_per_s"]["median"] / alone if alone else 0.0
    longest = max(other["switch"]["points"], key=lambda pt: pt["interval_s"])
    p99 = longest["p99"]["median"]
    checks = []
    if int(machine.get("usable_cpus") or 1) >= 2:
        checks.append(
            Check(
                "with the GIL off, pure-Python threads speed up (over 1.3x)",
                f"threads {near(threads, 1.3)}x there",
                threads > 1.3,
            )
        )
    checks += [
        Check(
            "with the GIL off, a CPU thread barely slows the I/O thread (at least half the "
            "round trips of alone)",
            f"{near(kept, 0.5)} of alone there",
            kept >= 0.5,
        ),
        Check(
            "with the GIL off, p99 no longer follows the switch interval (at "
            f"{longest['interval_s'] * 1e3:g} ms, under a tenth of it)",
            f"p99 {p99 * 1e3:.2f} ms there",
            p99 < longest["interval_s"] / 10,
        ),
    ]
    return checks


def rerun_here(job: dict[str, Any]) -> dict[str, Any]:
    """(In the other interpreter.)  Run the experiments against the given server and peer."""
    from concur.gil.experiments import get
    from concur.gil.lab import Lab

    echo = (job["echo"][0], int(job["echo"][1]))
    with Lab(quick=job["quick"], server_url=job["server"], echo_address=echo) as lab:
        results = {name: get(name).load().run(lab) for name in job["experiments"]}
    return {"machine": machine_info(), "results": results}


def _skip(p: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"params": p, "skipped": True, "reason": reason}


def run(lab: Lab) -> dict[str, Any]:
    from concur.gil.experiments import get
    from concur.gil.lab import run_child

    p: dict[str, Any] = {"python": lab.python, "experiments": list(RERUN), "quick": lab.quick}
    if not lab.python:
        reason = (
            "no --python given; pass --python PATH to a free-threaded build "
            "(python3.13t or python3.14t) to rerun experiments 1-3 there"
        )
        if free_threaded_build():
            reason += " (this interpreter is free-threaded itself: experiments 1-3 show it)"
        return _skip(p, reason)
    try:
        other = run_child({"kind": "probe"}, python=lab.python, timeout=120)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return _skip(p, f"{lab.python} cannot run this concur: {exc}")
    here: dict[str, Any] = {}
    for name in RERUN:
        doc = lab.results.get(name)
        here[name] = (
            {**doc["result"], "params": doc["params"]} if doc else get(name).load().run(lab)
        )
    job = {
        "kind": "rerun",
        "experiments": list(RERUN),
        "quick": lab.quick,
        "server": lab.server_url(),
        "echo": list(lab.echo()),
    }
    there = run_child(job, python=lab.python, timeout=1800)
    return {
        "params": p,
        "machines": {"this": machine_info(), "other": there["machine"], "other_probe": other},
        "this": here,
        "other": there["results"],
        "skipped": False,
    }


def _headline(result: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A few numbers from each side, as (this, other)."""

    def pick(side: dict[str, Any]) -> list[float]:
        sp, cv, sw = side["speedup"], side["convoy"], side["switch"]
        base = cv["cells"]["threads-0"]["rate_per_s"]["median"]
        at5 = min(sw["points"], key=lambda pt: abs(pt["interval_s"] - 0.005))
        return [
            sp["speedup"]["pure"]["threads"]["median"],
            sp["speedup"]["pure"]["processes"]["median"],
            sp["speedup"]["releasing"]["threads"]["median"],
            sp["speedup"]["io"]["threads"]["median"],
            cv["cells"]["threads-1"]["rate_per_s"]["median"] / base if base else math.nan,
            at5["p99"]["median"] * 1e3,
        ]

    names = [
        "threads speed-up, pure-Python CPU",
        "processes speed-up, pure-Python CPU",
        "threads speed-up, GIL-releasing CPU",
        "threads speed-up, I/O",
        "convoy: round trips, 1 CPU thread / none",
        "switch: I/O p99 (ms) at a 5 ms interval",
    ]
    return dict(
        zip(names, zip(pick(result["this"]), pick(result["other"]), strict=True), strict=True)
    )


def summary(result: dict[str, Any]) -> list[str]:
    if result.get("skipped"):
        return [f"skipped: {result['reason']}"]
    this, other = result["machines"]["this"], result["machines"]["other"]
    lines = [f"this:  {describe(this)}", f"other: {describe(other)}  [{other['executable']}]"]
    if not other["free_threaded_build"]:
        lines.append(
            "note: the other interpreter is not a free-threaded build; both sides have a GIL"
        )
    elif other["gil_enabled"]:
        lines.append("note: the GIL was re-enabled there (an extension module asked for it)")
    lines.append(f"{'':<44}{'this':>10}{'other':>10}")
    for name, (a, b) in _headline(result).items():
        lines.append(f"{name:<44}{a:>10.3g}{b:>10.3g}")
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.side_by_side(result, out_dir / "freethreaded.png")]
