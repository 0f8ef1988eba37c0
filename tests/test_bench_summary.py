"""benchmarks/summary.py: the closing table of ``make bench`` from the scripts' JSON files."""

import doctest
import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "summary.py"


@pytest.fixture(scope="module")
def summary():
    spec = importlib.util.spec_from_file_location("bench_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doctests(summary):
    failed, tried = doctest.testmod(summary)
    assert tried >= 3 and failed == 0


@pytest.mark.benchmark
def test_table_of_figures_against_targets(summary, tmp_path, capsys):
    summary.write_results("bench_startup", [
        summary.figure("import_spelunker", 0.9, "s", target=1.5, baseline=3.0),
        summary.figure("survey_help", 1.3, "s", target=1.0, baseline=4.3)], folder=tmp_path)
    # A bare list, written with plain json, is read too.
    (tmp_path / "bench_pipeline.json").write_text(json.dumps([
        {"name": "fit_over_curve_fit", "value": 270.0, "unit": "x", "target": 250.0,
         "baseline": None, "ratio": None, "better": "higher"},
        {"name": "pipeline_1m_wall", "value": 11.0, "unit": "s", "target": 12.0,
         "baseline": 24.0, "ratio": 0.458, "target_ratio": 0.42},
        {"name": "read_1m", "value": 2.0, "unit": "s", "target": None, "baseline": None,
         "ratio": None}]))
    assert summary.main(["--results", str(tmp_path)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
             if line.strip()}
    assert lines["import_spelunker"][-2:] == ["ok", "bench_startup"]
    assert "0.3" in lines["import_spelunker"]
    assert lines["survey_help"][-2] == "MISS"
    assert lines["fit_over_curve_fit"][-2] == "ok"
    assert lines["pipeline_1m_wall"][-2] == "MISS"  # meets 12 s but not 0.42x its baseline
    assert lines["read_1m"][-2] == "-"
    assert lines["pipeline_1m_rss"][-2] == "missing"
    # The figures come first, in their order; the others after them.
    names = list(lines)
    assert names.index("pipeline_1m_wall") < names.index("import_spelunker") < names.index(
        "read_1m")
    assert summary.main(["--results", str(tmp_path), "--strict"]) == 1


@pytest.mark.benchmark
def test_bench_pipeline_figures_read_by_the_summary(summary, tmp_path, capsys):
    # bench_pipeline's per-stage medians -> its issue-23 figures -> the summary table.
    import runpy

    bench = runpy.run_path(str(SCRIPT.parent / "bench_pipeline.py"))
    run = {"total": 12.0, "peak_gb": 1.5, "product_ratio": 0.4, "frames": 1000, "fit": 0.001}
    base = {"total": 24.0, "peak_gb": 2.4, "product_ratio": 0.52, "frames": 1000, "fit": 0.002}
    results = {1000: {"base": base, "now": run},
               2000: {"base": base, "now": dict(run, total=26.4, peak_gb=3.0)}}
    figures = bench["stage_figures"](results, 2000.0, [(1000, 1), (2000, 2)], 3, "base-tree")
    summary.write_results("bench_pipeline", figures, folder=tmp_path)
    assert summary.main(["--results", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.strip()}
    assert rows["pipeline_1m_wall"][-3:] == ["0.5", "MISS", "bench_pipeline"]  # > 0.42x base
    assert rows["pipeline_1m_rss"][-2] == "ok"
    assert rows["product_over_input"][-2] == "ok"
    assert rows["fit_over_curve_fit"][1] == "500" and rows["fit_over_curve_fit"][-2] == "ok"
    assert rows["pipeline_2m_over_1m_wall"][1:3] == ["2.2", "x"]
    assert rows["pipeline_2m_over_1m_wall"][-2] == "MISS"
    assert rows["pipeline_2m_over_1m_rss"][-2] == "ok"
    found = summary.read_results(tmp_path)
    assert found["pipeline_1m_wall"]["target_ratio"] == 0.42
    # Without a baseline tree: baselines null, the wall against its absolute 10 s.
    del results[1000]["base"], results[2000]["base"]
    figures = bench["stage_figures"](results, 2000.0, [(1000, 1)], 3, None)
    assert [f["name"] for f in figures] == ["pipeline_1m_wall", "pipeline_1m_rss",
                                            "product_over_input", "fit_over_curve_fit"]
    assert all(f["baseline"] is None and f["ratio"] is None for f in figures)
    assert (figures[0]["target"], figures[0]["target_ratio"]) == (10.0, None)
    assert summary.status(figures[0]) == "MISS"


@pytest.mark.benchmark
def test_bench_pipeline_prints_the_growth_within_each_round(capsys):
    # Each round runs both sizes back to back: the 2x/1x of each stage within each
    # round, and their median, beside the ratio of the medians.
    import runpy

    bench = runpy.run_path(str(SCRIPT.parent / "bench_pipeline.py"))
    small = [{"periodogram": p, "total": 10.0, "frames": 1000, "product_ratio": 0.4,
              "fit_kernel": 1.0} for p in (1.0, 1.5, 2.0)]
    large = [dict(run, periodogram=p, total=19.0) for run, p in zip(small, (2.4, 3.0, 3.6))]
    bench["_print_round_ratios"]({1000: {"now": small}, 2000: {"now": large}},
                                 [(1000, 1), (2000, 2)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2x/1x within each round, now (median; rounds):"
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == {"periodogram", "total"}   # not frames, product_ratio, fit_kernel
    assert rows["periodogram"] == ["2.00", "2.40", "2.00", "1.80"]
    assert rows["total"] == ["1.90", "1.90", "1.90", "1.90"]


@pytest.mark.benchmark
def test_bench_pipeline_checks_the_whole_run_and_prints_each_stage(capsys):
    # The growth check is the whole run's (every stage included) and the peak RSS's;
    # each stage above 0.2 s is printed beside it, largest ratio first.
    import runpy

    bench = runpy.run_path(str(SCRIPT.parent / "bench_pipeline.py"))
    one = {"read": 1.0, "periodogram": 1.5, "events": 0.1, "total": 10.0, "frames": 1000,
           "fit": 2.0, "fit_kernel": 1.0, "peak_gb": 1.5, "product_ratio": 0.4}
    two = dict(one, read=1.9, periodogram=3.3, events=0.3, total=20.5, fit=4.0,
               fit_kernel=2.0, peak_gb=2.7)
    results = {1000: {"now": one}, 2000: {"now": two}}
    bench["_print_stage_table"](results, ["now"], 100.0, [(1000, 1), (2000, 2)])
    lines = capsys.readouterr().out.splitlines()
    checks = {line.split(":")[0]: line for line in lines if "(target" in line}
    whole = checks["2M/1M <= 2.1, whole run (every stage included)"]
    assert whole.endswith(": 2.05 (target 2.1): met")
    assert checks["2M/1M <= 2.1, peak RSS"].endswith(": 1.8 (target 2.1): met")
    stages = [line for line in lines if line.startswith("2M/1M of each stage")]
    # Largest first; events (0.1 s at 1M) and the total are not stages above 0.2 s.
    assert stages[0].endswith("periodogram 2.20, fit 2.00, read 1.90")
    two["total"] = 21.5
    bench["_print_stage_table"](results, ["now"], 100.0, [(1000, 1), (2000, 2)])
    assert ": 2.15 (target 2.1): MISSED" in capsys.readouterr().out


@pytest.mark.benchmark
def test_transform_growth_times_both_sizes(capsys):
    # The periodograms' two transforms alone, at both sizes, beside an N log N cost's growth.
    import runpy

    bench = runpy.run_path(str(SCRIPT.parent / "bench_pipeline.py"))
    seconds = bench["transform_growth"](2_000, 4_000, 1)
    assert set(seconds) == {2_000, 4_000} and all(s > 0 for s in seconds.values())
    line = capsys.readouterr().out.strip()
    bound = 4_000 * math.log(4_000) / (2_000 * math.log(2_000))
    assert line.endswith(f"(an N log N cost: {bound:.2f}x)")
    assert f"{seconds[4_000] / seconds[2_000]:.2f}x" in line


def test_compare_products_reports_a_product_it_cannot_open(tmp_path, capsys):
    # A product this tree cannot open (an older version's, or a damaged one) is reported
    # as not compared, not a traceback, and counts as a difference.
    import runpy

    compare = runpy.run_path(str(SCRIPT.parent / "compare_products.py"))
    damaged = tmp_path / "jw01534001001_gs-fg_2022338013723_gspipe.fits"
    damaged.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    assert compare["compare_science"]([damaged, damaged], tmp_path / "science.fits",
                                      1e-6) is False
    out = capsys.readouterr().out
    assert out.startswith("SCIENCE      not compared: ")
    assert str(damaged) in out
