"""``--resume`` continues the crawl that was started, not the one the new command line says.

Issue 11, item 6: ``--resume --pages 1000`` on a crawl of 3,000 pages, or ``--resume
--seed 5``, ran with exit 0 and a wrong ground truth.  The crawl file now keeps what the
crawl was started with: a flag left out takes the file's value, a flag that contradicts
it is refused on one line naming both values (exit 2, the file untouched), and the pace
(``-c``, ``--per-host``...) and the engine may change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import concur

from concur.args import UsageError
from concur.cli import build_parser
from concur.commands import crawl_args
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.records import CrawlConfig
from concur.store.sqlite import SqliteStore
from mockserver.testing import serve


def _done(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
        (n,) = conn.execute("SELECT count(*) FROM urls WHERE state = 2").fetchone()
    conn.close()
    return int(n)


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def _stopped_site_crawl(db: Path, *flags: str, pages: int = 40) -> None:
    """A crawl of the synthetic site, killed (``kill -9``, with its server: the whole
    session) once ``pages`` are done."""
    run = subprocess.Popen(
        [sys.executable, "-m", "concur", "crawl", "--no-progress", "--json", "--site",
         "--db", str(db), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and run.poll() is None:
            try:
                if _done(db) >= pages:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.02)
        assert run.poll() is None, "the crawl ended before it could be stopped"
        os.killpg(run.pid, signal.SIGKILL)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL, err


def test_resume_refuses_other_site_settings_and_continues_the_first(tmp_path: Path) -> None:
    db = tmp_path / "crawl.db"
    _stopped_site_crawl(db, "--pages", "300", "--seed", "7", "--latency", "20")
    before, digest = _done(db), _digest(db)

    site = ["--site", "--db", str(db), "--resume"]
    for argv, says in [
        ([*site, "--pages", "100"], ("--pages 100 contradicts", "with --pages 300")),
        ([*site, "--seed", "5"], ("--seed 5 contradicts", "with --seed 7")),
        ([*site, "--latency", "5"], ("--latency 5 contradicts", "with --latency 20")),
        ([*site, "--delay", "5"], ("--delay 5ms contradicts", "with --latency 20")),
        ([*site, "--max-pages", "10"], ("--max-pages 10 contradicts", "without --max-pages")),
        ([*site, "--no-robots"], ("--no-robots contradicts", "without --no-robots")),
        ([*site, "--timeout", "2s"], ("--timeout 2s contradicts", "with --timeout 30s")),
        (["--follow", "--db", str(db), "--resume"], ("holds a --site crawl, not a --follow",)),
    ]:
        done = concur(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("concur crawl: error: --resume: "), done.stderr
        for part in says:
            assert part in done.stderr, (part, done.stderr)
    assert _digest(db) == digest  # refused before anything was written

    # the same values, the pace and the engine may be given; the rest comes from the file
    done = concur(
        "--site", "--db", str(db), "--resume", "--pages", "300", "--impl", "threads",
        "-c", "20", "--per-host", "3", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    truth = summary["ground_truth"]
    assert truth["exact"], truth
    assert truth["found"] == truth["expected"] > before
    assert summary["crawl"]["pages"] < truth["expected"], "the resumed run started over"
    assert summary["impl"] == "threads" and summary["crawl"]["per_host"] == 3
    # the truth was the file's site (300 pages, seed 7), not the defaults' (1,000, seed 0)
    with serve(mode="subprocess", site_pages=300, seed=7) as server:
        assert truth["expected"] == len(server.get_json("/__site")["expected"])


def _saved(tmp_path: Path, site: dict[str, Any] | None = None) -> Path:
    """A crawl file that keeps a plan, a config and maybe the site (no crawl run)."""
    db = tmp_path / "kept.db"
    seeds = ("http://127.0.0.1:8123/",)
    hosts = ("127.0.0.1", "127.0.0.2", "127.0.0.3") if site else ()
    plan = CrawlPlan(
        seeds,
        CrawlOptions(per_host=4, delay=0.5, max_pages=500, sitemaps=True),
        max_depth=3,
        domains=(*hosts, "example.org"),
        db=str(db),
        commit_every=20,
        include=("/p/",),
    )
    config = CrawlConfig(concurrency=50, timeout=7.0, retries=2, user_agent="me/1", seed=9)
    store = SqliteStore(db)
    extra = {} if site is None else {"site": {**site, "hosts": list(hosts)}}
    assert store.save_plan(plan, config, **extra)
    assert not store.save_plan(CrawlPlan(("http://elsewhere/",)))  # kept once, never replaced
    store.close()
    return db


def _resume(*argv: str) -> crawl_args.CrawlArgs:
    """What ``concur crawl ARGV`` would run (parsed and resumed here, nothing run)."""
    from concur.commands import resume

    ns = build_parser().parse_args(["crawl", *argv])
    args = crawl_args.from_namespace(ns)
    return resume.resumed(args, crawl_args.given(ns), SqliteStore.saved_crawl(ns.db))


def test_flags_left_out_take_the_files_values(tmp_path: Path) -> None:
    site = {"pages": 3000, "seed": 5, "delay_ms": 2.0, "latency": None}
    db = str(_saved(tmp_path, site))
    args = _resume("--site", "--db", db, "--resume")
    assert (args.mode, args.pages, args.seed, args.delay_ms, args.latency) == (
        "site", 3000, 5, 2.0, None,
    )  # fmt: skip
    plan = args.plan
    assert plan is not None and plan.db == db and plan.resume
    assert plan.seeds == ("http://127.0.0.1:8123/",)  # its port: the same site, same URLs
    assert plan.domains == ("example.org",)  # the site's hosts come back when it starts
    assert (plan.max_depth, plan.commit_every, plan.include) == (3, 20, ("/p/",))
    assert plan.options == CrawlOptions(per_host=4, delay=0.5, max_pages=500, sitemaps=True)
    assert args.config == CrawlConfig(
        concurrency=50, timeout=7.0, retries=2, user_agent="me/1", seed=9
    )

    # the pace may change; the engine and its options are this run's
    args = _resume(
        "--site", "--db", db, "--resume", "-c", "5", "--per-host", "1", "--crawl-delay", "0",
        "--commit-every", "100", "--impl", "tornado", "--client", "simple",
    )  # fmt: skip
    assert args.plan is not None and args.config.concurrency == 5
    assert (args.plan.options.per_host, args.plan.options.delay) == (1, 0.0)
    assert args.plan.commit_every == 100 and args.options == {"client": "simple"}
    assert args.plan.options.max_pages == 500  # and the rest is still the file's

    # the file's own values may be repeated
    same = _resume("--site", "--db", db, "--resume", "--pages", "3000", "--delay", "2ms")
    assert same.pages == 3000


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--pages", "1000"], "--pages 1000 contradicts"),
        (["--seed", "0"], "with --seed 5"),
        (["--depth", "2"], "with --depth 3"),
        (["--domain", "other.org"], "with --domain example.org"),
        (["--include", "/q/"], "with --include /p/"),
        (["--exclude", "x"], "without --exclude"),
        (["--sitemaps", "--retries", "0"], "--retries 0 contradicts"),
        (["-H", "X-A: 1"], "-H 'X-A: 1' contradicts"),
        (["--user-agent", "you/2"], "with --user-agent me/1"),
        (["--max-body", "10"], "--max-body 10 contradicts"),
    ],
)
def test_a_flag_that_contradicts_the_file_is_refused(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    db = str(_saved(tmp_path, {"pages": 3000, "seed": 5, "delay_ms": 2.0, "latency": None}))
    with pytest.raises(UsageError, match="^--resume: ") as refused:
        _resume("--site", "--db", db, "--resume", *flags)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_follow_crawl_resumes_without_its_seeds(tmp_path: Path) -> None:
    db = str(_saved(tmp_path))
    args = _resume("--follow", "--db", db, "--resume")
    assert args.mode == "follow" and args.urls == ("http://127.0.0.1:8123/",)
    assert args.plan is not None and args.plan.domains == ("example.org",)
    again = _resume("--follow", "http://127.0.0.1:8123/", "--db", db, "--resume")
    assert again.plan == args.plan
    with pytest.raises(UsageError, match="seeds http://other/ contradicts"):
        _resume("--follow", "http://other/", "--db", db, "--resume")
    with pytest.raises(UsageError, match="holds a --follow crawl, not a --site one"):
        _resume("--site", "--db", db, "--resume")


def test_an_older_file_keeps_the_command_line_with_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    SqliteStore(db).close()  # a crawl file that keeps no settings
    args = _resume("--site", "--pages", "50", "--db", str(db), "--resume")
    assert args.pages == 50
    (warning,) = args.warnings
    assert warning == f"{db} keeps no settings (an older crawl file): the command line is used"
    with pytest.raises(UsageError, match="keeps no seeds"):
        _resume("--follow", "--db", str(db), "--resume")


def test_the_saved_plan_from_python(tmp_path: Path) -> None:
    db = _saved(tmp_path)
    plan = SqliteStore.saved_plan(db)
    assert plan is not None and plan.db == str(db) and plan.resume
    assert plan.seeds == ("http://127.0.0.1:8123/",) and plan.max_depth == 3
    saved = SqliteStore.saved_crawl(db)
    assert saved is not None and saved.config is not None and saved.config.user_agent == "me/1"
    assert saved.plan == plan and saved.extra == {}
