"""The scheduler, driven with a fake clock and a fake site (no sockets)."""

from __future__ import annotations

import math
import threading
import time

import pytest
from crawl_helpers import (
    NOT_FOUND,
    FakeSite,
    Trace,
    drive,
    grid_site,
    html,
    new_scheduler,
    page,
    reachable,
    redirect,
    robots,
)

from concur.attempt import Attempt
from concur.crawl.frontier import PAGE, ROBOTS, SITEMAP, Job
from concur.crawl.scheduler import DISALLOWED, CrawlOptions, Scheduler
from concur.crawl.scope import Scope
from concur.engines.drive_threads import Locked
from concur.records import CrawlConfig, ErrorKind

A = "http://a.test"
B = "http://b.test"


def test_crawl_finds_every_reachable_page_exactly_once() -> None:
    site = grid_site([A, B], 40)
    trace = Trace()
    sched = new_scheduler([A + "/"], trace, scope=Scope.for_seeds([A, B]))
    drive(sched, site, trace)
    expected = reachable(site, [A + "/"])
    got = trace.by_url()  # asserts one record per URL
    assert set(got) == expected
    pages = [job.url for _, job in trace.starts if job.kind == PAGE]
    assert sorted(pages) == sorted(set(pages))  # nothing fetched twice
    assert sorted(r.index for r in trace.records) == list(range(len(trace.records)))
    assert sched.next(trace.end_time + 100) is None  # finished stays finished


def test_per_host_limit_and_global_limit() -> None:
    hosts = [f"http://h{i}.test" for i in range(6)]
    site = grid_site(hosts, 30, fanout=10)
    trace = Trace()
    sched = new_scheduler(
        [h + "/" for h in hosts],
        trace,
        config=CrawlConfig(concurrency=8),
        options=CrawlOptions(per_host=3),
        scope=Scope.for_seeds(hosts),
    )
    drive(sched, site, trace, latency=lambda job: 0.01 + (hash(job.url) % 7) / 100)
    assert max(trace.peak_per_host.values()) == 3
    assert trace.peak_total == 8
    assert len(trace.records) == len(reachable(site, [h + "/" for h in hosts]))


def test_min_delay_between_starts_per_host() -> None:
    site = grid_site([A, B], 15)
    trace = Trace()
    sched = new_scheduler(
        [A + "/", B + "/"],
        trace,
        options=CrawlOptions(per_host=4, delay=0.25),
        scope=Scope.for_seeds([A, B]),
    )
    drive(sched, site, trace, latency=0.01)
    for host in (A, B):
        starts = trace.starts_of(host)
        assert len(starts) > 10
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= 0.25 - 1e-9
    # the two hosts are crawled side by side, not one after the other
    assert trace.end_time < 0.25 * (len(trace.starts) - 2) * 0.75


def test_a_delayed_host_waits_for_the_answer_then_the_delay() -> None:
    # Answers slower than the delay: spacing starts alone would overlap requests, and a
    # request that left the client late would reach the site less than a delay after
    # the one before.  One at a time, each a delay after the previous answer.
    site = grid_site([A], 8)
    trace = Trace()
    sched = new_scheduler(
        [A + "/"], trace, options=CrawlOptions(per_host=4, delay=0.25, obey_robots=False)
    )
    drive(sched, site, trace, latency=0.4)
    starts = trace.starts_of(A)
    assert len(starts) > 5
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.4 + 0.25 - 1e-9


def test_robots_first_crawl_delay_and_disallow() -> None:
    site = grid_site([A], 30)
    site.pages[A + "/robots.txt"] = robots(
        "User-agent: *\nDisallow: /p1\nAllow: /p10$\nCrawl-delay: 0.5\n"
    )
    trace = Trace()
    sched = new_scheduler([A + "/"], trace, options=CrawlOptions(per_host=5))
    drive(sched, site, trace)
    first_time, first = trace.starts[0]
    assert first.kind == ROBOTS and first.url == A + "/robots.txt"
    robots_end = next(t for t, job in trace.ends if job.kind == ROBOTS)
    assert all(t >= robots_end for t, job in trace.starts[1:])  # pages wait for robots.txt
    starts = trace.starts_of(A)
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.5 - 1e-9
    fetched = set(trace.fetched())
    disallowed = {
        u for u in reachable(site, [A + "/"]) if u.startswith(A + "/p1") and u != A + "/p10"
    }
    assert disallowed and not disallowed & fetched  # never handed out
    records = trace.by_url()
    for url in disallowed:
        assert records[url].error is DISALLOWED
        assert records[url].attempts == 0
        assert "robots.txt" in records[url].detail
    if A + "/p10" in records:
        assert records[A + "/p10"].error is None


def test_robots_4xx_allows_all_and_5xx_disallows_after_retries() -> None:
    site = FakeSite({A + "/": html("/x"), A + "/x": html(), B + "/": html("/y")})
    site.pages[A + "/robots.txt"] = page(403, b"")
    site.pages[B + "/robots.txt"] = page(503, b"", retry_after="1")
    trace = Trace()
    options = CrawlOptions(robots_retries=2, robots_backoff=0.5)
    sched = new_scheduler([A + "/", B + "/"], trace, options=options)
    drive(sched, site, trace)
    records = trace.by_url()
    assert records[A + "/x"].error is None
    assert site.requests[B + "/robots.txt"] == 3  # first try + 2 retries
    b_robots = [t for t, job in trace.starts if job.url == B + "/robots.txt"]
    assert b_robots[1] - b_robots[0] >= 1.0 - 1e-9  # Retry-After honoured
    assert records[B + "/"].error is DISALLOWED
    assert "unreachable" in records[B + "/"].detail
    assert site.requests[B + "/"] == 0


def test_robots_network_error_then_success_and_redirect() -> None:
    def flaky(n: int) -> Attempt:
        return page(error=ErrorKind.TIMEOUT) if n == 0 else robots("User-agent: *\nDisallow: /no\n")

    site = FakeSite({A + "/": html("/no", "/yes"), A + "/yes": html(), A + "/robots.txt": flaky})
    site.pages[B + "/robots.txt"] = redirect("http://c.test/robots.txt")
    site.pages["http://c.test/robots.txt"] = robots("User-agent: *\nDisallow: /\n")
    site.pages[B + "/"] = html()
    trace = Trace()
    sched = new_scheduler([A + "/", B + "/"], trace, options=CrawlOptions(robots_backoff=0.1))
    drive(sched, site, trace)
    records = trace.by_url()
    assert records[A + "/yes"].error is None
    assert records[A + "/no"].error is DISALLOWED
    assert records[B + "/"].error is DISALLOWED  # the redirected robots.txt applies
    assert site.requests["http://c.test/robots.txt"] == 1


def test_obey_robots_off_fetches_no_robots() -> None:
    site = FakeSite({A + "/": html("/x"), A + "/x": html()})
    trace = Trace()
    drive(new_scheduler([A + "/"], trace, options=CrawlOptions(obey_robots=False)), site, trace)
    assert all(job.kind == PAGE for _, job in trace.starts)
    assert len(trace.records) == 2


def test_redirects_are_new_urls_chains_merge_and_loops_end() -> None:
    site = FakeSite(
        {
            A + "/": html("/r1", "/r2", "/loop1", "/self", "/target", "/nowhere", "/bad"),
            A + "/r1": redirect("/target"),
            A + "/r2": redirect(A + "/target#frag", 302),
            A + "/target": html(),
            A + "/loop1": redirect("/loop2"),
            A + "/loop2": redirect("/loop1", 307),
            A + "/self": redirect("/self"),
            A + "/nowhere": page(302, b""),
            A + "/bad": redirect("javascript:alert(1)"),
        }
    )
    trace = Trace()
    drive(new_scheduler([A + "/"], trace), site, trace)
    records = trace.by_url()
    assert site.requests[A + "/target"] == 1  # two chains meet: fetched once
    assert records[A + "/r1"].final_url == A + "/target"
    assert records[A + "/r2"].final_url == A + "/target"
    assert records[A + "/r1"].status == 301 and records[A + "/r1"].error is None
    assert site.requests[A + "/loop1"] == 1 and site.requests[A + "/loop2"] == 1
    assert records[A + "/self"].detail == "redirect to itself"
    assert "Location" in records[A + "/nowhere"].detail
    assert records[A + "/bad"].final_url == ""
    assert "unusable" in records[A + "/bad"].detail
    # a redirect target keeps the depth of the URL that redirected to it
    depth = {job.url: job.depth for _, job in trace.starts}
    assert depth[A + "/target"] == 1


def test_endless_redirect_chain_stops_at_max_redirects() -> None:
    site = FakeSite({A + "/r0": redirect("/r1")})
    for i in range(1, 50):
        site.pages[f"{A}/r{i}"] = redirect(f"/r{i + 1}")
    trace = Trace()
    drive(new_scheduler([A + "/r0"], trace, config=CrawlConfig(max_redirects=4)), site, trace)
    assert len(trace.records) == 5  # r0 .. r4
    assert "not followed" in trace.by_url()[A + "/r4"].detail


def test_a_public_page_does_not_lead_to_private_addresses() -> None:
    local = "http://127.0.0.1:8080"
    site = FakeSite(
        {
            A + "/": html("/meta", local + "/admin", B + "/ok"),
            A + "/meta": redirect("http://169.254.169.254/latest/meta-data/"),
            B + "/ok": html(),
            local + "/admin": html(),
        }
    )
    scope = Scope.for_seeds([A], domains=["b.test", "127.0.0.1", "169.254.169.254"])
    trace = Trace()
    sched = new_scheduler([A + "/"], trace, scope=scope)
    drive(sched, site, trace)
    records = trace.by_url()
    assert set(records) == {A + "/", A + "/meta", B + "/ok"}  # in scope, but not followed
    assert "169.254.169.254 is a private address" in records[A + "/meta"].detail
    assert sched.stats["blocked"] == 2
    trace = Trace()
    config = CrawlConfig(allow_private=True)
    drive(new_scheduler([A + "/"], trace, scope=scope, config=config), site, trace)
    assert local + "/admin" in trace.by_url()


def test_retry_after_pauses_the_host_and_is_honoured() -> None:
    def busy(n: int) -> Attempt:
        return page(429, b"", retry_after="3") if n == 0 else html()

    site = FakeSite({A + "/": html("/busy", "/b", "/c"), A + "/busy": busy, A + "/b": html()})
    site.pages[A + "/c"] = html()
    trace = Trace()
    config = CrawlConfig(retries=2, max_backoff=10)
    sched = new_scheduler([A + "/"], trace, config=config, options=CrawlOptions(per_host=1))
    drive(sched, site, trace, latency=0.01)
    busy_starts = [t for t, job in trace.starts if job.url == A + "/busy"]
    assert len(busy_starts) == 2
    first_end = busy_starts[0] + 0.01
    assert busy_starts[1] >= first_end + 3 - 1e-9
    # nothing else started on the host during the pause
    assert not [t for t in trace.starts_of(A) if first_end < t < first_end + 3 - 1e-9]
    record = trace.by_url()[A + "/busy"]
    assert record.error is None and record.attempts == 2
    assert record.start == busy_starts[0]


def test_retry_after_is_capped() -> None:
    site = FakeSite({A + "/": lambda n: page(503, b"", retry_after="3600") if n == 0 else html()})
    trace = Trace()
    config = CrawlConfig(retries=1, max_backoff=2.0)
    drive(new_scheduler([A + "/"], trace, config=config), site, trace)
    starts = [t for t, job in trace.starts if job.kind == PAGE]
    assert 2.0 - 1e-9 <= starts[1] - starts[0] <= 2.0 + 0.02


def test_transient_errors_back_off_within_the_budget() -> None:
    def flaky(n: int) -> Attempt:
        return page(error=ErrorKind.RESET, detail="reset") if n < 2 else html()

    site = FakeSite(
        {
            A + "/": html("/flaky", "/down", "/gone"),
            A + "/flaky": flaky,
            A + "/down": page(error=ErrorKind.TIMEOUT, detail="timed out"),
            A + "/gone": NOT_FOUND,
        }
    )
    trace = Trace()
    config = CrawlConfig(retries=3, backoff=0.2, max_backoff=5)
    drive(new_scheduler([A + "/"], trace, config=config), site, trace, latency=0.01)
    records = trace.by_url()
    assert records[A + "/flaky"].error is None and records[A + "/flaky"].attempts == 3
    assert records[A + "/down"].error is ErrorKind.TIMEOUT
    assert records[A + "/down"].attempts == 4  # 1 + retries
    assert site.requests[A + "/down"] == 4
    assert records[A + "/gone"].error is ErrorKind.HTTP and records[A + "/gone"].attempts == 1
    assert records[A + "/gone"].status == 404 and records[A + "/gone"].detail == "HTTP 404"
    down = [t for t, job in trace.starts if job.url == A + "/down"]
    for k, (a, b) in enumerate(zip(down, down[1:], strict=False), start=1):
        assert 0.01 <= b - a <= 0.01 + 0.2 * 2 ** (k - 1) + 1e-9  # full jitter, doubling


def test_page_limit() -> None:
    site = grid_site([A], 100)
    trace = Trace()
    drive(new_scheduler([A + "/"], trace, options=CrawlOptions(max_pages=17)), site, trace)
    assert len(trace.records) == 17
    assert len([1 for _, j in trace.starts if j.kind == PAGE]) == 17


def test_depth_limit() -> None:
    site = FakeSite({f"{A}/d{i}": html(f"/d{i + 1}") for i in range(10)})
    trace = Trace()
    scope = Scope.for_seeds([A], max_depth=3)
    drive(new_scheduler([A + "/d0"], trace, scope=scope), site, trace)
    assert sorted(trace.by_url()) == [f"{A}/d{i}" for i in range(4)]


def test_links_only_from_ok_html_pages() -> None:
    body = html("/from-404").body
    big = b"<a href='/early'>e</a>" + b" " * 5000 + b"<a href='/late'>l</a>"
    site = FakeSite(
        {
            A + "/": html("/json", "/missing", "/nohdr", "/big"),
            A + "/json": page(200, b'{"a": "<a href=/x>"}', content_type="application/json"),
            A + "/missing": page(404, body, content_type="text/html"),
            A + "/nohdr": page(200, b"<html><body><a href='/sniffed'>s</a></body></html>"),
            A + "/big": page(200, big, content_type="text/html"),
        }
    )
    trace = Trace()
    options = CrawlOptions(max_html=1000)
    drive(new_scheduler([A + "/"], trace, options=options), site, trace)
    urls = set(trace.by_url())
    assert A + "/sniffed" in urls and A + "/early" in urls
    assert A + "/x" not in urls and A + "/from-404" not in urls and A + "/late" not in urls


def test_invalid_and_duplicate_seeds() -> None:
    site = FakeSite({A + "/": html()})
    trace = Trace()
    seeds = [A + "/", "HTTP://A.TEST:80/#x", "ftp://a.test/", "not a url", A + "/"]
    drive(new_scheduler(seeds, trace), site, trace)
    records = trace.by_url()
    assert len(records) == 3
    assert records["ftp://a.test/"].error is ErrorKind.INVALID_URL
    assert records["not a url"].error is ErrorKind.INVALID_URL
    assert records[A + "/"].error is None


def test_next_reports_waits_and_finish() -> None:
    site = FakeSite({A + "/": html("/x"), A + "/x": html()})
    sched = Scheduler([A + "/"], options=CrawlOptions(per_host=1, delay=2.0))
    robots_job = sched.next(0.0)
    assert isinstance(robots_job, Job) and robots_job.kind == ROBOTS
    assert sched.next(0.0) == math.inf  # the host's only slot is taken
    sched.complete(robots_job, site.answer(robots_job), 0.5)
    assert sched.next(0.5) == pytest.approx(2.0)  # the delay counts from the last answer
    page = sched.next(2.5)
    assert isinstance(page, Job) and page.url == A + "/"
    assert sched.next(2.5) == math.inf
    sched.complete(page, site.answer(page), 2.6)
    assert sched.queued == 1
    assert sched.next(2.6) == pytest.approx(2.0)
    assert sched.next(4.5) == pytest.approx(0.1)  # 2.0 after the answer, not the start
    second = sched.next(4.6)
    assert isinstance(second, Job) and second.depth == 1
    sched.complete(second, site.answer(second), 4.7)
    assert sched.next(4.7) is None
    with pytest.raises(ValueError):
        sched.complete(second, site.answer(second), 4.8)


def test_disallowed_storm_does_not_block_next() -> None:
    hrefs = [f"/no/{i}" for i in range(1000)]
    site = FakeSite(
        {A + "/": html(*hrefs), A + "/robots.txt": robots("User-agent: *\nDisallow: /no/")}
    )
    trace = Trace()
    sched = new_scheduler([A + "/"], trace)
    drive(sched, site, trace)
    assert len(trace.records) == 1001
    assert sched.stats["disallowed"] == 1000


def test_many_hosts() -> None:
    hosts = [f"http://h{i}.test" for i in range(2000)]
    site = FakeSite({A + "/": html(*[h + "/" for h in hosts])})
    trace = Trace()
    sched = new_scheduler([A + "/"], trace, scope=Scope(), config=CrawlConfig(concurrency=50))
    drive(sched, site, trace)
    assert len(trace.records) == 2001
    assert sched.stats["robots_fetches"] == 2001
    assert trace.peak_total == 50


def test_sitemaps_from_robots() -> None:
    urlset = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>http://a.test/only-in-sitemap</loc></url>"
        b"<url><loc>http://elsewhere.test/x</loc></url></urlset>"
    )
    site = FakeSite(
        {
            A + "/": html(),
            A + "/robots.txt": robots("Sitemap: http://a.test/sitemap.xml\n"),
            A + "/sitemap.xml": page(200, urlset, content_type="application/xml"),
            A + "/only-in-sitemap": html(),
        }
    )
    trace = Trace()
    drive(new_scheduler([A + "/"], trace, options=CrawlOptions(sitemaps=True)), site, trace)
    assert set(trace.by_url()) == {A + "/", A + "/only-in-sitemap"}
    assert [j.kind for _, j in trace.starts].count(SITEMAP) == 1
    trace = Trace()
    drive(new_scheduler([A + "/"], trace), FakeSite(site.pages), trace)
    assert set(trace.by_url()) == {A + "/"}  # off by default


def test_blocking_front_with_threads() -> None:
    site = grid_site([A, B], 60)
    records: list[object] = []
    sched = Scheduler(
        [A + "/"],
        config=CrawlConfig(concurrency=16),
        options=CrawlOptions(per_host=4),
        scope=Scope.for_seeds([A, B]),
        on_record=records.append,
    )
    front = Locked(sched, time.perf_counter)
    lock = threading.Lock()
    in_flight = {A: 0, B: 0}
    peak = {A: 0, B: 0}

    def worker() -> None:
        while (job := front.take()) is not None:
            with lock:
                in_flight[job.host] += 1
                peak[job.host] = max(peak[job.host], in_flight[job.host])
                page = site.answer(job)
            with lock:
                in_flight[job.host] -= 1
            front.complete(job, page)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert len(records) == len(reachable(site, [A + "/"]))
    assert max(peak.values()) <= 4


def test_a_link_too_deep_once_is_taken_when_found_shallower() -> None:
    site = FakeSite(
        {
            A + "/": html("/mid"),
            A + "/mid": html("/x"),  # /x at depth 2: too deep
            A + "/other": html("/x"),  # /x at depth 1: fine, found later
            A + "/x": html(),
        }
    )
    trace = Trace()
    scope = Scope.for_seeds([A], max_depth=1, exclude=[r"/never"])
    sched = new_scheduler([A + "/", A + "/other"], trace, scope=scope)
    drive(sched, site, trace, latency=lambda job: 1.0 if job.url.endswith("/other") else 0.01)
    assert A + "/x" in trace.by_url()


def test_robots_is_read_again_when_stale() -> None:
    site = FakeSite({f"{A}/d{i}": html(f"/d{i + 1}") for i in range(6)})
    trace = Trace()
    options = CrawlOptions(robots_ttl=0.05, per_host=1)
    drive(new_scheduler([A + "/d0"], trace, options=options), site, trace, latency=0.02)
    assert site.requests[A + "/robots.txt"] >= 3
    assert len(trace.records) == 7


def test_query_order_option() -> None:
    site = FakeSite({A + "/": html("/q?b=1&a=2", "/q?a=2&b=1")})
    trace = Trace()
    drive(new_scheduler([A + "/"], trace), site, trace)
    assert len(trace.records) == 2
    trace = Trace()
    options = CrawlOptions(sort_query=False)
    drive(new_scheduler([A + "/"], trace, options=options), FakeSite(site.pages), trace)
    assert len(trace.records) == 3
