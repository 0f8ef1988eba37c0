"""Time the variability array functions on one long light curve (default 1,000,000 frames).

A relative light curve at the guider cadence (0.0538 s, 15 h for 10^6
frames) with white noise of magnitude 14 (0.004 per frame), red noise (AR(1),
0.08 %, 20 min), one gap, 1 % masked frames, a flare and a dip.  Each of
`noise_model`, `find_flares`, `find_dips` (their detrending included) and
`detrend` alone is timed (median of ``--repeat`` runs after one warm-up
call, which also loads the compiled biweight); the budget of the
variability step's array work is 0.6 s for noise_model + find_flares +
find_dips (judged on CPU time: on the shared 2-core machine the wall time
counts the other processes).

    python benchmarks/bench_variability_arrays.py [--n 1000000] [--repeat 3]
"""

import argparse
import statistics
import time

import numpy as np

from spelunker.variability import (detrend, find_dips, find_flares, noise_model, periodic_dips,
                                   trend_window)

CADENCE = 0.0538
BUDGET = 0.6


def red_noise(times, amplitude, timescale, rng):
    """AR(1) series of rms ``amplitude`` and correlation time ``timescale`` (s) on 10-s steps."""
    step = 10.0
    n = int((times[-1] - times[0]) / step) + 2
    phi = np.exp(-step / timescale)
    shocks = rng.normal(0, amplitude * np.sqrt(1 - phi ** 2), n)
    values = np.empty(n)
    values[0] = rng.normal(0, amplitude)
    for k in range(1, n):
        values[k] = phi * values[k - 1] + shocks[k]
    return np.interp(times, times[0] + step * np.arange(n), values)


def make_series(n_frames, seed=11):
    """Times (s), relative flux and mask of the benchmark light curve."""
    rng = np.random.default_rng(seed)
    times = np.arange(n_frames) * CADENCE
    times[n_frames // 3:] += 120.0                      # a 2-minute gap
    flux = 1 + rng.normal(0, 0.004, n_frames) + red_noise(times, 8e-4, 1200.0, rng)
    flux += np.where(times >= 5000.0, 0.02 * np.exp(-np.clip(times - 5000.0, 0, None) / 40.0),
                     0.0)
    flux[(times > 20000.0) & (times < 20600.0)] -= 0.01
    mask = rng.random(n_frames) < 0.01
    return times, flux, mask


def timed(function, repeat):
    """Median wall and CPU seconds of ``repeat`` calls, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="frames")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median)")
    args = parser.parse_args(argv)
    times, flux, mask = make_series(args.n)
    start = time.perf_counter()
    detrend(times[:1000], flux[:1000], window=60.0)
    print(f"first detrend (compiled biweight loaded): {time.perf_counter() - start:.2f} s")
    calls = {
        "noise_model": lambda: noise_model(times, flux, mask=mask),
        "detrend (window 3 h)": lambda: detrend(times, flux, window=trend_window(3600.0),
                                                  mask=mask),
        "find_flares": lambda: find_flares(times, flux, mask=mask),
        "find_dips": lambda: find_dips(times, flux, mask=mask),
        "periodic_dips": lambda: periodic_dips(times, flux, mask=mask),
    }
    seconds, cpu = {}, {}
    print(f"{args.n} frames ({(times[-1] - times[0]) / 3600:.1f} h), median of {args.repeat} "
          "(wall s, CPU s; the machine's load inflates wall time):")
    for name, call in calls.items():
        seconds[name], cpu[name], result = timed(call, args.repeat)
        found = f"{len(result)} found" if hasattr(result, "colnames") else ""
        print(f"  {name:24s} {seconds[name]:7.3f} {cpu[name]:7.3f}  {found}")
    names = ("noise_model", "find_flares", "find_dips")
    total = sum(seconds[name] for name in names)
    total_cpu = sum(cpu[name] for name in names)
    verdict = "within" if total_cpu <= BUDGET else "OVER"     # CPU: wall time counts the load
    print(f"noise_model + find_flares + find_dips: {total:.3f} s wall, {total_cpu:.3f} s CPU "
          f"({verdict} the {BUDGET} s budget)")
    return total


if __name__ == "__main__":
    main()
