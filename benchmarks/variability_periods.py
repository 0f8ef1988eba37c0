"""Periods of sinusoids through find_variability: within 0.1 % and within 3 sigma of the truth.

Light curves at the guider cadence (`spelunker.datasets.synthetic_light_curve`,
white noise of `spelunker.datasets.light_curve_noise` at FGS magnitudes 12,
14 and 16, one hour each) holding one `spelunker.datasets.Pulsation` whose
period gives 3 to 20 cycles in the visit (log-uniform) and whose amplitude
is 0.2-3 % (log-uniform), at a random phase.  Each light curve is put into a
`~spelunker.GuideStarModel` (frames and light curve tables only) and
`spelunker.variability.find_variability` gives its ``variability`` row: the
refined period with its 1-sigma error.  Counted over the trials whose star
is classed ``periodic``: the period within 0.1 % of the truth and within 3
sigma, in bins of the signal-to-noise ``amplitude / (white / sqrt(N))``
(N frames in the visit: the sinusoid's amplitude against the white noise
averaged over the visit); and the trials not classed periodic, with their
signal-to-noise, cycles and classes.

    python benchmarks/variability_periods.py [--trials 200] [--seed 1]
"""

import argparse
import time

import numpy as np
from astropy import units as u

from spelunker import GuideStarModel
from spelunker.datasets import Pulsation, light_curve_noise, synthetic_light_curve
from spelunker.variability import find_variability

MAGNITUDES = (12.0, 14.0, 16.0)
HOURS = 1.0
START_MJD = 60000.0


def _model(times, flux):
    """A model of one visit and guide star: frames and the optimal-aperture light curve."""
    model = GuideStarModel()
    mjd = START_MJD + times / 86400.0
    model.frames = [(m, 0, 0, i) for i, m in enumerate(mjd)]
    model.lightcurve = [(f, 0.0, 9) for f in flux]
    return model


def trial(rng, magnitude, seed):
    """(true period, found row) of one sinusoid light curve."""
    span = HOURS * 3600.0
    cycles = float(np.exp(rng.uniform(np.log(3.0), np.log(20.0))))
    period = span / cycles
    amplitude = float(np.exp(rng.uniform(np.log(0.002), np.log(0.03))))
    signal = Pulsation(periods=(period,), amplitudes=(amplitude,),
                       phases=(float(rng.uniform(0, 2 * np.pi)),))
    times, flux = synthetic_light_curve(span, fgs_mag=magnitude, signals=[signal], seed=seed)
    row = find_variability(_model(times, flux)).variability[0]
    return period, amplitude, cycles, row


#: Edges of the signal-to-noise bins of the table.
SNR_EDGES = (0.0, 100.0, 300.0, 1000.0, np.inf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="light curves per magnitude")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{'mag':>4} {'SNR':>11} {'trials':>6} {'periodic':>8} {'within 0.1 %':>15} "
          f"{'within 3 sigma':>15} {'median |err|/P':>15} {'median pull':>12}")
    started = time.perf_counter()
    missed = []
    for magnitude in MAGNITUDES:
        white = float(light_curve_noise(magnitude))
        frames = HOURS * 3600.0 / 0.0538
        results = []
        for k in range(args.trials):
            period, amplitude, cycles, row = trial(rng, magnitude, seed=args.seed * 100000 + k)
            snr = amplitude / (white / np.sqrt(frames))
            periodic = "periodic" in str(row["classes"]).split(",")
            if not periodic:
                missed.append((magnitude, snr, cycles, str(row["classes"])))
            value = row["period"].to_value(u.s)
            error = row["period_error"].to_value(u.s)
            results.append((snr, periodic, abs(value - period) / period,
                            abs(value - period) / error))
        snrs = np.array([r[0] for r in results])
        for low, high in zip(SNR_EDGES[:-1], SNR_EDGES[1:], strict=True):
            rows = [r for r, s in zip(results, snrs, strict=True) if low <= s < high and r[1]]
            n = int(np.count_nonzero((snrs >= low) & (snrs < high)))
            if n == 0:
                continue
            close = sum(r[2] <= 1e-3 for r in rows)
            inside = sum(r[3] <= 3 for r in rows)
            found = max(len(rows), 1)
            print(f"{magnitude:4.0f} {f'{low:.0f}-{high:.0f}':>11} {n:6d} {len(rows):8d} "
                  f"{close:6d} ({100 * close / found:5.1f} %) "
                  f"{inside:6d} ({100 * inside / found:5.1f} %) "
                  f"{np.median([r[2] for r in rows]) if rows else np.nan:15.2e} "
                  f"{np.median([r[3] for r in rows]) if rows else np.nan:12.2f}")
    for magnitude, snr, cycles, classes in missed:
        print(f"not periodic: mag {magnitude:.0f}, SNR {snr:.0f}, {cycles:.1f} cycles, "
              f"classes {classes!r}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
