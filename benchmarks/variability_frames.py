"""End-to-end check of the variability step at frame level: false events, technical, recovery.

`benchmarks/variability_recovery.py` measures `find_flares` and `find_dips`
on light curves; this script makes frames (`spelunker.datasets.make_guidestar_files`,
0.012 px of white pointing jitter per frame and axis), reads them back and runs
the steps the variability step needs: `GuideStarFitStep` (method ``gauss``,
the 2-D Gaussian fit, whose PSF widths and centroids the events and the
origin check use), `PhotometryOptimizeStep`, `GuideStarEventStep` and
`GuideStarVariabilityStep` (the periodogram step is not needed), at FGS
magnitudes 12, 14 and 16.  Every visit has a background: a centroid wobble
(`CentroidWobble`, period log-uniform 30 s - 30 min, semi-amplitude 0.01-0.03
px, axis x, y or both, random phase), a slow drift (a 40,000 s wobble of
0.05 px on both axes) and red noise of the flux (`datasets.RedNoise`, rms
0.05-0.1 %, correlation time 10-30 min, as in variability_recovery.py), all
drawn from the visit's seed.

1. **False events on clean visits.**  Nine visits of 2-5 h, 30 h per
   magnitude (``--quick``: two of 2 h), nothing injected: every astrophysical flare or dip
   and every technical event (events table) is false.  Printed per
   magnitude: counts and rates per 10 hours per star.  Targets: <= 1
   astrophysical flare, <= 1 astrophysical dip and <= 1 technical event per
   10 h per star.  Each false event is printed with the call that makes its
   visit again: ``clean_visit(folder, seed, mag, hours)``.
2. **Technical signals never astrophysical.**  Eight visits of 20 min per
   magnitude (``--quick``: two of 10 min) with a mirror tilt (`PsfWidthStep`, widths times
   ``1 + step / 0.70``), a centroid jump of the same size in pixels (a
   `PsfWidthStep` of factor 1 with ``dx``), an HGA move of 12 s (`HgaMove`)
   and a second visit on another star (a gap and a guide-star change), step
   sizes 0.005-0.05 px in turn.  Printed: the technical events found (a tilt
   or jump starting within 2 s of the truth, an HGA move within 1 s, the star
   change at the second visit's first frame) and the flares and dips within
   10 s of each injected signal, by origin.  Target: none astrophysical.
3. **Astrophysical signals at frame level.**  Four visits of 3 h per
   magnitude (``--quick``: two of 1.5 h) with well separated flares and dips, alternating, drawn as
   variability_recovery.py draws them (its ``flare_signal`` and
   ``dip_signal``): `Flare` (Davenport template) of amplitude 1-20 % and
   FWHM 5-120 s; dips of depth 0.3-50 % and duration 1 s - 30 min
   (log-uniform), one third each a box (`BoxOccultation`), a trapezoid
   eclipse (`EclipsingBinary`) and a limb-darkened transit
   (`PhysicalTransit`).  The injected SNR is that of variability_recovery.py
   (the best box mean of the injected signal over the binned rms of the
   noise-only series at that width); here the noise-only series is the
   measured relative light curve divided by the injected flux factors, so
   jitter, red noise, the wobble and the chosen aperture count.  Recovery,
   time, equivalent-duration and depth criteria are those of
   variability_recovery.py (a detected row's start-stop holds the true peak
   or mid time, whatever its origin), printed with its tables; then the
   origin of the recovered ones, each technical one and each miss at SNR >=
   7 with the call that makes its visit again:
   ``signal_visit(folder, seed, mag, hours)``.  Then (unless ``--no-compare``)
   the light-curve-level tables of variability_recovery.py
   follow (its ``one_trial``: 50 injections per kind and magnitude, 15 with
   ``--quick``), for comparison in the same run.

A visit that fails is printed with its call and counted at the end.
Functions ``clean_visit``, ``technical_visit`` and ``signal_visit`` return
the model of one visit, to look at it again (``sys.path`` holding
``benchmarks``).

    python benchmarks/variability_frames.py [--quick] [--seed 21] [--no-compare]

Frame generation dominates: about 2.5 s per hour of frames for generation,
fit, photometry, events and variability together on two quiet cores.  The
full run (30 h of clean frames, 8 h of technical visits and 12 h of visits
with signals per magnitude) takes about 7 minutes there, ``--quick`` about
70 s.
"""

import argparse
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from variability_recovery import (WIDTHS, dip_signal, flare_signal, injected_snr, one_trial,
                                  print_recovery)

from spelunker import (GuideStarEventStep, GuideStarFitStep, GuideStarVariabilityStep,
                       PhotometryOptimizeStep, datasets, read_guidestar)
from spelunker.events import events_table
from spelunker.variability import dips_table, flares_table, noise_model, variability_table
from spelunker.variability.lightcurve import visit_lightcurve

CADENCE = 0.0538
JITTER = 0.012
MAGNITUDES = (12.0, 14.0, 16.0)
STEPS = (0.005, 0.01, 0.02, 0.05)
NEAR = 10.0  # s: a flare or dip this close to an injected technical signal is "at" it


# ---------------------------------------------------------------- the pipeline


def background(rng, span):
    """The wobble, drift and flux red noise of a visit, drawn from ``rng``; and a text."""
    period = 10 ** rng.uniform(math.log10(30.0), math.log10(1800.0))
    amplitude = rng.uniform(0.01, 0.03)
    axis = str(rng.choice(["x", "y", "both"]))
    red = (rng.uniform(5e-4, 1e-3), rng.uniform(600.0, 1800.0), int(rng.integers(2**31)))
    signals = [datasets.CentroidWobble(period=40_000.0, amplitude=0.05, axis="both",
                                       phase=rng.uniform(0, 2 * np.pi)),
               datasets.CentroidWobble(period=period, amplitude=amplitude, axis=axis,
                                       phase=rng.uniform(0, 2 * np.pi)),
               datasets.RedNoise(amplitude=red[0], timescale=red[1], seed=red[2])]
    text = (f"wobble {period:.0f} s {amplitude:.3f} px {axis}, red noise "
            f"{100 * red[0]:.3f} % {red[1]:.0f} s")
    return signals, text


def run_steps(folder, visits, signals, seed):
    """The frames of ``visits`` with ``signals`` through fit, photometry, events, variability."""
    visit = datasets.make_guidestar_files(folder, visits=visits, signals=signals,
                                          jitter=JITTER, seed=seed)
    model = read_guidestar(visit.files)
    for path in visit.files:
        Path(path).unlink()
    model = GuideStarFitStep.call(model, method="gauss", ncpus=2)
    model = PhotometryOptimizeStep.call(model)
    model = GuideStarEventStep.call(model)
    return GuideStarVariabilityStep.call(model)


FAILURES = []


def attempt(call, function, *args):
    """``function(*args)``, or None after printing the error and how to redo it (``call``)."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - a benchmark reports a failing visit and goes on
        FAILURES.append(call)
        print(f"      FAILED {call}: {type(error).__name__}: {error}")
        return None


def seconds_of(model, times):
    """Times (Time column) in the signals' axis: seconds since the first visit's data start."""
    if len(times) == 0:
        return np.array([])
    return (times - model.frame_times[0]).to_value("s") + 0.5 * CADENCE


def tables(model):
    """Flares and dips of the model with start, at (peak or mid), stop in signal seconds."""
    out = {}
    for kind, table, at in (("flare", flares_table(model), "peak"),
                            ("dip", dips_table(model), "mid")):
        out[kind] = (table, *(seconds_of(model, table[c]) if len(table) else np.array([])
                              for c in ("start", at, "stop")))
    return out


def events_of(model):
    """The technical events table of the model (a QTable, Time columns)."""
    return events_table(model)


# ---------------------------------------------------------------- 1. false events


def clean_visit(folder, seed, mag, hours):
    """The pipeline on the clean visit of ``seed`` (what section 1 prints to redo one)."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / CADENCE)
    signals, text = background(rng, n * CADENCE)
    model = run_steps(folder, [datasets.VisitSpec(n_frames=n, n_segments=1, fgs_mag=mag)],
                      signals, seed)
    return model, text


def false_events(folder, hours_list, magnitudes, rng):
    lengths = " + ".join(f"{h:g}" for h in hours_list)
    print(f"[1] false events on clean frame-level visits ({lengths} h per magnitude; wobble, "
          f"drift, flux red noise, {JITTER} px jitter; nothing injected)")
    print("    mag   hours  astro flares  astro dips  techn. flares/dips  technical events"
          "   per 10 h: flares  dips  events")
    worst = {"flare": 0.0, "dip": 0.0, "event": 0.0}
    for mag in magnitudes:
        counts = {"flare": 0, "dip": 0, "tflare": 0, "event": 0}
        kinds = {}
        total = 0.0
        for hours in hours_list:
            seed = int(rng.integers(2**31))
            call = f"clean_visit(folder, {seed}, {mag:g}, {hours:g})"
            done = attempt(call, clean_visit, folder, seed, mag, hours)
            if done is None:
                continue
            model, text = done
            total += hours
            redo = f"{call}  [{text}]"
            row = variability_table(model)[0]
            print(f"      {call}: white noise {row['white_noise']:.5f} (light_curve_noise "
                  f"{datasets.light_curve_noise(mag):.5f}), rms 10 min {row['rms_10min']:.5f}, "
                  f"beta 10 min {row['beta_10min']:.1f}, period {row['period'].value:.0f} s "
                  f"amplitude {row['period_amplitude']:.4f}, classes {row['classes']}  [{text}]")
            for kind, (table, start, at, stop) in tables(model).items():
                for k, row in enumerate(table):
                    origin = str(row["origin"])
                    counts[kind if origin == "astrophysical" else "tflare"] += 1
                    size = (f"amplitude {row['amplitude']:.4f}" if kind == "flare"
                            else f"depth {row['depth']:.4f}")
                    print(f"      false {origin} {kind} at {at[k]:.1f} s "
                          f"({stop[k] - start[k]:.1f} s, {size}, {row['significance']:.1f} sigma, "
                          f"{row['technical_event'] or '-'}): {redo}")
            events = events_of(model)
            for row, second in zip(events, seconds_of(model, events["start"]), strict=True):
                counts["event"] += 1
                kinds[str(row["kind"])] = kinds.get(str(row["kind"]), 0) + 1
                print(f"      false {row['kind']} at {second:.1f} s, {row['significance']:.1f} "
                      f"sigma: {redo}")
        rates = {k: 10 * counts[k] / total for k in ("flare", "dip", "event")}
        for k in worst:
            worst[k] = max(worst[k], rates[k])
        kind_text = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "0"
        print(f"    {mag:4.1f}  {total:5.1f}  {counts['flare']:12d}  {counts['dip']:10d}  "
              f"{counts['tflare']:18d}  {kind_text:>16}   {rates['flare']:16.2f}  "
              f"{rates['dip']:4.2f}  {rates['event']:6.2f}")
    print("    worst magnitude per 10 h per star: "
          + ", ".join(f"{k}s {v:.2f}" for k, v in worst.items())
          + f"; targets <= 1: {'met' if max(worst.values()) <= 1 else 'MISSED'}")


# ---------------------------------------------------------------- 2. technical signals


def technical_visit(folder, seed, mag, minutes, step):
    """The pipeline on a visit with a tilt, a jump, an HGA move and a star change; truth."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 / CADENCE)
    signals, text = background(rng, n * CADENCE)
    t_tilt = rng.uniform(0.15, 0.35) * n * CADENCE
    t_jump = t_tilt + rng.uniform(0.15, 0.25) * n * CADENCE
    t_hga = t_jump + rng.uniform(0.15, 0.25) * n * CADENCE
    signals += [datasets.PsfWidthStep(time=t_tilt, factor=1.0 + step / 0.70),
                datasets.PsfWidthStep(time=t_jump, factor=1.0, dx=step),
                datasets.HgaMove(start=t_hga, stop=t_hga + 12.0)]
    visits = [datasets.VisitSpec(visit=1, n_frames=n, n_segments=1, fgs_mag=mag),
              datasets.VisitSpec(visit=2, n_frames=int(180 / CADENCE), n_segments=1,
                                 fgs_mag=mag + 0.5)]
    model = run_steps(folder, visits, signals, seed)
    second = seconds_of(model, model.frame_times[n:n + 1])[0]
    truth = {"tilt": (t_tilt, t_tilt), "centroid_jump": (t_jump, t_jump),
             "hga_move": (t_hga, t_hga + 12.0),
             "guide_star_change": (n * CADENCE, second)}
    return model, truth, n, text


def technical(folder, minutes, per_mag, magnitudes, rng):
    print(f"[2] technical signals ({per_mag} visit(s) of {minutes:g} min per magnitude, "
          "each a tilt, a centroid jump, an HGA move and a change of star; step sizes "
          f"{', '.join(f'{s:g}' for s in STEPS)} px in turn; background as in [1])")
    print("    mag   step  found: tilt  jump  HGA  star   flares/dips within "
          f"{NEAR:g} s: technical  ASTROPHYSICAL")
    bad = 0
    for mag in magnitudes:
        for trial in range(per_mag):
            step = STEPS[trial % len(STEPS)]
            seed = int(rng.integers(2**31))
            call = f"technical_visit(folder, {seed}, {mag:g}, {minutes:g}, {step:g})"
            done = attempt(call, technical_visit, folder, seed, mag, minutes, step)
            if done is None:
                continue
            model, truth, n, text = done
            events = events_of(model)
            starts = seconds_of(model, events["start"])
            found = {}
            for kind, (a, _) in truth.items():
                chosen = starts[events["kind"] == kind]
                if kind == "guide_star_change":
                    frames = np.asarray(events["frame_start"])[events["kind"] == kind]
                    found[kind] = bool(np.any(frames == n))
                else:
                    tolerance = 1.0 if kind == "hga_move" else 2.0
                    found[kind] = bool(np.any(np.abs(chosen - a) <= tolerance))
            near = {"technical": 0, "astrophysical": 0}
            for kind, (table, start, at, stop) in tables(model).items():
                for k, row in enumerate(table):
                    hit = [name for name, (a, b) in truth.items()
                           if start[k] - NEAR <= b and stop[k] + NEAR >= a]
                    if not hit:
                        continue
                    origin = str(row["origin"])
                    near[origin] += 1
                    if origin == "astrophysical":
                        bad += 1
                        print(f"      ASTROPHYSICAL {kind} at {at[k]:.1f} s near "
                              f"{', '.join(hit)} ({row['significance']:.1f} sigma, psf "
                              f"{row['psf_change']:.1f}, centroid {row['centroid_change']:.1f}):"
                              f" {call}  [{text}]")
            mark = {True: "  yes", False: "   NO"}
            print(f"    {mag:4.1f}  {step:5.3f}      {mark[found['tilt']]} "
                  f"{mark[found['centroid_jump']]} {mark[found['hga_move']]}"
                  f"{mark[found['guide_star_change']]}   {near['technical']:36d}  "
                  f"{near['astrophysical']:13d}")
    print(f"    astrophysical flares/dips at an injected technical signal: {bad}; target 0: "
          f"{'met' if bad == 0 else 'MISSED'}")


# ---------------------------------------------------------------- 3. recovery


def draw_events(rng, span):
    """Alternating flares and dips, well separated, inside ``span`` s: (kind, signal, truth)."""
    events, t, kind = [], 120.0, str(rng.choice(["flare", "dip"]))
    while True:
        if kind == "flare":
            fwhm = 10 ** rng.uniform(math.log10(5.0), math.log10(120.0))
            amplitude = 10 ** rng.uniform(-2.0, math.log10(0.2))
            peak = t + 0.908 * fwhm + 60.0
            end = peak + 12.3 * fwhm + 120.0
            if end > span - 60.0:
                break
            signal, truth = flare_signal(peak, amplitude, fwhm)
            truth.update(size=amplitude, width=fwhm)
        else:
            duration = 10 ** rng.uniform(0.0, math.log10(1800.0))
            depth = 10 ** rng.uniform(math.log10(0.003), math.log10(0.5))
            pad = max(90.0, duration)
            mid = t + pad + 0.5 * duration
            end = mid + 0.5 * duration + pad
            if end > span - 60.0:
                break
            shape = ("box", "trapezoid", "transit")[int(rng.integers(3))]
            signal, truth = dip_signal(mid, depth, duration, shape, rng, span)
            truth.update(size=truth["depth"], width=truth["duration"])
        events.append((kind, signal, truth))
        t = end
        kind = "dip" if kind == "flare" else "flare"
    return events


def signal_visit(folder, seed, mag, hours):
    """The pipeline on a visit of ``seed`` with flares and dips; the injected events."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / CADENCE)
    signals, text = background(rng, n * CADENCE)
    injected = draw_events(rng, n * CADENCE)
    model = run_steps(folder, [datasets.VisitSpec(n_frames=n, n_segments=1, fgs_mag=mag)],
                      signals + [signal for _, signal, _ in injected], seed)
    return model, injected, text


def aperture_text(model, mag):
    """The chosen aperture's pixels and white noise against `datasets.light_curve_noise`.

    The aperture is chosen (PhotometryOptimizeStep) on the light curve with its
    signals: when deep events dominate its binned scatter, a poor aperture
    (a few pixels) can be chosen, which raises the white noise and lets the
    centroid wobble into the flux.
    """
    search = model.table("aperture_search")
    chosen = search["n_pixels"][search["selected"] != 0]
    pixels = int(chosen[0]) if len(chosen) else -1
    white = float(variability_table(model)["white_noise"][0])
    return f"aperture {pixels} px, white noise {white / datasets.light_curve_noise(mag):.2f}x"


def recovery(folder, hours, per_mag, magnitudes, rng):
    print(f"\n[3] astrophysical signals at frame level ({per_mag} visit(s) of {hours:g} h per "
          "magnitude; flares 1-20 %, FWHM 5-120 s; dips 0.3-50 %, 1 s - 30 min; background "
          "as in [1])")
    results = {"flare": [], "dip": []}
    origins = {"flare": {}, "dip": {}}
    extra = {"flare": {}, "dip": {}}
    for mag in magnitudes:
        for _ in range(per_mag):
            seed = int(rng.integers(2**31))
            redo = f"signal_visit(folder, {seed}, {mag:g}, {hours:g})"
            done = attempt(redo, signal_visit, folder, seed, mag, hours)
            if done is None:
                continue
            model, injected, text = done
            text = f"{text}; {aperture_text(model, mag)}"
            (v, g, frames), = model.frame_groups()
            lc = visit_lightcurve(model, v, g, frames, fit_table="gauss_fit", mask_events=False)
            t_signal = lc.times + 0.5 * CADENCE
            factors = [signal.flux_factor(t_signal) for _, signal, _ in injected]
            noise_only = lc.flux / np.prod(factors, axis=0) if factors else lc.flux
            rms = noise_model(lc.times, noise_only, mask=lc.mask, bin_sizes=WIDTHS).rms
            found_tables = tables(model)
            used = {"flare": set(), "dip": set()}
            for (kind, _, truth), factor in zip(injected, factors, strict=True):
                truth["snr"] = injected_snr(t_signal, factor - 1.0, rms)
                table, start, at, stop = found_tables[kind]
                hold = (start <= truth["time"]) & (stop >= truth["time"])
                result = dict(truth, mag=int(mag), found=bool(np.any(hold)))
                if result["found"]:
                    k = int(np.flatnonzero(hold)[np.argmax(table["significance"][hold])])
                    used[kind].add(k)
                    row = table[k]
                    result["dt"] = float(at[k] - truth["time"])
                    if kind == "flare":
                        value = float(row["equivalent_duration"].value)
                        error = float(row["equivalent_duration_error"].value)
                        reference = truth["ed"]
                    else:
                        value, error = float(row["depth"]), float(row["depth_error"])
                        reference = truth["depth"]
                        result["duration_error"] = (float(row["duration"].value)
                                                    / truth["duration"] - 1)
                    result["error"] = value / reference - 1
                    result["pull"] = (value - reference) / error if error > 0 else np.inf
                    origin = str(row["origin"])
                    origins[kind][origin] = origins[kind].get(origin, 0) + 1
                    result["origin"] = origin
                    if origin != "astrophysical":
                        print(f"      technical {kind} (SNR {truth['snr']:.1f}, size "
                              f"{truth['size']:.4f}, width {truth['width']:.1f} s) at "
                              f"{truth['time']:.1f} s: {row['technical_event'] or '-'}, psf "
                              f"{row['psf_change']:.1f}, centroid {row['centroid_change']:.1f}:"
                              f" {redo}")
                elif truth["snr"] >= 7:
                    print(f"      missed {kind} SNR {truth['snr']:.1f} size {truth['size']:.4f} "
                          f"width {truth['width']:.1f} s at {truth['time']:.1f} s: {redo}  "
                          f"[{text}]")
                results[kind].append(result)
            for kind, (table, _start, at, _stop) in found_tables.items():
                for k in set(range(len(table))) - used[kind]:
                    origin = str(table["origin"][k])
                    extra[kind][origin] = extra[kind].get(origin, 0) + 1
                    print(f"      other {origin} {kind} at {at[k]:.1f} s "
                          f"({table['significance'][k]:.1f} sigma): {redo}")
    for kind in ("flare", "dip"):
        print_recovery(kind, results[kind])
        print(f"  origin of the recovered {kind}s: "
              + (", ".join(f"{o} {c}" for o, c in sorted(origins[kind].items())) or "none")
              + f"; other {kind}s found in these visits: "
              + (", ".join(f"{o} {c}" for o, c in sorted(extra[kind].items())) or "none"))
        print("  found as astrophysical, injected SNR >= 7, by magnitude: " + ", ".join(
            f"mag {mag:g} {_astro(results[kind], mag)}" for mag in magnitudes)
            + f", all {_astro(results[kind], None)}")


def _astro(results, mag):
    """'found as astrophysical / injected' at injected SNR >= 7 (of magnitude ``mag``)."""
    strong = [r for r in results if r["snr"] >= 7 and mag in (None, r["mag"])]
    good = sum(r["found"] and r.get("origin") == "astrophysical" for r in strong)
    return f"{good}/{len(strong)}" + (f" ({100 * good / len(strong):.0f} %)" if strong else "")


def compare(n, rng):
    print("\n[3'] the same tables at light-curve level (variability_recovery.py one_trial, "
          f"{n} injections per kind and magnitude)")
    for kind in ("flare", "dip"):
        print_recovery(kind, [one_trial(kind, mag, rng) for mag in (12, 14, 16)
                              for _ in range(n)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 2 minutes")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                        help="also the light-curve-level tables of variability_recovery.py")
    parser.add_argument("--magnitudes", type=float, nargs="+", default=MAGNITUDES,
                        help="FGS magnitudes (default 12 14 16)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every visit's length (a tiny run for the tests)")
    args = parser.parse_args(argv)
    FAILURES.clear()
    logging.disable(logging.INFO)  # the steps' INFO logs; warnings still show
    rng = np.random.default_rng(args.seed)
    if args.quick:
        clean, minutes, technical_visits, hours, signal_visits = (2.0, 2.0), 10.0, 2, 1.5, 2
    else:
        clean, minutes, technical_visits, hours, signal_visits = (
            (2.0, 3.0, 5.0, 4.0, 2.5, 3.5, 5.0, 2.0, 3.0), 20.0, 8, 3.0, 4)
    sections = [(false_events, (tuple(args.scale * h for h in clean),)),
                (technical, (args.scale * minutes, technical_visits)),
                (recovery, (args.scale * hours, signal_visits))]
    start = time.perf_counter()
    print(f"seed {args.seed}, scale {args.scale:g}; fit method gauss; steps GuideStarFitStep, "
          "PhotometryOptimizeStep, GuideStarEventStep, GuideStarVariabilityStep")
    with tempfile.TemporaryDirectory() as folder:
        for function, arguments in sections:
            begin = time.perf_counter()
            function(folder, *arguments, tuple(args.magnitudes), rng)
            print(f"    ({time.perf_counter() - begin:.0f} s)")
    if args.compare:
        begin = time.perf_counter()
        n = max(1, round((15 if args.quick else 50) * min(args.scale, 1.0)))
        compare(n, np.random.default_rng(args.seed + 1))
        print(f"    ({time.perf_counter() - begin:.0f} s)")
    print(f"\n{len(FAILURES)} visit(s) failed"
          + "".join(f"\n    {call}" for call in FAILURES))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
