"""The flags of ``concur crawl`` and the one frozen value they become.

``concur crawl`` has four modes, chosen by what is given:

* **experiment** (no URL, no ``-i``): the book's experiment on the embedded mock server,
  ``-n`` requests that each wait ``--delay``;
* **list** (URLs or ``-i FILE``): each URL fetched once, as given;
* **follow** (``--follow`` and seed URLs): a crawl that follows links;
* **site** (``--site``): a crawl of the mock server's synthetic site, checked against
  the site's ground truth.

A flag that does not apply to the mode is a usage error, never silently ignored
(:data:`APPLIES` says which flag applies where); so is an engine option given to an
engine that does not take it.  The one flag an engine may ignore by its nature, ``-c``
with ``serial``, is a one-line warning instead: scripts run one command line over every
engine.  :func:`from_namespace` checks all that and builds a :class:`CrawlArgs`; the
commands never read the argparse Namespace again.

With ``--resume`` the crawl file then decides what the crawl is, and a flag that
contradicts it is an error too (:mod:`concur.commands.resume`, which reads :func:`given`).

Units: ``--delay`` is the mock server's delay in milliseconds (as in the book), and
``--crawl-delay`` and ``--timeout`` are seconds; all three take a unit instead
(``100ms``, ``1.5s``, ``2m``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any, Literal

from concur.args import (
    UsageError,
    duration,
    header,
    latency_spec,
    non_negative_int,
    output_path,
    pem_file,
    positive_int,
    read_urls,
    regex,
    seed,
    server_delay,
    size,
)
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import ENGINES
from concur.records import CrawlConfig

__all__ = [
    "APPLIES",
    "CrawlArgs",
    "Mode",
    "add_arguments",
    "from_namespace",
    "given",
    "with_seeds",
]

Mode = Literal["experiment", "list", "follow", "site"]

EXPERIMENT_DELAY_MS = 100.0  # the book's
_DEFAULTS = CrawlConfig()
_CRAWL: frozenset[Mode] = frozenset({"follow", "site"})
_SERVER: frozenset[Mode] = frozenset({"experiment", "site"})

# Which flags apply to which modes (every other flag applies to all four).
APPLIES: dict[str, frozenset[Mode]] = {
    "-n": frozenset({"experiment"}),
    "--delay": _SERVER,
    "--latency": _SERVER,
    "--seed": _SERVER,
    "--tls": _SERVER,
    "--pages": frozenset({"site"}),
    **{
        flag: _CRAWL
        for flag in (
            "--depth",
            "--max-pages",
            "--per-host",
            "--crawl-delay",
            "--domain",
            "--include",
            "--exclude",
            "--no-robots",
            "--sitemaps",
            "--db",
            "--resume",
            "--commit-every",
            "--workers",
            "--frontier",
            "--name",
            "--lease",
        )
    },
}

_WHERE = {
    _SERVER: "the experiment (no URL) or --site",
    _CRAWL: "--follow or --site",
    frozenset({"experiment"}): "the experiment (no URL)",
    frozenset({"site"}): "--site",
}
_MODE_NAME = {
    "experiment": "the experiment",
    "list": "a list of URLs",
    "follow": "--follow",
    "site": "--site",
}
_WHY = {"--delay": " (the mock server's delay; politeness is --crawl-delay)"}

# Engine options as flags: one per option any engine takes (``ENGINES[name].choices``).
_OPTION_HELP = {
    "client": "Tornado's HTTP client (default: curl when pycurl is installed, else simple)",
    "transport": "how httpx holds its connections (default: concur)",
    "processes": "worker processes (default: one per CPU)",
    "loop": "the event loop (default: asyncio; --impl uvloop is --loop uvloop)",
}


@dataclass(frozen=True, slots=True)
class CrawlArgs:
    """Everything ``concur crawl`` was asked, checked: the commands read this, not argparse.

    ``plan`` is None outside crawl mode; with ``--site`` its seeds are filled in once
    the site's server has a port.  ``delay_ms`` is the mock server's delay (experiment
    and ``--site``), ``latency`` a distribution that replaces it.
    """

    mode: Mode
    impl: str
    engine_options: tuple[tuple[str, Any], ...]
    config: CrawlConfig
    urls: tuple[str, ...] = ()
    plan: CrawlPlan | None = None
    output: str | None = None
    json: bool = False
    fail_on_error: bool = False
    progress: bool = True
    n: int = 1000
    delay_ms: float = EXPERIMENT_DELAY_MS
    latency: str | None = None
    seed: int = 0
    pages: int = 1000
    warnings: tuple[str, ...] = ()  # flags that were accepted but change nothing
    workers: int | None = None  # worker processes of a shared crawl (None: a local crawl)
    frontier: str | None = None  # the shared frontier's server (None: an embedded one)
    name: str = "crawl"  # the shared crawl's name on its server
    lease: float = 30.0  # seconds a worker's lease lasts unless renewed
    tls: bool = False  # the embedded server serves HTTPS; the crawl trusts its CA
    trace: str | None = None  # write the run as trace-event JSON here (concur.report.trace)

    @property
    def shared(self) -> bool:
        """A crawl whose frontier lives in Redis/Valkey (``--workers`` or ``--frontier``)."""
        return self.workers is not None or self.frontier is not None

    @property
    def options(self) -> dict[str, Any]:
        """The engine options, for ``get_engine(impl, **options)``."""
        return dict(self.engine_options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of ``concur crawl``, in groups by the mode they apply to.

    Flags that apply to some modes only default to None (or False), so that
    :func:`from_namespace` can tell "given" from "not given"; their help says the default.
    """
    parser.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="URLs to fetch, or with --follow the seeds of a crawl (none: the experiment)",
    )
    parser.add_argument(
        "--impl",
        "--engine",
        default="asyncio",
        choices=list(ENGINES),
        help="the engine; concur engines lists them and their options",
    )
    parser.add_argument(
        "-i", "--input", metavar="FILE", help="also read URLs from FILE, one a line (- for stdin)"
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"requests in flight at most (default: {_DEFAULTS.concurrency}; serial: 1)",
    )
    parser.add_argument(
        "--timeout",
        type=duration("s", positive=True),
        default=None,
        metavar="SECONDS",
        help="for a whole request, connect to last byte; a unit may follow, e.g. 500ms "
        f"(default: {_DEFAULTS.timeout:g} s)",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="retries of a transient failure, 5xx or 429, after a backoff "
        f"(default: {_DEFAULTS.retries})",
    )
    parser.add_argument(
        "--max-body",
        type=non_negative_int,
        default=None,
        metavar="BYTES",
        help="a longer body is a failure of kind too_large (default: 16777216 bytes = 16 MiB)",
    )
    parser.add_argument(
        "-H",
        "--header",
        type=header,
        action="append",
        default=None,
        metavar="'NAME: VALUE'",
        help="send this header with every request (repeatable)",
    )
    parser.add_argument(
        "--user-agent",
        default=None,
        metavar="TEXT",
        help="the User-Agent header; robots.txt rules are matched against it "
        f"(default: {_DEFAULTS.user_agent})",
    )
    parser.add_argument(
        "--allow-private",
        action="store_const",
        const=True,
        default=None,
        help="follow redirects and links from a public host to a private address "
        "(127.0.0.1, 10.x, 169.254.169.254 ...); seeds on one are always fetched",
    )
    add_connect_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=output_path,
        metavar="FILE",
        help="write one JSON record per URL to FILE (JSON Lines); with --db, every result "
        "in the file",
    )
    parser.add_argument(
        "--warc",
        type=output_path,
        metavar="PATH",
        help="keep every exchange (request and response as received, robots.txt too) in WARC "
        "files: PATH, e.g. crawl.warc.gz (pip install 'concur[warc]')",
    )
    parser.add_argument(
        "--warc-max-size",
        type=size,
        default=None,
        metavar="SIZE",
        help="with --warc, start a new file once one passes SIZE (e.g. 1G): crawl-00000.warc.gz, "
        "crawl-00001.warc.gz, ...",
    )
    parser.add_argument(
        "--trace",
        type=output_path,
        metavar="FILE",
        help="write the run as Chrome/Perfetto trace-event JSON, to open in ui.perfetto.dev "
        "or chrome://tracing: each request a slice on its lane, retries, politeness waits and "
        "the embedded server's own arrival and answer times (docs/trace.md; not in a shared "
        "crawl)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON, on the last line"
    )
    parser.add_argument(
        "--fail-on-error",
        action="store_true",
        help="exit 1 if a request failed (a URL skipped by robots.txt is not a failure)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no live progress, even on a terminal"
    )

    add_engine_options(parser)
    _add_server_arguments(parser)
    _add_crawl_arguments(parser)
    add_shared_arguments(
        parser.add_argument_group(
            "a shared crawl: many workers, one frontier in Redis/Valkey (pip install "
            "'concur[cluster]')"
        )
    )


def add_connect_arguments(parser: argparse.ArgumentParser) -> None:
    """``--resolve`` and ``--ca-file``: where connections go and what they trust (curl's)."""
    parser.add_argument(
        "--resolve",
        type=resolve_entry,
        action="append",
        default=None,
        metavar="HOST:PORT:ADDR",
        help="connect to ADDR for HOST:PORT; URLs, Host, SNI and the certificate check keep "
        "HOST (repeatable), e.g. a recorded site on a replay server",
    )
    parser.add_argument(
        "--ca-file",
        type=pem_file,
        default=None,
        metavar="PEM",
        help="trust only the CAs in PEM for https (default: $SSL_CERT_FILE, else the "
        "system's store), e.g. the CA concur serve --tls prints",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """A flag for every option any engine takes (``concur crawl`` and ``concur worker``)."""
    engine = parser.add_argument_group("engine options (each applies to the engines that take it)")
    for name, (allowed, takers) in _engine_options().items():
        kw: dict[str, Any] = {"default": None, "dest": f"opt_{name}"}
        if isinstance(allowed, type):  # int: a positive number
            kw.update(type=positive_int, metavar="N")
        else:
            kw["choices"] = list(allowed)
        what = _OPTION_HELP.get(name, f"the engine option {name}")
        engine.add_argument(
            f"--{name.replace('_', '-')}", help=f"{what}; --impl {' or '.join(takers)}", **kw
        )


def engine_options(ns: argparse.Namespace) -> tuple[tuple[str, Any], ...]:
    """The engine options given as flags (:class:`UsageError`: one ``--impl`` does not take)."""
    out = []
    for name, (_, takers) in _engine_options().items():
        value = getattr(ns, f"opt_{name}")
        if value is None:
            continue
        if ns.impl not in takers:
            flag = f"--{name.replace('_', '-')}"
            raise UsageError(
                f"{flag} applies only to --impl {' or '.join(takers)}, not to --impl {ns.impl}"
            )
        out.append((name, value))
    return tuple(out)


def add_shared_arguments(group: Any, *, seeding: bool = True) -> None:
    """``--frontier``, ``--name``, ``--lease`` (and ``--workers`` when the command seeds)."""
    if seeding:
        group.add_argument(
            "--workers",
            type=non_negative_int,
            default=None,
            metavar="N",
            help="crawl with N worker processes sharing one frontier (an embedded Valkey "
            "server unless --frontier; 0 with --frontier: seed the crawl and leave)",
        )
    group.add_argument(
        "--frontier",
        metavar="URL",
        default=None,
        required=not seeding,
        help="the Redis/Valkey server of a shared crawl: redis://[:PASSWORD@]HOST:PORT/DB, "
        "rediss://... or unix:///PATH",
    )
    group.add_argument(
        "--name",
        default=None,
        metavar="NAME",
        help="the shared crawl's name, so one server can hold several (default: crawl)",
    )
    group.add_argument(
        "--lease",
        type=duration("s", positive=True),
        default=None,
        metavar="SECONDS",
        help="a worker that is not heard from this long loses the URLs it leased to the "
        "others (default: 30 s)",
    )


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    server = parser.add_argument_group(
        "the embedded mock server (the experiment, or --site); durations in ms"
    )
    server.add_argument(
        "-n", type=non_negative_int, default=None, help="requests in the experiment (default: 1000)"
    )
    server.add_argument(
        "--delay",
        type=server_delay,
        default=None,
        metavar="MS",
        help="the mock server's delay before each answer, in ms unless a unit follows, e.g. "
        f"1.5s (default: {EXPERIMENT_DELAY_MS:g} in the experiment, 0 with --site)",
    )
    server.add_argument(
        "--latency",
        type=latency_spec,
        default=None,
        metavar="SPEC",
        help="draw each delay from a distribution instead of --delay, in ms: "
        "lognormal:MEDIAN,P99, uniform:LO,HI, normal:MEAN,SD, exp:MEAN, pareto:MIN,SHAPE",
    )
    server.add_argument(
        "--seed",
        type=seed,
        default=None,
        metavar="N",
        help="seed of the server's draws and of the synthetic site (default: 0)",
    )
    server.add_argument(
        "--tls",
        action="store_const",
        const=True,
        default=None,
        help="the server serves HTTPS with a CA made at start-up, which the crawl trusts: "
        "what TLS costs (pip install 'concur[tls]')",
    )
    server.add_argument(
        "--pages",
        type=positive_int,
        default=None,
        metavar="N",
        help="pages of the synthetic site, with --site (default: 1000)",
    )


def _add_crawl_arguments(parser: argparse.ArgumentParser) -> None:
    crawl = parser.add_argument_group("crawl mode: follow links (--follow URL ..., or --site)")
    crawl.add_argument(
        "--follow", action="store_true", help="treat the URLs as seeds and follow links"
    )
    crawl.add_argument(
        "--site",
        action="store_true",
        help="crawl the mock server's synthetic site and check it against the site's truth",
    )
    crawl.add_argument(
        "--depth",
        type=non_negative_int,
        metavar="N",
        help="links followed from a seed at most (default: no limit)",
    )
    crawl.add_argument(
        "--max-pages",
        type=non_negative_int,
        metavar="N",
        help="URLs admitted at most, seeds included (default: no limit)",
    )
    crawl.add_argument(
        "--per-host",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"requests in flight to one host at most (default: {CrawlOptions().per_host})",
    )
    crawl.add_argument(
        "--crawl-delay",
        type=duration("s"),
        default=None,
        metavar="SECONDS",
        help="wait this long between requests to one host (then one at a time), in seconds "
        "unless a unit follows; robots.txt's Crawl-delay wins when longer (default: 0)",
    )
    crawl.add_argument(
        "--domain",
        action="append",
        metavar="NAME",
        help="also crawl this host and its subdomains (repeatable; default: the seeds' hosts)",
    )
    crawl.add_argument(
        "--include",
        type=regex,
        action="append",
        metavar="REGEX",
        help="only URLs matching one of these (repeatable)",
    )
    crawl.add_argument(
        "--exclude", type=regex, action="append", metavar="REGEX", help="skip matching URLs"
    )
    crawl.add_argument("--no-robots", action="store_true", help="ignore robots.txt")
    crawl.add_argument(
        "--sitemaps", action="store_true", help="also crawl what robots.txt's Sitemap: files list"
    )
    crawl.add_argument(
        "--db",
        metavar="FILE",
        help="keep the frontier and results in this SQLite file (default: in memory)",
    )
    crawl.add_argument(
        "--resume",
        action="store_true",
        help="continue the crawl in --db FILE (even after kill -9), as it was started: the "
        "flags left out take the file's values, and one that contradicts them is an error "
        "(but -c, --per-host, --crawl-delay, --commit-every and the engine may change)",
    )
    crawl.add_argument(
        "--commit-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="results per --db transaction; after kill -9 up to N pages are fetched again "
        "(default: 1)",
    )


def _engine_options() -> dict[str, tuple[tuple[Any, ...] | type, list[str]]]:
    """Each engine option any engine takes: (its choices, the engines taking it)."""
    out: dict[str, tuple[tuple[Any, ...] | type, list[str]]] = {}
    for name, spec in ENGINES.items():
        for option, allowed in spec.choices.items():
            if option in out:
                out[option][1].append(name)
            else:
                out[option] = (allowed, [name])
    return out


def _given(ns: argparse.Namespace) -> list[str]:
    """The mode-specific flags given on the command line, in :data:`APPLIES` order."""
    out = []
    for flag in APPLIES:
        value = getattr(ns, flag.lstrip("-").replace("-", "_"))
        if value is not None and value is not False:
            out.append(flag)
    return out


def _mode(ns: argparse.Namespace) -> Mode:
    if ns.site:
        if ns.follow:
            raise UsageError("--site crawls the synthetic site: give --follow or --site, not both")
        if ns.urls or ns.input:
            raise UsageError("--site crawls the synthetic site from its root: no URL or -i with it")
        return "site"
    if ns.follow:
        return "follow"
    return "list" if ns.urls or ns.input else "experiment"


def from_namespace(ns: argparse.Namespace) -> CrawlArgs:
    """Check what was asked and build a :class:`CrawlArgs`; :class:`UsageError` if it does
    not hold together (a flag that does not apply to the mode, a missing companion)."""
    mode = _mode(ns)
    for flag in _given(ns):
        modes = APPLIES[flag]
        if mode not in modes:
            raise UsageError(
                f"{flag} applies only to {_WHERE[modes]}{_WHY.get(flag, '')}, "
                f"not to {_MODE_NAME[mode]}"
            )
    if ns.delay is not None and ns.latency is not None:
        raise UsageError("--delay and --latency both set the server's delay: give one")
    if ns.resume and not ns.db and ns.frontier is None:
        raise UsageError("--resume needs --db FILE (or the --frontier that holds the crawl)")
    if ns.commit_every is not None and not ns.db:
        raise UsageError("--commit-every applies only with --db FILE")
    if ns.warc_max_size is not None and not ns.warc:
        raise UsageError("--warc-max-size applies only with --warc PATH")
    if ns.warc_max_size is not None and ns.warc_max_size < 1024:
        raise UsageError("--warc-max-size must be at least 1024 bytes (1K)")
    _check_shared(ns)
    options_given = engine_options(ns)

    warnings = []
    if ns.concurrency is not None and not ENGINES[ns.impl].concurrent:
        # a warning, not an error: scripts sweep one command line over every engine
        warnings.append(f"{ns.impl} makes one request at a time: -c {ns.concurrency} is ignored")
    urls = read_urls(ns.urls, ns.input)
    if mode == "follow" and not urls and not ns.resume:  # resumed: the file has them
        raise UsageError("--follow needs at least one seed URL (or -i FILE)")
    config = CrawlConfig(
        concurrency=ns.concurrency or _DEFAULTS.concurrency,
        timeout=_DEFAULTS.timeout if ns.timeout is None else ns.timeout,
        retries=_DEFAULTS.retries if ns.retries is None else ns.retries,
        max_body=_DEFAULTS.max_body if ns.max_body is None else ns.max_body,
        headers=tuple(ns.header or ()),
        user_agent=_DEFAULTS.user_agent if ns.user_agent is None else ns.user_agent,
        allow_private=bool(ns.allow_private),
        warc=ns.warc,
        warc_max_size=ns.warc_max_size,
        resolve=tuple(ns.resolve or ()),
        ca_file=ns.ca_file,
    )
    plan = None
    if mode in _CRAWL:
        options = CrawlOptions(
            per_host=ns.per_host if ns.per_host is not None else CrawlOptions().per_host,
            delay=ns.crawl_delay or 0.0,
            max_pages=ns.max_pages,
            obey_robots=not ns.no_robots,
            sitemaps=ns.sitemaps,
        )
        plan = CrawlPlan(
            tuple(urls),
            options,
            ns.depth,
            tuple(ns.domain or ()),
            db=ns.db,
            resume=ns.resume,
            commit_every=ns.commit_every or 1,
            include=tuple(ns.include or ()),
            exclude=tuple(ns.exclude or ()),
        )
    delay = ns.delay if ns.delay is not None else (EXPERIMENT_DELAY_MS if mode != "site" else 0.0)
    return CrawlArgs(
        mode=mode,
        impl=ns.impl,
        engine_options=options_given,
        config=config,
        urls=tuple(urls),
        plan=plan,
        output=ns.output,
        json=ns.json,
        fail_on_error=ns.fail_on_error,
        progress=not ns.no_progress,
        n=ns.n if ns.n is not None else 1000,
        delay_ms=delay,
        latency=ns.latency,
        seed=ns.seed or 0,
        pages=ns.pages or 1000,
        warnings=tuple(warnings),
        workers=ns.workers,
        frontier=ns.frontier,
        name=ns.name or "crawl",
        lease=ns.lease or 30.0,
        tls=bool(ns.tls),
        trace=ns.trace,
    )


def _check_shared(ns: argparse.Namespace) -> None:
    """The flags of a shared crawl hold together (UsageError if not)."""
    shared = ns.workers is not None or ns.frontier is not None
    if not shared:
        for flag in ("name", "lease"):
            if getattr(ns, flag) is not None:
                raise UsageError(
                    f"--{flag} applies only to a shared crawl (--workers or --frontier)"
                )
        return
    if ns.sitemaps:
        raise UsageError("--sitemaps is not supported in a shared crawl yet")
    if ns.trace is not None:
        raise UsageError(
            "--trace draws a run in this process; a shared crawl's workers are other "
            "processes (leave out --workers and --frontier)"
        )
    if ns.commit_every is not None:
        raise UsageError(
            "--commit-every applies to an SQLite crawl; a shared one commits each page"
        )
    if ns.frontier is not None and ns.db:
        raise UsageError(
            "--db keeps an embedded server's data; with --frontier the server keeps it"
        )
    if ns.workers == 0 and (ns.frontier is None or ns.site):
        raise UsageError("--workers 0 (seed and leave) needs --frontier, and no --site")


_GIVEN = {  # flags outside APPLIES: (flag, the Namespace attribute)
    "-c": "concurrency",
    "--timeout": "timeout",
    "--retries": "retries",
    "--max-body": "max_body",
    "-H": "header",
    "--user-agent": "user_agent",
    "--allow-private": "allow_private",
    "--warc": "warc",
    "--warc-max-size": "warc_max_size",
    "--resolve": "resolve",
    "--ca-file": "ca_file",
}


def given(ns: argparse.Namespace) -> frozenset[str]:
    """The flags given on the command line that a crawl file keeps (``URL``: seeds)."""
    out = set(_given(ns))
    out.update(flag for flag, name in _GIVEN.items() if getattr(ns, name) is not None)
    if ns.urls or ns.input:
        out.add("URL")
    return frozenset(out)


def with_seeds(
    args: CrawlArgs, seeds: tuple[str, ...], domains: tuple[str, ...], ca_file: str | None = None
) -> CrawlArgs:
    """``args`` whose plan starts from ``seeds`` and also covers ``domains`` (``--site``);
    with ``ca_file`` (``--tls``: the site's CA), the crawl trusts that CA."""
    assert args.plan is not None
    plan = replace(args.plan, seeds=seeds, domains=domains + args.plan.domains)
    config = replace(args.config, ca_file=ca_file) if ca_file else args.config
    return replace(args, plan=plan, config=config)


def resolve_entry(text: str) -> tuple[str, int, str]:
    """An argparse type: curl's ``HOST:PORT:ADDR`` (``--resolve``)."""
    from concur.engines.connect import parse_resolve

    try:
        return parse_resolve(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--resolve ")) from None
