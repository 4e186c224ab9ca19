"""The URL-list job as rules, without sockets: a fake clock and hand-made attempts."""

from __future__ import annotations

import math

from concur.attempt import Attempt, answer, failure
from concur.jobs import ListJob, ListTask
from concur.records import CrawlConfig, ErrorKind


def test_one_record_per_input_url_in_any_order() -> None:
    urls = ["http://a.test/1", "not a url", " http://a.test/2 ", "ftp://x/"]
    job = ListJob(urls, CrawlConfig(concurrency=5), None)
    first, second = job.next(0.0), job.next(0.0)
    assert isinstance(first, ListTask) and isinstance(second, ListTask)
    assert second.url == "http://a.test/2"  # stripped to fetch, kept as given in the record
    assert job.next(0.0) == math.inf  # both in flight, nothing left to start
    job.complete(second, answer(200, 3), 0.5)
    job.complete(first, answer(404, 0), 1.0)
    assert job.next(1.0) is None
    records = {r.index: r for r in job.records}
    assert sorted(records) == [0, 1, 2, 3]
    assert records[1].error is ErrorKind.INVALID_URL and records[3].error is ErrorKind.INVALID_URL
    assert records[2].url == " http://a.test/2 " and records[2].ok and records[2].elapsed == 0.5
    assert records[0].error is ErrorKind.HTTP and records[0].status == 404
    assert job.peak_in_flight == 2


def test_a_retry_waits_without_holding_a_slot() -> None:
    config = CrawlConfig(concurrency=1, retries=2, backoff=1.0, max_backoff=1.0)
    job = ListJob(["http://a.test/1", "http://a.test/2"], config, None)
    task = job.next(0.0)
    job.complete(task, failure(ErrorKind.RESET, "reset")._replace(resent=1), 0.1)
    other = job.next(0.1)  # the slot went to the next URL meanwhile
    assert isinstance(other, ListTask) and other.id == 1
    job.complete(other, answer(200, 1), 0.2)
    wait = job.next(0.2)
    assert isinstance(wait, float) and 0.0 <= wait <= 1.0  # the retry's backoff, no more
    retry = job.next(1.2)
    assert isinstance(retry, ListTask) and (retry.id, retry.attempt) == (0, 2)
    job.complete(retry, answer(200, 1), 1.5)
    record = next(r for r in job.records if r.index == 0)
    assert record.ok and record.attempts == 3  # two tries and the library's re-send
    assert (record.start, record.end) == (0.0, 1.5)


def test_retry_after_is_honoured_and_retries_end() -> None:
    config = CrawlConfig(retries=1, backoff=0.0, max_backoff=30.0)
    job = ListJob(["http://a.test/"], config, None)
    busy = Attempt(429, 0, ErrorKind.HTTP, "HTTP 429", retry_after="7")
    job.complete(job.next(0.0), busy, 0.0)
    assert job.next(0.0) == 7.0
    job.complete(job.next(7.0), busy, 7.5)
    (record,) = job.records
    assert record.status == 429 and record.attempts == 2


def test_abandon_accounts_for_every_url_left() -> None:
    config = CrawlConfig(concurrency=1, retries=1, backoff=5.0)
    job = ListJob([f"http://a.test/{i}" for i in range(4)], config, None)
    job.complete(job.next(0.0), failure(ErrorKind.TIMEOUT, "slow"), 1.0)  # waits to retry
    job.abandon("the workers died", 2.0)
    assert sorted(r.index for r in job.records) == [0, 1, 2, 3]
    assert all(r.error is ErrorKind.OTHER and "died" in r.detail for r in job.records)
    assert next(r for r in job.records if r.index == 0).attempts == 1
    assert job.next(2.0) is None


def _hop(job: ListJob, now: float, status: int, location: str) -> ListTask:
    task = job.next(now)
    assert isinstance(task, ListTask)
    job.complete(task, answer(status, 0, location=location), now)
    return task


def test_redirects_are_followed_by_the_job_the_same_on_every_engine() -> None:
    job = ListJob(["http://a.test/start"], CrawlConfig(max_redirects=3), None)
    _hop(job, 0.0, 301, "/one")
    _hop(job, 0.1, 302, "http://b.test/two")
    last = job.next(0.2)
    assert isinstance(last, ListTask) and (last.url, last.hops, last.attempt) == (
        "http://b.test/two",
        2,
        1,  # a hop is not a new attempt: the record counts tries
    )
    job.complete(last, answer(200, 5), 0.3)
    (record,) = job.records
    assert record.ok and record.final_url == "http://b.test/two" and record.attempts == 1
    assert record.url == "http://a.test/start" and record.end == 0.3


def test_a_redirect_the_rules_refuse_becomes_a_record_that_says_why() -> None:
    urls = ["http://a.test/ftp", "http://a.test/loop", "http://public.test/meta"]
    job = ListJob(urls, CrawlConfig(max_redirects=2), None)
    _hop(job, 0.0, 302, "ftp://a.test/file")
    loop = job.next(0.0)
    job.complete(loop, answer(302, 0, location="/loop"), 0.0)
    for _ in range(2):
        job.complete(job.next(0.0), answer(302, 0, location="/loop"), 0.0)
    _hop(job, 0.0, 302, "http://169.254.169.254/latest/meta-data/")
    assert job.next(0.0) is None
    by_url = {r.url: r for r in job.records}
    ftp, looping, meta = (by_url[u] for u in urls)
    assert ftp.error is ErrorKind.INVALID_URL and "ftp://a.test/file" in ftp.detail
    assert looping.error is ErrorKind.OTHER and "more than 2" in looping.detail
    assert meta.error is ErrorKind.BLOCKED and "169.254.169.254 is a private address" in meta.detail
    assert meta.status == 302


def test_private_addresses_are_reached_when_allowed_or_from_private_hosts() -> None:
    allowed = ListJob(["http://public.test/"], CrawlConfig(allow_private=True), None)
    _hop(allowed, 0.0, 302, "http://127.0.0.1:8080/")
    assert allowed.next(0.0).url == "http://127.0.0.1:8080/"  # type: ignore[union-attr]
    local = ListJob(["http://127.0.0.1:8080/a"], CrawlConfig(), None)
    _hop(local, 0.0, 302, "http://127.0.0.2:8080/b")  # the mock server's own hosts
    assert local.next(0.0).url == "http://127.0.0.2:8080/b"  # type: ignore[union-attr]
