"""``concur crawl --trace FILE``, as a user runs it: a real process and the embedded server.

Each trace is checked against the Trace Event Format (``tests/report/trace_format.py``)
and against the run: one slice per fetched URL with its URL, the server's own requests
as a process of their own, lined up with the client's on one clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import concur
from report.trace_format import Tracks, check_trace

from mockserver.testing import serve


def _run(tmp_path: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any], Tracks]:
    """Run ``concur crawl ARGS --trace FILE --json``: its summary, the trace, its tracks."""
    path = tmp_path / "trace.json"
    done = concur(*args, "--trace", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads(path.read_text())
    return json.loads(done.stdout.strip().splitlines()[-1]), doc, check_trace(doc)


def _requests(tracks: Tracks, pid: int) -> list[dict[str, Any]]:
    return [s for s in tracks.of(pid) if s["cat"] in ("request", "error", "retried")]


def test_the_experiment_trace_has_every_request_and_the_servers_timeline(tmp_path: Path) -> None:
    summary, doc, tracks = _run(tmp_path, "-n", "50", "--delay", "20", "-c", "10")
    assert summary["ok"] == 50
    client = tracks.pid("client: asyncio")
    mine = _requests(tracks, client)
    urls = [s["args"]["url"] for s in mine]
    assert len(urls) == len(set(urls)) == 50  # one slice per request, the URL in its args
    assert all("/add?" in url for url in urls)
    lanes = {tid for p, tid in tracks.threads if p == client}
    assert len(lanes) == 10 == summary["peak_in_flight"]  # as many lanes as were in flight
    server = tracks.pid("mock server")
    theirs = tracks.of(server)
    assert len(theirs) == 50 and {s["name"] for s in theirs} == {"200"}
    assert all(s["dur"] >= 19_000 for s in theirs)  # the server waited its 20 ms
    # one clock: every request reached the server after it left the client, and the
    # server answered before the client had read the answer (generous: a busy machine
    # may run the server's bookkeeping after the client has read its answer)
    spans = sorted((s["ts"], s["ts"] + s["dur"]) for s in mine)
    for s in theirs:
        start, end = s["ts"], s["ts"] + s["dur"]
        assert any(a - 2_000 <= start and end <= b + 20_000 for a, b in spans), s
    assert doc["otherData"]["mode"] == "experiment"


def test_a_site_crawl_trace_has_hosts_waits_skips_and_the_server(tmp_path: Path) -> None:
    summary, doc, tracks = _run(tmp_path, "--site", "--pages", "30", "--delay", "2")
    assert summary["ground_truth"]["exact"]
    client = tracks.pid("client: asyncio")
    mine = _requests(tracks, client)
    fetched = summary["requests"] - summary["crawl"]["disallowed"]
    assert len(mine) == len({s["args"]["url"] for s in mine}) == fetched
    skipped = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert len(skipped) == summary["crawl"]["disallowed"] > 0
    assert all(e["args"]["error"] == "robots" for e in skipped)
    hosts = tracks.pid("hosts")
    assert len(_requests(tracks, hosts)) == fetched
    # the site's last host asks for a Crawl-delay in its robots.txt: waits between its pages
    waits = [s for s in tracks.of(hosts) if s["cat"] == "wait"]
    assert waits and all(s["dur"] > 0 for s in waits)
    server = tracks.pid("mock server")
    names = {tracks.threads[k] for k in tracks.threads if k[0] == server}
    assert {name.split(":")[0] for name in names} == {"site"}
    # every page, and each host's robots.txt
    assert len(tracks.of(server)) >= fetched + 3


def test_a_url_list_trace_puts_retried_urls_on_their_own_lanes(tmp_path: Path) -> None:
    with serve(mode="subprocess") as server:
        urls = [server.url + f"/add?id={i}&fault=5xx&delay=1" for i in range(3)]
        urls += [server.url + "/add?delay=1", "ftp://example.test/"]
        summary, doc, tracks = _run(tmp_path, "--retries", "1", *urls)
    assert (summary["ok"], summary["failed"]) == (1, 4)
    client = tracks.pid("client: asyncio")
    by_track: dict[str, list[str]] = {}
    for (pid, tid), name in tracks.threads.items():
        if pid == client:
            kind = name.rsplit(" ", 1)[0] if name[-1].isdigit() else name
            by_track.setdefault(kind, []).extend(
                s["name"] for s in tracks.slices.get((pid, tid), [])
            )
    retried = by_track["retried"]
    assert len(retried) == 3
    assert all(n.startswith("http 5") and n.endswith(" (2 attempts)") for n in retried)
    assert by_track["lane"] == ["200"]
    assert [e["name"] for e in doc["traceEvents"] if e["ph"] == "i"] == ["not fetched: invalid_url"]
    assert list(tracks.processes.values()) == ["client: asyncio"]  # no embedded server


def test_trace_with_a_shared_crawl_is_a_usage_error(tmp_path: Path) -> None:
    done = concur("--site", "--workers", "2", "--trace", str(tmp_path / "t.json"))
    assert done.returncode == 2
    assert "--trace draws a run in this process" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "t.json").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
@pytest.mark.parametrize("mode", [["-n", "5", "--delay", "1"], ["--site", "--pages", "10"]])
def test_a_trace_that_cannot_be_written_loses_nothing_else(tmp_path: Path, mode: list[str]) -> None:
    """A full disk under --trace: one line, exit 2, and -o and the summary still written."""
    out = tmp_path / "out.jsonl"
    done = concur(*mode, "-o", str(out), "--trace", "/dev/full", "--json")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "concur crawl: error: cannot write /dev/full: No space left on device" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] >= 5
    assert len(out.read_text().splitlines()) == summary["requests"]


def test_an_empty_trace_path_is_a_usage_error() -> None:
    """``--trace ""`` (an unset variable in a script) is refused, not taken as no trace."""
    done = concur("-n", "1", "--trace", "")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "concur crawl: error: argument --trace: an empty path: give a file name "
        "(see concur crawl --help)"
    ]


def test_a_serial_trace_says_it_ran_one_at_a_time(tmp_path: Path) -> None:
    summary, doc, _ = _run(tmp_path, "--impl", "serial", "-n", "3", "--delay", "1")
    assert summary["concurrency"] == 1 == doc["otherData"]["concurrency"]  # not -c's 100
