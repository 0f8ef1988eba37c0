"""The fitting benchmark script runs end to end on a tiny size."""

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fit.py"


@pytest.mark.benchmark
def test_bench_fit_runs(capsys):
    module = runpy.run_path(str(SCRIPT))
    module["main"](["--n-frames", "400", "--curve-fit-frames", "10", "--repeat", "1"])
    out = capsys.readouterr().out
    for label in ("gauss ncpus=1", "gauss ncpus=2", "quick ncpus=1", "curve_fit loop",
                  "gauss(ncpus=2) / curve_fit", "max |gauss - curve_fit|"):
        assert label in out
    # The compiled fit reproduces curve_fit's centres on the subset.
    x_line = next(line for line in out.splitlines() if line.strip().startswith("x_mean:"))
    assert float(x_line.split(":")[1].split()[0]) < 1e-5
