"""The SQLite frontier: same crawl as in RAM, bounded windows, resume after a crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from crawl_helpers import (
    FakeSite,
    Trace,
    drive,
    grid_site,
    html,
    new_scheduler,
    page,
    reachable,
    robots,
)

from concur.attempt import Attempt
from concur.crawl.frontier import PAGE, ROBOTS
from concur.crawl.scheduler import CrawlOptions, Scheduler
from concur.crawl.scope import Scope
from concur.errors import StoreExistsError
from concur.records import CrawlConfig, ErrorKind
from concur.store.sqlite import SqliteStore

A = "http://a.test"
B = "http://b.test"
HERE = Path(__file__).parent


def _rss_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:  # pragma: no cover - Linux without psutil
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_sqlite_crawl_matches_memory_crawl(tmp_path: Path) -> None:
    site = grid_site([A, B], 50)
    seeds = [A + "/", B + "/"]
    scope = Scope.for_seeds(seeds)
    mem = Trace()
    drive(new_scheduler(seeds, mem, scope=scope), site, mem)

    disk = Trace()
    store = SqliteStore(tmp_path / "c.db", commit_every=7, cache_urls=5)  # the file dedups
    sched = new_scheduler(seeds, disk, scope=scope, frontier=store, options=CrawlOptions(window=3))
    drive(sched, FakeSite(site.pages), disk)
    assert sorted(r.url for r in disk.records) == sorted(r.url for r in mem.records)
    assert set(disk.by_url()) == reachable(site, seeds)
    saved = list(store.records())
    assert saved == sorted(disk.records, key=lambda r: r.index)
    assert store.counts() == {"queued": 0, "done": len(saved), "admitted": len(saved)}
    out = tmp_path / "pages.jsonl"
    assert store.export_jsonl(out) == len(saved)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["index"] for d in lines] == list(range(len(saved)))
    sched.close()
    sched.close()  # twice is fine


def test_existing_file_needs_resume(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with Scheduler([A + "/"], frontier=SqliteStore(path)):
        pass
    with pytest.raises(StoreExistsError):
        SqliteStore(path)
    SqliteStore(path, resume=True).close()


def test_windows_are_refilled_from_disk(tmp_path: Path) -> None:
    """A frontier of 10,000 URLs on 4 hosts, with at most 16 per host in RAM."""
    hosts = [f"http://h{i}.test" for i in range(4)]
    leaves = [f"{hosts[i % 4]}/leaf/{i}" for i in range(10_000)]
    site = FakeSite({A + "/": page(200, b"", 1, "text/html", links=leaves)})
    trace = Trace()
    store = SqliteStore(tmp_path / "c.db", commit_every=200)
    sched = new_scheduler(
        [A + "/"],
        trace,
        scope=Scope(),
        frontier=store,
        options=CrawlOptions(window=16, obey_robots=False, per_host=8),
        config=CrawlConfig(concurrency=32),
    )
    first = sched.next(0.0)
    assert first is not None and not isinstance(first, float)
    sched.complete(first, site.answer(first), 0.0)
    assert sched.queued == 10_000
    assert sum(len(h.queue) for h in sched._hosts.values()) <= 4 * 16
    trace.starts.append((0.0, first))
    drive(sched, site, trace)
    assert len(trace.by_url()) == 10_001
    assert all(r.error is ErrorKind.HTTP for r in trace.records[1:])  # the leaves are 404s
    sched.close()


def _snapshot(db: Path, to: Path) -> None:
    """What the disk holds if the process dies now: the file and its write-ahead log."""
    shutil.copyfile(db, to)
    if Path(f"{db}-wal").exists():
        shutil.copyfile(f"{db}-wal", f"{to}-wal")


def test_resume_after_a_crash_loses_nothing(tmp_path: Path) -> None:
    site = grid_site([A, B], 80, seed=7)
    seeds = [A + "/", B + "/"]
    scope = Scope.for_seeds(seeds)
    options = CrawlOptions(per_host=4, window=5)
    config = CrawlConfig(concurrency=6)
    expected = reachable(site, seeds)

    db = tmp_path / "crawl.db"
    before = Trace()
    store = SqliteStore(db, commit_every=10, commit_interval=3600)
    sched = new_scheduler(
        seeds, before, scope=scope, frontier=store, options=options, config=config
    )
    drive(sched, site, before, stop_after=95)
    in_flight = sched.in_flight
    assert in_flight > 0
    crashed = tmp_path / "crashed.db"
    _snapshot(db, crashed)  # mid-transaction, fetches in flight, nothing closed
    sched.close()

    after = Trace()
    store2 = SqliteStore(crashed, resume=True)
    committed_done = {r.url for r in store2.records()}
    sched2 = new_scheduler(
        seeds, after, scope=scope, frontier=store2, options=options, config=config
    )
    drive(sched2, FakeSite(site.pages), after)
    final = {r.url: r for r in store2.records()}
    sched2.close()

    assert set(final) == expected  # nothing lost
    with sqlite3.connect(crashed) as conn:
        (dups,) = conn.execute("SELECT count(*) - count(DISTINCT url) FROM urls").fetchone()
        (results,) = conn.execute("SELECT count(*) FROM results").fetchone()
    conn.close()
    assert dups == 0 and results == len(expected)
    fetched_before = [j.url for _, j in before.starts if j.kind == PAGE]
    fetched_after = [j.url for _, j in after.starts if j.kind == PAGE]
    twice = set(fetched_before) & set(fetched_after)
    assert not twice & committed_done  # nothing durably done is fetched again
    assert len(twice) <= 10 + in_flight  # at most one batch plus what was in flight
    assert not [j for _, j in after.starts if j.kind == ROBOTS]  # robots.txt came from the file


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {helpers!r})
    from crawl_helpers import FakeSite, Trace, drive, grid_site
    from concur.crawl.scheduler import CrawlOptions, Scheduler
    from concur.crawl.scope import Scope
    from concur.store.sqlite import SqliteStore

    site = grid_site({hosts!r}, 150, seed=3)
    log = open({log!r}, "a", buffering=1)

    class Slow(FakeSite):
        def answer(self, job):
            time.sleep(0.0005)  # slow enough to be killed half-way
            log.write(job.url + "\\n")
            return super().answer(job)

    store = SqliteStore({db!r}, resume={resume!r}, commit_every=20, commit_interval=0.05)
    seeds = [h + "/" for h in {hosts!r}]
    sched = Scheduler(seeds, scope=Scope.for_seeds(seeds), frontier=store,
                      options=CrawlOptions(per_host=3, window=8))
    drive(sched, Slow(site.pages), Trace())
    sched.close()
    print("finished", flush=True)
    """
)


def test_kill_9_and_resume(tmp_path: Path) -> None:
    hosts = [A, B, "http://c.test"]
    db, log = tmp_path / "crawl.db", tmp_path / "fetched.log"
    args = {"helpers": str(HERE), "hosts": hosts, "log": str(log), "db": str(db)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(resume=False, **args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 150:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err.decode()
    first_run = log.read_text().splitlines()
    with sqlite3.connect(db) as conn:
        done_at_kill = {u for (u,) in conn.execute("SELECT url FROM urls WHERE state = 2")}
    conn.close()
    assert 0 < len(done_at_kill) < 450

    log.write_text("")
    resumed = subprocess.run(
        [sys.executable, "-c", _CHILD.format(resume=True, **args)],
        capture_output=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    second_run = log.read_text().splitlines()

    seeds = [h + "/" for h in hosts]
    expected = reachable(grid_site(hosts, 150, seed=3), seeds)
    with sqlite3.connect(db) as conn:
        final = [u for (u,) in conn.execute("SELECT u.url FROM results r JOIN urls u USING (id)")]
        (queued,) = conn.execute("SELECT count(*) FROM urls WHERE state = 0").fetchone()
    conn.close()
    assert sorted(final) == sorted(expected)  # every page exactly once, none lost
    assert queued == 0
    pages_first = {u for u in first_run if not u.endswith("/robots.txt")}
    again = pages_first & set(second_run)
    assert not again & done_at_kill  # what was durably done is never fetched again
    assert len(again) <= 20 + 3 * 3 + 3  # one commit batch + in flight


def _leaves(hub: int, n: int) -> list[str]:
    return [f"http://big.test/leaf/{hub}/{i}" for i in range(n)]


def _fill(tmp_path: Path, hubs: int, per_hub: int, probe_at: int | None = None) -> tuple:
    """Queue hubs * per_hub URLs through the scheduler; RSS after probe_at hubs and at the end."""
    store = SqliteStore(tmp_path / "big.db", commit_every=50)
    seeds = [f"http://big.test/hub/{h}" for h in range(hubs)]
    options = CrawlOptions(obey_robots=False, per_host=1, window=64)
    sched = Scheduler(seeds, options=options, frontier=store)
    rss_probe = 0.0
    for h in range(hubs):
        job = sched.next(float(h))
        assert job is not None and not isinstance(job, float)
        assert job.url == seeds[h]  # hubs come first: the window is FIFO by id
        sched.complete(job, page(200, None, 1, "text/html", links=_leaves(h, per_hub)), float(h))
        if probe_at is not None and h + 1 == probe_at:
            rss_probe = _rss_mb()
    queued = sched.queued
    in_ram = sum(len(host.queue) for host in sched._hosts.values())
    rss_end = _rss_mb()
    sched.close()
    return queued, in_ram, rss_probe, rss_end


def test_frontier_of_10k_stays_on_disk(tmp_path: Path) -> None:
    queued, in_ram, _, _ = _fill(tmp_path, 10, 1000)
    assert queued == 10_000
    assert in_ram <= 64


@pytest.mark.slow
def test_frontier_of_a_million_keeps_rss_flat(tmp_path: Path) -> None:
    queued, in_ram, rss_100k, rss_1m = _fill(tmp_path, 1000, 1000, probe_at=100)
    assert queued == 1_000_000
    assert in_ram <= 64
    # 900,000 more queued URLs (~80 MB as Python strings alone) must not show in RSS
    assert rss_1m - rss_100k < 40, (rss_100k, rss_1m)


def test_retries_and_robots_survive_resume(tmp_path: Path) -> None:
    def flaky(n: int) -> Attempt:
        return page(error=ErrorKind.RESET) if n < 5 else html()

    site = FakeSite({A + "/": flaky, A + "/robots.txt": robots("User-agent: *\nCrawl-delay: 1\n")})
    db = tmp_path / "c.db"
    store = SqliteStore(db, commit_every=1)
    sched = Scheduler([A + "/"], config=CrawlConfig(retries=3, backoff=0.01), frontier=store)
    trace = Trace()
    drive(sched, site, trace, stop_after=3)  # robots + 2 failed attempts
    assert sched.stats["retries"] == 2
    store.commit()
    sched.close()
    store2 = SqliteStore(db, resume=True)
    sched2 = Scheduler([A + "/"], config=CrawlConfig(retries=3, backoff=0.01), frontier=store2)
    trace2 = Trace()
    drive(sched2, site, trace2)
    (record,) = store2.records()
    sched2.close()
    assert [j.kind for _, j in trace2.starts] == [PAGE, PAGE]  # robots.txt was cached
    assert record.attempts == 4 and record.error is ErrorKind.RESET  # the budget carried over
