"""Scope: which URLs a crawl may follow, decided from the URL and its depth alone.

Without a scope, link following never ends: every site links to others.  A
:class:`Scope` is a frozen value (hosts, domains, patterns, depth), so engines, worker
processes and tests can share one and nobody can change it mid-crawl.

The rules, in the order they are checked (the first that fails names the reason):

1. **depth** - seeds are at depth 0, a link found on a page at depth ``d`` is at
   ``d + 1``; links deeper than ``max_depth`` are not followed.  Depth is the cheap,
   site-independent bound that stops crawler traps (calendars, endless pagination).
2. **host** - the URL's host must be one of ``hosts`` (exactly), or ``domains`` or a
   subdomain of one (``example.com`` admits ``www.example.com``).  Both empty means any
   host.  Ports do not matter: scope is about whose site it is.
3. **include** - if patterns are given, at least one must match (``re.search``).
4. **exclude** - no pattern may match.  Exclusions win over inclusions, so
   "everything under /docs except /docs/archive" is two short patterns.

URLs are expected to be normalised (see :mod:`concur.crawl.urls`), so patterns can be
written against one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from concur.crawl.urls import hostname, normalize

__all__ = ["Scope"]

TOO_DEEP = "deeper than max_depth"
OTHER_HOST = "host not in scope"
NOT_INCLUDED = "matches no include pattern"
EXCLUDED = "matches an exclude pattern"


def _compile(patterns: Iterable[str | re.Pattern[str]]) -> tuple[re.Pattern[str], ...]:
    return tuple(p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which URLs may be crawled.  The default scope admits every http(s) URL at any depth."""

    hosts: frozenset[str] = frozenset()  # exact host names, lower case, no port
    domains: frozenset[str] = frozenset()  # these hosts and all their subdomains
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    max_depth: int | None = None  # None: no limit

    def __post_init__(self) -> None:
        if self.max_depth is not None and self.max_depth < 0:
            raise ValueError("max_depth must be >= 0")

    @classmethod
    def for_seeds(
        cls,
        seeds: Iterable[str],
        *,
        domains: Iterable[str] = (),
        include: Iterable[str | re.Pattern[str]] = (),
        exclude: Iterable[str | re.Pattern[str]] = (),
        max_depth: int | None = None,
        subdomains: bool = False,
    ) -> Scope:
        """The usual scope: the seeds' own hosts (and their subdomains if asked), plus ``domains``.

        Seeds that do not normalise are ignored here (the scheduler reports them).
        """
        names = set()
        for seed in seeds:
            url = normalize(seed)
            if url is not None:
                names.add(hostname(url))
        doms = {d.lower().strip(".") for d in domains}
        if subdomains:
            doms |= names
            names = set()
        return cls(
            frozenset(names), frozenset(doms), _compile(include), _compile(exclude), max_depth
        )

    def reason(self, url: str, depth: int) -> str | None:
        """Why ``url`` at ``depth`` is out of scope, or None if it is in scope."""
        if self.max_depth is not None and depth > self.max_depth:
            return TOO_DEEP
        if self.hosts or self.domains:
            host = hostname(url)
            if host not in self.hosts and not self._in_domains(host):
                return OTHER_HOST
        if self.include and not any(p.search(url) for p in self.include):
            return NOT_INCLUDED
        if self.exclude and any(p.search(url) for p in self.exclude):
            return EXCLUDED
        return None

    def allows(self, url: str, depth: int) -> bool:
        """True if ``url`` at ``depth`` may be crawled."""
        return self.reason(url, depth) is None

    def _in_domains(self, host: str) -> bool:
        domains = self.domains
        if not domains:
            return False
        while True:  # www.a.example.com, a.example.com, example.com, com
            if host in domains:
                return True
            dot = host.find(".")
            if dot < 0:
                return False
            host = host[dot + 1 :]
