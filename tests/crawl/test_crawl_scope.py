"""Scope: hosts, domains, patterns and depth decide which URLs a crawl follows."""

from __future__ import annotations

import re

import pytest

from concur.crawl.scope import EXCLUDED, NOT_INCLUDED, OTHER_HOST, TOO_DEEP, Scope


def test_default_scope_admits_everything() -> None:
    scope = Scope()
    assert scope.allows("http://anywhere.example/x", 1000)


def test_for_seeds_keeps_the_seed_hosts_only() -> None:
    scope = Scope.for_seeds(["http://Example.com:8080/start", "https://other.org/"])
    assert scope.hosts == frozenset({"example.com", "other.org"})
    assert scope.allows("http://example.com/a", 3)
    assert scope.allows("https://example.com:9999/a", 3)  # ports do not matter
    assert scope.allows("http://other.org/b", 0)
    assert scope.reason("http://www.example.com/a", 1) == OTHER_HOST
    assert scope.reason("http://evil.example/", 1) == OTHER_HOST


def test_subdomains_and_allowed_domains() -> None:
    scope = Scope.for_seeds(["http://example.com/"], subdomains=True, domains=["Partner.NET"])
    assert scope.allows("http://www.example.com/", 1)
    assert scope.allows("http://a.b.example.com/", 1)
    assert scope.allows("http://partner.net/", 1)
    assert scope.allows("http://cdn.partner.net/", 1)
    assert not scope.allows("http://notexample.com/", 1)  # a suffix, not a subdomain
    assert not scope.allows("http://example.com.evil.org/", 1)


def test_depth_limit() -> None:
    scope = Scope.for_seeds(["http://example.com/"], max_depth=2)
    assert scope.allows("http://example.com/a", 2)
    assert scope.reason("http://example.com/a", 3) == TOO_DEEP
    with pytest.raises(ValueError):
        Scope(max_depth=-1)


def test_include_and_exclude_patterns() -> None:
    scope = Scope.for_seeds(
        ["http://example.com/docs/"], include=[r"/docs/"], exclude=[re.compile(r"/archive/|\.pdf$")]
    )
    assert scope.allows("http://example.com/docs/intro", 1)
    assert scope.reason("http://example.com/blog/post", 1) == NOT_INCLUDED
    assert scope.reason("http://example.com/docs/archive/2001", 1) == EXCLUDED
    assert scope.reason("http://example.com/docs/manual.pdf", 1) == EXCLUDED


def test_scope_is_frozen_and_hashable() -> None:
    scope = Scope.for_seeds(["http://example.com/"])
    with pytest.raises(AttributeError):
        scope.max_depth = 3  # type: ignore[misc]
    assert hash(scope) == hash(Scope.for_seeds(["http://example.com/x"]))
