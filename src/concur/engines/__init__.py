"""The engines: one crawl, written in each concurrency model, behind one contract.

Reading order, from the simplest model to the fastest:

========== =================================================== ==========================
name       model                                               module
========== =================================================== ==========================
serial     one request after another                           ``serial``
threads    a thread pool; the OS switches, the GIL serialises  ``threads``
processes  a process pool: no shared GIL, but IPC per URL      ``processes``
gevent     green threads, monkey-patched blocking sockets      ``gevent_engine``
tornado    Tornado coroutines on its IOLoop                     ``tornado_engine``
asyncio    asyncio tasks with aiohttp                          ``asyncio_engine``
uvloop     the asyncio engine on uvloop's loop (configuration) ``asyncio_engine``
httpx      asyncio tasks with httpx.AsyncClient                ``httpx_engine``
========== =================================================== ==========================

Every engine is a function ``run(urls, config, on_record=None) -> CrawlResult``:
synchronous from the outside, whatever it does inside.  The registry imports an
engine's module only when that engine is asked for, so a missing optional dependency
affects only that engine and is reported with the command that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from concur.records import CrawlResult

Runner = Callable[..., CrawlResult]
"""``run(urls, config, on_record=None) -> CrawlResult``; ``on_record`` sees each finished record."""


@dataclass(frozen=True, slots=True)
class EngineSpec:
    name: str
    module: str
    function: str
    needs: tuple[str, ...]  # importable modules the engine requires
    extra: str  # the pip extra that installs them ("" when the core has them)
    model: str
    concurrent: bool = True


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            "serial", "concur.engines.serial", "run", ("requests",), "", "one at a time", False
        ),
        EngineSpec("threads", "concur.engines.threads", "run", ("requests",), "", "thread pool"),
        EngineSpec(
            "processes", "concur.engines.processes", "run", ("requests",), "", "process pool"
        ),
        EngineSpec(
            "gevent", "concur.engines.gevent_engine", "run", ("gevent",), "gevent", "green threads"
        ),
        EngineSpec(
            "tornado",
            "concur.engines.tornado_engine",
            "run",
            ("tornado",),
            "tornado",
            "Tornado IOLoop",
        ),
        EngineSpec(
            "asyncio", "concur.engines.asyncio_engine", "run", ("aiohttp",), "", "asyncio + aiohttp"
        ),
        EngineSpec(
            "uvloop",
            "concur.engines.asyncio_engine",
            "run_uvloop",
            ("aiohttp", "uvloop"),
            "",
            "uvloop + aiohttp",
        ),
        EngineSpec(
            "httpx", "concur.engines.httpx_engine", "run", ("httpx",), "httpx", "asyncio + httpx"
        ),
    )
}


class EngineUnavailable(RuntimeError):
    """An engine whose optional dependency is not installed; the message says how to fix it."""


def install_hint(spec: EngineSpec) -> str:
    target = f"concur[{spec.extra}]" if spec.extra else "concur"
    return f"pip install '{target}'"


def missing(name: str) -> list[str]:
    """The modules engine ``name`` needs that are not installed."""
    return [m for m in ENGINES[name].needs if importlib.util.find_spec(m) is None]


def available_engines() -> list[str]:
    """Names of the engines whose dependencies are installed, in reading order."""
    return [name for name in ENGINES if not missing(name)]


def get_engine(name: str) -> Runner:
    """The ``run(urls, config)`` function of engine ``name`` (imported now, not before)."""
    spec = ENGINES.get(name)
    if spec is None:
        raise KeyError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    lacking = missing(name)
    if lacking:
        raise EngineUnavailable(f"engine {name!r} needs {', '.join(lacking)}: {install_hint(spec)}")
    module = importlib.import_module(spec.module)
    runner: Runner = getattr(module, spec.function)
    return runner
