"""Benchmark the event detector: detection rate, false events and speed.

1. **Detection.**  Frames at FGS magnitudes 12, 14 and 16 (seeded
   `spelunker.datasets.simulate_frames`, 2,400 frames = 129 s) with a step in
   the PSF width ``x_stddev`` of 0.005 to 0.05 pixels at a random time; the
   2-D Gaussian fit, then `spelunker.changepoints.find_steps` on the clean
   ``x_stddev`` series.  A step counts as found when one is reported within
   2 s of the truth.  Printed per magnitude and size: the step in units of
   the scatter of a 1 s bin mean (the detector's "binned sigma"), the
   detection rate and the median time error.  Target: steps of 5 binned
   sigma or more found in >= 95 % of trials, within 2 s.
2. **False events.**  ``--hours`` of clean frames per magnitude, fitted; the
   steps reported in ``x_mean``, ``y_mean``, ``x_stddev`` and ``y_stddev``
   are false.  Target: <= 1 per 10 hours per series.
3. **Speed.**  `spelunker.events.find_events` on a fitted 1,000,000-frame
   model against the fit step's time on the same frames (the baseline, same
   run).  Target: <= 2 s.

    python benchmarks/bench_events.py [--trials 20] [--hours 10] [--n-frames 1000000]
"""

import argparse
import statistics
import time

import numpy as np

from spelunker import GuideStarModel
from spelunker.changepoints import find_steps
from spelunker.datasets import simulate_frames
from spelunker.events import find_events
from spelunker.fitting import fit_gaussian_frames, run_fit, store_fit

CADENCE = 0.0538
MAGNITUDES = (12.0, 14.0, 16.0)
SIZES = (0.005, 0.01, 0.02, 0.03, 0.05)
SERIES = ("x_mean", "y_mean", "x_stddev", "y_stddev")


def _clean(result, name):
    values = np.array(result[name], dtype=float)
    values[np.asarray(result["flags"]) != 0] = np.nan
    return values


def bin_sigma(times, values):
    """Scatter of 1 s bin means (the detector's unit), from neighbouring differences."""
    index = np.floor((times - times[0]) / 1.0).astype(int)
    ok = np.isfinite(values)
    counts = np.bincount(index[ok])
    means = np.bincount(index[ok], values[ok]) / np.maximum(counts, 1)
    means = means[counts > 0.5 * np.median(counts)]
    differences = np.diff(means)
    return 1.4826 * np.median(np.abs(differences - np.median(differences))) / np.sqrt(2)


def detection(trials, seed):
    rng = np.random.default_rng(seed)
    n = 2400
    times = np.arange(n) * CADENCE
    print("[1] detection of x_stddev steps (2,400 frames each, 2-D Gaussian fit, 1 s bins)")
    print("    mag   step (px)  step / binned sigma  found  median |dt| (s)")
    rows = []
    for mag in MAGNITUDES:
        for size in SIZES:
            found, errors, ratios = 0, [], []
            for _ in range(trials):
                t_step = rng.uniform(40.0, 90.0)
                width = 0.70 + size * (times >= t_step)
                data, err, _ = simulate_frames(n, fgs_mag=mag, x_stddev=width,
                                               seed=int(rng.integers(2**31)))
                result = fit_gaussian_frames(data, err, ncpus=2)
                values = _clean(result, "x_stddev")
                ratios.append(size / bin_sigma(times, values))
                steps = find_steps(times, values)
                near = np.abs(steps["time"] - t_step) <= 2.0
                if near.any():
                    found += 1
                    errors.append(float(np.min(np.abs(steps["time"] - t_step))))
            rate = found / trials
            ratio = statistics.median(ratios)
            rows.append((mag, size, ratio, rate))
            dt = f"{statistics.median(errors):.2f}" if errors else "-"
            print(f"    {mag:4.1f}  {size:8.3f}  {ratio:19.1f}  {100 * rate:4.0f}%  {dt:>14}")
    strong = [rate for _, _, ratio, rate in rows if ratio >= 5]
    print(f"    target: >= 95% found for steps >= 5 binned sigma: "
          f"{'met' if strong and min(strong) >= 0.95 else 'MISSED'} "
          f"(lowest rate {100 * min(strong):.0f}% over {len(strong)} cases)")
    return rows


def false_events(hours, seed):
    n = int(hours * 3600 / CADENCE)
    times = np.arange(n) * CADENCE
    print(f"[2] false steps on {hours:g} h of clean frames per magnitude ({n:,} frames)")
    worst = 0.0
    for k, mag in enumerate(MAGNITUDES):
        counts = {name: 0 for name in SERIES}
        for start in range(0, n, 200_000):
            stop = min(n, start + 200_000)
            data, err, _ = simulate_frames(stop - start, fgs_mag=mag, seed=seed + 100 * k + start)
            result = fit_gaussian_frames(data, err, ncpus=2)
            for name in SERIES:
                counts[name] += len(find_steps(times[start:stop], _clean(result, name)))
        per_10h = {name: count * 10 / hours for name, count in counts.items()}
        worst = max(worst, *per_10h.values())
        print(f"    mag {mag:4.1f}: " + ", ".join(f"{name} {count}" for name, count in
                                                   counts.items()))
    print(f"    worst series: {worst:.2f} false steps per 10 h; target <= 1: "
          f"{'met' if worst <= 1 else 'MISSED'}")


def speed(n_frames, seed):
    data, err, _ = simulate_frames(n_frames, fgs_mag=13.3, seed=seed)
    model = GuideStarModel(data=data, err=err)
    with model.trusted_assignment():
        frames = np.zeros(n_frames, dtype=model.table_dtype("frames"))
        frames["mid_time_mjd"] = 60000.0 + np.arange(n_frames) * CADENCE / 86400.0
        frames["frame_in_file"] = np.arange(n_frames)
        model.frames = frames
    fits, events = [], []
    for _ in range(3):
        result, elapsed = run_fit(model, "gauss", ncpus=2)
        fits.append(elapsed)
    store_fit(model, result, "gauss")
    for _ in range(3):
        start = time.perf_counter()
        find_events(model)
        events.append(time.perf_counter() - start)
    fit, event = statistics.median(fits), statistics.median(events)
    print(f"[3] {n_frames:,} frames: find_events median {event:.2f} s (runs "
          f"{[round(t, 2) for t in events]}); baseline: the Gaussian fit of the same frames "
          f"{fit:.2f} s (events / fit = {event / fit:.2f}); target <= 2 s: "
          f"{'met' if event <= 2 else 'MISSED'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    detection(args.trials, args.seed)
    false_events(args.hours, args.seed)
    speed(args.n_frames, args.seed)


if __name__ == "__main__":
    main()
