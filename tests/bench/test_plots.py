"""Figures and report from hand-made results: what a row is, failures, CDFs, references."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from concur.bench import plots, references, report
from concur.bench.scenarios import Scenario, scenarios


def _lab(colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* of an sRGB colour (D65): distances in it follow what eyes tell apart."""
    from matplotlib.colors import to_rgb

    def linear(u: float) -> float:
        return u / 12.92 if u <= 0.04045 else ((u + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(u) for u in to_rgb(colour))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_failures_have_a_colour_no_engine_uses() -> None:
    for name, colour in plots.COLORS.items():
        assert plots.FAILED_COLOR.lower() != colour.lower(), name
        # ΔE*ab over 40: clearly another colour, not a shade of the same one
        assert math.dist(_lab(plots.FAILED_COLOR), _lab(colour)) > 40, name


def _engine(timeline: list[list[float]], failed: int = 0) -> dict[str, Any]:
    figures = {
        "wall_s": 0.5,
        "req_per_s": 8.0,
        "cpu_us_per_request": 300.0,
        "peak_rss_mb": 40.0,
        "latency_ms": {"p50": 100.0, "p95": 150.0, "p99": 200.0},
        "failed": failed,
        "efficiency": None,
    }
    return {
        "trials": [figures],
        "median": figures,
        "spread": {"req_per_s": [8.0, 8.0]},
        "n": len(timeline),
        "timeline": timeline,
        "latencies_ms": sorted((e - s) * 1e3 for s, e, _ in timeline),
    }


def _results(refs: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "kind": "scenario",
        "params": {
            "name": "faults",
            "title": "Faults",
            "n": 4,
            "concurrency": 2,
            "ideal_s": None,
            "faults": "5xx:0.5",
            "latency": "lognormal:50,1000",
        },
        "why": "why",
        "results": {
            "threads": _engine([[0, 0.1, 1], [0, 0.3, 0], [0.1, 0.2, 1], [0.2, 0.4, 1]], 1),
            "asyncio": _engine([[0, 0.1, 1], [0, 0.1, 1], [0.1, 0.2, 1], [0.1, 0.25, 1]]),
            "uvloop": _engine([[0, 0.1, 1], [0, 0.1, 1], [0.1, 0.2, 1], [0.1, 0.26, 1]]),
            "gevent": {"error": "trial exited 1: boom"},
        },
    }
    if refs is not None:
        block["references"] = refs
    return {
        "created": "2026-01-01T00:00:00+00:00",
        "quick": True,
        "repeats": 1,
        "machine": {"python": "3.11.7", "cpu_count": 2, "platform": "Linux"},
        "versions": {"concur": "0"},
        "scenarios": {"faults": block},
    }


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The figures the plotting functions make, kept open instead of saved."""
    figures: list[Any] = []

    def keep(fig: Any, out: Path, stem: str, svg: bool) -> list[str]:
        figures.append(fig)
        return [f"{stem}.png"]

    monkeypatch.setattr(plots, "_save", keep)
    yield figures
    plots._plt().close("all")


def test_timeline_says_what_a_row_is_and_marks_failures(drawn: list[Any], tmp_path: Path) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_hex

    assert plots.timelines(_results(), "faults", tmp_path) == ["timeline-faults.png"]
    fig = drawn[0]
    assert "one row per request" in fig._supylabel.get_text()
    assert "magenta" in fig.axes[-1].get_xlabel()
    threads = fig.axes[0]
    (lines,) = [c for c in threads.collections if isinstance(c, LineCollection)]
    rgba: Any = lines.get_colors()  # one row per segment
    colours = {to_hex(c) for c in rgba}
    assert colours == {plots.COLORS["threads"], plots.FAILED_COLOR}
    (marks,) = threads.get_lines()
    assert marks.get_marker() == plots.FAILED_MARKER and list(marks.get_xdata()) == [0.3]
    assert not fig.axes[1].get_lines()  # asyncio: nothing failed, nothing marked
    assert [t.get_text() for t in threads.get_yticklabels()] == ["1", "4"]


def test_a_thinned_timeline_says_which_requests_it_keeps(drawn: list[Any], tmp_path: Path) -> None:
    results = _results()
    results["scenarios"]["faults"]["results"]["asyncio"]["timeline_step"] = 4
    plots.timelines(results, "faults", tmp_path)
    asyncio = drawn[0].axes[1]
    assert "every 4th request" in asyncio.get_ylabel()
    assert [t.get_text() for t in asyncio.get_yticklabels()] == ["1", "16"]


def test_latency_cdfs_are_told_apart(drawn: list[Any], tmp_path: Path) -> None:
    """One panel per engine: its curve in its colour over the others in grey."""
    assert plots.latency_cdf(_results(), "faults", tmp_path) == ["latency-cdf-faults.png"]
    panels = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["threads", "asyncio", "uvloop"]
    for ax, engine in zip(panels, ("threads", "asyncio", "uvloop"), strict=True):
        colours = [line.get_color() for line in ax.get_lines()]
        assert colours.count(plots.COLORS[engine]) == 2  # the curve and its p50/p99 dots
        assert colours.count("#cccccc") == 2


def test_report_says_why_a_reference_is_missing(tmp_path: Path) -> None:
    refs = {
        "wrk": {"skipped": "wrk does not retry, so faults would only count as errors"},
        "scrapy": {"error": "scrapy trial failed: boom"},
    }
    text = report.write_report(_results(refs), [], tmp_path).read_text()
    assert "References: wrk skipped: wrk does not retry" in text
    assert "Scrapy failed: scrapy trial failed: boom" in text
    measured = {"wrk": {"req_per_s": 900.0, "connections": 2}, "scrapy": {"summary": {}}}
    assert report.references_note(_results(measured)["scenarios"]["faults"]) == ""
    unknown = report.references_note(_results()["scenarios"]["faults"])
    assert "results do not say why" in unknown
    # results written before skips were data: wrk's old "error" was a skip
    old = {"wrk": {"error": "not run: wrk does not retry"}, "scrapy": {"summary": {}}}
    assert report.references_note(_results(old)["scenarios"]["faults"]) == (
        "References: wrk skipped: wrk does not retry."
    )


def test_timeline_reading_names_failures_only_when_there_are_some() -> None:
    block = _results()["scenarios"]["faults"]
    assert "Magenta" in report.reading("timeline", block)
    block["results"]["threads"]["median"]["failed"] = 0
    assert "Magenta" not in report.reading("timeline", block)


def test_skipped_references_are_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert references.skipped("turned off (--no-references)") == {
        "wrk": {"skipped": "turned off (--no-references)"},
        "scrapy": {"skipped": "turned off (--no-references)"},
    }
    faults = scenarios(True)["faults"]
    assert isinstance(faults, Scenario)
    assert "skipped" in references.wrk(faults, server=None, quick=True)
    monkeypatch.setattr(references.importlib.util, "find_spec", lambda name: None)
    got = references.scrapy(faults, server=None)
    assert got == {"skipped": "Scrapy is not installed: pip install 'concur[scrapy]'"}
