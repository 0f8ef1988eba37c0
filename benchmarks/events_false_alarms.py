"""Benchmark the technical events on visits with centroid wobble: false events and detection.

Frame-level synthetic visits (`spelunker.datasets.make_guidestar_files`,
read back, 2-D Gaussian fit, `spelunker.events.find_events`), 0.012 px of
white pointing jitter per frame and per axis, at FGS magnitudes 12, 14 and 16:

1. **False technical events.**  Clean visits of 1 hour (``--quick``: 10
   minutes), one per cell of a grid of centroid wobbles (period 30 s to
   30 min, semi-amplitude 0.01 to 0.03 px, axis x, y or both, random phase)
   and one without wobble, each with a slow drift (a 40,000 s wobble of
   0.05 px on both axes), red noise of the centroid (0.003 px rms per axis,
   a 120 s correlation time) and of the flux (0.1 % rms, 300 s), drawn as
   sums of 40 random-phase sinusoids with the spectrum of a damped random
   walk.  No event is injected, so every tilt, centroid jump and flux
   excursion reported is false.  Printed: the count per magnitude and wobble
   period, and the rate per 10 hours.  Target: <= 1 per 10 hours per star.
2. **Astrophysical signals.**  The same clean visits with a box transit
   (20 min, 1 %), a trapezoid transit (60 s ingress) and a 0.5 % flux
   modulation of 47 s: a flux change without a PSF or centroid change is not
   a technical event.  Target: none reported.
3. **Detection.**  10-minute visits with a wobble drawn from the grid and
   the drift (no red noise: the binned sigma is then the noise of the
   step statistic, as in ``docs/events.rst``), holding one tilt
   (`spelunker.datasets.PsfWidthStep`, widths times
   ``1 + step / 0.70``), one centroid jump of the same size in pixels
   (a PsfWidthStep of factor 1 with ``dx``), one HGA move of 12 s, and a
   second visit on another star (a gap and a guide-star change).  A tilt or
   jump counts as found when an event of its kind starts within 2 s of the
   truth; an HGA move within 1 s of its POINTING interval; a star change at
   the first frame of the second visit.  Printed per magnitude and step:
   the step over the scatter of 1 s bin means of that series, the injected
   wobble taken out ("binned sigma"), the rates and the median time error.  Target (as
   ``docs/events.rst``): >= 95 % for steps of >= 5 binned sigma.

    python benchmarks/events_false_alarms.py [--quick] [--trials 20] [--seed 21]

The full run takes about 6 minutes on two busy cores; ``--quick`` about one.
A false event is printed with the seed of its visit, to look at it again.
"""

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_events import bin_sigma  # the detector's unit, as bench_events measures it

from spelunker import datasets, read_guidestar
from spelunker.events import find_events
from spelunker.fitting import run_fit, store_fit

CADENCE = 0.0538
JITTER = 0.012
MAGNITUDES = (12.0, 14.0, 16.0)
PERIODS = (30.0, 60.0, 173.0, 600.0, 1800.0)
AMPLITUDES = (0.01, 0.02, 0.03)
STEPS = (0.005, 0.01, 0.02, 0.05)
TECHNICAL = ("tilt", "centroid_jump", "flux_excursion")


def _red_noise(rng, rms, timescale, span, kind):
    """Red noise as 40 random-phase sinusoids with a damped-random-walk spectrum."""
    periods = np.geomspace(10.0, 4.0 * span, 40)
    frequencies = 1.0 / periods
    weights = frequencies / (1.0 + (2 * np.pi * frequencies * timescale) ** 2)  # S(f) df, log f
    amplitudes = np.sqrt(2.0 * weights / weights.sum()) * rms
    phases = rng.uniform(0, 2 * np.pi, periods.size)
    if kind == "flux":
        return [datasets.FluxModulation(period=p, amplitude=a, phase=f)
                for p, a, f in zip(periods, amplitudes, phases, strict=True)]
    return [datasets.CentroidWobble(period=p, amplitude=a, axis=kind, phase=f)
            for p, a, f in zip(periods, amplitudes, phases, strict=True)]


def _background(rng, span, *, wobble=None, red=True):
    """Wobble (``(period, amplitude)`` or None), drift and (``red``) red noise of a visit."""
    signals = [datasets.CentroidWobble(period=40_000.0, amplitude=0.05, axis="both",
                                       phase=rng.uniform(0, 2 * np.pi))]
    if wobble is not None:
        signals.append(datasets.CentroidWobble(period=wobble[0], amplitude=wobble[1],
                                               axis=str(rng.choice(["x", "y", "both"])),
                                               phase=rng.uniform(0, 2 * np.pi)))
    if not red:
        return signals
    for axis in ("x", "y"):
        signals += _red_noise(rng, 0.003, 120.0, span, axis)
    return signals + _red_noise(rng, 0.001, 300.0, span, "flux")


def _events(folder, visits, signals, seed):
    """find_events on the fitted model of synthetic files (and the model)."""
    visit = datasets.make_guidestar_files(folder, visits=visits, signals=signals,
                                          jitter=JITTER, seed=seed)
    model = read_guidestar(visit.files)
    result, _ = run_fit(model, "gauss", ncpus=2)
    store_fit(model, result, "gauss")
    for path in visit.files:
        Path(path).unlink()
    return find_events(model), model


def _seconds(events, model):
    return (events["start"] - model.frame_times[0]).to_value("s")


def clean_visit(folder, seed, mag, wobble, hours):
    """find_events on a clean visit (and its model): the one visit of ``seed``.

    ``wobble`` is ``(period, amplitude)`` or None.  A false event printed by
    `false_events` is seen again with the same arguments.
    """
    n = int(hours * 3600 / CADENCE)
    signals = _background(np.random.default_rng(seed), n * CADENCE, wobble=wobble)
    return _events(folder, [datasets.VisitSpec(n_frames=n, n_segments=1, fgs_mag=mag)],
                   signals, seed)


def false_events(folder, hours, periods, amplitudes, rng):
    cells = [None] + [(p, a) for p in periods for a in amplitudes]
    print(f"[1] false technical events: {len(cells)} clean visits of {hours:g} h per magnitude "
          "(no wobble, then every wobble period x amplitude), drift, red noise, "
          f"{JITTER} px jitter")
    print("    mag   wobble period (s)   hours   tilt  centroid_jump  flux_excursion   per 10 h")
    worst = 0.0
    for mag in MAGNITUDES:
        total = dict.fromkeys(TECHNICAL, 0)
        by_period = {}
        for cell in cells:
            seed = int(rng.integers(2**31))
            events, model = clean_visit(folder, seed, mag, cell, hours)
            for row, second in zip(events, _seconds(events, model), strict=True):
                if row["kind"] in TECHNICAL:
                    print(f"      false {row['kind']} ({row['parameters']}) at {second:.1f} s, "
                          f"{row['significance']:.1f} sigma: clean_visit(folder, {seed}, "
                          f"{mag:g}, {cell}, {hours:g})")
            key = "none" if cell is None else f"{cell[0]:g}"
            counts = by_period.setdefault(key, dict.fromkeys(TECHNICAL, 0) | {"hours": 0.0})
            counts["hours"] += hours
            for kind in TECHNICAL:
                found = int(np.sum(events["kind"] == kind))
                counts[kind] += found
                total[kind] += found
        for key, counts in by_period.items():
            false = sum(counts[kind] for kind in TECHNICAL)
            print(f"    {mag:4.1f}  {key:>17}  {counts['hours']:6.2f}  {counts['tilt']:5d}  "
                  f"{counts['centroid_jump']:13d}  {counts['flux_excursion']:14d}  "
                  f"{10 * false / counts['hours']:9.2f}")
        star_hours = hours * len(cells)
        rate = 10 * sum(total.values()) / star_hours
        worst = max(worst, rate)
        print(f"    {mag:4.1f}  {'all':>17}  {star_hours:6.2f}  {total['tilt']:5d}  "
              f"{total['centroid_jump']:13d}  {total['flux_excursion']:14d}  {rate:9.2f}")
    print(f"    worst magnitude: {worst:.2f} false technical events per 10 h per star; "
          f"target <= 1: {'met' if worst <= 1 else 'MISSED'}")
    return worst


def astrophysical(folder, minutes, rng):
    n = int(minutes * 60 / CADENCE)
    span = n * CADENCE
    cases = {
        "box transit 20 min 1 %": datasets.Transit(mid_time=0.5 * span,
                                                   duration=min(1200.0, 0.5 * span), depth=0.01),
        "transit, 60 s ingress": datasets.Transit(mid_time=0.5 * span,
                                                  duration=min(1200.0, 0.5 * span), depth=0.01,
                                                  ingress=60.0),
        "0.5 % modulation, 47 s": datasets.FluxModulation(period=47.0, amplitude=0.005),
    }
    print(f"[2] astrophysical flux changes ({minutes:g} min visits, drift, red noise, "
          "173 s wobble of 0.02 px): technical events reported")
    print("    mag   signal                    events")
    reported = 0
    for mag in MAGNITUDES:
        for name, signal in cases.items():
            signals = _background(rng, span, wobble=(173.0, 0.02)) + [signal]
            events, _ = _events(folder, [datasets.VisitSpec(n_frames=n, n_segments=1,
                                                            fgs_mag=mag)],
                                signals, int(rng.integers(2**31)))
            kinds = [str(k) for k in events["kind"] if k in TECHNICAL]
            reported += len(kinds)
            print(f"    {mag:4.1f}  {name:24}  {', '.join(kinds) or 'none'}")
    print(f"    target none: {'met' if reported == 0 else 'MISSED'}")


def detection(folder, trials, steps, periods, amplitudes, rng, *, verbose=False):
    n = int(600 / CADENCE)
    print(f"[3] detection next to a wobble ({trials} trials per case, 10-minute visits, "
          "a wobble of the grid and a drift, no red noise; a tilt, a centroid jump, an HGA "
          "move and a change of star each)")
    print("    mag   step (px)  binned sigma: width  centroid   tilt  jump   HGA  star  "
          "median |dt| tilt, jump (s)")
    rows = []
    for mag in MAGNITUDES:
        for size in steps:
            found = dict.fromkeys(("tilt", "centroid_jump", "hga_move", "star"), 0)
            ratios = {"x_stddev": [], "x_mean": []}
            errors = {"tilt": [], "centroid_jump": []}
            for _ in range(trials):
                cell = (rng.choice(periods), rng.choice(amplitudes))
                t_tilt = rng.uniform(60.0, 250.0)
                t_jump = t_tilt + rng.uniform(60.0, 150.0)
                t_hga = t_jump + rng.uniform(40.0, 100.0)
                signals = _background(rng, n * CADENCE, wobble=cell, red=False) + [
                    datasets.PsfWidthStep(time=t_tilt, factor=1.0 + size / 0.70),
                    datasets.PsfWidthStep(time=t_jump, factor=1.0, dx=size),
                    datasets.HgaMove(start=t_hga, stop=t_hga + 12.0)]
                visits = [datasets.VisitSpec(visit=1, n_frames=n, n_segments=1, fgs_mag=mag),
                          datasets.VisitSpec(visit=2, n_frames=2000, n_segments=1,
                                             fgs_mag=mag)]
                events, model = _events(folder, visits, signals, int(rng.integers(2**31)))
                seconds = _seconds(events, model)
                fit = model.gauss_fit
                clean = np.asarray(fit["flags"])[:n] == 0
                frame_s = model.frame_seconds()[:n]
                # The binned sigma of the noise: the injected wobble taken out.
                wobble = {"x_mean": signals[1].offsets(frame_s + 0.5 * CADENCE)[0],
                          "x_stddev": 0.0}
                for key in ratios:
                    values = np.where(clean, np.asarray(fit[key], dtype=float)[:n], np.nan)
                    ratios[key].append(size / bin_sigma(frame_s, values - wobble[key]))
                for kind, truth in (("tilt", t_tilt), ("centroid_jump", t_jump)):
                    near = np.abs(seconds[events["kind"] == kind] - truth)
                    if near.size and near.min() <= 2.0:
                        found[kind] += 1
                        errors[kind].append(float(near.min()))
                    elif verbose:
                        print(f"      missed {kind} at {truth:.1f} s (wobble {cell}); found: "
                              + ", ".join(f"{k} {t:.1f} s" for k, t in
                                          zip(events["kind"], seconds, strict=True)))
                moves = seconds[events["kind"] == "hga_move"]
                found["hga_move"] += int(moves.size == 1 and abs(moves[0] - t_hga) <= 1.0)
                changes = events[events["kind"] == "guide_star_change"]
                found["star"] += int(len(changes) == 1 and changes["frame_start"][0] == n)
            rates = {kind: count / trials for kind, count in found.items()}
            width, centroid = (statistics.median(ratios[k]) for k in ("x_stddev", "x_mean"))
            rows.append((mag, size, width, centroid, rates))
            dt = ", ".join(f"{statistics.median(errors[k]):.2f}" if errors[k] else "-"
                           for k in ("tilt", "centroid_jump"))
            print(f"    {mag:4.1f}  {size:8.3f}  {width:19.1f}  {centroid:8.1f}  "
                  f"{100 * rates['tilt']:4.0f}% {100 * rates['centroid_jump']:4.0f}% "
                  f"{100 * rates['hga_move']:4.0f}% {100 * rates['star']:4.0f}%  {dt:>12}")
    strong = [rates["tilt"] for _, _, width, _, rates in rows if width >= 5] + \
             [rates["centroid_jump"] for _, _, _, centroid, rates in rows if centroid >= 5]
    tables = [rates[k] for *_, rates in rows for k in ("hga_move", "star")]
    print(f"    target >= 95% for steps >= 5 binned sigma: "
          f"{'met' if strong and min(strong) >= 0.95 else 'MISSED'} (lowest "
          f"{100 * min(strong):.0f}% over {len(strong)} cases); HGA moves and star changes: "
          f"lowest {100 * min(tables):.0f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10-minute visits, fewer wobbles, steps and trials (~1 min)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    logging.getLogger("spelunker").setLevel(logging.WARNING)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if args.quick:
            sections = [(false_events, (1 / 6, (30.0, 173.0, 1800.0), (0.03,))),
                        (astrophysical, (10.0,)),
                        (detection, (3, (0.01, 0.05), PERIODS, AMPLITUDES))]
        else:
            sections = [(false_events, (1.0, PERIODS, AMPLITUDES)),
                        (astrophysical, (60.0,)),
                        (detection, (args.trials, STEPS, PERIODS, AMPLITUDES))]
        for function, arguments in sections:
            begin = time.perf_counter()
            function(folder, *arguments, rng)
            print(f"    ({time.perf_counter() - begin:.0f} s)")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
