"""``concur crawl`` runs, as a user runs them: a real process and a real mock server.

What the flags of issue 10 do, seen from outside: ``--delay`` is the mock server's
delay in every mode (with ``--site`` too) and takes units; ``--crawl-delay`` spaces the
requests to one host; the engine options reach the engine; the crawl summary names
what capped the requests in flight and counts robots.txt's skips apart from failures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import concur

from mockserver.testing import serve


def summary(*args: str) -> dict[str, Any]:
    done = concur(*args, "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_delay_takes_units_in_the_experiment() -> None:
    s = summary("-n", "20", "-c", "10", "--delay", "0.02s", "--timeout", "5s")
    assert s["ideal_s"] == pytest.approx(2 * 0.020)
    assert s["latency_ms"]["p50"] >= 20.0  # the server's delay is a floor
    assert (s["ok"], s["failed"]) == (20, 0)


def test_c_with_serial_warns_on_one_line_and_runs() -> None:
    done = concur("--impl", "serial", "-c", "10", "-n", "5", "--delay", "1", "--json")
    assert done.returncode == 0, done.stderr
    warnings = [x for x in done.stderr.splitlines() if "warning" in x]
    assert warnings == [
        "concur crawl: warning: serial makes one request at a time: -c 10 is ignored"
    ]
    assert json.loads(done.stdout.strip().splitlines()[-1])["concurrency"] == 1


def test_delay_with_site_is_the_sites_delay_per_request() -> None:
    slow = summary("--site", "--pages", "30", "--delay", "30ms")
    assert slow["ground_truth"]["exact"], slow["ground_truth"]
    assert slow["latency_ms"]["p50"] >= 30.0
    quick = summary("--site", "--pages", "30")  # no --delay: the site answers at once
    assert quick["latency_ms"]["p50"] < 30.0
    assert quick["ground_truth"]["exact"]


def test_crawl_delay_spaces_the_requests_to_one_host() -> None:
    with serve(mode="subprocess", site_pages=12, site_hosts=1, site_crawl_delay=0.0) as server:
        s = summary("--follow", server.url + "/", "--crawl-delay", "50ms", "--per-host", "4")
        gaps = server.get_json("/__site?stats=1")["stats"]["hosts"]
    assert s["crawl"]["crawl_delay_s"] == pytest.approx(0.05)
    assert s["crawl"]["pages"] > 5
    for host, seen in gaps.items():
        assert seen["peak_in_flight"] == 1, host  # one at a time, whatever --per-host says
        assert seen["min_gap_after_robots_s"] >= 0.045, host
    limit = s["concurrency_limit"]
    assert limit["by"] == "--crawl-delay 0.05 s (one at a time) × 1 host"
    assert limit["limit"] == 1


def test_the_summary_names_what_limited_concurrency() -> None:
    # three hosts, the last with a Crawl-delay in its robots.txt: 2 + 2 + 1 in flight at most
    s = summary("--site", "--pages", "60", "--delay", "2")
    limit = s["concurrency_limit"]
    assert (limit["per_host"], limit["hosts"], limit["delayed_hosts"]) == (2, 3, 1)
    assert limit["limit"] == 5 and limit["concurrency"] == 100
    assert s["server_peak_in_flight"] <= 5

    done = concur("--site", "--pages", "60", "--delay", "2", "--per-host", "3")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("in flight"))
    assert "limited by --per-host 3 × 2 hosts + Crawl-delay (one at a time) × 1 host" in line

    # when -c is the smaller cap, it is -c that limited, and nothing more is said
    s = summary("--site", "--pages", "60", "-c", "2")
    assert s["concurrency_limit"] is None


def test_robots_skips_are_counted_apart_from_failures() -> None:
    s = summary("--site", "--pages", "100")
    skipped = s["robots_skipped"]
    assert skipped > 0 and skipped == s["errors"]["robots"] == s["crawl"]["disallowed"]
    assert s["failed_requests"] == s["failed"] - skipped
    assert s["ok"] + s["failed"] == s["requests"]  # the existing keys keep their meaning
    done = concur("--site", "--pages", "100")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("requests"))
    failed = s["failed_requests"]
    assert f"{s['ok']} ok, {failed} failed" in line
    assert f"{skipped} skipped by robots.txt" in line
    assert "robots" not in line.split("skipped")[0]  # not among the failures' kinds


@pytest.mark.parametrize(
    ("argv", "options", "variant"),
    [
        (["--impl", "tornado", "--client", "simple"], {"client": "simple"}, {"client": "simple"}),
        (["--impl", "httpx", "--transport", "pool"], {"transport": "pool"}, {"transport": "pool"}),
        (["--impl", "processes", "--processes", "2"], {"processes": 2}, {}),
        (["--impl", "asyncio", "--loop", "uvloop"], {"loop": "uvloop"}, {}),
    ],
)
def test_engine_options_reach_the_engine(
    argv: list[str], options: dict[str, Any], variant: dict[str, Any]
) -> None:
    pytest.importorskip({"tornado": "tornado", "httpx": "httpx"}.get(argv[1], "concur"))
    s = summary(*argv, "-n", "20", "--delay", "5", "-c", "5")
    assert s["engine_options"] == options
    assert variant.items() <= s["variant"].items()  # the engine says which it ran
    assert (s["ok"], s["failed"]) == (20, 0)


def test_engine_options_in_crawl_mode() -> None:
    pytest.importorskip("tornado")
    s = summary("--impl", "tornado", "--client", "simple", "--site", "--pages", "30")
    assert s["engine_options"] == {"client": "simple"}
    assert s["ground_truth"]["exact"]


def test_a_store_that_exists_is_one_line_and_exit_2(tmp_path: Any) -> None:
    db = str(tmp_path / "crawl.db")
    assert concur("--site", "--pages", "20", "--db", db, "--json").returncode == 0
    done = concur("--site", "--pages", "20", "--db", db)  # neither --resume nor a new file
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("concur crawl: error: ")
    assert "resume it or use another file" in done.stderr
    assert "Traceback" not in done.stderr
