"""The fitting and pipeline benchmark scripts run end to end on a tiny size."""

import runpy
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "bench_fit.py"


@pytest.mark.benchmark
def test_bench_fit_runs(capsys):
    module = runpy.run_path(str(SCRIPT))
    module["main"](["--n-frames", "400", "--curve-fit-frames", "10", "--repeat", "1"])
    out = capsys.readouterr().out
    for label in ("gauss ncpus=1", "gauss ncpus=2", "quick ncpus=1", "curve_fit loop",
                  "fit step ncpus=2", "LM iterations per frame", "gauss(ncpus=2) / curve_fit",
                  "fit step(ncpus=2) / curve_fit", "max |gauss - curve_fit|"):
        assert label in out
    # The compiled fit reproduces curve_fit's centres on the subset.
    x_line = next(line for line in out.splitlines() if line.strip().startswith("x_mean:"))
    assert float(x_line.split(":")[1].split()[0]) < 1e-5


@pytest.mark.benchmark
def test_bench_pipeline_runs(capsys):
    module = runpy.run_path(str(BENCHMARKS / "bench_pipeline.py"))
    module["main"](["--n-frames", "20000", "--repeat", "1", "--skip-strun"])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("[1] Lomb-Scargle, 8 series x 20000 points, ") for line in lines)
    assert any(line.startswith("[2] aperture search on 20000 frames: median ") for line in lines)
    assert not any(line.startswith("[3]") for line in lines)  # --skip-strun
    for label in ("spelunker (nifty-ls, batched): median", "astropy LombScargle default",
                  "baseline full-frame sum of the same frames"):
        assert any(label in line for line in lines), label


@pytest.mark.benchmark
def test_bench_refine_runs(capsys):
    module = runpy.run_path(str(BENCHMARKS / "bench_refine.py"))
    module["main"](["--n", "20000", "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["sine", "red"]
    for line in lines:
        assert "unrefined" in line and "ratio" in line
    # Every random walk peak is significant, so every one is refined.
    assert "(40 of 40 peaks refined)" in lines[1]
