"""Benchmark binning guide-star series onto science integrations.

`spelunker.science.bin_to_integrations` on a model of ``--n-frames`` frames
(a fitted 2-D Gaussian table with 1 % of the fits flagged and a photometry
light curve, 16.7 frames/s) onto ``--n-integrations`` contiguous
integrations given by an ``INT_TIMES`` table.  Everything it returns is
timed: mean, median, standard error and count of the 8 frame series, the
frame count and flagged fraction, and the ``TimeSeries`` itself.

The baseline, in the same run: NumPy's ``np.add.reduceat`` computing only the
per-integration means of the same 8 series (frames already sorted, flagged
values zeroed, counts by ``reduceat`` too).  Target: <= 1 s for 1,000,000
frames onto 10,000 integrations.  The machine has 2 noisy cores: the median
of ``--repeat`` runs is quoted, with the ratio to the baseline.

    python benchmarks/bench_science.py [--n-frames 1000000] [--n-integrations 10000]
"""

import argparse
import statistics
import time

import numpy as np
from astropy.table import Table

from spelunker import GuideStarModel
from spelunker.science import INT_TIMES_COLUMNS, bin_to_integrations

START = 60200.0
DAY = 86400.0
SERIES = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")


def make_model(n_frames, seed=0):
    """A model with frames at 16.7 Hz, a fit table (1 % flagged) and a light curve."""
    rng = np.random.default_rng(seed)
    model = GuideStarModel()
    frames = np.zeros(n_frames, dtype=model.table_dtype("frames"))
    frames["mid_time_mjd"] = START + (np.arange(n_frames) + 0.5) * 0.06 / DAY
    frames["frame_in_file"] = np.arange(n_frames)
    fit = np.zeros(n_frames, dtype=model.table_dtype("gauss_fit"))
    for name in SERIES:
        fit[name] = rng.standard_normal(n_frames)
    fit["flags"][rng.choice(n_frames, n_frames // 100, replace=False)] = 1
    light = np.zeros(n_frames, dtype=model.table_dtype("lightcurve"))
    light["flux"] = 1e6 + 1e3 * rng.standard_normal(n_frames)
    light["flux_err"] = 1e3
    model.frames, model.gauss_fit, model.lightcurve = frames, fit, light
    model.meta.spelunker.fit_method = "gauss"
    return model


def int_times(n_frames, n_integrations):
    """Contiguous integrations spanning the frames, as an INT_TIMES table."""
    edges = START + np.linspace(0.0, n_frames * 0.06, n_integrations + 1) / DAY
    table = Table()
    table["integration_number"] = np.arange(1, n_integrations + 1)
    for suffix, offset in (("MJD_UTC", 0.0), ("BJD_TDB", 300.0 / DAY)):
        table[f"int_start_{suffix}"] = edges[:-1] + offset
        table[f"int_end_{suffix}"] = edges[1:] + offset
        table[f"int_mid_{suffix}"] = (edges[:-1] + edges[1:]) / 2 + offset
    return table[list(INT_TIMES_COLUMNS)]


def baseline(model, table):
    """Per-integration means of the 8 series with np.add.reduceat (and the counts)."""
    mjd = np.asarray(model.frames["mid_time_mjd"])
    lo = np.searchsorted(mjd, np.asarray(table["int_start_MJD_UTC"]))
    good = (np.asarray(model.gauss_fit["flags"]) == 0).astype(float)
    counts = np.add.reduceat(good, lo)
    means = {}
    for name in SERIES:
        means[name] = np.add.reduceat(np.asarray(model.gauss_fit[name]) * good, lo) / counts
    means["flux"] = np.add.reduceat(np.asarray(model.lightcurve["flux"]) * good, lo) / counts
    return means


def timed(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--n-integrations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    model = make_model(args.n_frames)
    table = int_times(args.n_frames, args.n_integrations)
    bin_to_integrations(make_model(1000), int_times(1000, 10))  # compile the kernel once
    ours, binned = timed(lambda: bin_to_integrations(model, table), args.repeat)
    numpy, means = timed(lambda: baseline(model, table), args.repeat)
    worst = max(float(np.nanmax(np.abs(binned[name].value - means[name])
                                / np.maximum(np.abs(means[name]), 1.0))) for name in means)
    print(f"{args.n_frames} frames onto {args.n_integrations} integrations, "
          f"median of {args.repeat}:")
    print(f"  spelunker bin_to_integrations (8 series: mean, median, err, n; "
          f"flagged fraction): {ours:.3f} s")
    print(f"  baseline np.add.reduceat (8 series: mean only): {numpy:.3f} s")
    print(f"  ratio spelunker / baseline: {ours / numpy:.2f}x")
    print(f"  max |difference| of the means / max(|mean|, 1): {worst:.1e}")
    print(f"  target <= 1 s: {'met' if ours <= 1.0 else 'NOT met'}")
    return ours, numpy


if __name__ == "__main__":
    main()
