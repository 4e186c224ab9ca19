"""``concur plan``: Little's law, the cores cap, memory and the knee, computed from results.

The arithmetic is checked on small hand-made results whose answers can be worked out by
hand; the command on the results shipped inside the package; bad input on one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from concur.bench.capacity import SHIPPED, NotEnoughData, essentials, plan
from concur.bench.schema import validate
from concur.cli import main
from concur.commands.plan import rate

DOCS_RUN = Path(__file__).resolve().parents[2] / "docs" / "bench" / "results.json"


def _figures(req_per_s: float, cpu_us: float, rss: float, concurrency: int) -> dict[str, Any]:
    return {
        "wall_s": 1.0,
        "req_per_s": req_per_s,
        "cpu_us_per_request": cpu_us,
        "peak_rss_mb": rss,
        "latency_ms": {"p50": 1.0, "p99": 1.0},
        "concurrency": concurrency,
    }


def _scenario(name: str, concurrency: int, delay_ms: float, engines: dict[str, tuple]) -> dict:
    """A plain scenario: ``engines`` maps a name to (req/s, CPU µs, RSS MiB)."""
    n = concurrency * 10
    ideal = 10 * delay_ms / 1e3 if delay_ms else None
    results = {}
    for engine, (rps, cpu_us, rss) in engines.items():
        fig = _figures(rps, cpu_us, rss, 1 if engine == "serial" else concurrency)
        results[engine] = {
            "trials": [fig],
            "median": fig,
            "spread": {},
            "n": n,
            "timeline": [[0.0, 0.1, 1]],
            "latencies_ms": [1.0],
        }
    params = {"name": name, "title": name, "n": n, "concurrency": concurrency}
    return {
        "kind": "scenario",
        "params": {**params, "delay_ms": delay_ms, "ideal_s": ideal},
        "results": results,
        "references": {"wrk": {"error": "not installed"}},
    }


def _sweep(points: dict[tuple[float, int], dict[str, tuple[float, float]]]) -> dict:
    """``points`` maps (delay ms, concurrency) to {engine: (req/s, CPU µs)}."""
    return {
        "kind": "sweep",
        "params": {},
        "points": [
            {
                "delay_ms": delay,
                "concurrency": c,
                "n": 3 * c,
                "ideal_s": 3 * delay / 1e3,
                "results": {
                    e: {"req_per_s": rps, "cpu_us_per_request": cpu} for e, (rps, cpu) in r.items()
                },
            }
            for (delay, c), r in points.items()
        ],
    }


def _results(cpu: dict[str, float], **scenarios: dict) -> dict[str, Any]:
    """A results document: ``cpu`` maps engines to CPU µs per request (the cpu scenario)."""
    blocks = {"cpu": _scenario("cpu", 100, 0.0, {e: (1e6 / us, us, 40.0) for e, us in cpu.items()})}
    blocks.update(scenarios)
    doc = {
        "schema": "concur-bench/1",
        "created": "2026-01-02T03:04:05+00:00",
        "quick": False,
        "repeats": 1,
        "machine": {"python": "3.11.0", "cpu_count": 2, "affinity": [0, 1], "platform": "x"},
        "versions": {},
        "engines": list(cpu),
        "scenarios": blocks,
    }
    validate(doc)  # the hand-made results are real results
    return doc


def _row(answer: Any, engine: str) -> Any:
    return next(c for c in answer.choices if c.engine == engine)


def test_littles_law_gives_the_requests_in_flight_and_cpu_the_cores() -> None:
    answer = plan(_results({"asyncio": 100.0}), latency_s=0.05, rate=2000)
    assert answer.in_flight == pytest.approx(100)  # 2,000/s × 0.05 s
    row = _row(answer, "asyncio")
    assert row.in_flight == pytest.approx(100)
    assert row.cores == pytest.approx(0.2)  # 2,000/s × 100 µs
    assert row.max_rate == pytest.approx(10_000)  # one core / 100 µs
    assert row.reaches and row.usable_cores == 1
    assert answer.cores == 2  # the measuring machine's, when not asked


def test_one_event_loop_or_one_gil_is_one_core_the_pool_is_all() -> None:
    results = _results({"asyncio": 500.0, "threads": 500.0, "processes": 500.0})
    answer = plan(results, latency_s=0.1, rate=3000, cores=4)  # 1.5 cores each
    loop, threads, pool = (_row(answer, e) for e in ("asyncio", "threads", "processes"))
    assert loop.cores == pytest.approx(1.5) and not loop.reaches
    assert not threads.reaches and threads.model == "threads, one GIL"
    assert loop.processes == 2 and "run 2 processes" in loop.verdict
    assert pool.reaches and pool.usable_cores == 4 and pool.max_rate == pytest.approx(8000)
    assert answer.choices[0].engine == "processes"  # the one that reaches comes first
    one_core = _row(plan(results, latency_s=0.1, rate=3000, cores=1), "processes")
    assert not one_core.reaches and "1 here" in one_core.verdict


def test_serial_holds_one_request_in_flight_whatever_the_rate() -> None:
    results = _results({"serial": 1000.0})
    slow = _row(plan(results, latency_s=0.1, rate=5), "serial")
    assert slow.in_flight == 1 and slow.reaches
    fast = _row(plan(results, latency_s=0.1, rate=20), "serial")
    assert fast.max_rate == pytest.approx(1 / 0.101)  # one request per latency + CPU
    assert not fast.reaches and fast.knee is None


def test_sorted_reaching_first_then_cheapest_cpu() -> None:
    cpu = {"threads": 1200.0, "serial": 800.0, "protocol": 30.0, "asyncio": 130.0}
    answer = plan(_results(cpu), latency_s=0.1, rate=1000)
    assert [c.engine for c in answer.choices] == ["protocol", "asyncio", "serial", "threads"]
    assert [c.reaches for c in answer.choices] == [True, True, False, False]


def test_memory_is_a_line_through_two_concurrencies() -> None:
    book = _scenario(
        "book", 100, 100.0, {"asyncio": (900, 250, 40.0), "processes": (800, 1500, 40)}
    )
    scale = _scenario(
        "scale", 2000, 100.0, {"asyncio": (3700, 260, 78.0), "processes": (700, 1900, 78.0)}
    )
    results = _results({"asyncio": 130.0, "processes": 800.0}, book=book, scale=scale)
    answer = plan(results, latency_s=0.1, rate=10_000, cores=4)  # 1,000 in flight
    m = next(m for m in answer.measured if m.engine == "asyncio")
    assert m.kib_per_slot == pytest.approx(0.02 * 1024)  # (78 - 40) MiB / 1,900
    assert m.base_mib == pytest.approx(38.0)  # 40 MiB - 100 × 0.02
    assert m.memory_from == "book (100), scale (2,000)"
    assert _row(answer, "asyncio").memory_mib == pytest.approx(38 + 1000 * 0.02)
    # the pool's RSS is its largest process's, which held half the slots on 2 CPUs:
    # a base per process here (4), every slot once at twice the measured slope
    assert _row(answer, "processes").memory_mib == pytest.approx(4 * 38 + 1000 * 0.02 * 2)


def test_the_knee_is_where_the_sweep_fell_below_ideal_with_the_cpu_busy() -> None:
    sweep = _sweep(
        {
            (100.0, 10): {"asyncio": (95, 300), "protocol": (98, 50)},
            (100.0, 100): {"asyncio": (900, 300), "protocol": (980, 50)},
            (100.0, 1000): {"asyncio": (3000, 300), "protocol": (9500, 50)},  # asyncio: 0.9 core
        }
    )
    results = _results({"asyncio": 50.0, "protocol": 20.0}, sweep=sweep)
    below = _row(plan(results, latency_s=0.1, rate=5000), "asyncio")  # 500 in flight
    assert below.knee == 1000 and below.past_knee is False and below.verdict.startswith("yes")
    past = _row(plan(results, latency_s=0.1, rate=10_000), "asyncio")  # 1,000 in flight
    assert past.reaches and past.past_knee is True  # CPU fits, the sweep says otherwise
    assert past.processes == 2 and "past its knee" in past.verdict
    # a knee is a rate: at twice the latency it sits at twice the in-flight count
    assert _row(plan(results, latency_s=0.2, rate=5000), "asyncio").knee == 2000
    # protocol never fell below 80 %: fine up to what was measured, unknown beyond it
    assert _row(plan(results, latency_s=0.1, rate=5000), "protocol").past_knee is False
    beyond = _row(plan(results, latency_s=0.1, rate=20_000), "protocol")
    assert beyond.knee is None and beyond.measured_to == 1000 and beyond.past_knee is None
    assert "unmeasured" in beyond.verdict


def test_the_knee_comes_from_the_nearest_delay_as_a_ratio() -> None:
    sweep = _sweep(
        {
            (100.0, 100): {"asyncio": (500, 2000)},  # a knee at 100 ms
            (500.0, 100): {"asyncio": (195, 300)},  # none at 500 ms
        }
    )
    results = _results({"asyncio": 100.0}, sweep=sweep)
    near_500 = next(m for m in plan(results, 1.0, 100).measured if m.engine == "asyncio")
    assert near_500.knee_delay_ms == 500 and near_500.knee is None
    near_100 = next(m for m in plan(results, 0.15, 100).measured if m.engine == "asyncio")
    assert near_100.knee_delay_ms == 100 and near_100.knee == 100


def test_what_is_missing_is_said_not_guessed() -> None:
    with pytest.raises(NotEnoughData, match="no cpu scenario"):
        plan({"scenarios": {}}, 0.1, 100)
    results = _results({"asyncio": 130.0, "gevent": 290.0})
    results["scenarios"]["cpu"]["results"]["gevent"] = {"error": "gevent is not installed\nmore"}
    results["quick"] = True
    answer = plan(results, 0.1, 100)
    assert [c.engine for c in answer.choices] == ["asyncio"]
    row = answer.choices[0]
    assert row.memory_mib is None and row.knee is None and row.past_knee is None
    notes = " | ".join(answer.notes)
    assert "gevent: no CPU per request in the cpu scenario: gevent is not installed" in notes
    assert "knees unknown" in notes and "memory unknown for asyncio" in notes
    assert "--quick" in notes
    assert all("\n" not in note for note in answer.notes)


def test_many_connections_mean_many_open_files() -> None:
    answer = plan(_results({"protocol": 30.0}), latency_s=1.0, rate=5000)
    assert any("ulimit -n" in note for note in answer.notes)


def test_the_shipped_results_are_the_docs_run_without_what_plan_does_not_read() -> None:
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    validate(shipped)
    assert {"cpu", "book", "scale", "sweep"} <= set(shipped["scenarios"])
    if not DOCS_RUN.exists():
        pytest.skip("no docs/bench/results.json (not a source checkout)")
    # refresh after a new full run (see docs/plan.md):
    # python -c "import json, pathlib; from concur.bench.capacity import SHIPPED, essentials;
    #   SHIPPED.write_text(json.dumps(essentials(json.loads(
    #   pathlib.Path('docs/bench/results.json').read_text()))) + '\n')"
    assert shipped == essentials(json.loads(DOCS_RUN.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5000/s", 5000), ("5000", 5000), ("300/min", 5), ("3600/h", 1), ("1/ms", 1000),
     ("100/10s", 10), ("2.5e3 / s", 2500)],
)  # fmt: skip
def test_rates_take_a_unit(text: str, per_second: float) -> None:
    assert rate(text) == pytest.approx(per_second)


def test_the_command_on_the_shipped_results(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--latency", "100ms", "--rate", "5000/s"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5,000 requests/s, each waiting 100 ms, on 2 cores: 500 in flight")
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["engine", "model", "reaches"]
    assert table[1].split()[0] == "protocol"  # the cheapest CPU per request
    assert len(table) == 10  # nine engines
    assert "5,000/s × 0.1 s = 500" in out and "Measured on 2 CPUs" in out


def test_the_command_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--latency", "1s", "--rate", "300/min", "--cores", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rate_per_s"] == 5 and data["in_flight"] == 5 and data["cores"] == 8
    rows = data["choices"]
    assert {r["engine"] for r in rows} == set(json.loads(SHIPPED.read_text())["engines"])
    reach = [r["reaches"] for r in rows]
    assert reach == sorted(reach, reverse=True)
    assert next(r for r in rows if r["engine"] == "processes")["usable_cores"] == 8


def _bad(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "abc"], "'abc' is not a rate"),
        (["--rate", "0"], "more than 0"),
        (["--rate", "5/parsec"], "unknown unit"),
        (["--latency", "soon"], "not a duration"),
        (["--cores", "0"], "at least 1"),
        (["--results", "{missing}"], "No such file"),
        (["--results", "{corrupt}"], "not JSON"),
        (["--results", "{other}"], "not concur bench results"),
        (["--results", "{no_cpu}"], "no cpu scenario"),
        (["--results", "{odd}"], "cannot plan from it"),
        (["--latency", "1e300h", "--rate", "1e300"], "more requests in flight than"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _scenario("book", 100, 100.0, {"asyncio": (900, 250, 40.0)})
    book["results"]["asyncio"]["trials"][0]["concurrency"] = "many"  # the schema allows it
    odd = _results({"asyncio": 130.0}, book=book)
    files = {
        "missing": str(tmp_path / "nope.json"),
        "corrupt": _bad(tmp_path, "corrupt.json", '{"schema": '),
        "other": _bad(tmp_path, "other.json", '{"rows": []}'),
        "no_cpu": _bad(tmp_path, "no-cpu.json", json.dumps({**_results({}), "scenarios": {}})),
        "odd": _bad(tmp_path, "odd.json", json.dumps(odd)),
    }
    args = {"--latency": "100ms", "--rate": "1000/s"}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        args[flag] = value.format(**files)
    with pytest.raises(SystemExit) as exited:
        main(["plan", *(x for pair in args.items() for x in pair)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("concur plan: error: ")
    assert message in err and "Traceback" not in err


def test_a_plain_install_plans_without_matplotlib_or_jsonschema() -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = sys.modules['jsonschema'] = None\n"
        "from concur.cli import main\n"
        "code = main(['plan', '--latency', '100ms', '--rate', '1000'])\n"
        "assert 'matplotlib' not in sys.modules or sys.modules['matplotlib'] is None\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1,000 requests/s" in done.stdout and done.stderr == ""


def test_extreme_figures_are_short_and_the_arithmetic_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1e300 requests/s for an hour: figures as 3.6e+303, never three hundred digits."""
    assert main(["plan", "--latency", "1h", "--rate", "1e300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1e+300 requests/s, each waiting 3600 s, on 2 cores: 3.6e+303 in flight")
    assert max(len(word) for word in out.split()) < 30  # no run of hundreds of digits
    asyncio = next(line for line in out.splitlines() if line.startswith("asyncio "))
    assert "1.29e+296 of 1" in asyncio  # 1e300/s × 128.5 µs
    assert "no: needs 1.29e+296 cores, run 1.29e+296 processes" in asyncio
    with pytest.raises(ValueError, match="finite"):
        plan(json.loads(SHIPPED.read_text()), 3.6e306, 1e300)
