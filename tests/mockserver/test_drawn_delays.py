"""A client can compute the delay the seeded server will draw for a URL, without asking it.

That is what gives ``concur crawl --latency SPEC`` and the bench's tail scenario an exact
ideal: :func:`mockserver.routes.first_delay_ms` must agree with the server, request by
request, and :func:`concur.report.ideal_of_delays` must schedule like the engines do.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from concur.experiment import _target, book_urls, drawn_ideal_s
from concur.report import ideal_of_delays, ideal_seconds
from mockserver import latency as latency_mod
from mockserver.routes import first_delay_ms
from mockserver.testing import serve


def test_first_delay_matches_what_the_server_waited() -> None:
    seed = 7
    with serve(mode="subprocess", seed=seed) as server:
        urls = book_urls(server.url, 12, "drawn", latency="lognormal:20,200")
        for url in urls:
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
        with urllib.request.urlopen(f"{server.url}/__timeline?name=drawn", timeout=10) as tl:
            timeline = json.load(tl)
    waited = sorted(r["dt"] * 1000 for r in timeline["requests"])
    predicted = sorted(first_delay_ms(_target(u), seed) for u in urls)
    assert len(waited) == len(predicted) == 12
    assert len(set(round(p, 3) for p in predicted)) > 6  # drawn, not one fixed value
    for w, p in zip(waited, predicted, strict=True):
        assert p <= w < p + 25.0  # never early; late only by scheduling


def test_first_delay_follows_the_query_and_the_default() -> None:
    assert first_delay_ms("/add?delay=12.5&id=1", 0) == 12.5
    assert first_delay_ms("/add?id=1", 0, latency_mod.parse("30")) == 30.0
    a = first_delay_ms("/add?name=one&latency=exp:40&id=3", 0)
    assert a == first_delay_ms("/add?latency=exp:40&id=3&name=two", 0)  # name is a label
    assert a != first_delay_ms("/add?latency=exp:40&id=3", 1)  # the seed changes the draw


def test_ideal_of_delays_is_list_scheduling_in_order() -> None:
    assert ideal_of_delays([], 4) == 0.0
    assert ideal_of_delays([1.0] * 10, 5) == pytest.approx(ideal_seconds(10, 5, 1.0))
    # two slots: 3 | 1, then the 1-slot frees first and takes 1, then 1 -> max(3, 3) = 3
    assert ideal_of_delays([3.0, 1.0, 1.0, 1.0], 2) == pytest.approx(3.0)
    assert ideal_of_delays([0.5, 2.0], 10) == pytest.approx(2.0)  # the slowest, at most


def test_drawn_ideal_of_a_fixed_delay_is_littles_law() -> None:
    urls = book_urls("http://127.0.0.1:9", 250, "x", delay_ms=40)
    assert drawn_ideal_s(urls, 100, 0) == pytest.approx(ideal_seconds(250, 100, 0.04))
