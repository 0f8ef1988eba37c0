"""Benchmark the periodogram stage: the 2-point stored grid with zoomed peaks against 5 points.

The stage (`spelunker.periodogram.run_periodogram`, what PeriodogramStep
runs) on a synthetic visit of ``--n-frames`` frames in 50 files with
injected sinusoids (a centroid wobble, a flux modulation, a width
oscillation), after the 2-D Gaussian fit and the photometry: eight series
(seven PSF parameters and the flux).  Two settings run alternately in one
process, ``--repeat`` times (medians; the 2-core machines are noisy):

- ``full``: the grid before issue 23, 5 points per peak stored and searched
  (``samples_per_peak=5, peak_samples_per_peak=None``; nifty-ls);
- ``zoom``: the defaults, 2 points per peak stored, the peaks of the 5-point
  grid zoomed around the candidates (`spelunker.periodogram.zoom`).

Printed: CPU (``time.process_time``) and wall of each, their ratio, the
bytes of the ``periodogram`` table, and the difference of the peak tables
(same series, ranks and frequencies; largest relative difference of power,
false-alarm probability and the refined columns).  The same comparison runs
on the demo visit (`spelunker.datasets.sample_visit`).  With ``--double``
the stage also runs on twice the frames (the growth of each setting).

    python benchmarks/bench_periodogram.py [--n-frames 1000000] [--repeat 3] [--double]
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # summary.py, also under runpy
from summary import figure, write_results

SETTINGS = {"full": {"samples_per_peak": 5.0, "peak_samples_per_peak": None},
            "zoom": {}}


def fitted_visit(directory, n_frames, n_files, *, signals=True):
    """A synthetic visit read, fitted (2-D Gaussian) and with its light curve (in memory)."""
    from spelunker import GuideStarFitStep, PhotometryOptimizeStep, datasets, read_guidestar

    directory = Path(directory)
    if not (directory / "complete").exists():
        directory.mkdir(parents=True, exist_ok=True)
        datasets.make_guidestar_files(
            directory, visits=[datasets.VisitSpec(n_frames=n_frames, n_segments=n_files)],
            signals=[datasets.CentroidWobble(period=2.2, amplitude=0.002, axis="x"),
                     datasets.CentroidWobble(period=613.0, amplitude=0.001, axis="y"),
                     datasets.FluxModulation(period=1.3, amplitude=0.0005)]
            if signals else [], seed=2026)
        (directory / "complete").write_text("ok")
    model = read_guidestar(sorted(str(p) for p in directory.glob("*_cal.fits")))
    model = GuideStarFitStep.call(model)
    return PhotometryOptimizeStep.call(model)


def timed(model, options):
    """CPU and wall seconds of one `run_periodogram` with ``options``, and the model's tables."""
    from spelunker.periodogram import periodogram_peaks_table, run_periodogram

    cpu, wall = time.process_time(), time.perf_counter()
    run_periodogram(model, **options)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, np.asarray(model.periodogram).nbytes, periodogram_peaks_table(model)


def peak_difference(zoom, full):
    """Text and largest relative difference of two peak tables (inf if the peaks differ)."""
    same = (len(zoom) == len(full) and np.array_equal(zoom["series"], full["series"])
            and np.array_equal(zoom["rank"], full["rank"])
            and np.array_equal(zoom["frequency"], full["frequency"]))
    if not same:
        return f"DIFFERENT peaks ({len(zoom)} and {len(full)} rows)", np.inf
    worst = {}
    for column in ("power", "false_alarm_probability", "period_refined", "period_error",
                   "amplitude", "amplitude_error"):
        a = np.asarray(getattr(zoom[column], "value", zoom[column]), dtype=float)
        b = np.asarray(getattr(full[column], "value", full[column]), dtype=float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return f"{column}: NaN in one table only", np.inf
        both = ~np.isnan(b) & (b != 0)
        worst[column] = float(np.max(np.abs(a[both] - b[both]) / np.abs(b[both]), initial=0.0))
    flags = np.array_equal(zoom["refine_flag"], full["refine_flag"])
    n_refined = int(np.count_nonzero(np.isfinite(np.asarray(full["period_refined"]))))
    text = (f"{len(full)} peaks, same series, ranks and frequencies; refine flags "
            f"{'equal' if flags else 'DIFFER'}; {n_refined} refined; largest relative "
            f"difference: " + ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))
    return text, max(worst.values()) if flags else np.inf


def bench_stage(model, repeat, label):
    """Medians of the two settings run alternately; returns {setting: (cpu, wall)}."""
    runs = {name: [] for name in SETTINGS}
    tables = {}
    for _ in range(repeat):
        for name, options in SETTINGS.items():
            cpu, wall, nbytes, peaks = timed(model, options)
            runs[name].append((cpu, wall))
            tables[name] = (nbytes, peaks)
    medians = {name: (statistics.median(c for c, _ in values),
                      statistics.median(w for _, w in values)) for name, values in runs.items()}
    (cpu_f, wall_f), (cpu_z, wall_z) = medians["full"], medians["zoom"]
    print(f"{label}: stage median of {repeat} (load {os.getloadavg()[0]:.1f}): full CPU "
          f"{cpu_f:.2f} s wall {wall_f:.2f} s; zoom CPU {cpu_z:.2f} s wall {wall_z:.2f} s; "
          f"zoom/full CPU {cpu_z / cpu_f:.2f} wall {wall_z / wall_f:.2f}")
    print(f"    periodogram table: full {tables['full'][0] / 1e6:.1f} MB, zoom "
          f"{tables['zoom'][0] / 1e6:.1f} MB ({tables['zoom'][0] / tables['full'][0]:.2f}x)")
    text, worst = peak_difference(tables["zoom"][1], tables["full"][1])
    print(f"    peak table, zoom against full: {text}")
    return medians, tables, worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--n-files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--double", action="store_true",
                        help="also on twice the frames and files (growth)")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder of the JSON figures for summary.py (default: none)")
    args = parser.parse_args(argv)
    from spelunker import GuideStarFitStep, PhotometryOptimizeStep, datasets

    logging.disable(logging.INFO)  # the steps' logs
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    demo = datasets.sample_visit(Path(tempfile.mkdtemp(prefix="spelunker_bench_pgram_")))
    model = PhotometryOptimizeStep.call(GuideStarFitStep.call(demo.files))
    bench_stage(model, 1, f"demo visit ({len(model.frames)} frames)")

    sizes = [(args.n_frames, args.n_files)]
    if args.double:
        sizes.append((2 * args.n_frames, 2 * args.n_files))
    results = {}
    for n_frames, n_files in sizes:
        folder = Path(tempfile.gettempdir()) / f"spelunker_bench_pgram_{n_frames}_{n_files}"
        model = fitted_visit(folder, n_frames, n_files)
        results[n_frames] = bench_stage(model, args.repeat,
                                        f"{n_frames} frames, {n_files} files, with sinusoids")
        del model
    if args.double:
        (small, large) = (sizes[0][0], sizes[1][0])
        for name in SETTINGS:
            cpu = results[large][0][name][0] / results[small][0][name][0]
            wall = results[large][0][name][1] / results[small][0][name][1]
            print(f"growth {large}/{small} frames, {name}: CPU {cpu:.2f}x, wall {wall:.2f}x")
    if args.results:
        medians, tables, worst = results[sizes[0][0]]
        note = f"median of {args.repeat}; {sizes[0][0]:,} frames; baseline: the 5-point grid"
        write_results("bench_periodogram", [
            figure("periodogram_stage_cpu", medians["zoom"][0], "s",
                   baseline=medians["full"][0], note=note),
            figure("periodogram_stage_wall", medians["zoom"][1], "s",
                   baseline=medians["full"][1], target_ratio=0.5, note=note),
            figure("periodogram_table_bytes", tables["zoom"][0] / 1e6, "MB",
                   baseline=tables["full"][0] / 1e6, note=note),
            figure("periodogram_peaks_rtol", worst, "x", target=1e-6, note=note)],
            folder=args.results)


if __name__ == "__main__":
    main()
