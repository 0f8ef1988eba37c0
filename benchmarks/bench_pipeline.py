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
4. The same on a program of 3 visits (that visit and two of 250,000 frames
   on other stars): 3 products, peak RSS that of the largest visit
   (<= 2.5 GB; baseline: the largest visit alone) and products no larger
   than their inputs.

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


def _visit_files(n_frames, n_files):
    from spelunker import datasets

    directory = Path(tempfile.gettempdir()) / f"spelunker_bench_read_{n_frames}_{n_files}"
    if not (directory / "complete").exists():
        directory.mkdir(parents=True, exist_ok=True)
        datasets.make_guidestar_files(
            directory, visits=[datasets.VisitSpec(n_frames=n_frames, n_segments=n_files)],
            seed=2026)
        (directory / "complete").write_text("ok")
    return sorted(str(p) for p in directory.glob("*_cal.fits"))


def _strun_peak(files, output, *options):
    """Wall time and peak RSS (MiB) of ``strun spelunker_pipeline files`` in a subprocess."""
    strun = str(Path(sys.executable).parent / "strun")
    script = ("import resource, subprocess, sys, time, json; s=time.perf_counter(); "
              "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
              "print(json.dumps([time.perf_counter()-s, "
              "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024]))")
    result = subprocess.run(
        [sys.executable, "-c", script, strun, "spelunker_pipeline", *files,
         f"--output_dir={output}", *options], check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_program(n_frames, n_files, repeat):
    """A program of 3 visits (the 1M-frame visit and two of a quarter of it, other stars).

    Peak RSS against the largest visit alone, and product bytes against input bytes.
    """
    from spelunker import datasets

    big = _visit_files(n_frames, n_files)
    directory = Path(tempfile.gettempdir()) / f"spelunker_bench_program_{n_frames}"
    if not (directory / "complete").exists():
        directory.mkdir(parents=True, exist_ok=True)
        quarter = n_frames // 4
        datasets.make_guidestar_files(directory, visits=[
            datasets.VisitSpec(observation=2, visit=1, n_frames=quarter,
                               n_segments=max(1, n_files // 4), fgs_mag=14.5,
                               start="2022-12-06T00:00:00", x_mean=3.1, y_mean=4.2),
            datasets.VisitSpec(observation=3, visit=1, n_frames=quarter,
                               n_segments=max(1, n_files // 4), fgs_mag=12.2,
                               detector="GUIDER2", start="2022-12-07T00:00:00")], seed=2027)
        (directory / "complete").write_text("ok")
    files = big + sorted(str(p) for p in directory.glob("*_cal.fits"))
    program_runs, program_peaks, alone_peaks = [], [], []
    for _ in range(repeat):
        output = Path(tempfile.mkdtemp(prefix="spelunker_bench_program_"))
        wall, peak = _strun_peak(files, output, "--steps.fit.ncpus=2")
        program_runs.append(wall)
        program_peaks.append(peak)
        alone_peaks.append(_strun_peak(big, Path(tempfile.mkdtemp()), "--steps.fit.ncpus=2")[1])
    products = sorted(output.glob("*_gspipe.fits"))
    in_bytes = sum(os.path.getsize(f) for f in files)
    out_bytes = sum(p.stat().st_size for p in products)
    frames = n_frames + 2 * (n_frames // 4)
    peak, alone = statistics.median(program_peaks), statistics.median(alone_peaks)
    print(f"[4] strun spelunker_pipeline on a program of 3 visits ({frames} frames, 3 guide "
          f"stars): median wall {statistics.median(program_runs):.1f} s, peak RSS {peak:.0f} "
          f"MiB; the largest visit alone: {alone:.0f} MiB (ratio {peak / alone:.2f})")
    print(f"    products: {len(products)} ({', '.join(p.name for p in products)}); "
          f"{out_bytes / 1e6:.0f} MB for {in_bytes / 1e6:.0f} MB of input "
          f"({out_bytes / in_bytes:.2f}x; {out_bytes / frames:.0f} bytes per frame)")
    print(f"    targets: 3 products {'met' if len(products) == 3 else 'MISSED'}; peak RSS <= "
          f"2.5 GB {'met' if peak <= 2.5 * 1024 else 'MISSED'}; products <= inputs "
          f"{'met' if out_bytes <= in_bytes else 'MISSED'}")


def bench_strun(n_frames, n_files, repeat):
    files = _visit_files(n_frames, n_files)
    output = Path(tempfile.mkdtemp(prefix="spelunker_bench_pipeline_"))
    env_note = "STPIPE_DISABLE_CRDS_STEPPARS" in os.environ
    pipeline_runs, read_runs, peaks = [], [], []
    for _ in range(repeat):
        wall, peak = _strun_peak(files, output, "--steps.fit.ncpus=2")
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
    parser.add_argument("--skip-program", action="store_true")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    bench_periodogram(args.n_frames, args.repeat)
    bench_aperture(args.n_frames, args.repeat)
    if not args.skip_strun:
        bench_strun(args.n_frames, args.n_files, args.repeat)
    if not args.skip_program:
        bench_program(args.n_frames, args.n_files, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
