"""A crawl file keeps the plan it was started with, for Python as for the command line.

Issue 11, item 6, from Python: a crawl run with ``CrawlPlan(db=...)`` can be resumed from
its file alone, ``engine.crawl(SqliteStore.saved_plan(db), saved.config)``, with nothing
fetched again that was done.  The crawl is real: an engine against the mock server's
synthetic site over loopback.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import get_engine
from concur.records import CrawlConfig
from concur.store.sqlite import SqliteStore
from mockserver.testing import serve


def test_save_plan_keeps_the_first_and_reads_back(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    plan = CrawlPlan(("http://a.test/",), CrawlOptions(per_host=3), max_depth=2, db=str(db))
    config = CrawlConfig(concurrency=7, retries=1)
    store = SqliteStore(db)
    assert store.save_plan(plan, config, note={"any": "json"})
    assert not store.save_plan(replace(plan, max_depth=9))  # never replaced
    store.close()
    saved = SqliteStore.saved_crawl(db)
    assert saved is not None
    assert saved.plan == replace(plan, resume=True)
    assert saved.config == config and saved.extra == {"note": {"any": "json"}}
    assert SqliteStore.saved_plan(db) == saved.plan

    store = SqliteStore(db)  # no URL in it yet: a new crawl may take the file over
    assert store.save_plan(replace(plan, max_depth=9), overwrite=True)
    store.close()
    assert SqliteStore.saved_plan(db) == replace(plan, max_depth=9, resume=True)

    older = tmp_path / "older.db"
    SqliteStore(older).close()
    assert SqliteStore.saved_plan(older) is None


def test_a_crawl_from_python_resumes_from_its_file_alone(tmp_path: Path) -> None:
    db = str(tmp_path / "crawl.db")
    hosts = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    engine = get_engine("asyncio")
    with serve(mode="subprocess", site_pages=60) as server:
        plan = CrawlPlan((server.url + "/",), domains=hosts, max_depth=2, db=db)
        config = CrawlConfig(concurrency=10)
        first = engine.crawl(plan, config)
        saved = SqliteStore.saved_crawl(db)
        assert saved is not None and saved.config == config
        assert saved.plan == replace(plan, resume=True)
        again = engine.crawl(saved.plan, saved.config)
    assert first.records and not again.records  # all was done: nothing fetched again
