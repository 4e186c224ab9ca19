"""``concur crawl`` in list mode, as a user runs it: a real process, the embedded server.

The contract of the command (issue 3): the summary's keys on the last line with
``--json``, one JSONL record per input URL in input order with ``-o``, URLs from
arguments and from stdin, bad URLs accounted for instead of fatal, exit 0 even when
URLs failed unless ``--fail-on-error``, and usage errors as one line with exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mockserver.testing import serve

KEYS = {
    "impl",
    "requests",
    "ok",
    "failed",
    "errors",
    "wall_s",
    "ideal_s",
    "efficiency",
    "req_per_s",
    "latency_ms",
    "cpu_s",
    "cpu_us_per_request",
    "peak_rss_mb",
    "peak_in_flight",
}


def concur(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "concur", "crawl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_the_experiment_prints_every_key_and_the_server_saw_the_limit() -> None:
    s = last_json(concur("--impl", "asyncio", "-n", "60", "--delay", "20", "-c", "10", "--json"))
    assert KEYS <= set(s)
    assert s["impl"] == "asyncio"
    assert (s["requests"], s["ok"], s["failed"], s["errors"]) == (60, 60, 0, {})
    assert s["ideal_s"] == pytest.approx(6 * 0.020)
    assert 0 < s["efficiency"] <= 1.0
    assert set(s["latency_ms"]) >= {"p50", "p95", "p99"}
    assert s["latency_ms"]["p50"] >= 20.0  # the server's delay is a floor
    assert s["peak_in_flight"] == s["server_peak_in_flight"] <= 10
    # where the time went: six waves, and the parts add up to wall minus ideal
    spent = s["budget_ms"]
    assert spent["waves"] == 6
    assert spent["lost"] == pytest.approx(
        spent["outside"] + spent["wave0"] + spent["later"] + spent["last"], abs=0.01
    )
    assert spent["lost"] == pytest.approx((s["wall_s"] - s["ideal_s"]) * 1e3, abs=0.5)
    assert spent["outside"] > 0 and spent["wave0"] >= 0


def test_the_text_summary_names_the_ideal_and_efficiency() -> None:
    done = concur("--impl", "asyncio", "-n", "20", "--delay", "5", "-c", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "efficiency" in done.stdout and "ideal" in done.stdout
    assert "(server)" in done.stdout
    assert "ms over ideal" in done.stdout and "later waves" in done.stdout


def test_every_input_url_gets_one_record_in_order(tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    with serve(mode="subprocess") as server:
        urls = [
            f"{server.url}/add?delay=1&id=1",
            "not a url",
            "http://127.0.0.1:1/",  # nothing listens on port 1
            f"{server.url}/status/503",
            f"{server.url}/add?delay=1&id=2",
        ]
        done = concur(
            "--impl", "asyncio", "-i", "-", "-o", str(out), "--json", stdin="\n".join(urls)
        )
    s = last_json(done)
    assert (s["requests"], s["ok"], s["failed"]) == (5, 2, 3)
    assert s["ideal_s"] is None  # no delay of ours to compute one from
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["url"] for r in records] == urls
    assert [r["error"] for r in records] == [None, "invalid_url", "refused", "http", None]
    assert records[3]["status"] == 503


def test_failures_exit_0_unless_asked() -> None:
    assert concur("--impl", "asyncio", "http://127.0.0.1:1/", "--json").returncode == 0
    done = concur("--impl", "asyncio", "http://127.0.0.1:1/", "--json", "--fail-on-error")
    assert done.returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--impl", "asyncio", "-c", "0"],
        ["--impl", "nosuch"],
        ["--impl", "asyncio", "--latency", "lognormal:oops"],
        ["--impl", "asyncio", "-i", "/nonexistent/urls.txt"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    done = concur(*args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("concur crawl: error: ")
    assert done.stdout == ""


def test_the_experiment_at_zero_delay_has_no_efficiency_to_show() -> None:
    """No delay, no ideal to reach: the summary says so instead of failing to print."""
    run = concur("--impl", "protocol", "-n", "50", "--delay", "0", "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "no waiting: wall time is CPU" in run.stdout
