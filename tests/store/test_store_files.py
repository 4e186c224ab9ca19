"""Crawl files that cannot be used are refused on one line, and left exactly as they were.

Issue 11, item 8: a crawl file cut in half or with garbage in its middle ended in a raw
``sqlite3`` traceback, sometimes part-way through a crawl, and ``resume`` on a missing
file quietly started afresh.  Now :class:`~concur.store.sqlite.SqliteStore` checks an
existing file before writing to it (``PRAGMA quick_check``, and that it is a crawl file),
raises :class:`~concur.errors.StoreError` with a reason a terminal can show, never
repairs, replaces or deletes the user's file, and turns an SQLite error in mid-crawl (a
full disk) into a ``StoreError`` too, after which closing writes nothing more.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from concur.errors import StoreError, StoreExistsError
from concur.records import FetchRecord
from concur.store.sqlite import SqliteStore

HOST = "http://a.test"


def _crawl_file(path: Path, urls: int = 4000) -> Path:
    """A crawl file of ``urls`` admitted URLs, half of them done (no crawl is run)."""
    store = SqliteStore(path, commit_every=1000)
    candidates = [(f"{HOST}/page/{i}?q=abcdefgh", 1, 0, HOST, "") for i in range(urls)]
    jobs = store.add(candidates, urls)
    for job in jobs[: urls // 2]:
        store.done(FetchRecord(job.id, job.url, 200, 1234, None, 1, 0.0, 0.1, "", job.url))
        store.tick()
    store.close()
    conn = sqlite3.connect(path)  # no free pages: the damage below lands on live data
    conn.execute("VACUUM")
    conn.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage_in_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096  # one whole page, half-way
    data[middle : middle + 4096] = random.Random(11).randbytes(4096)
    path.write_bytes(bytes(data))


def _zeros_in_a_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    third = len(data) // 3 // 4096 * 4096
    data[third : third + 4096] = bytes(4096)
    path.write_bytes(bytes(data))


def _not_a_database(path: Path) -> None:
    path.write_text("http://example.org/\n" * 500)  # a URL list given as --db by mistake


def _someone_elses_database(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "cut in half": (_cut_in_half, "is damaged"),
    "garbage in the middle": (_garbage_in_the_middle, "is damaged"),
    "zeros in a page": (_zeros_in_a_page, "is damaged"),
    "not a database": (_not_a_database, "is not an SQLite file"),
    "another program's database": (_someone_elses_database, "not a crawl file"),
}


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "new crawl"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_file_is_refused_and_left_as_it_is(
    tmp_path: Path, damage: str, resume: bool
) -> None:
    path = _crawl_file(tmp_path / "crawl.db")
    spoil, says = DAMAGE[damage]
    spoil(path)
    before = _digest(path)
    with pytest.raises(StoreError) as refused:
        SqliteStore(path, resume=resume)
    why = str(refused.value)
    assert says in why and str(path) in why and "\n" not in why, why
    assert _digest(path) == before  # not repaired, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crawl.db"]  # no -wal, no -shm
    if damage in ("not a database", "another program's database"):
        with pytest.raises(StoreError, match=says):  # what it was started with: none
            SqliteStore.saved_crawl(path)


def test_resume_needs_a_crawl_to_resume(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="does not exist: there is no crawl to resume"):
        SqliteStore(missing, resume=True)
    with pytest.raises(StoreError, match="does not exist"):
        SqliteStore.saved_crawl(missing)
    assert not missing.exists()  # looking did not make it

    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="is empty: there is no crawl to resume"):
        SqliteStore(empty, resume=True)
    assert empty.read_bytes() == b""
    SqliteStore(empty).close()  # an empty file is a fine new crawl file, though

    with pytest.raises(StoreError, match="is a folder"):
        SqliteStore(tmp_path, resume=True)


def test_a_good_file_still_opens_and_refuses_a_second_crawl(tmp_path: Path) -> None:
    path = _crawl_file(tmp_path / "crawl.db")
    with pytest.raises(StoreExistsError):
        SqliteStore(path)
    store = SqliteStore(path, resume=True)
    assert store.counts() == {"queued": 2000, "done": 2000, "admitted": 4000}
    store.close()


def test_a_full_disk_mid_crawl_is_a_store_error_and_loses_no_commit(tmp_path: Path) -> None:
    path = _crawl_file(tmp_path / "crawl.db", urls=100)
    store = SqliteStore(path, resume=True, commit_every=1)
    (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
    # what a full disk does to SQLite, for this connection: no page beyond these
    store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    many = [(f"{HOST}/more/{i}/{'x' * 200}", 2, 0, HOST, "") for i in range(2000)]
    with pytest.raises(StoreError, match="the disk is full") as full:
        store.add(many, len(many))
    assert str(path) in str(full.value)
    store.close()  # writes nothing more, raises nothing more
    store.close()

    again = SqliteStore(path, resume=True)  # what was committed before is all there
    assert again.counts() == {"queued": 50, "done": 50, "admitted": 100}
    again.close()


def test_a_row_quick_check_cannot_see_is_a_store_error(tmp_path: Path) -> None:
    path = _crawl_file(tmp_path / "crawl.db", urls=10)
    with sqlite3.connect(path) as conn:  # well-formed SQLite, nonsense to concur
        conn.execute("UPDATE results SET error = 'no such kind' WHERE id = 3")
    conn.close()
    store = SqliteStore(path, resume=True)
    with pytest.raises(StoreError, match="is damaged .a result cannot be read"):
        list(store.records())
    store.close()
