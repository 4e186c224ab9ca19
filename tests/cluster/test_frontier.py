"""The shared frontier's promises, on a real Valkey server, with fetches that do no I/O.

Each test drives :class:`~concur.cluster.job.ClusterJob`s as a driver would (see
``fake_site``), so what is checked is the frontier itself: one record per URL whoever
fetches it, leases that come back when a worker goes silent, per-host limits over all
workers, robots.txt once per host, the crawl ending by itself.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from fake_site import answer, crawl

from concur.attempt import Attempt
from concur.cluster.frontier import FrontierSpec, RedisFrontier
from concur.cluster.job import ClusterJob
from concur.cluster.valkey import EmbeddedValkey
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.errors import FrontierUnavailable
from concur.records import CrawlConfig, ErrorKind

SEEDS = ("http://a.test/p/0", "http://b.test/p/0")


def seed(spec: FrontierSpec, *, seeds=SEEDS, **options) -> RedisFrontier:
    options.setdefault("obey_robots", False)
    frontier = RedisFrontier(spec)
    frontier.seed(CrawlPlan(tuple(seeds), CrawlOptions(**options)), CrawlConfig(retries=2))
    return frontier


def job(spec: FrontierSpec, concurrency: int = 8) -> ClusterJob:
    return ClusterJob(spec, CrawlConfig(concurrency=concurrency, retries=2))


def urls_of(frontier: RedisFrontier) -> Counter[str]:
    return Counter(r.url for r in frontier.records())


def test_two_workers_record_every_page_once_and_share_the_work(spec: FrontierSpec) -> None:
    frontier = seed(spec, per_host=6)  # more host slots than one worker takes
    a, b = job(spec, 4), job(spec, 4)
    seen = crawl([a, b], pages=600, hold=2)
    counts = urls_of(frontier)
    assert len(counts) == 2 * 600 and set(counts.values()) == {1}
    assert set(seen.fetches.values()) == {1}  # no page fetched twice
    assert a.stats["records"] > 20 and b.stats["records"] > 20  # both did a share
    assert max(seen.peak_per_host.values()) <= 6  # per-host limit over both workers
    status = frontier.status()
    assert status["state"] == "done" and status["open"] == 0 and status["queued"] == 0
    assert status["admitted"] == status["records"] == 1200
    assert a.stats["round_trips"] < a.stats["records"]  # batched: fewer trips than pages
    for j in (a, b):
        j.close()


def test_a_silent_workers_leases_come_back_and_its_late_answer_is_dropped(
    valkey: EmbeddedValkey, spec: FrontierSpec
) -> None:
    spec = FrontierSpec(spec.url, spec.name, lease=0.3)
    frontier = seed(spec)
    dead = job(spec, concurrency=4)
    held = [dead.next(0.0), dead.next(0.0)]  # both seeds; then it never answers (kill -9)
    assert all(t is not None and not isinstance(t, float) for t in held)
    alive = job(spec)
    seen = crawl([alive], pages=60)
    counts = urls_of(frontier)
    assert len(counts) == 120 and set(counts.values()) == {1}
    assert all(seen.fetches[t.url] == 1 for t in held)  # fetched again, by the live one
    status = frontier.status()
    assert status["expired"] == 2 and status["retries"] == 2
    assert status["state"] == "done"
    # the dead worker wakes up and reports: too late, dropped, no second record
    for task in held:
        dead.complete(task, Attempt(200, 0, None, "", b"", "text/html", "", None), 0.0)
    assert dead.next(0.0) is None  # it learns the crawl is over
    assert dead.stats["stale"] == 2
    assert frontier.status()["records"] == 120
    for j in (dead, alive):
        j.close()


def test_a_late_worker_finds_the_crawl_done(spec: FrontierSpec) -> None:
    frontier = seed(spec)
    first = job(spec)
    crawl([first], pages=10)
    late = job(spec)
    assert late.next(0.0) is None
    assert late.stats["leased"] == 0
    assert frontier.status()["state"] == "done"
    first.close()
    late.close()


def test_max_pages_admits_that_many_urls_over_all_workers(spec: FrontierSpec) -> None:
    frontier = seed(spec, max_pages=25)
    crawl([job(spec), job(spec)], pages=200)
    assert len(urls_of(frontier)) == 25


def test_robots_txt_is_fetched_once_per_host_for_the_whole_crawl(spec: FrontierSpec) -> None:
    frontier = seed(spec, obey_robots=True)
    seen = crawl(
        [job(spec), job(spec), job(spec)], pages=40, robots="User-agent: *\nDisallow: /p/2\n"
    )
    robots = {u: n for u, n in seen.fetches.items() if u.endswith("/robots.txt")}
    assert robots == {"http://a.test/robots.txt": 1, "http://b.test/robots.txt": 1}
    records = {r.url: r for r in frontier.records()}
    assert records["http://a.test/p/2"].error is ErrorKind.ROBOTS
    assert "http://a.test/p/2" not in seen.fetches  # disallowed: never fetched
    refused = [u for u, r in records.items() if r.error is ErrorKind.ROBOTS]
    assert all("/p/2" in u and u not in seen.fetches for u in refused)
    assert frontier.status()["disallowed"] == len(refused) >= 2


def test_a_503_is_retried_and_recorded_once(spec: FrontierSpec) -> None:
    frontier = seed(spec, seeds=("http://a.test/p/0",))

    asked: Counter[str] = Counter()

    def fetch(url: str) -> Attempt:
        asked[url] += 1
        if url.endswith("/p/1") and asked[url] == 1:
            return Attempt(503, 0, ErrorKind.HTTP, "", b"", "text/plain", "", "0")
        return answer(url, 10)

    crawl([job(spec)], pages=10, fetch=fetch)
    record = {r.url: r for r in frontier.records()}["http://a.test/p/1"]
    assert record.status == 200 and record.attempts == 2
    assert frontier.status()["retries"] == 1


def test_a_crawl_name_is_seeded_once(spec: FrontierSpec) -> None:
    seed(spec)
    with pytest.raises(FileExistsError, match="--resume"):
        seed(spec)
    other = FrontierSpec(spec.url, spec.name + "x")
    with pytest.raises(LookupError, match="no such crawl"):
        RedisFrontier(other).seed(CrawlPlan(SEEDS), CrawlConfig(), resume=True)


def test_an_invalid_seed_gets_its_record(spec: FrontierSpec) -> None:
    frontier = seed(spec, seeds=("http://a.test/p/0", "ftp://nope/"))
    crawl([job(spec)], pages=3)
    record = {r.url: r for r in frontier.records()}["ftp://nope/"]
    assert record.error is ErrorKind.INVALID_URL


def test_no_server_is_a_one_line_error() -> None:
    frontier = RedisFrontier(FrontierSpec("redis://127.0.0.1:9/0"))
    t = time.monotonic()
    with pytest.raises(FrontierUnavailable, match="127.0.0.1:9") as caught:
        frontier.plan()
    assert time.monotonic() - t < 6
    assert "\n" not in str(caught.value)


def test_a_worker_waits_for_its_server_then_gives_up(tmp_path) -> None:
    server = EmbeddedValkey().start()
    try:
        spec = FrontierSpec(server.url, "gone")
        seed(spec)
        worker = ClusterJob(spec, CrawlConfig(concurrency=4), give_up=0.5)
        assert worker.next(0.0) is not None
    finally:
        server.stop()
    t = time.monotonic()
    with pytest.raises(FrontierUnavailable):
        while time.monotonic() - t < 10:
            got = worker.next(0.0)
            if isinstance(got, float):
                time.sleep(got)
    assert worker.stats["outages"] == 1


def test_a_full_server_is_a_one_line_error_not_a_hang(spec: FrontierSpec) -> None:
    with EmbeddedValkey() as server:
        spec = FrontierSpec(server.url, "full")
        frontier = seed(spec)
        used = frontier.client.info("memory")["used_memory"]
        frontier.client.config_set("maxmemory", used)  # full: every write is refused
        worker = job(spec)
        t = time.monotonic()
        with pytest.raises(
            FrontierUnavailable, match="refused: command not allowed when used memory"
        ) as caught:
            crawl([worker], pages=1000)
        assert time.monotonic() - t < 5 and "\n" not in str(caught.value)
        frontier.close()


def test_a_completion_during_a_round_trip_is_kept(spec: FrontierSpec) -> None:
    """gevent's green threads share a job with no lock and switch inside a round trip."""
    frontier = seed(spec)
    worker = job(spec)
    a, b = worker.next(0.0), worker.next(0.0)  # the two seeds
    real = worker.frontier.exchange
    inside: list[object] = []

    def exchange(name: str, finished: list[str], want: int):  # another greenlet runs meanwhile
        if finished and not inside:
            worker.complete(b, answer(b.url, 5), 0.0)
            inside.append(worker.next(0.0))  # no second round trip while one is under way
        return real(name, finished, want)

    worker.frontier.exchange = exchange  # type: ignore[method-assign]
    worker.complete(a, answer(a.url, 5), 0.0)
    crawl([worker], pages=5)
    assert inside == [0.001]
    assert len(urls_of(frontier)) == 10 and frontier.status()["records"] == 10


def test_a_server_with_a_password(tmp_path) -> None:
    with EmbeddedValkey() as server:
        admin = RedisFrontier(FrontierSpec(server.url, "pw"))
        admin.client.config_set("requirepass", "sekret")
        admin.close()
        spec = FrontierSpec(f"{server.url}?password=sekret", "pw")
        frontier = seed(spec)
        crawl([job(spec)], pages=5)
        assert frontier.status()["records"] == 10
        assert "sekret" not in frontier.where() and "password=***" in frontier.where()
        wrong = RedisFrontier(FrontierSpec(f"{server.url}?password=nope", "pw"))
        with pytest.raises(FrontierUnavailable, match="refused") as caught:
            wrong.plan()
        assert not caught.value.transient and "nope" not in str(caught.value)


def test_a_stopping_worker_gives_its_leases_back_at_once(spec: FrontierSpec) -> None:
    frontier = seed(spec)
    leaving = job(spec)
    held = [leaving.next(0.0), leaving.next(0.0)]
    assert all(t is not None and not isinstance(t, float) for t in held)
    leaving.close()  # stopped (SIGTERM) with both in flight: not finished, given back
    status = frontier.status()
    assert status["released"] == 2 and status["leased"] == 0 and status["queued"] == 2
    staying = job(spec)
    t = time.monotonic()
    crawl([staying], pages=5)
    assert time.monotonic() - t < 5  # no lease to wait out (30 s)
    assert frontier.status()["records"] == 10 and frontier.status()["expired"] == 0


def test_a_shared_crawls_records_say_what_each_page_was(spec: FrontierSpec) -> None:
    from concur.records import PageRecord

    frontier = seed(spec, seeds=("http://a.test/p/0",))
    crawl([job(spec), job(spec)], pages=13)  # p/0 -> p/1..3 -> p/4..12
    records = {r.url: r for r in frontier.records()}
    assert all(isinstance(r, PageRecord) for r in records.values())
    root, one, five = (records[f"http://a.test/p/{i}"] for i in (0, 1, 5))
    assert (root.depth, root.referrer, root.links) == (0, "", 4)  # p/1, p/2, p/3 and p/0
    assert (one.depth, one.referrer) == (1, "http://a.test/p/0")
    assert (five.depth, five.referrer) == (2, "http://a.test/p/1")
    assert root.content_type == "text/html"
