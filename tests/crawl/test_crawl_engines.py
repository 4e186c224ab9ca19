"""Crawl mode on every engine, against the mock server's synthetic site over loopback.

The site knows its own ground truth (``/__site``) and what it saw (``/__site?stats=1``):
requests in flight per host, the gaps between request arrivals, URLs served twice,
disallowed URLs fetched.  So each engine is checked by the server, not by itself.
Gaps are measured on arrival, so a loaded machine can shorten one by the time a request
spent getting out of the client; the bound below allows for that and no more.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from concur.crawl import CrawlOptions, CrawlPlan
from concur.engines import ENGINES as ALL
from concur.engines import available_engines, get_engine
from concur.records import CrawlConfig, CrawlResult
from mockserver.testing import RunningServer, serve

ENGINES = available_engines()
HOSTS = tuple(f"127.0.0.{i}" for i in range(1, 4))
PER_HOST = 2
CRAWL_DELAY = 0.1
GAP_SLACK = 0.0  # the delay counts from the answer, so no arrival gap may fall short


def crawl_site(server: RunningServer, engine: str, **config: Any) -> CrawlResult:
    plan = CrawlPlan((server.url + "/",), CrawlOptions(per_host=PER_HOST), domains=HOSTS)
    return get_engine(engine).crawl(plan, CrawlConfig(concurrency=8, timeout=10, **config))


def found(result: CrawlResult) -> set[str]:
    return {r.url for r in result.records if r.error is None and r.status and 200 <= r.status < 300}


@pytest.mark.parametrize("engine", ENGINES)
def test_crawl_matches_ground_truth_politely(engine: str) -> None:
    with serve(
        mode="subprocess",
        site_pages=150,
        site_hosts=3,
        site_crawl_delay=CRAWL_DELAY,
        latency="5",
    ) as server:
        result = crawl_site(server, engine, retries=2)
        truth = server.get_json("/__site")
        stats = server.get_json("/__site?stats=1")["stats"]

    urls = [r.url for r in result.records]
    assert len(urls) == len(set(urls)), "one record per URL"
    assert found(result) == set(truth["expected"])
    assert stats["fetched_twice_count"] == 0, stats["fetched_twice"]
    assert stats["disallowed_fetched_count"] == 0, stats["disallowed_fetched"]
    assert result.extra["disallowed"] == truth["counts"]["disallowed"]
    peaks = {host: s["peak_in_flight"] for host, s in stats["hosts"].items()}
    assert max(peaks.values()) <= PER_HOST, peaks
    if ALL[engine].concurrent:
        assert max(peaks.values()) == PER_HOST, f"the limit was never reached: {peaks}"
    for host, delay in truth["crawl_delay"].items():
        if delay:
            gap = stats["hosts"][host]["min_gap_after_robots_s"]
            assert gap >= delay - GAP_SLACK, (host, gap, delay)


@pytest.mark.parametrize("engine", ENGINES)
def test_429_is_retried_after_retry_after(engine: str) -> None:
    # The site says Retry-After: 1; max_backoff caps every wait at 0.3 s to keep this quick.
    # Backoff alone would wait at most 0.05 s (first retry) or 0.1 s (second): a retry that
    # took 0.3 s waited for the Retry-After.
    with serve(
        mode="subprocess", site_pages=20, site_hosts=3, site_crawl_delay=0.0, faults="429:0.1"
    ) as server:
        result = crawl_site(server, engine, retries=3, max_backoff=0.3)
        truth = server.get_json("/__site")
        stats = server.get_json("/__site?stats=1")["stats"]

    assert stats["faulted"] > 0, "no 429 was drawn: choose another rate"
    retried = [r for r in result.records if r.attempts > 1]
    assert retried, "a 429 was answered but nothing was retried"
    for r in retried:
        assert r.end - r.start >= 0.29 * (r.attempts - 1), r
    assert found(result) == set(truth["expected"])
    assert stats["fetched_twice_count"] == 0


def _cli(*args: str, engine: str = "asyncio") -> list[str]:
    return [sys.executable, "-m", "concur", "crawl", "--impl", engine, "--site", *args]


@pytest.mark.parametrize("engine", ["threads", "asyncio", "processes"])
def test_a_failing_on_record_stops_the_crawl(engine: str) -> None:
    def boom(record: object) -> None:
        raise RuntimeError("on_record failed")

    with serve(mode="subprocess", site_pages=40, site_hosts=3) as server:
        plan = CrawlPlan((server.url + "/",), CrawlOptions(per_host=2), domains=HOSTS)
        with pytest.raises(RuntimeError, match="on_record failed"):
            get_engine(engine).crawl(plan, CrawlConfig(concurrency=8, timeout=10), boom)


def _summary(*args: str) -> dict[str, object]:
    done = subprocess.run(_cli(*args, "--json"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_site_with_depth_is_checked_against_the_truth_at_that_depth() -> None:
    shallow = _summary("--pages", "120", "--depth", "1")["ground_truth"]
    whole = _summary("--pages", "120")["ground_truth"]
    assert isinstance(shallow, dict) and isinstance(whole, dict)
    assert shallow["exact"], shallow
    assert 0 < shallow["expected"] < whole["expected"]
    assert "limited_by" not in shallow


def test_exclude_keeps_urls_out_and_says_the_truth_is_only_a_bound(tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    summary = _summary("--pages", "120", "--exclude", r"/p/\d*7\b", "-o", str(out))
    truth = summary["ground_truth"]
    assert isinstance(truth, dict)
    assert truth["limited_by"] == r"--exclude /p/\d*7\b"
    urls = [json.loads(line)["url"] for line in out.read_text().splitlines()]
    assert urls and not [u for u in urls if re.search(r"/p/\d*7\b", u)]
    assert truth["missing"] > 0 and truth["unexpected"] == 0


def test_a_bad_pattern_is_a_usage_error() -> None:
    done = subprocess.run(_cli("--include", "("), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "bad pattern" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_sitemaps_flag_reads_the_sitemaps_robots_txt_lists() -> None:
    plain = _summary("--pages", "120")
    listed = _summary("--pages", "120", "--sitemaps")
    assert isinstance(plain["crawl"], dict) and isinstance(listed["crawl"], dict)
    assert plain["crawl"]["sitemap_fetches"] == 0
    assert listed["crawl"]["sitemap_fetches"] > 0
    truth = listed["ground_truth"]
    assert isinstance(truth, dict) and truth["exact"], truth
