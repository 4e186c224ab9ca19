"""``--resume``: continue the crawl that was started, whatever this command line says.

A crawl kept in ``--db`` holds what it was started with (:meth:`SqliteStore.save_plan
<concur.store.sqlite.SqliteStore.save_plan>`): its seeds and scope, its politeness, how it
fetched, and for ``--site`` the synthetic site and its server (pages, seed, delay).  On
``--resume`` those are the crawl's, not the command line's, because a crawl resumed with
other settings is two half-crawls of different things under one ground truth:
``--resume --pages 1000`` on a crawl of 3,000 pages would find pages the site no longer
has and miss those it has gained, and say nothing.  So, flag by flag (:data:`PARAMS`):

* a flag left out takes the file's value: ``concur crawl --site --db c.db --resume`` is
  enough to continue any crawl of the site;
* a flag given with the file's value is fine;
* a flag given with another value is refused, on one line naming the flag, the file's
  value and the given one — except the flags that only set the pace (``-c``,
  ``--per-host``, ``--crawl-delay``, ``--commit-every``), which the resumed run may
  change, as it may change the engine and its options: how fast a crawl goes, and by
  which concurrency model, does not change what it finds.

A crawl file made before concur kept these holds none: the command line is then used as
given, with a warning, and kept in the file for the next resume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from concur.args import UsageError
from concur.commands.crawl_args import CrawlArgs

if TYPE_CHECKING:
    from concur.store.sqlite import SavedCrawl

__all__ = ["PARAMS", "Param", "resumed", "site_settings"]


@dataclass(frozen=True, slots=True)
class Param:
    """A flag whose value the crawl file keeps: how to read it from a :class:`CrawlArgs`,
    how to show it, and for a pace flag how to set it."""

    flag: str
    get: Callable[[CrawlArgs], Any]
    unit: str = ""  # shown after a number: "s", "ms"
    put: Callable[[CrawlArgs, Any], CrawlArgs] | None = None  # pace: the given value wins


def _plan(a: CrawlArgs) -> Any:
    assert a.plan is not None
    return a.plan


def _options(a: CrawlArgs, **kw: Any) -> CrawlArgs:
    plan = _plan(a)
    return replace(a, plan=replace(plan, options=replace(plan.options, **kw)))


PARAMS: tuple[Param, ...] = (
    Param("URL", lambda a: _plan(a).seeds),
    Param("-c", lambda a: a.config.concurrency, put=lambda a, v: _config(a, concurrency=v)),
    Param("--timeout", lambda a: a.config.timeout, "s"),
    Param("--retries", lambda a: a.config.retries),
    Param("--max-body", lambda a: a.config.max_body),
    Param("-H", lambda a: a.config.headers),
    Param("--user-agent", lambda a: a.config.user_agent),
    Param("--allow-private", lambda a: a.config.allow_private),
    # this machine's way to the hosts, not what the crawl is: the given value wins
    Param("--resolve", lambda a: a.config.resolve, put=lambda a, v: _config(a, resolve=v)),
    Param("--ca-file", lambda a: a.config.ca_file, put=lambda a, v: _config(a, ca_file=v)),
    # output, not the crawl: a resumed run appends to the file's WARC unless told another
    Param("--warc", lambda a: a.config.warc, put=lambda a, v: _config(a, warc=v)),
    Param(
        "--warc-max-size",
        lambda a: a.config.warc_max_size,
        put=lambda a, v: _config(a, warc_max_size=v),
    ),
    Param("--depth", lambda a: _plan(a).max_depth),
    Param("--max-pages", lambda a: _plan(a).options.max_pages),
    Param(
        "--per-host",
        lambda a: _plan(a).options.per_host,
        put=lambda a, v: _options(a, per_host=v),
    ),
    Param(
        "--crawl-delay",
        lambda a: _plan(a).options.delay,
        "s",
        put=lambda a, v: _options(a, delay=v),
    ),
    Param("--domain", lambda a: _plan(a).domains),
    Param("--include", lambda a: _plan(a).include),
    Param("--exclude", lambda a: _plan(a).exclude),
    Param("--no-robots", lambda a: not _plan(a).options.obey_robots),
    Param("--sitemaps", lambda a: _plan(a).options.sitemaps),
    Param(
        "--commit-every",
        lambda a: _plan(a).commit_every,
        put=lambda a, v: replace(a, plan=replace(_plan(a), commit_every=v)),
    ),
    Param("--pages", lambda a: a.pages),
    Param("--seed", lambda a: a.seed),
    Param("--tls", lambda a: a.tls),
    # the server's delay is one setting, given by either flag
    Param("--delay", lambda a: (a.latency, None if a.latency else a.delay_ms)),
    Param("--latency", lambda a: (a.latency, None if a.latency else a.delay_ms)),
)
"""Every flag the crawl file keeps (module docstring); the others are this run's."""


def _config(a: CrawlArgs, **kw: Any) -> CrawlArgs:
    return replace(a, config=replace(a.config, **kw))


def site_settings(args: CrawlArgs, hosts: tuple[str, ...]) -> dict[str, Any]:
    """What the crawl file keeps of ``--site``: the site and its server's settings."""
    return {
        "pages": args.pages,
        "seed": args.seed,
        "delay_ms": args.delay_ms,
        "latency": args.latency,
        "tls": args.tls,
        "hosts": list(hosts),
    }


def _show(param: Param, value: Any) -> str:
    """``value`` as the command line gives it: ``--pages 3000``, ``without --depth``."""
    flag = param.flag
    if param.flag in ("--delay", "--latency"):
        latency, delay_ms = value
        return f"--latency {latency}" if latency else f"--delay {delay_ms:g}ms"
    if value is None or value is False or value == ():
        return f"without {flag}"
    if value is True:
        return flag
    if isinstance(value, tuple):
        if flag == "URL":
            more = f" and {len(value) - 2} more" if len(value) > 2 else ""
            return "seeds " + " ".join(value[:2]) + more
        if flag == "-H":
            value = tuple(f"'{k}: {v}'" for k, v in value)
        return " ".join(f"{flag} {v}" for v in value)
    if isinstance(value, float):
        return f"{flag} {value:g}{param.unit}"
    return f"{flag} {value}"


def _saved_args(args: CrawlArgs, saved: SavedCrawl) -> CrawlArgs:
    """``args`` with everything the file keeps replaced by the file's values."""
    plan = saved.plan
    site = saved.extra.get("site")
    out = replace(args, config=saved.config or args.config)
    if site is None:
        return replace(out, mode="follow", plan=plan, urls=plan.seeds)
    hosts = tuple(site.get("hosts", ()))
    if plan.domains[: len(hosts)] == hosts:  # the site's hosts are added when it starts
        plan = replace(plan, domains=plan.domains[len(hosts) :])
    return replace(
        out,
        mode="site",
        plan=plan,
        pages=site["pages"],
        seed=site["seed"],
        delay_ms=site["delay_ms"],
        latency=site["latency"],
        tls=bool(site.get("tls", False)),
    )


def resumed(
    args: CrawlArgs, given: frozenset[str], saved: SavedCrawl | None, where: str | None = None
) -> CrawlArgs:
    """The crawl to resume: ``args`` where the file decides (module docstring).

    ``given`` holds the flags on the command line (``URL`` for seeds); raises
    :class:`UsageError` for a flag that conflicts with the file.  ``where`` names what
    keeps the crawl in messages (default: ``--db``'s file; a shared crawl's server).
    """
    plan = args.plan
    assert plan is not None and (plan.db or where)
    where = where or plan.db
    if saved is None:
        if args.mode == "follow" and not plan.seeds:
            raise UsageError(f"{where} keeps no seeds (an older crawl file): give them")
        why = f"{where} keeps no settings (an older crawl file): the command line is used"
        return replace(args, warnings=(*args.warnings, why))
    old = _saved_args(args, saved)
    if old.mode != args.mode:
        raise UsageError(f"--resume: {where} holds a --{old.mode} crawl, not a --{args.mode} one")
    out = replace(old, plan=replace(_plan(old), db=plan.db, resume=True))
    for param in PARAMS:
        if param.flag not in given:
            continue
        now, then = param.get(args), param.get(old)
        if now == then:
            continue
        if param.put is not None:
            out = param.put(out, now)
            continue
        was = _show(param, then)
        raise UsageError(
            f"--resume: {_show(param, now)} contradicts {where}, whose crawl was started "
            f"{was if was.startswith('without') else 'with ' + was} "
            f"(leave {'the seeds' if param.flag == 'URL' else param.flag} out to continue it)"
        )
    return out
