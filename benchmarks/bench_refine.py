"""Benchmark the refinement of periodogram peaks against the same peaks unrefined.

8 series of ``--n`` points at 16 Hz with 5 peaks each: 'sine' holds a weak
sinusoid (0.7 s to 5000 s) in white noise in seven series and pure noise in
the eighth; 'red' holds eight random walks (every peak significant, so every
peak refined).  The baseline, in the same run, is the peak table of the same
periodograms without refinement (``refine_below=-1``); the difference is
what `spelunker.periodogram.refine_period` adds.  The machine has 2 noisy
cores: medians of ``--repeat`` runs, with the ratio to the baseline.

    python benchmarks/bench_refine.py [--n 1000000] [--repeat 3]
"""

import argparse
import statistics
import time

import numpy as np

from spelunker.periodogram import lomb_scargle
from spelunker.periodogram.peaks import MAX_REFINE_FALSE_ALARM, _series_peaks
from spelunker.periodogram.refine import FLAG_NOT_SIGNIFICANT

PERIODS = (0.7, 3.1, 21.0, 173.0, 611.0, 1531.0, 4999.0, None)


def make_series(kind, n_points, seed=5):
    """Times (s) and 8 series of ``kind`` ('sine' or 'red'), with one gap."""
    rng = np.random.default_rng(seed)
    times = np.arange(n_points) / 16.0 + rng.normal(0, 0.002, n_points)
    series = {}
    for k, period in enumerate(PERIODS):
        values = rng.normal(0, 1, n_points)
        if kind == "red":
            values = np.cumsum(values) * 0.01
        elif period:
            values += 0.05 * np.sin(2 * np.pi * times / period + k)
        values[n_points // 5:n_points // 5 + 3000] = np.nan
        series[f"s{k}"] = values
    return times, series


def peak_seconds(times, result, series, refine_below):
    """Seconds to make the peak table, and the table."""
    masks = {name: np.isfinite(values) for name, values in series.items()}
    start = time.perf_counter()
    table = _series_peaks(times - times.min(), result.frequency, result.power, series, masks,
                          dict.fromkeys(series), n_peaks=5, refine_below=refine_below)
    return time.perf_counter() - start, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="points per series")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median)")
    args = parser.parse_args(argv)
    for kind in ("sine", "red"):
        times, series = make_series(kind, args.n)
        result = lomb_scargle(times, series, n_peaks=5)
        runs = {"unrefined": [], "refined": []}
        for _ in range(args.repeat):
            for label, limit in (("unrefined", -1.0), ("refined", MAX_REFINE_FALSE_ALARM)):
                seconds, table = peak_seconds(times, result, series, limit)
                runs[label].append(seconds)
        base = statistics.median(runs["unrefined"])
        refined = statistics.median(runs["refined"])
        n_refined = int(np.count_nonzero(np.asarray(table["refine_flag"]) != FLAG_NOT_SIGNIFICANT))
        print(f"{kind}: peaks of 8 series x {args.n} points, median of {args.repeat}: "
              f"unrefined {base:.2f} s, refined {refined:.2f} s ({n_refined} of "
              f"{len(table)} peaks refined): +{refined - base:.2f} s, "
              f"ratio {refined / base:.2f}")


if __name__ == "__main__":
    main()
