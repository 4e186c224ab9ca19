"""Bad files, as a user meets them on the command line (issue 11, item 8).

A damaged ``--db``, one in a folder that cannot be written, ``--resume`` on a file that
is not there, a disk that fills up in mid-crawl, an ``-o`` that cannot be written: each
is one line ``concur crawl: error: ...`` and exit 2, no traceback, and the user's file
exactly as it was.  A URL file saved with a byte-order mark reads as the same URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import concur

from mockserver.testing import RunningServer


def one_line_error(done: subprocess.CompletedProcess[str], *says: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [x for x in done.stderr.splitlines() if not x.startswith("concur: crawling")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("concur crawl: error: "), lines
    for part in says:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def crawl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished crawl of the synthetic site, to copy and spoil."""
    db = tmp_path_factory.mktemp("crawl") / "crawl.db"
    done = concur("--site", "--pages", "200", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return db


def _copy(crawl_file: Path, to: Path) -> Path:
    to.write_bytes(crawl_file.read_bytes())
    return to


def test_a_damaged_crawl_file_is_one_line_and_kept(crawl_file: Path, tmp_path: Path) -> None:
    half = _copy(crawl_file, tmp_path / "half.db")
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    junk = _copy(crawl_file, tmp_path / "junk.db")
    data = bytearray(junk.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 4096] = b"\xa5" * 4096
    junk.write_bytes(bytes(data))
    for db in (half, junk):
        before = _digest(db)
        for resume in (["--resume"], []):
            done = concur("--site", "--db", str(db), *resume)
            one_line_error(done, f"{db} is damaged", "left as it is")
            assert _digest(db) == before
    text = tmp_path / "urls.txt"
    text.write_text("http://example.org/\n")
    one_line_error(concur("--site", "--db", str(text)), "is not an SQLite file")
    assert text.read_text() == "http://example.org/\n"


def test_resume_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    done = concur("--site", "--db", str(db), "--resume")
    one_line_error(done, f"{db} does not exist: there is no crawl to resume")
    assert not db.exists()


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only (as root, permission bits do not bind: ``chattr +i``)."""
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a read-only folder here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
        folder.chmod(0o755)


def test_a_read_only_folder_is_one_line(crawl_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = _copy(crawl_file, folder / "crawl.db")
    before = _digest(db)
    with _read_only(folder):
        new = concur("--site", "--pages", "20", "--db", str(folder / "new.db"))
        one_line_error(new, f"cannot write {folder / 'new.db'}")
        resumed = concur("--site", "--db", str(db), "--resume")
        one_line_error(resumed, f"cannot write {db}")
        out = concur("--site", "--pages", "20", "-o", str(folder / "out.jsonl"))
        one_line_error(out, f"cannot write {folder / 'out.jsonl'}")
        assert sorted(p.name for p in folder.iterdir()) == ["crawl.db"]
    assert _digest(db) == before


@pytest.mark.parametrize("engine", ["asyncio", "threads", "processes", "gevent"])
def test_a_disk_that_fills_up_mid_crawl_is_one_line(engine: str, tmp_path: Path) -> None:
    db = tmp_path / "crawl.db"
    full = concur(
        "--impl", engine, "--site", "--pages", "2000", "--db", str(db), "--json",
        limit_file_size=150_000,
    )  # fmt: skip
    one_line_error(full, f"cannot write {db}")
    assert full.stdout == ""
    # what was committed is kept: the crawl resumes (with room now) to the exact truth
    done = concur("--impl", engine, "--site", "--db", str(db), "--resume", "--json")
    assert done.returncode == 0, done.stderr
    truth = json.loads(done.stdout.strip().splitlines()[-1])["ground_truth"]
    assert truth["exact"], truth


def test_a_url_file_with_a_byte_order_mark(mockserver: RunningServer, tmp_path: Path) -> None:
    urls = [f"{mockserver.url}/add?delay=0&id={i}" for i in range(3)]
    listed = tmp_path / "urls.txt"
    listed.write_text("\n".join(urls) + "\n", encoding="utf-8-sig")  # as Notepad saves it
    out = tmp_path / "out.jsonl"
    done = concur("-i", str(listed), "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["url"] for r in records] == urls
    assert [r["error"] for r in records] == [None, None, None]

    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"http://example.org/caf\xe9\n")
    one_line_error(concur("-i", str(latin)), f"cannot read {latin}: not UTF-8 text")
