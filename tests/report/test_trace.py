"""Traces (``concur.report.trace``): lanes, the run's clock, and valid trace-event JSON.

Records are made by hand here, so every case (an error, a retried URL, one never
fetched, a crawl's hosts and their politeness waits, a server clock a hair early) is
drawn and checked against the format without a run; ``concur gil timeline --trace``
runs for real, briefly.  ``tests/commands/test_crawl_trace.py`` runs ``concur crawl``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import time
from pathlib import Path

import pytest
from trace_format import check_trace

from concur.commands import gil as gil_command
from concur.errors import ConcurError
from concur.records import ErrorKind, FetchRecord, PageRecord
from concur.report import trace


def _overlap(spans: list[tuple[float, float]]) -> int:
    steps = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in steps:
        now += step
        most = max(most, now)
    return most


def test_lanes_are_as_many_as_the_most_in_flight_and_never_overlap() -> None:
    assert trace.lanes([]) == []
    # a span that ends exactly when the next starts frees its lane for it
    assert trace.lanes([(0, 1), (1, 2), (0.5, 1.5)]) == [0, 0, 1]
    assert trace.lanes([(0, 0), (0, 0), (0, 1)]) == [0, 0, 0]  # instants take no room
    # in (start, end) order, each takes the lowest lane free: lanes stay put as the run goes
    assert trace.lanes([(0, 3), (0, 1), (0, 2), (1.5, 4)]) == [2, 0, 1, 0]
    rng = random.Random(7)
    for _ in range(50):
        spans = []
        for _ in range(rng.randint(1, 60)):
            start = rng.uniform(0, 10)
            spans.append((start, start + rng.uniform(0.001, 3)))
        where = trace.lanes(spans)
        assert max(where) + 1 == _overlap(spans)
        for lane in set(where):
            mine = sorted(s for s, w in zip(spans, where, strict=True) if w == lane)
            assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:], strict=False))


def _record(i: int, start: float, end: float, **kw: object) -> FetchRecord:
    fields: dict[str, object] = {"status": 200, "nbytes": 10, "error": None, "attempts": 1}
    fields.update(kw)
    return FetchRecord(i, f"http://a.test/{i}", start=start, end=end, **fields)  # type: ignore[arg-type]


def test_a_run_with_errors_retries_and_skips_is_a_valid_trace() -> None:
    records = [
        _record(0, 0.0, 0.1),
        _record(1, 0.0, 0.05, status=None, error=ErrorKind.TIMEOUT, detail="no answer"),
        _record(2, 0.05, 0.4, status=503, error=ErrorKind.HTTP, attempts=3),
        _record(3, 0.1, 0.1, status=None, error=ErrorKind.INVALID_URL, attempts=0),
        _record(4, 0.05, 0.2),
    ]
    server = [trace.ServerRequest("t", -0.0002, 0.04, 200), trace.ServerRequest("t", 0.1, 0.15, 0)]
    doc = json.loads(json.dumps(trace.crawl_trace(records, engine="threads", server=server)))
    got = check_trace(doc)
    client = got.pid("client: threads")
    names = {got.threads[k] for k in got.threads if k[0] == client}
    assert names == {"lane 1", "lane 2", "retried 1", "not fetched"}
    slices = got.of(client)
    assert sorted(s["args"]["url"] for s in slices) == [f"http://a.test/{i}" for i in (0, 1, 2, 4)]
    by_url = {s["args"]["url"]: s for s in slices}
    assert by_url["http://a.test/1"]["name"] == "timeout"
    assert by_url["http://a.test/1"]["args"]["detail"] == "no answer"
    retried = by_url["http://a.test/2"]
    assert (retried["name"], retried["cat"]) == ("http 503 (3 attempts)", "retried")
    assert got.threads[(client, retried["tid"])] == "retried 1"
    skipped = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert [e["args"]["url"] for e in skipped] == ["http://a.test/3"]
    # the server's slices: an arrival a hair before the client's zero shifts everything
    on_server = got.of(got.pid("mock server"))
    assert sorted(s["name"] for s in on_server) == ["200", "no answer"]
    assert doc["otherData"]["shifted_us"] == pytest.approx(200.0)
    assert min(s["ts"] for s in on_server) == 0.0
    assert by_url["http://a.test/0"]["ts"] == pytest.approx(200.0)
    counters = [e for e in doc["traceEvents"] if e["ph"] == "C" and e["pid"] == client]
    assert max(e["args"]["requests"] for e in counters) == 3  # URLs 0, 1 (or 4) and 2
    assert counters[-1]["args"]["requests"] == 0


def test_a_crawl_is_drawn_by_host_with_its_politeness_waits() -> None:
    def page(i: int, host: str, start: float, end: float) -> PageRecord:
        return PageRecord(i, f"http://{host}/p{i}", 200, 5, None, 1, start, end, depth=1)

    records = [
        page(0, "a.test", 0.0, 0.1),
        page(1, "a.test", 0.35, 0.4),  # 0.25 s after the answer: 0.2 of it politeness
        page(2, "b.test", 0.0, 0.1),
        page(3, "b.test", 0.05, 0.2),  # b has no delay: two at a time
    ]
    doc = trace.crawl_trace(
        records, engine="asyncio", hosts=True, crawl_delays={"http://a.test": 0.2}
    )
    got = check_trace(doc)
    hosts = got.pid("hosts")
    names = sorted(got.threads[k] for k in got.threads if k[0] == hosts)
    assert names == ["http://a.test", "http://b.test 1", "http://b.test 2"]
    waits = [s for s in got.of(hosts) if s["cat"] == "wait"]
    assert len(waits) == 1
    assert (waits[0]["ts"], waits[0]["dur"]) == (pytest.approx(100_000), pytest.approx(200_000))
    assert waits[0]["args"]["crawl_delay_s"] == 0.2
    # --crawl-delay applies to every host; a host's own delay wins when longer
    doc = trace.crawl_trace(records, engine="asyncio", hosts=True, crawl_delay=0.01)
    assert len([s for s in check_trace(doc).of(hosts) if s["cat"] == "wait"]) == 1


def test_run_clock_finds_the_runs_zero_and_passes_records_on() -> None:
    seen: list[FetchRecord] = []

    class Display:
        attached: object = None

        def __call__(self, record: FetchRecord) -> None:
            seen.append(record)

        def attach(self, scheduler: object) -> None:
            self.attached = scheduler

    display = Display()
    clock = trace.RunClock(display)
    assert clock.zero is None
    epoch, t0 = time.time(), time.perf_counter()
    for i in range(3):
        clock(_record(i, 0.0, time.perf_counter() - t0))
    clock.attach("the scheduler")
    assert len(seen) == 3 and display.attached == "the scheduler"
    assert clock.zero is not None
    assert abs(clock.zero - epoch) < 0.05  # generous: the clocks agree to microseconds
    docs = [{"name": "n", "requests": [{"start": epoch + 1, "end": epoch + 2, "status": 200}]}]
    [request] = trace.server_requests(docs, clock.zero)
    assert request.start == pytest.approx(1.0, abs=0.05)
    assert request.end - request.start == pytest.approx(1.0)


def test_write_says_in_one_line_what_went_wrong(tmp_path: Path) -> None:
    doc = trace.crawl_trace([], engine="serial")
    check_trace(doc)
    trace.write(str(tmp_path / "t.json"), doc)
    assert json.loads((tmp_path / "t.json").read_text()) == doc
    with pytest.raises(ConcurError, match="cannot write"):
        trace.write(str(tmp_path / "no" / "t.json"), doc)


def test_gil_results_become_per_thread_tracks() -> None:
    timeline = {
        "experiment": "timeline",
        "result": {
            "panels": {
                "threads": {"label": "2 threads", "lanes": [[[0, 5], [10, 15]], [[5, 10]]]},
                "processes": {"label": "2 processes", "lanes": [[[0, 20]], [[0, 20]]]},
            }
        },
    }
    spans = [[0.0, 0.05], [0.0, 0.05], [0.05, 0.1]]
    requests = {
        "experiment": "requests",
        "result": {"engines": {"threads": {"alone": {"spans": spans}, "neighbour": {"spans": []}}}},
    }
    got = check_trace(trace.gil_trace([timeline, {"experiment": "convoy"}, requests]))
    threads = got.pid("GIL timeline: 2 threads")
    assert sorted(got.threads[k] for k in got.threads if k[0] == threads) == [
        "thread 1",
        "thread 2",
    ]
    holds = sorted((s["ts"], s["dur"]) for s in got.of(threads))
    assert holds == [(0.0, 5000.0), (5000.0, 5000.0), (10000.0, 5000.0)]
    assert {s["name"] for s in got.of(got.pid("GIL timeline: 2 processes"))} == {"runs"}
    assert len(got.of(got.pid("requests: threads, alone"))) == 3
    assert trace.gil_trace([{"experiment": "convoy", "result": {}}]) is None


def _gil(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="concur gil")
    gil_command.add_arguments(parser)
    args = parser.parse_args(argv)
    args._parser = parser
    with contextlib.redirect_stdout(io.StringIO()):
        return gil_command.run(args)


def test_concur_gil_timeline_writes_its_threads_holds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the lab draws its figures first
    path = tmp_path / "gil.json"
    assert _gil(["timeline", "--quick", "--out", str(tmp_path), "--trace", str(path)]) == 0
    got = check_trace(json.loads(path.read_text()))
    assert len(got.processes) == 3  # two threads at two switch intervals, two processes
    for pid, name in got.processes.items():
        assert name.startswith("GIL timeline: 2 ")
        assert len({tid for p, tid in got.threads if p == pid}) == 2
        assert got.of(pid), name


def test_gil_trace_of_experiments_without_a_timeline_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        _gil(["convoy", "--out", str(tmp_path), "--trace", str(tmp_path / "t.json")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trace applies to the timeline and requests" in err[0]


def test_gil_trace_to_an_empty_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _gil(["timeline", "--trace", ""])
    assert stop.value.code == 2
    assert "argument --trace: an empty path" in capsys.readouterr().err


def test_gil_trace_says_so_when_what_it_draws_was_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file, and a line saying why, rather than nothing at all."""
    from concur.gil import lab

    skipped = [{"experiment": "timeline", "result": {"skipped": True, "reason": "test"}}]
    monkeypatch.setattr(lab, "run_experiments", lambda _lab, _names: skipped)
    monkeypatch.setattr(gil_command, "lacking", lambda _need: [])
    parser = argparse.ArgumentParser(prog="concur gil")
    gil_command.add_arguments(parser)
    path = tmp_path / "t.json"
    args = parser.parse_args(["timeline", "--out", str(tmp_path), "--trace", str(path)])
    args._parser = parser
    assert gil_command.run(args) == 0
    assert f"no trace in {path}: the experiments it draws were skipped" in capsys.readouterr().out
    assert not path.exists()


def test_requests_of_no_length_never_take_in_flight_below_zero() -> None:
    """The server answers an undelayed request within one tick: start == end."""
    records = [
        FetchRecord(i, f"http://h/{i}", 200, 1, None, 1, 0.01 * i, 0.01 * i + 0.005)
        for i in range(3)
    ]
    server = [trace.ServerRequest("h", 0.01 * i + 0.001, 0.01 * i + 0.001, 200) for i in range(3)]
    server.append(trace.ServerRequest("h", 0.002, 0.004, 200))
    doc = trace.crawl_trace(records, engine="asyncio", server=server)
    check_trace(doc)
    counts = [e["args"]["requests"] for e in doc["traceEvents"] if e["ph"] == "C"]
    assert min(counts) == 0 and max(counts) == 1
