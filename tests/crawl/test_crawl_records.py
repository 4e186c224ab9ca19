"""A crawl's records say what each page was: depth, referrer, type, links, title, redirect.

A URL list keeps its :class:`~concur.records.FetchRecord`; a crawl writes
:class:`~concur.records.PageRecord`s, through memory, SQLite (and ``--resume``) alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from crawl_helpers import FakeSite, Trace, drive, html, new_scheduler, redirect

from concur.crawl.scheduler import CrawlOptions
from concur.records import FetchRecord, PageRecord
from concur.store.sqlite import SqliteStore

ROOT = "http://a.test/"


def site() -> FakeSite:
    s = FakeSite()
    s.pages[ROOT] = html("/one", "/two", "/old", "/one", extra="<title>  The\n root </title>")
    s.pages["http://a.test/one"] = html("/deep", extra="<title>One</title>")
    s.pages["http://a.test/two"] = html()
    s.pages["http://a.test/old"] = redirect("/moved")
    s.pages["http://a.test/moved"] = html(extra="<title>Moved</title>")
    s.pages["http://a.test/deep"] = html()
    return s


def crawl(**kw: object) -> dict[str, PageRecord]:
    trace = Trace()
    scheduler = new_scheduler([ROOT], trace, options=CrawlOptions(obey_robots=False), **kw)
    drive(scheduler, site(), trace)
    scheduler.close()
    records = trace.by_url()
    assert all(isinstance(r, PageRecord) for r in records.values())
    return records  # type: ignore[return-value]


def check(records: dict[str, PageRecord]) -> None:
    root, one, old, moved = (records[ROOT + p] for p in ("", "one", "old", "moved"))
    assert (root.depth, root.referrer, root.title, root.links) == (0, "", "The root", 3)
    assert root.content_type.startswith("text/html")
    assert (one.depth, one.referrer, one.title, one.links) == (1, ROOT, "One", 1)
    assert records[ROOT + "deep"].referrer == ROOT + "one"
    assert records[ROOT + "deep"].depth == 2
    assert old.final_url == ROOT + "moved" and old.links == 0 and old.title == ""
    assert (moved.depth, moved.referrer) == (1, ROOT + "old")  # a redirect keeps the depth


def test_records_in_memory_say_what_each_page_was() -> None:
    check(crawl())


def test_records_kept_in_sqlite_and_read_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    crawl(frontier=SqliteStore(db))
    store = SqliteStore(db, resume=True)
    check({r.url: r for r in store.records()})
    store.close()


def test_a_record_round_trips_through_json() -> None:
    for record in crawl().values():
        again = FetchRecord.from_dict(json.loads(json.dumps(record.to_dict())))
        assert again == record and isinstance(again, PageRecord)
    plain = FetchRecord(0, "http://x/", 200, 1, None, 1, 0.0, 1.0)
    assert "depth" not in plain.to_dict() and FetchRecord.from_dict(plain.to_dict()) == plain


def test_a_crawl_file_from_before_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    crawl(frontier=SqliteStore(db))
    conn = sqlite3.connect(db)  # make it look like a file of the first version
    conn.execute("ALTER TABLE results DROP COLUMN title")
    conn.execute("ALTER TABLE urls DROP COLUMN referrer")
    conn.close()
    store = SqliteStore(db, resume=True)
    records = {r.url: r for r in store.records()}
    assert records[ROOT + "one"].title == "" and records[ROOT + "one"].referrer == ""
    assert records[ROOT + "one"].links == 1  # the columns still there keep their values
    store.close()
