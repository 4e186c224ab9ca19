"""Shared crawls end to end: real worker processes, the mock server's site, real Valkey.

The site's server belongs to each test, so it sees every request of every worker: the
crawl must reach the site's exact ground truth, no host may see more than ``--per-host``
requests in flight from all workers together, the Crawl-delay host no shorter gap, and
robots.txt is asked for once per host.  Then the faults: a worker killed (``kill -9``)
mid-crawl, everything killed and ``--resume``d, the Valkey server restarted mid-crawl.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from concur.cluster.frontier import FrontierSpec, RedisFrontier
from concur.cluster.valkey import EmbeddedValkey
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import available_engines
from concur.records import CrawlConfig
from concur.report import ground_truth
from mockserver.testing import RunningServer, serve

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CRAWL_DELAY = 0.1  # the site's third host asks for it in robots.txt
MIXED = [e for e in ("asyncio", "threads", "gevent", "uvloop") if e in available_engines()]


@pytest.fixture
def site() -> Iterator[RunningServer]:
    with serve(mode="subprocess", site_pages=240, site_hosts=3, latency="5") as server:
        yield server


def seeded(url: str, server: RunningServer, *, lease: float = 30.0) -> FrontierSpec:
    spec = FrontierSpec(url, f"t{uuid.uuid4().hex[:10]}", lease=lease)
    frontier = RedisFrontier(spec)
    plan = CrawlPlan((server.url + "/",), CrawlOptions(per_host=2), domains=HOSTS)
    frontier.seed(plan, CrawlConfig(retries=2, timeout=10))
    frontier.close()
    return spec


def worker(spec: FrontierSpec, impl: str, concurrency: int = 4) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "concur", "worker", "--frontier", spec.url, "--name", spec.name]
    argv += ["--lease", f"{spec.lease:g}", "--impl", impl, "-c", str(concurrency), "--json"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen[str]], timeout: float = 90) -> list[dict]:
    """Wait for every worker to stop by itself; their summaries."""
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        assert p.returncode in (0, -9), stderr[-2000:]
        if p.returncode == 0:
            out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def check_site(server: RunningServer, spec: FrontierSpec) -> dict:
    """The crawl against the site's truth, and what the site's server saw."""
    frontier = RedisFrontier(spec)
    records = list(frontier.records())
    status = frontier.status()
    frontier.close()
    assert len({r.url for r in records}) == len(records) == status["admitted"]  # one each
    stats = server.get_json("/__site?stats=1")
    truth = ground_truth(server.get_json("/__site"), stats, records)
    assert truth["exact"], truth
    assert status["state"] == "done"
    return {"status": status, "stats": stats["stats"], "truth": truth}


def test_four_engines_share_one_crawl_exactly_and_politely(
    valkey: EmbeddedValkey, site: RunningServer
) -> None:
    spec = seeded(valkey.url, site)
    t0 = time.monotonic()
    summaries = finish([worker(spec, impl) for impl in MIXED])
    assert time.monotonic() - t0 < 60
    seen = check_site(site, spec)
    hosts = seen["stats"]["hosts"]
    assert all(h["peak_in_flight"] <= 2 for h in hosts.values()), hosts  # all workers together
    delayed = hosts[site.url.replace("http://127.0.0.1", "127.0.0.3")]
    assert delayed["peak_in_flight"] == 1
    assert delayed["min_gap_after_robots_s"] >= CRAWL_DELAY * 0.95, delayed
    assert seen["stats"]["fetched_twice_count"] == 0  # robots.txt included: once per host
    assert seen["status"]["robots_fetches"] == 3
    assert sum(s["worker"]["records"] for s in summaries) == seen["status"]["records"]
    assert {s["worker"]["mode"] for s in summaries} == {"cluster"}


def test_a_worker_killed_mid_crawl_loses_nothing(
    valkey: EmbeddedValkey, site: RunningServer
) -> None:
    spec = seeded(valkey.url, site, lease=1.0)
    procs = [worker(spec, "asyncio"), worker(spec, "threads"), worker(spec, "asyncio")]
    victim = procs[0]
    frontier = RedisFrontier(spec)
    deadline = time.monotonic() + 30
    while frontier.status()["records"] < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGSTOP)  # frozen: what it holds can be read, then it dies
    held = [
        v
        for v in frontier.client.hvals(frontier.key("leased"))
        if v.split(b"\x1f")[0].split(b":")[1] == str(victim.pid).encode()
    ]
    os.kill(victim.pid, signal.SIGKILL)
    finish(procs)
    seen = check_site(site, spec)
    assert seen["stats"]["fetched_twice_count"] <= len(held)  # at most what it held
    assert seen["status"]["expired"] == len(held)
    frontier.close()


def test_the_server_restarted_mid_crawl_loses_nothing(tmp_path: Path, site: RunningServer) -> None:
    data = tmp_path / "valkey"
    sock = tmp_path / "v.sock"
    server = EmbeddedValkey(data, socket=sock).start()
    try:
        spec = seeded(server.url, site)
        procs = [worker(spec, "asyncio"), worker(spec, "threads")]
        frontier = RedisFrontier(spec)
        deadline = time.monotonic() + 30
        while frontier.status()["records"] < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        frontier.close()
        server.stop()  # SIGTERM: the append-only file is complete
        time.sleep(1.0)  # the workers meet a closed socket, and back off
        server = EmbeddedValkey(data, socket=sock).start()
        summaries = finish(procs)
        assert sum(s["worker"]["outages"] for s in summaries) >= 1
        check_site(site, spec)
    finally:
        server.stop()


def _run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "concur", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, **kw,
    )  # fmt: skip


def test_crawl_with_workers_on_an_embedded_server_is_exact(tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    run = _run("crawl", "--site", "--pages", "200", "--workers", "2", "--json", "--no-progress",
               "-o", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["ground_truth"]["exact"]
    assert summary["shared"]["workers"] == 2 and summary["shared"]["workers_failed"] == 0
    lines = out.read_text().splitlines()
    assert len(lines) == summary["requests"]


def test_kill_everything_then_resume_is_exact(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    argv = ["crawl", "--site", "--pages", "300", "--delay", "20", "--workers", "2", "--db", str(db),
            "--lease", "1s", "--json", "--no-progress"]  # fmt: skip
    run = subprocess.Popen(
        [sys.executable, "-m", "concur", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(3.0)
    os.killpg(run.pid, signal.SIGKILL)  # the crawl, its workers, Valkey and the site: all
    run.wait()
    resumed = _run("crawl", "--site", "--workers", "2", "--db", str(db), "--resume", "--json",
                   "--no-progress")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["ground_truth"]["exact"], summary["ground_truth"]
    assert summary["ground_truth"]["expected"] > 300  # the same site: --pages 300 was kept


def test_status_and_export_read_a_crawl(
    valkey: EmbeddedValkey, site: RunningServer, tmp_path: Path
) -> None:
    spec = seeded(valkey.url, site)
    finish([worker(spec, "asyncio")])
    status = _run("status", "--frontier", spec.url, "--name", spec.name, "--json")
    assert status.returncode == 0, status.stderr
    s = json.loads(status.stdout)
    assert s["state"] == "done" and s["queued"] == 0 and s["leased"] == 0
    text = _run("status", "--frontier", spec.url, "--name", spec.name)
    assert f"crawl {spec.name!r}" in text.stdout and "records/s" in text.stdout
    out = tmp_path / "all.jsonl"
    export = _run("export", "--frontier", spec.url, "--name", spec.name, "-o", str(out))
    assert export.returncode == 0, export.stderr
    assert len(out.read_text().splitlines()) == s["records"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["crawl", "--follow", "http://x.test/", "--workers", "2", "--sitemaps"], "--sitemaps"),
        (["crawl", "--follow", "http://x.test/", "--name", "a"], "shared crawl"),
        (["crawl", "--follow", "http://x.test/", "--workers", "0"], "--workers 0"),
        (["crawl", "--follow", "http://x.test/", "--frontier", "redis://h/0", "--db", "x"], "--db"),
        (["status", "--frontier", "redis://127.0.0.1:9/0", "--name", "a"], "127.0.0.1:9"),
        (["worker", "--frontier", "redis://127.0.0.1:9/0"], "127.0.0.1:9"),
    ],
)
def test_bad_shared_flags_are_one_line_errors(args: list[str], says: str) -> None:
    run = _run(*args)
    assert run.returncode == 2
    assert says in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_the_python_api_seeds_crawls_and_joins(valkey: EmbeddedValkey, site: RunningServer) -> None:
    import concur

    spec = FrontierSpec(valkey.url, f"api{uuid.uuid4().hex[:8]}")
    result = concur.follow(
        site.url + "/", frontier=spec, domains=HOSTS, engine="threads", concurrency=4
    )
    truth = ground_truth(site.get_json("/__site"), site.get_json("/__site?stats=1"), result.records)
    assert truth["exact"] and result.extra["mode"] == "shared"
    late = concur.work(spec, engine="asyncio")  # a late worker: the crawl is done
    assert late.records == ()
    with pytest.raises(concur.ConcurError, match="exists already"):
        concur.follow(site.url + "/", frontier=spec)


def test_seed_and_leave_then_resume_on_a_server_of_ones_own(
    valkey: EmbeddedValkey, site: RunningServer, tmp_path: Path
) -> None:
    name = f"cli{uuid.uuid4().hex[:8]}"
    shared = ["--frontier", valkey.url, "--name", name]
    hosts = [arg for host in HOSTS[1:] for arg in ("--domain", host)]
    seed = _run("crawl", "--follow", site.url + "/", *hosts, *shared, "--workers", "0")
    assert seed.returncode == 0, seed.stderr
    assert f"concur worker --frontier {valkey.url} --name {name}" in seed.stderr
    out = tmp_path / "all.jsonl"
    run = _run("crawl", "--follow", "--resume", *shared, "--workers", "2", "--json",
               "--no-progress", "-o", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    from concur.records import FetchRecord

    records = [FetchRecord.from_dict(json.loads(line)) for line in out.read_text().splitlines()]
    stats = site.get_json("/__site?stats=1")
    assert ground_truth(site.get_json("/__site"), stats, records)["exact"]
    again = _run("crawl", "--follow", "--resume", "--frontier", valkey.url, "--name", "nope")
    assert again.returncode == 2 and "no such crawl" in again.stderr


def test_sigterm_keeps_the_crawl_and_says_how_to_continue(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    argv = ["crawl", "--site", "--pages", "300", "--delay", "20", "--workers", "2", "--db", str(db),
            "--no-progress"]  # fmt: skip
    run = subprocess.Popen(
        [sys.executable, "-m", "concur", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    time.sleep(3.0)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 143, stderr
    assert f"--db {db} --resume --impl asyncio --workers 2" in stderr
    resumed = _run("crawl", "--site", "--workers", "2", "--db", str(db), "--resume", "--json",
                   "--no-progress")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["ground_truth"]["exact"]


@pytest.mark.parametrize("impl", available_engines())
def test_every_engine_can_be_a_worker(valkey: EmbeddedValkey, impl: str) -> None:
    with serve(mode="subprocess", site_pages=60, site_hosts=3, site_crawl_delay=0.0) as server:
        spec = seeded(valkey.url, server)
        (summary,) = finish([worker(spec, impl)])
        assert summary["worker"]["records"] == check_site(server, spec)["status"]["records"]
