"""The lab bench: shared fixtures for the experiments, and the loop that runs them.

A :class:`Lab` holds what several experiments share and what must be cleaned up:
the mock server (in a subprocess, so it never waits for our GIL), the echo peer,
warmed process pools and calibrated work sizes.  :func:`run_experiments` runs
experiments by name, saves each result and its figures, and prints what it found: the
summary, the "what you should see" text, and that text's expectations checked against
the run (:func:`checked`), with what on this machine can explain one that did not hold.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from concur.gil import results, workloads
from concur.gil.experiments import EXPERIMENTS, Check, get
from concur.gil.machine import caveats, contention, cpu_snapshot, describe, machine_info
from concur.lifetime import tied

Printer = Callable[[str], None]


class Lab:
    """Fixtures shared by experiments; use as a context manager."""

    def __init__(
        self,
        *,
        quick: bool = False,
        out: Path | None = None,
        python: str | None = None,
        server_url: str | None = None,
        echo_address: tuple[str, int] | None = None,
        command: str | None = None,
    ) -> None:
        self.quick = quick
        self.command = command
        self.out = out
        self.python = python
        self._server_url = server_url
        self._echo = echo_address
        self._stack = contextlib.ExitStack()
        self._pools: dict[int, ProcessPoolExecutor] = {}
        self._sizes: dict[tuple[str, float], int] = {}
        self._mp: BaseContext | None = None
        self.results: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
        self._stack.close()

    def pick(self, quick: Any, full: Any) -> Any:
        """``quick`` under ``--quick``, else ``full``."""
        return quick if self.quick else full

    def server_url(self) -> str:
        """The mock server's base URL (started in a subprocess on first use)."""
        if self._server_url is None:
            from mockserver.testing import serve

            server = self._stack.enter_context(serve(mode="subprocess", seed=0))
            self._server_url = server.url
        return self._server_url

    def echo(self) -> tuple[str, int]:
        """The echo peer's address (started in a subprocess on first use)."""
        if self._echo is None:
            self._echo = self._stack.enter_context(workloads.echo_peer())
        return self._echo

    def mp(self) -> BaseContext:
        if self._mp is None:
            self._mp = workloads.mp_context()
        return self._mp

    def pool(self, workers: int) -> ProcessPoolExecutor:
        """A process pool of ``workers`` whose processes are all started before any timing."""
        pool = self._pools.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=self.mp())
            list(pool.map(workloads.nap, [0.1] * workers))
            self._pools[workers] = pool
        return pool

    def size(self, name: str, fn: Callable[[int], object], target_s: float) -> int:
        """The work size ``n`` for which ``fn(n)`` takes ``target_s`` here (cached by name)."""
        key = (name, target_s)
        if key not in self._sizes:
            self._sizes[key] = workloads.calibrate(fn, target_s)
        return self._sizes[key]


# --- running experiments in a fresh interpreter ----------------------------------------


def _import_roots() -> list[str]:
    """The directories that hold the ``concur`` and ``mockserver`` packages."""
    roots = []
    for name in ("concur", "mockserver"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.append(str(Path(next(iter(spec.submodule_search_locations))).parent))
    return roots


def run_child(
    job: dict[str, Any], python: str | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Run ``python -m concur.gil.child JOB`` and return the JSON it prints last.

    A fresh interpreter keeps what must not leak out of it (gevent's monkey-patching, a
    pinned CPU affinity) and lets another Python build (``--python``) run the same code:
    ``PYTHONPATH`` points it at this concur.
    """
    env = dict(os.environ)
    paths = _import_roots() + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    try:
        proc = subprocess.run(
            [python or sys.executable, "-m", "concur.gil.child", json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            **tied(),
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{job['kind']} did not finish within {timeout:g} s") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{job['kind']} in {python or sys.executable} failed: {tail}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


# --- the loop -------------------------------------------------------------------------


def run_one(lab: Lab, name: str, echo: Printer = print) -> dict[str, Any]:
    """Run one experiment, save its JSON and figures (when ``lab.out`` is set), print it."""
    exp = get(name)
    module = exp.load()
    echo(f"\n== {exp.number}. {exp.name}: {exp.title}")
    before = cpu_snapshot()
    t0 = time.perf_counter()
    data = module.run(lab)
    seconds = time.perf_counter() - t0
    doc = results.document(exp.number, exp.name, exp.title, data, seconds, command=lab.command)
    lab.results[exp.name] = doc
    written: list[Path] = []
    view = {**doc["result"], "params": doc["params"], "machine": doc["machine"]}
    checks = module.check(view)
    doc["contention"] = contention(before, cpu_snapshot())
    doc["checks"] = [c.to_dict() for c in checks]
    doc["caveats"] = caveats(doc["machine"], doc["contention"], lab.quick)
    if lab.out is not None:
        if not doc["result"].get("skipped"):
            figures = module.figures(view, lab.out)
            doc["figures"] = [p.name for p in figures]
            written += figures
        written.insert(0, results.write(doc, lab.out))
    for line in module.summary(view):
        echo(f"  {line}")
    echo("")
    echo(textwrap.fill(module.EXPLAIN, width=92, initial_indent="  ", subsequent_indent="  "))
    for line in checked(checks, doc["caveats"]):
        echo(line)
    took = f"{doc['seconds']:.1f} s"
    if written:
        echo(f"  wrote {', '.join(str(p) for p in written)}  ({took})")
    else:
        echo(f"  ({took})")
    return doc


def _marks() -> tuple[str, str]:
    """✓ and ✗, or ``ok`` and ``NO`` where the terminal's encoding has no such characters."""
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ok", "NO"
    return "✓", "✗"


def checked(checks: Sequence[Check], why: Sequence[str]) -> list[str]:
    """The lines that print an experiment's checks: each expectation with ✓ or ✗ and the
    figure measured; then, if one did not hold, what on this machine can explain it."""
    if not checks:
        return []
    yes, no = _marks()
    lines = ["", "  In this run:"]
    for c in checks:
        lines += textwrap.wrap(
            f"{yes if c.holds else no} {c.claim}: {c.measured}",
            width=92,
            initial_indent="    ",
            subsequent_indent="      ",
        )
    failed = sum(not c.holds for c in checks)
    if not failed:
        return lines
    lines.append(
        f"  {failed} of {len(checks)} expectation{'s' if len(checks) != 1 else ''} did not "
        "hold in this run."
    )
    if why:
        lines.append("  That can happen here because:")
        for reason in why:
            lines += textwrap.wrap(
                reason, width=92, initial_indent="    - ", subsequent_indent="      "
            )
    else:
        lines += textwrap.wrap(
            "Nothing stood out on this machine (no other load seen, every CPU usable, a GIL "
            "build, a full run): run it again; if it still does not hold, the text may be "
            "wrong for this machine, and that is worth reporting.",
            width=92,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    return lines


def redraw(json_path: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw an experiment's figures again from its saved JSON alone (no measuring)."""
    doc = results.load(json_path)
    if doc["result"].get("skipped"):
        return []
    view = {**doc["result"], "params": doc["params"], "machine": doc["machine"]}
    figures: list[Path] = get(doc["experiment"]).load().figures(view, out_dir or json_path.parent)
    return figures


def run_experiments(
    lab: Lab, names: Sequence[str] = (), echo: Printer = print
) -> list[dict[str, Any]]:
    """Run the named experiments (all, in reading order, when none is named)."""
    chosen = [get(n).name for n in names] or [e.name for e in EXPERIMENTS]
    echo(f"concur gil: {describe(machine_info())}")
    return [run_one(lab, name, echo) for name in chosen]
