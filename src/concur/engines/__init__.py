"""The engines: one crawler, written in each concurrency model, behind one seam.

Reading order, from the simplest model to the fastest:

========== =================================================== ========================
name       model                                               fetcher module
========== =================================================== ========================
serial     one request after another                           ``serial``
threads    a thread pool; the OS switches, the GIL serialises  ``threads``
processes  a process pool: no shared GIL, but IPC per URL      ``processes``
gevent     green threads, monkey-patched blocking sockets      ``gevent_engine``
tornado    Tornado coroutines on its IOLoop                    ``tornado_engine``
asyncio    asyncio tasks with aiohttp                          ``asyncio_engine``
uvloop     the asyncio engine on uvloop's loop (an option)     ``asyncio_engine``
protocol   asyncio Protocols and httptools, no client library  ``protocol_engine``
httpx      asyncio tasks with httpx.AsyncClient                ``httpx_engine``
========== =================================================== ========================

The seam has two sides.  An engine module supplies a **fetcher**: open a client for a
:class:`~concur.records.CrawlConfig`, ``fetch(url) -> Attempt``, close — the only part
that differs between HTTP libraries.  A **driver** supplies the concurrency model and
is written once per model, not once per engine: async (:mod:`.drive_async`: asyncio,
uvloop, httpx, tornado), blocking threads (:mod:`.drive_threads`: serial, threads, and
gevent inside its patched child process) and worker processes (:mod:`.drive_children`:
processes).  Every driver runs either
job (:mod:`.jobs`): a list of URLs, or a crawl.  An :class:`EngineSpec` names the
three — fetcher module, driver, options — as data; uvloop is the asyncio spec with the
option ``loop="uvloop"``, and Tornado's client or httpx's transport are options too.

The registry imports an engine's module only when that engine is asked for, so a
missing optional dependency affects only that engine and is reported
(:class:`~concur.errors.EngineUnavailable`) with the command that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from concur.errors import EngineUnavailable, SpecError
from concur.jobs import OnRecord
from concur.records import CrawlConfig, CrawlResult

if TYPE_CHECKING:
    from concur.crawl.hook import OnPage
    from concur.crawl.plan import CrawlPlan
    from concur.jobs import JobSpec, Work

__all__ = [
    "ENGINES",
    "Engine",
    "EngineSpec",
    "EngineUnavailable",
    "available_engines",
    "get_engine",
    "install_hint",
    "missing",
]


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """An engine as data: which fetcher, which driver, which options, what it needs."""

    name: str
    model: str
    module: str  # the module whose ``Fetcher`` (and ``children``, for that driver) it uses
    driver: str  # "async", "threads", "children" (worker processes) or "child" (gevent)
    needs: tuple[str, ...]  # importable modules the engine requires
    extra: str  # the pip extra that installs them ("" when the core has them)
    options: dict[str, Any] = field(default_factory=dict)  # fixed (uvloop: loop="uvloop")
    choices: dict[str, tuple[Any, ...] | type] = field(default_factory=dict)  # user options
    option_needs: dict[tuple[str, Any], tuple[str, str]] = field(default_factory=dict)
    concurrent: bool = True  # serial: one request at a time, whatever the config says


_LOOPS = ("asyncio", "uvloop")
_TORNADO_CLIENTS = ("curl", "simple")
_HTTPX_TRANSPORTS = ("concur", "per-worker", "pool")

ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            "serial", "one at a time", "concur.engines.serial", "threads", ("requests",), "",
            concurrent=False,
        ),
        EngineSpec(
            "threads", "thread pool", "concur.engines.threads", "threads", ("requests",), "",
        ),
        EngineSpec(
            "processes", "process pool", "concur.engines.processes", "children", ("requests",), "",
            choices={"processes": int},
        ),
        EngineSpec(
            "gevent", "green threads", "concur.engines.gevent_engine", "child", ("gevent",),
            "gevent",
        ),
        EngineSpec(
            "tornado", "Tornado IOLoop", "concur.engines.tornado_engine", "async", ("tornado",),
            "tornado",
            choices={"client": _TORNADO_CLIENTS},
            option_needs={("client", "curl"): ("pycurl", "curl")},
        ),
        EngineSpec(
            "asyncio", "asyncio + aiohttp", "concur.engines.asyncio_engine", "async", ("aiohttp",),
            "", choices={"loop": _LOOPS}, option_needs={("loop", "uvloop"): ("uvloop", "")},
        ),
        EngineSpec(
            "uvloop", "uvloop + aiohttp", "concur.engines.asyncio_engine", "async",
            ("aiohttp", "uvloop"), "", options={"loop": "uvloop"},
        ),
        EngineSpec(
            "protocol", "Protocols + httptools", "concur.engines.protocol_engine",
            "async", ("httptools",), "", options={"loop": "uvloop"}, choices={"loop": _LOOPS},
            option_needs={("loop", "uvloop"): ("uvloop", "")},
        ),
        EngineSpec(
            "httpx", "asyncio + httpx", "concur.engines.httpx_engine", "async", ("httpx",),
            "httpx", choices={"transport": _HTTPX_TRANSPORTS},
        ),
    )
}  # fmt: skip


def install_hint(spec: EngineSpec | str) -> str:
    """The pip command that installs what engine ``spec`` needs."""
    extra = spec if isinstance(spec, str) else spec.extra
    return f"pip install '{f'concur[{extra}]' if extra else 'concur'}'"


def _lacking(modules: Sequence[str]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def missing(name: str) -> list[str]:
    """The modules engine ``name`` needs that are not installed."""
    return _lacking(ENGINES[name].needs)


def available_engines() -> list[str]:
    """Names of the engines whose dependencies are installed, in reading order."""
    return [name for name in ENGINES if not missing(name)]


class Engine:
    """An engine with its options, ready to run either job; synchronous from the outside.

    ``engine(urls, config)`` (or :meth:`fetch`) fetches a URL list, :meth:`crawl` follows
    links from a :class:`~concur.crawl.plan.CrawlPlan`; both return a
    :class:`~concur.records.CrawlResult`, and ``on_record`` sees each record as it is done.
    """

    def __init__(self, spec: EngineSpec, options: dict[str, Any]) -> None:
        self.spec = spec
        self.name = spec.name
        self.options = {**spec.options, **options}

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Engine({self.name!r}{opts})"

    def __call__(
        self, urls: Sequence[str], config: CrawlConfig | None = None, on_record: OnRecord = None
    ) -> CrawlResult:
        return self.fetch(urls, config, on_record)

    def fetch(
        self, urls: Sequence[str], config: CrawlConfig | None = None, on_record: OnRecord = None
    ) -> CrawlResult:
        """Fetch every URL of ``urls`` (as given): one record per input URL, in order."""
        return self.run(("list", list(urls)), config or CrawlConfig(), on_record)

    def crawl(
        self,
        plan: CrawlPlan,
        config: CrawlConfig | None = None,
        on_record: OnRecord = None,
        on_page: OnPage = None,
    ) -> CrawlResult:
        """Crawl ``plan``: robots.txt, politeness, scope, links; one record per admitted URL.

        ``on_page`` runs on every answered page (:mod:`concur.crawl.hook`)."""
        return self.run(("crawl", plan), config or CrawlConfig(), on_record, on_page)

    def run(
        self,
        job: JobSpec,
        config: CrawlConfig,
        on_record: OnRecord = None,
        on_page: OnPage = None,
    ) -> CrawlResult:
        """Run ``job`` — ``("list", urls)``, ``("crawl", plan)`` or ``("cluster", frontier)``
        — on this engine's driver."""
        from concur.collector import paced, threshold_for

        with paced(threshold_for(config.concurrency)):  # see concur.collector
            return self._run(job, config, on_record, on_page)

    def _run(
        self, job: JobSpec, config: CrawlConfig, on_record: OnRecord, on_page: OnPage
    ) -> CrawlResult:
        spec = self.spec
        module = importlib.import_module(spec.module)
        options = dict(self.options)
        if spec.driver == "child":  # the job itself runs in a child process (gevent)
            if on_page is not None:
                raise SpecError(
                    f"{spec.name} crawls in a child process of its own: a page hook cannot "
                    "run there (every other engine takes one)"
                )
            result: CrawlResult = module.run(spec.name, job, config, on_record, **options)
            return result
        from concur.jobs import make_job

        work = make_job(job, config, on_record, on_page)
        try:
            return self._drive(module, options, work, config)
        finally:
            work.close()

    def _drive(
        self, module: Any, options: dict[str, Any], work: Work, config: CrawlConfig
    ) -> CrawlResult:
        spec = self.spec
        if spec.driver == "async":
            from concur.engines.drive_async import run_async

            loop = options.pop("loop", "asyncio")
            factory = None
            if loop == "uvloop":
                import uvloop

                factory = uvloop.new_event_loop
            return run_async(spec.name, module.Fetcher, options, work, config, factory)
        if spec.driver == "threads":
            from concur.engines.drive_threads import run_threads

            workers = None if spec.concurrent else 1
            return run_threads(spec.name, module.Fetcher, options, work, config, workers)
        from concur.engines.drive_children import run_children

        def start() -> Any:  # (children, reaper, extra): forked once the job is ready
            workers = work.workers(config.concurrency)
            return module.children(config, work.keep_body, workers, **options)

        return run_children(spec.name, start, work, config)


def get_engine(name: str, **options: Any) -> Engine:
    """Engine ``name`` with ``options`` (its module is imported when it first runs).

    Raises ``KeyError`` for an unknown name, :class:`~concur.errors.SpecError` for an
    option the engine does not have or a value it does not take, and
    :class:`~concur.errors.EngineUnavailable` (with the pip line) when a library is missing.
    """
    spec = ENGINES.get(name)
    if spec is None:
        raise KeyError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    for key, value in options.items():
        allowed = spec.choices.get(key)
        if allowed is None:
            have = ", ".join(spec.choices) or "none"
            raise SpecError(f"engine {name!r} has no option {key!r} (its options: {have})")
        if isinstance(allowed, type):
            positive = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if not isinstance(value, allowed) or (allowed is int and not positive):
                raise SpecError(
                    f"{name} option {key}: {value!r} is not a positive {allowed.__name__}"
                )
        elif value not in allowed:
            choose = ", ".join(map(str, allowed))
            raise SpecError(f"{name} option {key}: {value!r} is not one of {choose}")
    lacking = missing(name)
    if lacking:
        raise EngineUnavailable(f"engine {name!r} needs {', '.join(lacking)}: {install_hint(spec)}")
    merged = {**spec.options, **options}
    for (key, value), (module, extra) in spec.option_needs.items():
        if merged.get(key) == value and _lacking([module]):
            hint = install_hint(extra)
            raise EngineUnavailable(f"{name} {key}={value} needs {module}: {hint}")
    return Engine(spec, options)
