"""Benchmark the analysis after the fit: periodograms, aperture search, whole pipeline.

Four measurements (issue 4 and 23 targets), each against a named baseline in the
same run, medians of ``--repeat`` runs (the 2-core machines are noisy):

1. Lomb-Scargle of 8 series of 1,000,000 points with spelunker's engine
   (nifty-ls, batched) -- target <= 5 s; baseline: astropy's default
   ``LombScargle(t, y).power(f)`` on the same 100,000-point series, printed
   as a ratio.
2. The optimal-aperture search on 1,000,000 frames -- target <= 3 s;
   baseline: the plain full-frame sum of the same frames.
3. The whole pipeline through ``strun spelunker_pipeline`` (default
   profile) on a 1,000,000-frame visit (50 segment files) in a subprocess,
   per stage from its log (start, read, each step, between steps, write,
   exit), with peak RSS and product/input bytes; against ``--baseline``
   (another source tree, e.g. a worktree of 2f914da, run by the same
   interpreter in the same run, alternating) and, with ``--double``, on the
   2,000,000-frame, 100-file visit too (2x/1x growth; each round runs both
   sizes back to back, and the ratios within each round are printed too).
   Each tree first runs a 20,000-frame visit, untimed, so that no timed run
   compiles numba's kernels; each timed run starts after a pause
   (``--settle``).  Issue 23 targets: wall <= 0.42x 2f914da, peak RSS <=
   2.0 GB, product <= 0.5x input, the fit step >= 250x a scipy curve_fit
   loop on frames of the same visit, 2x/1x <= 2.1 for the whole run (every
   stage included) and peak RSS.  Each stage's 2x/1x is printed too, with
   that of the periodograms' own transforms alone (`transform_growth`):
   their FFTs cost N log N, 2 log(2N) / log(N) = 2.10x from 1M to 2M.
4. The same on a program of 3 visits (that visit and two of 250,000 frames
   on other stars): 3 products, peak RSS that of the largest visit
   (<= 2.5 GB; baseline: the largest visit alone) and products no larger
   than their inputs.

The issue-23 figures of [3] (``pipeline_1m_wall``, ``pipeline_1m_rss``,
``product_over_input``, ``fit_over_curve_fit`` and, with ``--double``,
``pipeline_2m_over_1m_wall`` and ``_rss``) go to
``benchmarks/results/bench_pipeline.json`` (``--results``) for
``benchmarks/summary.py``; their baseline is null without ``--baseline``.

    python benchmarks/bench_pipeline.py [--n-frames 1000000] [--repeat 3] [--skip-strun]
    python benchmarks/bench_pipeline.py --stages-only --double --baseline ../base-2f914da
"""

import argparse
import datetime
import itertools
import json
import os
import re
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # summary.py, also under runpy
from bytecode import compile_tree
from summary import RESULTS, figure, write_results

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


def transform_growth(n_small, n_large, repeat):
    """Seconds and growth of the periodograms' finufft transforms alone, on ``n`` points.

    The finufft plans of `spelunker.periodogram.zoom` itself (its
    ``_Transform`` of the ``_Points`` of ``n`` frames at the visit's cadence,
    on the default grid: 2 points per ``1 / baseline`` up to the Nyquist
    frequency, and twice its span), one thread, executed alone: the stage's
    core without the rest of the pipeline.  Both the points and the
    frequencies grow with the visit: the spreading of the points grows as
    N, the FFTs as N log N, ``n_large log(n_large) / (n_small log(n_small))``
    (2.10x from 1M to 2M), before the larger FFTs leave the CPU caches.

    Returns ``{n: seconds}`` (medians of ``repeat``).
    """
    from spelunker.periodogram import frequency_grid, zoom

    rng = np.random.default_rng(3)
    seconds = {}
    for n in (n_small, n_large):
        t = np.arange(n) * CADENCE
        # The stored grid of run_periodogram (2 points per 1 / baseline to the Nyquist
        # frequency): zoom's internal grid is the same here, one point longer.
        grid = frequency_grid(t, samples_per_peak=2.0)
        points = zoom._Points(t, grid[0], grid[1] - grid[0], len(grid) + 1)
        plans = [(plan, np.empty(n_modes, dtype=complex)) for plan, (_, n_modes, _)
                 in zip(zoom._Transform(points).plans, points.grids, strict=True)]
        data = rng.normal(size=n) + 0j

        def transforms(data=data, plans=plans):
            for plan, out in plans:
                plan.execute(data, out=out)

        seconds[n], _ = median_time(transforms, repeat)
    bound = n_large * np.log(n_large) / (n_small * np.log(n_small))
    print(f"    the periodograms' two transforms per series alone (finufft, 1 thread): "
          f"{n_small:,} points {seconds[n_small]:.3f} s, {n_large:,} points "
          f"{seconds[n_large]:.3f} s: {seconds[n_large] / seconds[n_small]:.2f}x "
          f"(an N log N cost: {bound:.2f}x)")
    return seconds


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


#: One line of stpipe's log: time stamp, logger, level, message.
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (\S+) - \w+ - (.*)$")
_FIT_LINE = re.compile(r"(\w+) fit: (\d+) frames in ([0-9.]+) s")

#: Targets of issue 23 (default profile, 1M-frame visit; 2M/1M ratios).
WALL_RATIO_TARGET = 0.42   # wall against 2f914da in the same run (10 s for its 23.8 s)
PEAK_RSS_TARGET = 2.0      # GB
PRODUCT_RATIO_TARGET = 0.5  # product bytes / input bytes
CURVE_FIT_TARGET = 250     # fit step frames/s against a scipy curve_fit loop
GROWTH_TARGET = 2.1        # 2M visit against the 1M one (whole run, every stage included; RSS)

#: Frames and files of the visit each tree runs once, untimed, before [3] (its kernels cached).
WARM_VISIT = (20_000, 2)

#: Pause before each pipeline run of [3] (s).  A virtual machine whose kernel hands free
#: memory back to its host (free page reporting, a few seconds after it is freed) gives a
#: run started just after another exits the memory that run freed, still backed: the
#: first seconds of the run (the 1M visit's periodograms, not the 2M one's) then skip
#: the host's page faults.  Every run starts from the same state after the pause.
SETTLE_SECONDS = 15.0


def _timed_strun(tree, files, output, *options):
    """Start time, wall time, peak RSS (bytes) and log of one ``strun spelunker_pipeline``.

    ``tree``: a source tree put first on PYTHONPATH (another version of
    spelunker run by the same interpreter and ``strun``), or None.
    """
    strun = str(Path(sys.executable).parent / "strun")
    script = ("import resource, subprocess, sys, time, json; t0=time.time(); "
              "s=time.perf_counter(); "
              "r=subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, "
              "text=True); w=time.perf_counter()-s; "
              "print(r.stdout); print(json.dumps([t0, w, r.returncode, "
              "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024]))")
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = str(tree)
    result = subprocess.run(
        [sys.executable, "-c", script, strun, "spelunker_pipeline", *files,
         f"--output_dir={output}", *options], check=True, capture_output=True, text=True,
        env=env)
    *log_lines, last = result.stdout.rstrip().splitlines()
    t0, wall, code, peak = json.loads(last)
    if code:
        raise RuntimeError("strun failed:\n" + "\n".join(log_lines[-30:]))
    return t0, wall, peak, log_lines


def stage_seconds(t0, wall, lines):
    """Seconds of each stage of a pipeline run, from stpipe's log time stamps.

    ``start`` (imports and parameters, up to the pipeline's first log line
    of its run), ``read``, one entry per step (``fit``, ``photometry``,
    ...), ``between`` (stpipe's work between steps), ``write`` (after the
    last step, the summary and the product), ``exit`` and ``total``; also
    ``fit_kernel`` (the fit's own time, its log line) and ``frames``.
    """
    events = []
    for line in lines:
        match = _LOG_LINE.match(line)
        if match:
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            events.append((stamp.timestamp(), match.group(3)))
    seconds = {}
    running = [t for t, text in events if text.startswith("Step GuideStarPipeline running")]
    saved = [t for t, text in events if text.startswith("Saved model in")]
    starts, ends = {}, {}
    for t, text in events:
        match = re.match(r"Step (\w+) (running|done)", text)
        if match and match.group(1) != "GuideStarPipeline":
            (starts if match.group(2) == "running" else ends)[match.group(1)] = t
        fit = _FIT_LINE.search(text)
        if fit:
            seconds["fit_kernel"] = float(fit.group(3))
            seconds["frames"] = int(fit.group(2))
    steps = sorted(starts, key=starts.get)
    seconds["start"] = running[0] - t0
    seconds["read"] = starts[steps[0]] - running[0]
    for name in steps:
        seconds[name] = ends[name] - starts[name]
    seconds["between"] = sum(starts[b] - ends[a] for a, b in itertools.pairwise(steps))
    seconds["write"] = saved[-1] - ends[steps[-1]]
    seconds["exit"] = t0 + wall - saved[-1]
    seconds["total"] = wall
    return seconds


def curve_fit_rate(files, n_frames=300):
    """Frames per second of a plain scipy ``curve_fit`` loop on frames of the visit."""
    from astropy.io import fits

    bench_fit = runpy.run_path(str(Path(__file__).parent / "bench_fit.py"))
    from spelunker.fitting import PARAMETER_NAMES, fit_moments_frames

    with fits.open(files[0]) as hdus:
        data = np.asarray(hdus["SCI"].data[:n_frames], dtype=float)
        err = np.asarray(hdus["ERR"].data[:n_frames], dtype=float)
    quick = fit_moments_frames(data, err)
    p0 = np.stack([quick[name] for name in PARAMETER_NAMES], axis=1)
    p0 = np.where(np.isfinite(p0), p0, [1e5, 3.5, 3.5, 0.7, 0.7, 0.0, 20.0])
    start = time.perf_counter()
    bench_fit["curve_fit_loop"](data, err, p0)
    return len(data) / (time.perf_counter() - start)


def bench_stages(sizes, repeat, baseline, options=(), *, results_folder=RESULTS,
                 settle=SETTLE_SECONDS):
    """Per-stage seconds of the pipeline on each visit size, against ``baseline`` in the same run.

    Each of the ``repeat`` rounds runs every size, each size with the
    baseline then this tree, so that the sizes compared (2x/1x) and the
    trees compared run minutes apart at most, not one size's rounds after
    the other's (a host slowing down in between would show as growth);
    medians over the rounds.  Each run starts ``settle`` seconds after the
    one before (`SETTLE_SECONDS`).  The fit's baseline, a scipy curve_fit
    loop (`curve_fit_rate`), is timed once per round too: its median.  The
    issue-23 figures go to ``results_folder/bench_pipeline.json``.
    """
    trees = ([("base", baseline)] if baseline else []) + [("now", None)]
    for _, tree in trees:
        compile_tree(tree or Path(__file__).resolve().parent.parent)
    # Each tree's numba kernels compiled into its cache before any timing: numba compiles
    # them at a tree's first run (about 10 s), which a user pays once per install.
    warm = _visit_files(*WARM_VISIT)
    for _, tree in trees:
        output = Path(tempfile.mkdtemp(prefix="spelunker_bench_warm_"))
        _timed_strun(tree, warm, output, *options)
        shutil.rmtree(output)
    visits = {n_frames: _visit_files(n_frames, n_files) for n_frames, n_files in sizes}
    in_bytes = {n_frames: sum(os.path.getsize(f) for f in files)
                for n_frames, files in visits.items()}
    runs = {n_frames: {label: [] for label, _ in trees} for n_frames, _ in sizes}
    rates = []
    for _ in range(repeat):
        # The curve_fit baseline in every round too, between the rounds' runs.
        rates.append(curve_fit_rate(visits[sizes[0][0]]))
        for n_frames, _ in sizes:
            files = visits[n_frames]
            for label, tree in trees:
                time.sleep(settle)
                output = Path(tempfile.mkdtemp(prefix="spelunker_bench_stages_"))
                t0, wall, peak, lines = _timed_strun(tree, files, output, *options)
                seconds = stage_seconds(t0, wall, lines)
                products = list(output.glob("*_gspipe.fits"))
                seconds["peak_gb"] = peak / 1e9
                seconds["product_ratio"] = (sum(p.stat().st_size for p in products)
                                            / in_bytes[n_frames])
                for product in products:
                    product.unlink()
                output.rmdir()
                runs[n_frames][label].append(seconds)
                print(f"    {n_frames} frames, {label}: wall {wall:.1f} s, peak "
                      f"{peak / 1e9:.2f} GB, load {os.getloadavg()[0]:.1f}", flush=True)
    results = {n_frames: {label: {key: statistics.median(run[key] for run in values)
                                  for key in values[0] if all(key in r for r in values)}
                          for label, values in by_tree.items()}
               for n_frames, by_tree in runs.items()}
    rate = statistics.median(rates)
    print(f"curve_fit loop: median {rate:,.0f} frames/s; rounds "
          f"{', '.join(f'{r:,.0f}' for r in rates)}")
    _print_stage_table(results, [label for label, _ in trees], rate, sizes)
    if len(sizes) > 1:
        _print_round_ratios(runs, sizes)
        transform_growth(sizes[0][0], sizes[-1][0], repeat)
    write_results("bench_pipeline", stage_figures(results, rate, sizes, repeat, baseline),
                  folder=results_folder)
    return results


def _print_round_ratios(runs, sizes):
    """2x/1x of each stage within each round (the two sizes run back to back), and their median.

    A second view of the growth beside the ratio of the medians: it shows
    whether a ratio is the code's or one round's.
    """
    small, large = sizes[0][0], sizes[-1][0]
    for label, small_runs in runs[small].items():
        large_runs = runs[large][label]
        keys = [k for k in small_runs[0] if k not in ("frames", "product_ratio", "fit_kernel")
                and all(k in r for r in small_runs + large_runs)]
        print(f"2x/1x within each round, {label} (median; rounds):")
        for key in keys:
            ratios = [_ratio(big[key], one[key]) for one, big in
                      zip(small_runs, large_runs, strict=True)]
            print(f"    {key:<14}{statistics.median(ratios):>7.2f}   "
                  + " ".join(f"{r:.2f}" for r in ratios))


def stage_figures(results, curve_fit_frames_per_s, sizes, repeat, baseline):
    """The issue-23 figures (summary.py's format) of `bench_stages`' medians.

    The wall's target is 0.42x the baseline run in the same run, or 10 s
    (the issue's figure for its machine) without a baseline.
    """
    small, large = sizes[0][0], sizes[-1][0]
    now, base = results[small]["now"], results[small].get("base")
    note = f"median of {repeat}; {small:,} frames; baseline: {baseline}"

    def of_base(key):
        return None if base is None else base[key]

    figures = [
        figure("pipeline_1m_wall", now["total"], "s", target=None if base else 10.0,
               baseline=of_base("total"), target_ratio=WALL_RATIO_TARGET if base else None,
               note=note),
        figure("pipeline_1m_rss", now["peak_gb"], "GB", target=PEAK_RSS_TARGET,
               baseline=of_base("peak_gb"), note=note),
        figure("product_over_input", now["product_ratio"], "x", target=PRODUCT_RATIO_TARGET,
               baseline=of_base("product_ratio"), note=note),
        figure("fit_over_curve_fit", now["frames"] / now["fit"] / curve_fit_frames_per_s, "x",
               target=CURVE_FIT_TARGET, better="higher",
               baseline=None if base is None
               else base["frames"] / base["fit"] / curve_fit_frames_per_s,
               note=note + "; fit step frames/s over a curve_fit loop's in the same run")]
    if large != small:
        for name, key in (("pipeline_2m_over_1m_wall", "total"),
                          ("pipeline_2m_over_1m_rss", "peak_gb")):
            figures.append(figure(
                name, results[large]["now"][key] / now[key], "x", target=GROWTH_TARGET,
                baseline=None if base is None else results[large]["base"][key] / base[key],
                note=f"median of {repeat}; {large:,} / {small:,} frames; baseline: {baseline}"))
    return figures


def _ratio(numerator, denominator):
    """``numerator / denominator``; NaN for a zero denominator (a stage of 0.00 s)."""
    return numerator / denominator if denominator else float("nan")


def _print_stage_table(results, labels, curve_fit_frames_per_s, sizes):
    small, large = sizes[0][0], sizes[-1][0]
    first = results[small][labels[-1]]
    keys = [k for k in first if k not in ("frames", "peak_gb", "product_ratio", "fit_kernel")]
    header = f"{'stage (s)':<14}"
    for n in (small, large) if large != small else (small,):
        header += "".join(f"{f'{n // 1000}k {label}':>11}" for label in labels)
        if "base" in labels:
            header += f"{'now/base':>10}"
    if large != small:
        header += "".join(f"{f'2x/1x {label}':>12}" for label in labels)
    print(header)
    print("-" * len(header))

    def row(key, fmt):
        line = f"{key:<14}"
        for n in (small, large) if large != small else (small,):
            values = [results[n][label].get(key, float("nan")) for label in labels]
            line += "".join(f"{fmt.format(v):>11}" for v in values)
            if "base" in labels:
                line += f"{_ratio(values[-1], values[0]):>10.2f}"
        if large != small:
            for label in labels:
                ratio = _ratio(results[large][label].get(key, np.nan),
                               results[small][label].get(key, np.nan))
                line += f"{ratio:>12.2f}"
        print(line)

    for key in keys + ["fit_kernel"]:
        row(key, "{:.2f}")
    row("peak_gb", "{:.2f}")
    row("product_ratio", "{:.3f}")
    now = results[small][labels[-1]]
    fit_rate = now["frames"] / now["fit"]
    checks = [(f"wall <= {WALL_RATIO_TARGET}x the baseline (1M)",
               now["total"] / results[small]["base"]["total"] if "base" in labels else np.nan,
               WALL_RATIO_TARGET),
              (f"peak RSS <= {PEAK_RSS_TARGET} GB (1M)", now["peak_gb"], PEAK_RSS_TARGET),
              (f"product <= {PRODUCT_RATIO_TARGET}x input (1M)", now["product_ratio"],
               PRODUCT_RATIO_TARGET)]
    print(f"fit step {fit_rate:,.0f} frames/s (kernel "
          f"{now['frames'] / now['fit_kernel']:,.0f}); curve_fit loop "
          f"{curve_fit_frames_per_s:,.0f} frames/s on frames of the same visit: "
          f"{fit_rate / curve_fit_frames_per_s:.0f}x (target >= {CURVE_FIT_TARGET}x: "
          f"{'met' if fit_rate / curve_fit_frames_per_s >= CURVE_FIT_TARGET else 'MISSED'})")
    if "base" in labels:
        base = results[small]["base"]
        print(f"fit step against the baseline's: {fit_rate / (base['frames'] / base['fit']):.2f}x "
              f"(curve_fit ratio target {CURVE_FIT_TARGET}x = 1.35x the 185x of 2f914da)")
    if large != small:
        big = results[large][labels[-1]]
        checks.append((f"2M/1M <= {GROWTH_TARGET}, whole run (every stage included)",
                       big["total"] / now["total"], GROWTH_TARGET))
        checks.append((f"2M/1M <= {GROWTH_TARGET}, peak RSS", big["peak_gb"] / now["peak_gb"],
                       GROWTH_TARGET))
    for label, value, target in checks:
        print(f"{label}: {value:.3g} (target {target}): {'met' if value <= target else 'MISSED'}")
    if large != small:
        stages = sorted(((big[k] / now[k], k) for k in keys if k != "total" and now[k] > 0.2),
                        reverse=True)
        print("2M/1M of each stage > 0.2 s (the periodograms' FFTs are N log N: see "
              "transform_growth): " + ", ".join(f"{k} {r:.2f}" for r, k in stages))


def main(argv=None):
    """Run the benchmarks; ``argv`` as on the command line (None: ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--n-files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-strun", action="store_true")
    parser.add_argument("--skip-program", action="store_true")
    parser.add_argument("--stages-only", action="store_true",
                        help="only the per-stage strun comparison [3]")
    parser.add_argument("--baseline", default=None,
                        help="source tree of the baseline (e.g. a worktree of 2f914da) run "
                             "by the same interpreter in the same run; default: none")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="[3] seconds of pause before each pipeline run (default: "
                             "%(default)s; see SETTLE_SECONDS)")
    parser.add_argument("--double", action="store_true",
                        help="[3] also on a visit of twice the frames and files (2x/1x growth)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of the JSON figures for summary.py (default: %(default)s)")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    sizes = [(args.n_frames, args.n_files)]
    if args.double:
        sizes.append((2 * args.n_frames, 2 * args.n_files))
    if args.stages_only:
        print(f"[3] strun spelunker_pipeline, default profile, per stage (medians of "
              f"{args.repeat}); baseline {args.baseline}")
        bench_stages(sizes, args.repeat, args.baseline, results_folder=args.results,
                     settle=args.settle)
        return
    bench_periodogram(args.n_frames, args.repeat)
    bench_aperture(args.n_frames, args.repeat)
    if not args.skip_strun:
        print(f"[3] strun spelunker_pipeline, default profile, per stage (medians of "
              f"{args.repeat}); baseline {args.baseline}")
        bench_stages(sizes, args.repeat, args.baseline, results_folder=args.results,
                     settle=args.settle)
    if not args.skip_program:
        bench_program(args.n_frames, args.n_files, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
