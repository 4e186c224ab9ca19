"""Installs that do not lie: a command whose library is missing says so before any work.

A missing module is simulated in a fresh interpreter by ``sys.modules[name] = None``
(the import system then treats it as not installed), and ``concur`` runs there as
``main(argv)``: each command must stop at once, exit 2, and print one line with the
exact ``pip install 'concur[...]'`` — never a traceback, never a minute of work first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concur.store.sqlite import SqliteStore

RUN_WITHOUT = """\
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from concur.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def without(modules: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``concur ARGV`` in an interpreter where ``modules`` (comma-separated) are missing."""
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, modules, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_pip_line(done: subprocess.CompletedProcess[str], command: str, extra: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"concur {command}: error: ")
    assert f"pip install 'concur[{extra}]'" in lines[0]


@pytest.mark.parametrize(
    ("modules", "argv", "extra"),
    [
        ("matplotlib", ["gil", "--quick"], "gil"),
        ("matplotlib", ["gil", "convoy"], "gil"),
        ("bcrypt", ["gil", "mixed", "--quick"], "gil"),
        ("matplotlib", ["bench", "--quick"], "plot"),
        ("matplotlib", ["plot", "results.json"], "plot"),
        ("gevent", ["crawl", "--impl", "gevent", "-n", "5"], "gevent"),
        ("httpx", ["crawl", "--impl", "httpx", "--site"], "httpx"),
        ("tornado", ["crawl", "--impl", "tornado", "http://127.0.0.1:1/"], "tornado"),
        ("pycurl", ["crawl", "--impl", "tornado", "--client", "curl"], "curl"),
        ("gevent", ["bench", "--quick", "--no-plots", "--engines", "gevent"], "gevent"),
    ],
)
def test_a_missing_library_is_one_pip_line_before_any_work(
    modules: str, argv: list[str], extra: str
) -> None:
    started = time.perf_counter()
    done = without(modules, *argv)
    assert_pip_line(done, argv[0], extra)
    assert time.perf_counter() - started < 30  # it stopped at once: no experiment ran


def test_gil_without_bcrypt_still_runs_what_needs_none() -> None:
    done = without("bcrypt", "gil", "--list")
    assert done.returncode == 0, done.stderr
    assert "mixed" in done.stdout


def test_engines_lists_options_and_installs() -> None:
    done = without("gevent", "engines", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["engine"]: row for row in json.loads(done.stdout)}
    assert rows["gevent"]["installed"] is False
    assert rows["gevent"]["install"] == "pip install 'concur[gevent]'"
    assert rows["tornado"]["options"] == {"client": ["curl", "simple"]}
    assert rows["httpx"]["options"] == {"transport": ["concur", "per-worker", "pool"]}
    assert rows["processes"]["options"] == {"processes": "int"}
    assert rows["serial"]["options"] == {}
    table = without("gevent", "engines").stdout
    assert "--client curl|simple" in table and "--processes N" in table
    assert "missing: pip install 'concur[gevent]'" in table


def test_the_first_url_of_a_crawl_file(tmp_path: Path) -> None:
    assert SqliteStore.first_url(tmp_path / "missing.db") is None
    assert not (tmp_path / "missing.db").exists()  # looking did not create it
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert SqliteStore.first_url(junk) is None
    empty = tmp_path / "empty.db"
    SqliteStore(empty).close()
    assert SqliteStore.first_url(empty) is None
    db = tmp_path / "crawl.db"
    done = subprocess.run(
        [sys.executable, "-m", "concur", "crawl", "--site", "--pages", "20", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first = SqliteStore.first_url(db)
    assert first is not None and first.startswith("http://127.0.0.1:") and first.endswith("/")
