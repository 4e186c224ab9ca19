"""What a result was measured on: the interpreter, its GIL, the scheduler's view of the CPUs.

GIL results mean little without this: the switch interval sets the size of the
convoy effect, the number of usable cores caps what processes can gain, and a
free-threaded build changes the picture altogether.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from importlib import metadata
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
