"""Benchmark the analysis after the fit: periodograms, aperture search, whole pipeline.

Three measurements (issue 4 targets), each against a named baseline in the
same run, medians of ``--repeat`` runs (the 2-core machines are noisy):

1. Lomb-Scargle of 8 series of 1,000,000 points with spelunker's engine
   (nifty-ls, batched) -- target <= 5 s; baseline: astropy's default
   ``LombScargle(t, y).power(f)`` on the same 100,000-point series, printed
   as a ratio.
2. The optimal-aperture search on 1,000,000 frames -- target <= 3 s;
   baseline: the plain full-frame sum of the same frames.
3. The whole pipeline through ``strun spelunker_pipeline`` on a
   1,000,000-frame visit (50 segment files) in a subprocess -- target
   <= 20 s wall and peak RSS <= 3 GB; baseline: reading the same visit.

    python benchmarks/bench_pipeline.py [--n-frames 1000000] [--repeat 3] [--skip-strun]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CADENCE = 0.0538  # seconds between frames


def median_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def bench_periodogram(n_points, repeat):
    from astropy.timeseries import LombScargle

    from spelunker.periodogram import frequency_grid, lomb_scargle

    rng = np.random.default_rng(1)
    t = np.arange(n_points) * CADENCE + rng.normal(0, 1e-4, n_points)
    names = ["amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset", "flux"]
    series = {name: np.sin(2 * np.pi * t / (7.0 + k)) + rng.normal(0, 1, n_points)
              for k, name in enumerate(names)}
    grid = frequency_grid(t)
    lomb_scargle(t[:1000], {"x": series["x_mean"][:1000]})  # warm-up (imports, FFT plans)
    spelunker_s, runs = median_time(lambda: lomb_scargle(t, series, frequency=grid), repeat)
    print(f"[1] Lomb-Scargle, 8 series x {n_points} points, {len(grid)} frequencies "
          f"(1/baseline .. Nyquist of the median cadence)")
    print(f"    spelunker (nifty-ls, batched): median {spelunker_s:.2f} s  runs "
          f"{[round(r, 2) for r in runs]}  target <= 5 s: "
          f"{'met' if spelunker_s <= 5 else 'MISSED'}")

    n_small = 100_000
    t_small, y_small = t[:n_small], series["x_mean"][:n_small]
    grid_small = frequency_grid(t_small)
    ours, _ = median_time(lambda: lomb_scargle(t_small, {"x": y_small}, frequency=grid_small),
                          repeat)
    start = time.perf_counter()
    LombScargle(t_small, y_small).power(grid_small)
    astropy_s = time.perf_counter() - start
    print(f"    one {len(t_small):,}-point series, {len(grid_small)} frequencies: "
          f"spelunker {ours:.3f} s, astropy LombScargle default {astropy_s:.2f} s  "
          f"-> ratio {astropy_s / ours:.0f}x")


def bench_aperture(n_frames, repeat):
    from spelunker.datasets import simulate_frames
    from spelunker.photometry import full_frame_flux, optimize_aperture

    block_data, block_err, _ = simulate_frames(50_000, seed=3)
    reps = -(-n_frames // len(block_data))
    data = np.tile(block_data, (reps, 1, 1))[:n_frames]
    err = np.tile(block_err, (reps, 1, 1))[:n_frames]
    times = np.arange(n_frames) * CADENCE
    ours, runs = median_time(lambda: optimize_aperture(data, err, times=times), repeat)
    full, _ = median_time(lambda: full_frame_flux(data, err), repeat)
    print(f"[2] aperture search on {n_frames} frames: median {ours:.2f} s  runs "
          f"{[round(r, 2) for r in runs]}  target <= 3 s: {'met' if ours <= 3 else 'MISSED'}")
    print(f"    baseline full-frame sum of the same frames: {full:.2f} s "
          f"(search / full-frame sum = {ours / full:.1f}x)")


def bench_strun(n_frames, n_files, repeat):
    from spelunker import datasets

    directory = Path(tempfile.gettempdir()) / f"spelunker_bench_read_{n_frames}_{n_files}"
    if not (directory / "complete").exists():
        directory.mkdir(parents=True, exist_ok=True)
        datasets.make_guidestar_files(
            directory, visits=[datasets.VisitSpec(n_frames=n_frames, n_segments=n_files)],
            seed=2026)
        (directory / "complete").write_text("ok")
    files = sorted(str(p) for p in directory.glob("*_cal.fits"))
    output = Path(tempfile.mkdtemp(prefix="spelunker_bench_pipeline_"))
    strun = str(Path(sys.executable).parent / "strun")
    env_note = "STPIPE_DISABLE_CRDS_STEPPARS" in os.environ
    pipeline_runs, read_runs, peaks = [], [], []
    for _ in range(repeat):
        script = ("import resource, subprocess, sys, time, json; s=time.perf_counter(); "
                  "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                  "print(json.dumps([time.perf_counter()-s, "
                  "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024]))")
        result = subprocess.run(
            [sys.executable, "-c", script, strun, "spelunker_pipeline", *files,
             f"--output_dir={output}", "--steps.fit.ncpus=2"],
            check=True, capture_output=True, text=True)
        wall, peak = json.loads(result.stdout.strip().splitlines()[-1])
        pipeline_runs.append(wall)
        peaks.append(peak)
        read_script = ("import time, sys, spelunker; s=time.perf_counter(); "
                       "spelunker.read_guidestar(sys.argv[1:], progress=False); "
                       "print(time.perf_counter()-s)")
        result = subprocess.run([sys.executable, "-c", read_script, *files],
                                check=True, capture_output=True, text=True)
        read_runs.append(float(result.stdout.strip().splitlines()[-1]))
    wall, peak, read = (statistics.median(pipeline_runs), statistics.median(peaks),
                        statistics.median(read_runs))
    products = sorted(p.name for p in output.iterdir())
    print(f"[3] strun spelunker_pipeline on {n_frames} frames in {n_files} files (ncpus=2"
          f"{', CRDS step pars disabled by env' if env_note else ''}): median wall {wall:.1f} s "
          f"runs {[round(r, 1) for r in pipeline_runs]}, peak RSS {peak:.0f} MiB")
    print(f"    targets: wall <= 20 s {'met' if wall <= 20 else 'MISSED'}; "
          f"peak RSS <= 3 GB {'met' if peak <= 3 * 1024 else 'MISSED'}")
    print(f"    baseline: reading the same visit {read:.1f} s "
          f"(pipeline / read = {wall / read:.1f}x); products: {products}")


def main(argv=None):
    """Run the benchmarks; ``argv`` as on the command line (None: ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--n-files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-strun", action="store_true")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    bench_periodogram(args.n_frames, args.repeat)
    bench_aperture(args.n_frames, args.repeat)
    if not args.skip_strun:
        bench_strun(args.n_frames, args.n_files, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
