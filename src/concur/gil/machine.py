"""What a result was measured on: the interpreter, its GIL, the scheduler's view of the CPUs.

GIL results mean little without this: the switch interval sets the size of the
convoy effect, the number of usable cores caps what processes can gain, and a
free-threaded build changes the picture altogether.  And on a shared machine, other
programs take cores while an experiment runs: :func:`cpu_snapshot` and
:func:`contention` measure how much (from ``/proc`` on Linux), and :func:`caveats` turns
that and the rest into the reasons a run may not show what the lab's text expects.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("concur", "aiohttp", "bcrypt", "gevent", "matplotlib", "uvloop")


def free_threaded_build() -> bool:
    """True for a CPython built with ``--disable-gil`` (3.13t, 3.14t)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Whether the GIL is on now (a free-threaded build re-enables it for some C extensions)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Python version and build, GIL state, switch interval, cores, affinity, load, libraries."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "executable": sys.executable,
        "free_threaded_build": free_threaded_build(),
        "gil_enabled": gil_enabled(),
        "switch_interval_s": sys.getswitchinterval(),
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "usable_cpus": usable_cpus(),
        "platform": platform.platform(),
        # Other work on a shared machine moves GIL results: the 1, 5 and 15 minute load.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def describe(info: dict[str, Any]) -> str:
    """One line for the terminal: ``CPython 3.11.7 (GIL), switch interval 5 ms, 2 CPUs``."""
    if info["free_threaded_build"]:
        gil = "free-threaded, GIL " + ("re-enabled" if info["gil_enabled"] else "off")
    else:
        gil = "with the GIL"
    cpus = info["usable_cpus"]
    return (
        f"{info['implementation']} {info['python']} ({gil}), switch interval "
        f"{info['switch_interval_s'] * 1e3:g} ms, {cpus} usable CPU{'s' if cpus != 1 else ''}"
        f" of {info['cpu_count']}"
    )


# --- who else used the CPUs while an experiment ran (Linux) -------------------------------

PROC = Path("/proc")


def _cpu_jiffies(cpus: set[int]) -> tuple[int, int] | None:
    """Busy and steal clock ticks so far, summed over ``cpus``, from ``/proc/stat``."""
    try:
        lines = (PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    busy = steal = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        f = [int(v) for v in rest.split()[:8]]
        busy += f[0] + f[1] + f[2] + f[5] + f[6]
        steal += f[7] if len(f) > 7 else 0
    return busy, steal


def _tree_jiffies(root: int) -> int:
    """CPU ticks used so far by ``root`` and every descendant (the lab's server, peers, pools,
    children), with the children they have already reaped, from ``/proc/PID/stat``."""
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # it ended meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    tree, todo = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return sum(used.get(pid, 0) for pid in tree)


def cpu_snapshot() -> dict[str, Any] | None:
    """Where the usable CPUs' time has gone so far: all busy time, the hypervisor's steal,
    and this process tree's share.  None where ``/proc`` cannot tell (not Linux)."""
    if not hasattr(os, "sched_getaffinity") or not (PROC / "stat").exists():
        return None
    cpus = os.sched_getaffinity(0)
    system = _cpu_jiffies(cpus)
    if system is None:
        return None
    return {
        "wall": time.perf_counter(),
        "busy": system[0],
        "steal": system[1],
        "ours": _tree_jiffies(os.getpid()),
        "tick": os.sysconf("SC_CLK_TCK"),
        "cpus": len(cpus),
    }


def contention(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """CPUs' worth of time that others took between two snapshots, on average.

    ``other_cpus``: busy time on our CPUs that was not this process tree's (other programs,
    and the kernel's work nobody is billed for); ``steal_cpus``: time the hypervisor gave
    to other machines.  Empty where the snapshots are missing.
    """
    if before is None or after is None:
        return {}
    wall = after["wall"] - before["wall"]
    if wall <= 0:
        return {}
    tick = float(after["tick"])
    others = (after["busy"] - before["busy"]) - (after["ours"] - before["ours"])
    return {
        "seconds": round(wall, 3),
        "usable_cpus": after["cpus"],
        "other_cpus": round(max(0.0, others / tick / wall), 3),
        "steal_cpus": round(max(0.0, (after["steal"] - before["steal"]) / tick / wall), 3),
        "ours_cpus": round((after["ours"] - before["ours"]) / tick / wall, 3),
    }


def caveats(
    machine: dict[str, Any], during: dict[str, Any] | None = None, quick: bool = False
) -> list[str]:
    """What, on this machine and in this run, can keep an experiment from showing what its
    text expects: each a sentence with the figure behind it."""
    out = []
    usable = int(machine.get("usable_cpus") or 1)
    during = during or {}
    others, steal = during.get("other_cpus", 0.0), during.get("steal_cpus", 0.0)
    if not during:
        out.append("other programs' use of the CPUs could not be measured here (no /proc)")
    if others >= 0.25:
        out.append(
            f"other programs used {others:.2f} of the {usable} usable CPUs on average while "
            "it ran (/proc/stat): a shared or noisy machine"
        )
    if steal >= 0.05:
        out.append(
            f"the hypervisor took {steal:.2f} CPUs' worth of time (steal): a virtual machine "
            "losing part of its cores"
        )
    total = machine.get("cpu_count")
    if total and usable < total:
        out.append(f"this process may run on only {usable} of the {total} CPUs (its affinity)")
    if usable < 2:
        out.append("only one usable CPU: nothing can run side by side")
    load = (machine.get("load_average") or [None])[0]
    if load is not None and load > usable:
        out.append(
            f"the load average was {load:.1f} on {usable} usable CPUs (it counts the lab's "
            "own threads and processes too)"
        )
    if machine.get("free_threaded_build") and not machine.get("gil_enabled", True):
        out.append("a free-threaded build with the GIL off: the GIL's effects are not expected")
    if quick:
        out.append(
            "--quick: runs too short and tasks too small to measure some effects (fixed "
            "costs weigh more)"
        )
    return out
