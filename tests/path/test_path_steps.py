"""The learner's path: every step fetches every URL, as many at once as it says.

Each step runs against the real mock server over loopback, through the harness, and is
checked by the summary ``concur crawl`` prints: nothing lost, the concurrency the
server saw, and an efficiency that only a step that stopped overlapping would miss.
The gevent step runs in a child process: this one must stay unpatched.
"""

from __future__ import annotations

import ast
import importlib.util
import socket
from pathlib import Path

import pytest

from concur.path import STEPS, harness, step
from concur.records import ErrorKind
from mockserver.testing import RunningServer

HAS_GEVENT = importlib.util.find_spec("gevent") is not None
N, C, DELAY_MS = 40, 10, 20.0


def _params() -> list[object]:
    marks = pytest.mark.skipif(not HAS_GEVENT, reason="gevent is not installed")
    return [
        pytest.param(s.number, id=s.name, marks=marks if s.extra == "gevent" else ()) for s in STEPS
    ]


@pytest.mark.parametrize("number", _params())
def test_each_step_fetches_everything(number: int, mockserver: RunningServer) -> None:
    unpatched = socket.socket
    the_step = step(number)
    n = 20 if not the_step.concurrent else N  # serial: 20 x 20 ms
    done = harness.run(the_step, mockserver, n=n, concurrency=C, delay_ms=DELAY_MS)
    s = done.summary
    assert (s["requests"], s["ok"], s["failed"]) == (n, n, 0)
    assert s["statuses"] == {"200": n} and s["bytes"] == n  # /add answers "."
    in_flight = C if the_step.concurrent else 1
    assert s["concurrency"] == in_flight
    assert s["server_peak_in_flight"] == in_flight == s["client_peak_in_flight"]
    assert s["ideal_s"] == pytest.approx(-(-n // in_flight) * DELAY_MS / 1e3)
    assert s["efficiency"] > 0.3  # generous: a step that stopped overlapping gets 1/C
    assert s["latency_ms"]["p50"] >= DELAY_MS
    assert s["cpu_us_per_request"] > 0 and s["budget_ms"] is not None
    assert s["step"] == number and s["impl"] == f"step{number}_{the_step.name}"
    records = done.result.records
    assert [r.index for r in records] == list(range(n))
    assert all(0 <= r.start < r.end <= done.result.wall_s for r in records)
    assert socket.socket is unpatched  # gevent patched its own child, not this process


def test_steps_are_small() -> None:
    """At most 40 lines of crawler each: no docstrings, comments, imports or ``__main__`` block."""
    for s in STEPS:
        spec = importlib.util.find_spec(s.module)  # step 6 is read, never imported here
        assert spec is not None and spec.origin is not None
        source = Path(spec.origin).read_text(encoding="utf-8")
        lines = source.splitlines()
        code: set[int] = set()
        for node in ast.parse(source).body:
            skip = (ast.Import, ast.ImportFrom, ast.If)
            if isinstance(node, skip) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            ):
                continue
            for i in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                text = lines[i - 1].strip()
                if text and not text.startswith(("#", '"""')):
                    code.add(i)
        assert len(code) <= 40, f"{s.module}: {len(code)} lines of crawler"
        assert "def crawl(urls: list[str], concurrency: int)" in source


def test_answers_become_records() -> None:
    """A status of 400 or more is an http error; a URL without an answer is one too."""
    urls = ["u0", "u1", "u2"]

    def crawl(todo: list[str], concurrency: int) -> dict[str, harness.Answer]:
        return {"u0": (200, 1, 10.0, 10.5), "u1": (503, 0, 10.2, 10.4)}

    done = harness.records(urls, crawl(urls, 2), t0=10.0)
    assert [r.error for r in done] == [None, ErrorKind.HTTP, ErrorKind.OTHER]
    assert done[0].start == 0.0 and done[0].end == 0.5 and done[1].status == 503
    assert harness.peak_in_flight(done[:2]) == 2
    result = harness.measure(step(2), crawl, urls, 2)
    assert (result.ok, result.failed, result.config.concurrency) == (1, 2, 2)


def test_in_flight_counts_overlaps_only() -> None:
    def answer(start: float, end: float) -> harness.Answer:
        return (200, 1, start, end)

    back_to_back = {"a": answer(0, 1), "b": answer(1, 2), "c": answer(2, 3)}
    assert harness.peak_in_flight(harness.records(list(back_to_back), back_to_back, 0)) == 1
    nested = {"a": answer(0, 3), "b": answer(1, 2), "c": answer(1.5, 2.5)}
    assert harness.peak_in_flight(harness.records(list(nested), nested, 0)) == 3


def test_the_tutorial_quotes_the_code_as_it_is() -> None:
    """Every Python block in docs/path.md is a verbatim piece of a step."""
    root = Path(__file__).resolve().parents[2]
    sources = [p.read_text(encoding="utf-8") for p in (root / "src/concur/path").glob("step*.py")]
    doc = (root / "docs/path.md").read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in doc.split("```python\n")[1:]]
    assert len(blocks) >= len(STEPS)
    for block in blocks:
        assert any(block in source for source in sources), block[:200]
