"""A crawl frontier and its results in one SQLite file: bounded memory, resumable after kill -9.

Why SQLite: it ships with Python, it is a single file, and in WAL mode a commit appends
to a log instead of rewriting pages, so committing often is cheap.  A crawl that keeps
its frontier in RAM needs RAM for every URL it has ever seen; here the URLs live on
disk, indexed, and the scheduler holds only a small window of queued URLs per origin,
refilled from the file (:meth:`SqliteStore.load`).

The file::

    hosts    (id, key UNIQUE, robots_status, robots_body, robots_at)    one row per origin
    urls     (id, url UNIQUE, host, depth, hops, state, attempts)        every admitted URL
    results  (id, status, nbytes, error, attempts, start, end, detail, final_url)
    meta     (key, value)              format version; the crawl's defining parameters

``urls.state`` is 0 (queued) or 2 (done).  A URL being fetched is still 0 in the file,
and that is exactly what crash safety needs: if the process dies, everything that was
not durably *done* is queued again on resume, and nothing else is.  (There is no
``in_flight`` state to reset: writing one per hand-out would cost a write per page and
buy nothing.)  ``url`` is UNIQUE, so de-duplication is the database's job and costs no
RAM; a bounded cache of recently seen URLs saves a database call for the links every
page repeats (navigation bars).

Batches: completions are buffered and written, with the links they produced, in one
transaction every ``commit_every`` completions or ``commit_interval`` seconds,
whichever comes first.  After a ``kill -9``, ``SqliteStore(path, resume=True)``
sees every committed batch: no admitted URL is lost, and the only pages fetched again
are those in flight at the kill or completed since the last commit (at most one batch).
``commit_every=1`` makes that "only those in flight", at the price of a commit per page
(still no fsync: with ``synchronous=NORMAL`` a WAL commit survives a process crash; it is
a power cut that may lose the last commits).

Ids: a URL's id (its record's ``index``) is its discovery order from 0; the file's rowid
is id + 1.

What the crawl was started with (:meth:`SqliteStore.save_plan`): the plan (seeds, scope,
politeness), the fetch config and what the caller adds (the CLI: the synthetic site), as
JSON in ``meta`` under ``crawl``, written once when the crawl starts and never changed,
so that a resumed crawl is the crawl that was started (:meth:`SqliteStore.saved_crawl`).

A file that cannot be used is a :class:`~concur.errors.StoreError` with a one-line reason,
and the file is left exactly as it was: never repaired, truncated or replaced.  Opening an
existing file first reads it without writing: ``PRAGMA quick_check`` (about 35 ms for a
file of 100,000 URLs, 17 MB, here), then that it is a crawl file of this format.  An SQLite
error later, mid-crawl (a full disk, a file damaged while it is used), becomes a
``StoreError`` naming the file at this class's boundary.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from concur.crawl.frontier import PAGE, Candidate, Job
from concur.crawl.plan import CrawlPlan
from concur.errors import StoreError, StoreExistsError
from concur.records import CrawlConfig, ErrorKind, FetchRecord, PageRecord

__all__ = ["SavedCrawl", "SqliteStore", "StoreError", "StoreExistsError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    robots_status INTEGER,
    robots_body BLOB,
    robots_at REAL
);
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    host INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    hops INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    referrer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS urls_queued ON urls (host, id) WHERE state = 0;
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    status INTEGER,
    nbytes INTEGER NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    detail TEXT NOT NULL,
    final_url TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    links INTEGER NOT NULL DEFAULT 0,
    title TEXT NOT NULL DEFAULT ''
);
"""
# Columns added since the first crawl files: a file made before them gets them on open.
_ADDED = {
    "urls": (("referrer", "TEXT NOT NULL DEFAULT ''"),),
    "results": (
        ("content_type", "TEXT NOT NULL DEFAULT ''"),
        ("links", "INTEGER NOT NULL DEFAULT 0"),
        ("title", "TEXT NOT NULL DEFAULT ''"),
    ),
}
_VERSION = "1"
QUEUED, DONE = 0, 2
_TABLES = frozenset({"meta", "hosts", "urls", "results"})

T = TypeVar("T")


def _why(path: str, exc: sqlite3.Error) -> str:
    """One line for an SQLite error on the file at ``path``: what it means for the user."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return f"{path} is not an SQLite file, so not a crawl file; it is left as it is"
    if name == "SQLITE_CORRUPT":
        return (
            f"{path} is damaged ({exc}); it is left as it is: start the crawl again in "
            "another file (sqlite3's .recover may save what it holds)"
        )
    if name in ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"):
        return f"cannot write {path} ({exc}): can this user write to it and to its folder?"
    if name == "SQLITE_FULL":
        return f"cannot write {path}: the disk is full"
    if name.startswith("SQLITE_IOERR"):
        return f"cannot write {path}: {exc} (is the disk full, or the file over a size limit?)"
    return f"{path}: {exc}"


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """``method`` with SQLite's errors turned into one-line :class:`StoreError` s."""

    @functools.wraps(method)
    def call(self: SqliteStore, *args: Any, **kw: Any) -> T:
        try:
            return method(self, *args, **kw)
        except sqlite3.Error as exc:
            self._failed = True
            raise StoreError(_why(self.path, exc)) from exc

    return call


@dataclass(frozen=True, slots=True)
class SavedCrawl:
    """What a crawl file's crawl was started with (:meth:`SqliteStore.save_plan`).

    ``plan`` resumes from the file (its ``db`` is the file, ``resume`` is true);
    ``config`` is None when it was not saved; ``extra`` is what the caller added.
    """

    plan: CrawlPlan
    config: CrawlConfig | None
    extra: dict[str, Any] = field(default_factory=dict)


def _read_only_uri(path: str) -> str:
    """A URI that opens ``path`` for reading only.  Without a ``-wal`` file next to it, the
    file holds everything and is opened ``immutable`` as well, which leaves no ``-wal`` or
    ``-shm`` file behind; with one, SQLite must read the log too."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    return uri if Path(f"{path}-wal").exists() else uri + "&immutable=1"


def _crawl_meta(conn: sqlite3.Connection, path: str, resume: bool = True) -> str | None:
    """The saved crawl's JSON in ``conn`` (None: none saved); :class:`StoreError` when the
    file is not a crawl file of this format (an SQLite file with no table at all is a new
    crawl file, unless ``resume``)."""
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if resume:
            raise StoreError(f"{path} holds no crawl to resume")
        return None
    if not _TABLES <= tables:
        raise StoreError(f"{path} is an SQLite file but not a crawl file; it is left as it is")
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('version', 'crawl')"))
    if "version" not in meta:
        raise StoreError(f"{path} is an SQLite file but not a crawl file; it is left as it is")
    if meta["version"] != _VERSION:
        raise StoreError(
            f"{path} is a crawl file of format {meta['version']}; "
            f"this concur reads format {_VERSION}"
        )
    return meta.get("crawl")


def _add_columns(conn: sqlite3.Connection) -> None:
    """Give a crawl file made before a column existed that column (:data:`_ADDED`)."""
    for table, columns in _ADDED.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def _check(path: str, resume: bool) -> None:
    """Refuse, before writing anything, a file that cannot be used (module docstring)."""
    if path in ("", ":memory:"):
        return
    file = Path(path)
    if not file.exists():
        if resume:
            raise StoreError(f"{path} does not exist: there is no crawl to resume")
        return
    if file.is_dir():
        raise StoreError(f"{path} is a folder, not a crawl file")
    if file.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        if resume:
            raise StoreError(f"{path} is empty: there is no crawl to resume")
        return  # an empty file (made by mktemp or touch) is a new crawl file
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            problems = [row for (row,) in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                lines = problems[0].splitlines() if problems else ["no answer"]
                first = next((x for x in lines if not x.startswith("***")), lines[0])
                raise StoreError(
                    f"{path} is damaged (quick_check: {first}); it is left as it is: start "
                    "the crawl again in another file (sqlite3's .recover may save what it holds)"
                )
            _crawl_meta(conn, path, resume)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(_why(path, exc)) from exc


class SqliteStore:
    """A :class:`~concur.crawl.frontier.Frontier` in an SQLite file (see the module docstring).

    ``resume=False`` refuses a file that already holds URLs (:class:`StoreExistsError`),
    so that a typo cannot mix two crawls; ``resume=True`` continues it, and refuses a
    file that does not exist or holds no crawl (:class:`StoreError`).  An existing file
    is checked before anything is written to it (see the module docstring);
    ``check=False`` skips that, for a file this process has just used.  ``":memory:"``
    gives a throw-away store (tests).  ``cache_urls`` bounds the recently-seen cache
    (two generations of this many URLs at most).  Use from one thread at a time (the
    :class:`~concur.crawl.scheduler.BlockingScheduler` lock is enough).
    """

    windowed = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        resume: bool = False,
        commit_every: int = 500,
        commit_interval: float = 0.5,
        cache_urls: int = 50_000,
        check: bool = True,
    ) -> None:
        self.path = str(path)
        self.commit_every = max(1, commit_every)
        self.commit_interval = commit_interval
        self._cache_cap = max(1, cache_urls)
        if check:
            _check(self.path, resume)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(_why(self.path, exc)) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-8192")  # KiB: the page cache is bounded too
            conn.executescript(_SCHEMA)
            _add_columns(conn)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (_VERSION,))
            (rows,) = conn.execute("SELECT count(*) FROM urls").fetchone()
            if rows and not resume:
                why = f"{self.path} holds a crawl of {rows} URLs: resume it or use another file"
                raise StoreExistsError(why)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(_why(self.path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._closed = False
        self._failed = False  # an SQLite error happened: close() writes nothing more
        self._in_tx = False
        self._results: list[tuple[object, ...]] = []
        self._done: list[tuple[int]] = []
        self._attempts: list[tuple[int, int]] = []
        self._last_commit = time.monotonic()
        self._recent: set[str] = set()
        self._old: set[str] = set()
        self._host_ids: dict[str, int] = {}
        self._host_keys: dict[int, str] = {}
        for hid, key in conn.execute("SELECT id, key FROM hosts"):
            self._host_ids[key] = hid
            self._host_keys[hid] = key
        (max_rowid,) = conn.execute("SELECT coalesce(max(id), 0) FROM urls").fetchone()
        self._max_rowid: int = max_rowid

    # -- the Frontier protocol ---------------------------------------------------------

    def unknown(self, urls: Iterable[str]) -> list[str]:
        recent, old = self._recent, self._old
        return [url for url in urls if url not in recent and url not in old]

    def _remember(self, url: str) -> None:
        recent = self._recent
        recent.add(url)
        if len(recent) >= self._cache_cap:  # two generations: bounded, and O(1) to age
            self._old = recent
            self._recent = set()

    @_translated
    def add(self, candidates: Sequence[Candidate], limit: int) -> list[Job]:
        if limit <= 0:
            return []
        rows = []
        for url, depth, hops, host, referrer in candidates:
            if url in self._recent or url in self._old:
                continue
            hid = self._host_ids.get(host)
            if hid is None:
                hid = self._new_host(host)
            rows.append((url, hid, depth, hops, referrer))
        if not rows:
            return []
        self._begin()
        conn = self._conn
        before = self._max_rowid
        insert = (
            "INSERT OR IGNORE INTO urls (url, host, depth, hops, referrer) VALUES (?, ?, ?, ?, ?)"
        )
        if len(rows) <= limit:
            conn.executemany(insert, rows)
            tried = rows
        else:  # near max_pages: insert one by one, stop when the budget is spent
            added = 0
            tried = []
            for row in rows:
                tried.append(row)
                added += conn.execute(insert, row).rowcount
                if added >= limit:
                    break
        for row in tried:
            self._remember(row[0])
        jobs = []
        keys = self._host_keys
        for rowid, url, hid, depth, hops, referrer in conn.execute(
            "SELECT id, url, host, depth, hops, referrer FROM urls WHERE id > ? ORDER BY id",
            (before,),
        ):
            jobs.append(Job(rowid - 1, url, depth, keys[hid], 1, PAGE, hops, referrer))
            self._max_rowid = rowid
        return jobs

    def admitted(self) -> int:
        return self._max_rowid

    @_translated
    def load(self, host: str, after: int, limit: int) -> list[Job]:
        hid = self._host_ids.get(host)
        if hid is None:
            return []
        cur = self._conn.execute(
            "SELECT id, url, depth, hops, attempts, referrer FROM urls"
            " WHERE host = ? AND state = 0 AND id > ? ORDER BY id LIMIT ?",
            (hid, after + 1, limit),
        )
        return [Job(r - 1, url, d, host, a + 1, PAGE, h, ref) for r, url, d, h, a, ref in cur]

    @_translated
    def queued_hosts(self) -> Iterable[tuple[str, int]]:
        cur = self._conn.execute(
            "SELECT host, count(*) FROM urls WHERE state = 0 GROUP BY host ORDER BY host"
        )
        return [(self._host_keys[hid], n) for hid, n in cur]

    def done(self, record: FetchRecord) -> None:
        rowid = record.index + 1
        error = None if record.error is None else str(record.error)
        self._results.append(
            (
                rowid,
                record.status,
                record.nbytes,
                error,
                record.attempts,
                record.start,
                record.end,
                record.detail,
                record.final_url,
                getattr(record, "content_type", ""),
                getattr(record, "links", 0),
                getattr(record, "title", ""),
            )
        )
        self._done.append((rowid,))

    def retried(self, job_id: int, attempts: int) -> None:
        self._attempts.append((attempts, job_id + 1))

    @_translated
    def robots(self, host: str) -> tuple[int, bytes, float] | None:
        row = self._conn.execute(
            "SELECT robots_status, robots_body, robots_at FROM hosts WHERE key = ?", (host,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return int(row[0]), bytes(row[1] or b""), float(row[2])

    @_translated
    def save_robots(self, host: str, status: int, body: bytes) -> None:
        self._begin()
        self._conn.execute(
            "INSERT INTO hosts (key, robots_status, robots_body, robots_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET robots_status = excluded.robots_status,"
            " robots_body = excluded.robots_body, robots_at = excluded.robots_at",
            (host, status, body, time.time()),
        )
        if host not in self._host_ids:
            (hid,) = self._conn.execute("SELECT id FROM hosts WHERE key = ?", (host,)).fetchone()
            self._host_ids[host] = hid
            self._host_keys[hid] = host

    @_translated
    def tick(self) -> None:
        pending = len(self._done)
        if pending >= self.commit_every or (
            pending and time.monotonic() - self._last_commit >= self.commit_interval
        ):
            self.commit()

    @_translated
    def close(self) -> None:
        """Commit what is pending and close the file.  Safe to call twice.

        After an SQLite error (a :class:`StoreError` raised already) nothing more is
        written: SQLite has rolled back the transaction that failed, what was committed
        before it stays, and a second error would only hide the first.
        """
        if self._closed:
            return
        try:
            if not self._failed:
                self.commit()
        finally:
            self._closed = True
            self._conn.close()

    # -- transactions ------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_tx:
            self._conn.execute("BEGIN")
            self._in_tx = True

    @_translated
    def commit(self) -> None:
        """Write the buffered completions and commit everything since the last commit."""
        if self._results or self._attempts:
            self._begin()
            conn = self._conn
            if self._results:
                conn.executemany(
                    "INSERT OR REPLACE INTO results (id, status, nbytes, error, attempts, start,"
                    " end, detail, final_url, content_type, links, title)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self._results,
                )
                conn.executemany(f"UPDATE urls SET state = {DONE} WHERE id = ?", self._done)
            if self._attempts:
                conn.executemany("UPDATE urls SET attempts = ? WHERE id = ?", self._attempts)
            self._results = []
            self._done = []
            self._attempts = []
        if self._in_tx:
            self._conn.execute("COMMIT")
            self._in_tx = False
        self._last_commit = time.monotonic()

    def _new_host(self, key: str) -> int:
        self._begin()
        hid = self._conn.execute("INSERT INTO hosts (key) VALUES (?)", (key,)).lastrowid
        assert hid is not None
        self._host_ids[key] = hid
        self._host_keys[hid] = key
        return hid

    # -- reading results ---------------------------------------------------------------

    @_translated
    def counts(self) -> dict[str, int]:
        """URLs queued and done, as committed plus pending."""
        self.commit()
        queued, done = self._conn.execute(
            "SELECT count(*) FILTER (WHERE state = 0), count(*) FILTER (WHERE state = 2) FROM urls"
        ).fetchone()
        return {"queued": queued, "done": done, "admitted": self._max_rowid}

    def records(self) -> Iterator[PageRecord]:
        """Every result, in id order (commits what is pending first)."""
        self.commit()
        try:
            cur = self._conn.execute(
                "SELECT r.id, u.url, r.status, r.nbytes, r.error, r.attempts, r.start, r.end,"
                " r.detail, r.final_url, u.depth, u.referrer, r.content_type, r.links, r.title"
                " FROM results r JOIN urls u ON u.id = r.id ORDER BY r.id"
            )
            for row in cur:
                rowid, url, status, nbytes, error, attempts, start, end, detail, final = row[:10]
                kind = None if error is None else ErrorKind(error)
                yield PageRecord(
                    rowid - 1, url, status, nbytes, kind, attempts, start, end, detail, final,
                    *row[10:],
                )  # fmt: skip
        except sqlite3.Error as exc:
            self._failed = True
            raise StoreError(_why(self.path, exc)) from exc
        except ValueError as exc:  # a row quick_check cannot see is wrong: an unknown kind
            raise StoreError(f"{self.path} is damaged (a result cannot be read: {exc})") from exc

    @staticmethod
    def first_url(path: str | os.PathLike[str]) -> str | None:
        """The first URL admitted to the crawl in the file at ``path``, read without
        opening it as a store (nothing is created or changed); None when the file is
        missing, is not a crawl file, or holds no URL yet."""
        try:
            conn = sqlite3.connect(_read_only_uri(str(path)), uri=True)
            try:
                row = conn.execute("SELECT url FROM urls ORDER BY id LIMIT 1").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None

    @_translated
    def save_plan(
        self,
        plan: CrawlPlan,
        config: CrawlConfig | None = None,
        *,
        overwrite: bool = False,
        **extra: Any,
    ) -> bool:
        """Keep what defines this crawl in the file, once: ``plan`` (less ``db`` and
        ``resume``), the fetch ``config`` and ``extra`` (JSON values: the CLI keeps its
        synthetic site's settings here).  Returns False, and changes nothing, when the
        file holds a saved crawl already: a resumed crawl stays the one that was started.
        ``overwrite`` replaces it, for a crawl started afresh in a file that holds no URL
        (one whose start failed: what it kept is not this crawl's).
        """
        if overwrite and self._max_rowid:
            raise StoreExistsError(f"{self.path} holds a crawl: its plan stays")
        saved = plan.to_dict()
        del saved["db"], saved["resume"]
        crawl = {"plan": saved, "config": None if config is None else config.to_dict(), **extra}
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"
        self._begin()
        added = self._conn.execute(
            f"{verb} INTO meta VALUES ('crawl', ?)", (json.dumps(crawl),)
        ).rowcount
        self.commit()
        return added == 1

    @staticmethod
    def saved_crawl(path: str | os.PathLike[str]) -> SavedCrawl | None:
        """What the crawl in the file at ``path`` was started with (:meth:`save_plan`),
        read without changing the file; None for a crawl file that has none (made before
        concur saved them).  :class:`StoreError` when there is no crawl file to resume."""
        name = str(path)
        if Path(name).is_dir():
            raise StoreError(f"{name} is a folder, not a crawl file")
        if not Path(name).exists():
            raise StoreError(f"{name} does not exist: there is no crawl to resume")
        try:
            conn = sqlite3.connect(_read_only_uri(name), uri=True)
            try:
                row = _crawl_meta(conn, name)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(_why(name, exc)) from exc
        if row is None:
            return None
        crawl = json.loads(row)
        plan = CrawlPlan.from_dict({**crawl.pop("plan"), "db": name, "resume": True})
        config = crawl.pop("config")
        return SavedCrawl(plan, None if config is None else CrawlConfig.from_dict(config), crawl)

    @staticmethod
    def saved_plan(path: str | os.PathLike[str]) -> CrawlPlan | None:
        """The plan the crawl in ``path`` was started with, set to resume it (None: not
        saved): ``engine.crawl(SqliteStore.saved_plan("crawl.db"), config)``."""
        saved = SqliteStore.saved_crawl(path)
        return None if saved is None else saved.plan

    def export_jsonl(self, dest: str | os.PathLike[str] | IO[str]) -> int:
        """Write every result as one JSON object per line; returns the number written."""
        if isinstance(dest, str | os.PathLike):
            with Path(dest).open("w", encoding="utf-8") as fh:
                return self.export_jsonl(fh)
        n = 0
        for record in self.records():
            dest.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
            n += 1
        return n
