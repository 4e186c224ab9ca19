"""Start worker processes on this machine for a shared crawl, and wait for them.

Each worker is ``python -m concur worker`` — the very command a user runs on another
machine — started tied to this process (it dies if this one does:
:func:`concur.lifetime.tied`), so ``--workers 4`` on one machine and four machines
running one worker each are the same crawl, checked by the same tests.  A worker
prints its own summary as JSON on its last line; :func:`run_workers` collects them.

The CPU the workers used is read from ``RUSAGE_CHILDREN`` once they have been waited
for, so it includes their whole lives (a gevent worker's patched child too).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from concur.cluster.frontier import FrontierSpec
from concur.lifetime import tied

__all__ = ["Workers", "run_workers", "worker_argv"]


def worker_argv(
    spec: FrontierSpec, impl: str, concurrency: int | None, options: Sequence[tuple[str, Any]] = ()
) -> list[str]:
    """The command line of one worker of ``spec``'s crawl."""
    argv = [sys.executable, "-m", "concur", "worker", "--frontier", spec.url]
    argv += ["--name", spec.name, "--lease", f"{spec.lease:g}", "--impl", impl, "--json"]
    if concurrency is not None:
        argv += ["-c", str(concurrency)]
    for name, value in options:
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


@dataclass
class Workers:
    """What the workers of one run did: their summaries, exit statuses and CPU."""

    summaries: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)  # last stderr line of a failed one
    cpu_s: float = 0.0  # user + system of the workers, their children included
    wall_s: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for s in self.statuses if s != 0)


def run_workers(argvs: Sequence[list[str]], *, poll: Callable[[], None] | None = None) -> Workers:
    """Run one worker per command line at once; wait for all (``poll`` every half second)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = Workers()
    with ExitStack() as files:
        errs = [files.enter_context(tempfile.TemporaryFile()) for _ in argvs]
        procs = [
            subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, **tied()
            )
            for argv, err in zip(argvs, errs, strict=True)
        ]
        try:
            ticks = 0
            while any(p.poll() is None for p in procs):
                ticks += 1
                if poll is not None and ticks % 5 == 0:
                    poll()
                time.sleep(0.1)
        finally:  # stopped (Ctrl-C): each worker hands in what it finished, then goes
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        for p, err in zip(procs, errs, strict=True):
            stdout, _ = p.communicate()
            out.statuses.append(p.returncode)
            lines = stdout.decode(errors="replace").strip().splitlines()
            try:
                out.summaries.append(json.loads(lines[-1]) if lines else {})
            except json.JSONDecodeError:
                out.summaries.append({})
            if p.returncode != 0:
                err.seek(0)
                said = err.read().decode(errors="replace").strip().splitlines()
                out.complaints.append(said[-1] if said else f"exit status {p.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out.wall_s = time.perf_counter() - t0
    return out
