"""``concur bench --quick`` end to end: results, schema, figures, and redrawing from JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concur.bench.plots import knee
from concur.bench.scenarios import NAMES, scenarios
from concur.bench.schema import SchemaError, validate
from concur.cli import main
from concur.engines import available_engines

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    return out


def _valid_png(path: Path) -> None:
    import matplotlib.image

    data = path.read_bytes()
    assert data.startswith(PNG), path
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_quick_bench_covers_every_installed_engine(quick_run: Path) -> None:
    results = json.loads((quick_run / "results.json").read_text())
    validate(results)
    assert set(results["scenarios"]) == set(NAMES)
    installed = set(available_engines())
    assert set(results["engines"]) == installed
    for name, block in results["scenarios"].items():
        if block["kind"] == "sweep":
            engines = {e for p in block["points"] for e in p["results"]}
            assert engines == installed - {"serial"}
            continue
        assert set(block["results"]) == installed, name
        for engine, r in block["results"].items():
            assert "median" in r, (name, engine, r.get("error"))
            # every URL accounted for, and no more requests in flight than allowed
            trial = r["trials"][0]
            assert trial["ok"] + trial["failed"] == r["n"]
            assert trial["peak_in_flight"] <= block["params"]["concurrency"]
            assert len(r["timeline"]) > 0
    faults = results["scenarios"]["faults"]["results"]
    assert all(r["trials"][0]["attempts"] >= r["n"] for r in faults.values())


def test_figures_are_valid_images_and_report_embeds_them(quick_run: Path) -> None:
    pngs = sorted(quick_run.glob("*.png"))
    stems = {p.stem for p in pngs}
    assert {
        "timeline-book",
        "throughput-book",
        "cpu-per-request",
        "sweep",
        "latency-cdf-tail",
    } <= stems
    for png in pngs:
        _valid_png(png)
    report = (quick_run / "report.md").read_text()
    for png in pngs:
        assert f"]({png.name})" in report


def test_plot_redraws_from_json_alone(quick_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results.json"
    copy.write_text((quick_run / "results.json").read_text())
    assert main(["plot", str(copy), "--out", str(tmp_path / "figs")]) == 0
    redrawn = {p.name for p in (tmp_path / "figs").glob("*.png")}
    assert redrawn == {p.name for p in quick_run.glob("*.png")}


def test_schema_rejects_broken_results(quick_run: Path) -> None:
    results = json.loads((quick_run / "results.json").read_text())
    results["scenarios"]["book"]["params"]["n"] = -1
    with pytest.raises(SchemaError):
        validate(results)
    with pytest.raises(SchemaError):
        validate({"schema": "something-else"})


def test_plot_refuses_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(bad)])
    assert exc.value.code == 2
    assert "concur plot: error" in capsys.readouterr().err


def test_scenarios_and_knee() -> None:
    full = scenarios(quick=False)
    book = full["book"]
    assert book.ideal_s == pytest.approx(1.0)  # type: ignore[union-attr]
    assert full["scale"].ideal_s == pytest.approx(1.0)  # type: ignore[union-attr]
    points = [
        {
            "delay_ms": 100.0,
            "concurrency": c,
            "n": 3 * c,
            "ideal_s": 0.3,
            "results": {"x": {"req_per_s": rate, "cpu_us_per_request": cpu}},
        }
        for c, rate, cpu in (
            (5, 30.0, 300.0),
            (10, 99.0, 300.0),
            (100, 990.0, 300.0),
            (1000, 4000.0, 240.0),
        )
    ]
    # c=5: 30 req/s is 60 % of ideal, but the CPU idles (start-up cost): not the knee
    assert knee(points, "x", 100.0) == 1000  # 4,000 < 80 % of the ideal 10,000, CPU 0.96
