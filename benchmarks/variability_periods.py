"""Periods of sinusoids through find_variability: within 0.1 % and within 3 sigma of the truth.

Light curves at the guider cadence (`spelunker.datasets.synthetic_light_curve`,
white noise of `spelunker.datasets.light_curve_noise` at FGS magnitudes 12,
14 and 16, one hour each) holding one `spelunker.datasets.Pulsation` at a
random phase.  Each light curve is put into a `~spelunker.GuideStarModel`
(frames and light curve tables only) and
`spelunker.variability.find_variability` gives its ``variability`` row: the
refined period with its 1-sigma error.  Two sets:

white
    3 to 20 cycles in the visit (log-uniform), amplitude 0.2-3 %
    (log-uniform), white noise only.
red
    "A clean sinusoid" as a guide star shows one: 3 to 10 cycles, amplitude
    0.1-1 % (guide-star pulsations), and the red noise of the other
    benchmarks (`spelunker.datasets.RedNoise`, rms 0.05-0.1 %, correlation
    time 10-30 min, as in ``variability_recovery.py``).

Each trial has its Cramer-Rao bound, the smallest 1-sigma error any
unbiased estimator of the period can have: for a sinusoid of amplitude A
with N_cycles cycles in a baseline T of N points of white noise sigma,
``sigma_P / P = sqrt(6) sigma / (pi A sqrt(N) N_cycles)``; with red noise,
``sigma^2 / N`` becomes ``S(f) / T`` with ``S`` the two-sided noise power
density at the sinusoid's frequency ``f`` (white ``sigma^2 dt`` plus the
Ornstein-Uhlenbeck process's ``2 r^2 tau / (1 + (2 pi f tau)^2)``).  Counted
over the trials whose star is classed ``periodic``, in bins of the bound:
the period within 0.1 % of the truth, within 3 of its stated sigma, the
median bound, and the rms of (error / bound) (1: nothing left to gain); and
the trials not classed periodic.  The signal-to-noise
``amplitude / (white / sqrt(N))`` (the amplitude against the white noise
averaged over the visit) of the white set is printed beside.

    python benchmarks/variability_periods.py [--trials 200] [--seed 1] [--sets white,red]
"""

import argparse
import math
import time

import numpy as np
from astropy import units as u

from spelunker import GuideStarModel
from spelunker.datasets import Pulsation, RedNoise, light_curve_noise, synthetic_light_curve
from spelunker.variability import find_variability

MAGNITUDES = (12.0, 14.0, 16.0)
HOURS = 1.0
START_MJD = 60000.0
CADENCE = 0.0538
#: Edges of the bins of the Cramer-Rao bound (relative 1-sigma period error) of the tables.
BOUND_EDGES = (0.0, 1e-4, 3e-4, 5e-4, 1e-3, 3e-3, np.inf)
#: The sets: cycles, amplitudes (relative) and whether red noise is added.
SETS = {"white": ((3.0, 20.0), (0.002, 0.03), False),
        "red": ((3.0, 10.0), (0.001, 0.01), True)}


def _model(times, flux):
    """A model of one visit and guide star: frames and the optimal-aperture light curve."""
    model = GuideStarModel()
    mjd = START_MJD + times / 86400.0
    model.frames = [(m, 0, 0, i) for i, m in enumerate(mjd)]
    model.lightcurve = [(f, 0.0, 9) for f in flux]
    return model


def period_bound(white, amplitude, period, span, red=None):
    """Cramer-Rao bound of ``sigma_P / P`` (see the module); ``red`` = (rms, timescale) or None."""
    frequency = 1.0 / period
    density = white ** 2 * CADENCE
    if red is not None:
        rms, tau = red
        density += 2 * rms ** 2 * tau / (1 + (2 * math.pi * frequency * tau) ** 2)
    return math.sqrt(6 * density) / (math.pi * amplitude * span ** 1.5 * frequency)


def trial(rng, magnitude, seed, kind):
    """(true period, amplitude, cycles, bound, found row) of one sinusoid light curve."""
    (low_cycles, high_cycles), (low_amp, high_amp), red = SETS[kind]
    span = HOURS * 3600.0
    cycles = float(np.exp(rng.uniform(np.log(low_cycles), np.log(high_cycles))))
    period = span / cycles
    amplitude = float(np.exp(rng.uniform(np.log(low_amp), np.log(high_amp))))
    signal = Pulsation(periods=(period,), amplitudes=(amplitude,),
                       phases=(float(rng.uniform(0, 2 * np.pi)),))
    noise = None
    if red:
        noise = RedNoise(amplitude=rng.uniform(5e-4, 1e-3), timescale=rng.uniform(600, 1800),
                         seed=int(rng.integers(2 ** 31)))
    times, flux = synthetic_light_curve(span, fgs_mag=magnitude, signals=[signal],
                                        red_noise=noise, seed=seed)
    bound = period_bound(float(light_curve_noise(magnitude)), amplitude, period, span,
                         None if noise is None else (noise.amplitude, noise.timescale))
    row = find_variability(_model(times, flux)).variability[0]
    return period, amplitude, cycles, bound, row


def run_set(kind, trials, seed):
    """Print one set's table by magnitude and bound; the trials' result tuples."""
    rng = np.random.default_rng(seed + (0 if kind == "white" else 7))
    cycles, amplitudes, red = SETS[kind]
    print(f"\n=== {kind}: {trials} sinusoids per magnitude, {cycles[0]:g}-{cycles[1]:g} cycles "
          f"in {HOURS:g} h, amplitude {100 * amplitudes[0]:g}-{100 * amplitudes[1]:g} %"
          f"{', red noise 0.05-0.1 % on 10-30 min' if red else ', white noise'} ===")
    print(f"{'mag':>4} {'bound':>12} {'SNR':>11} {'trials':>6} {'periodic':>8} "
          f"{'within 0.1 %':>15} {'within 3 sigma':>15} {'median bound':>12} "
          f"{'rms err/bound':>13} {'median pull':>11}")
    everything, missed = [], []
    for magnitude in MAGNITUDES:
        white = float(light_curve_noise(magnitude))
        frames = HOURS * 3600.0 / CADENCE
        results = []
        for k in range(trials):
            period, amplitude, n_cycles, bound, row = trial(rng, magnitude,
                                                            seed * 100000 + k, kind)
            snr = amplitude / (white / np.sqrt(frames))
            periodic = "periodic" in str(row["classes"]).split(",")
            if not periodic:
                missed.append((magnitude, snr, n_cycles, amplitude, str(row["classes"])))
            value = row["period"].to_value(u.s)
            error = row["period_error"].to_value(u.s)
            results.append(dict(mag=magnitude, snr=snr, periodic=periodic, bound=bound,
                                relative=(value - period) / period,
                                pull=abs(value - period) / error))
        everything += results
        for low, high in zip(BOUND_EDGES[:-1], BOUND_EDGES[1:], strict=True):
            part = [r for r in results if low <= r["bound"] < high]
            if part:
                _print_row(f"{magnitude:4.0f}", f"{100 * low:g}-{100 * high:g} %", part)
    _print_row(" all", "all", everything)
    for low, high in ((0.0, 5e-4), (5e-4, np.inf)):
        part = [r for r in everything if low <= r["bound"] < high]
        if part:
            _print_row(" all", f"{100 * low:g}-{100 * high:g} %", part)
    for magnitude, snr, n_cycles, amplitude, classes in missed[:10]:
        print(f"  not periodic: mag {magnitude:.0f}, amplitude {100 * amplitude:.2f} %, "
              f"SNR {snr:.0f}, {n_cycles:.1f} cycles, classes {classes!r}")
    if len(missed) > 10:
        print(f"  ... and {len(missed) - 10} more not periodic")
    return everything


def _print_row(mag, bound_range, part):
    """One table row over the trials ``part`` (dicts of `run_set`)."""
    found = [r for r in part if r["periodic"]]
    n = max(len(found), 1)
    close = sum(abs(r["relative"]) <= 1e-3 for r in found)
    inside = sum(r["pull"] <= 3 for r in found)
    snr = [r["snr"] for r in part]
    ratio = math.sqrt(np.mean([(r["relative"] / r["bound"]) ** 2 for r in found])) \
        if found else math.nan
    print(f"{mag:>4} {bound_range:>12} {f'{min(snr):.0f}-{max(snr):.0f}':>11} {len(part):6d} "
          f"{len(found):8d} {close:6d} ({100 * close / n:5.1f} %) "
          f"{inside:6d} ({100 * inside / n:5.1f} %) "
          f"{100 * np.median([r['bound'] for r in part]):11.4f}% {ratio:13.2f} "
          f"{np.median([r['pull'] for r in found]) if found else math.nan:11.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="light curves per magnitude")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sets", default="white,red", help="comma-separated: white, red")
    args = parser.parse_args()
    started = time.perf_counter()
    for kind in args.sets.split(","):
        run_set(kind, args.trials, args.seed)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
