"""Injection-recovery and false alarms of find_flares and find_dips on the datasets' signals.

Light curves at the guider cadence (`spelunker.datasets.synthetic_light_curve`:
frame centres every 0.0538 s, the white noise of `spelunker.datasets.light_curve_noise`
at FGS magnitudes 12, 14 and 16) with red noise `spelunker.datasets.RedNoise`
(rms 0.05-0.1 %, correlation time 10-30 min, uniform draws per light curve).

Flares: `spelunker.datasets.Flare` (Davenport et al. 2014's template),
amplitude 0.2-20 % and FWHM 5-300 s (log-uniform).  Dips, one third each:
`spelunker.datasets.BoxOccultation` (a box), a single trapezoid eclipse
(`spelunker.datasets.EclipsingBinary`, ingress 10-25 % of the duration, one
eclipse in the light curve) and a limb-darkened transit
(`spelunker.datasets.PhysicalTransit`, batman; central, a/R* from the
duration, one transit in the light curve); depth
0.05-50 % and duration 0.3 s-2 h (log-uniform).  One event per light
curve of ``max(1 h, 12 x duration)`` (8 h at most); the truth is each
signal's ``truth()``.

Injected SNR = max over box widths w of the mean of the injected signal in
the best-placed box of width w over the binned rms of the noise-only series
at w (red noise counts).  A flare is recovered when a detected flare's
start-stop holds the true peak, a dip when a detected dip's start-stop
holds the true mid time.  Timing tolerance: 1 s or 5 % of the duration,
the larger (flare duration: the truth's, where the template is above 1 % of
its peak, about 13 FWHM).  Equivalent durations and depths: within 20 %
(a trapezoid's depth is its flat depth, a transit's its deepest point).

Accuracy of the equivalent duration (flares) and depth (dips) at injected
SNR >= 7, by SNR bin and magnitude: the median of found / true, its robust
scatter (1.4826 MAD), the fraction within 20 %, the fractions within 1 and
2 of the stated errors (68 % and 95 % if they are right), and, for flares,
the fraction within 20 % that the best unbiased estimator would reach: the
Cramer-Rao bound of a template fit with free amplitude, peak time and FWHM
in white noise is ``sigma_ED / ED = 1.31 / SNR`` with SNR as defined here
(`ED_BOUND`; 0.87 / SNR with the FWHM and peak time known), so at SNR 7 the
best estimate is within 20 % in only 71 % of trials (89 % knowing the FWHM).

Periodic dips: `periodic_dips` on 8 h light curves with box dips every 1-3 h
(period within 0.1 % and within 3 x period_error).

False alarms: events found on clean light curves (white + red noise, 10 h
each), per 10 h, at several thresholds.

    python benchmarks/variability_recovery.py [--quick] [--n 150] [--hours 30] [--seed 1]
        [--only flare|dip]
"""

import argparse
import math
import time

import numpy as np

from spelunker import datasets
from spelunker.variability import (DIP_THRESHOLD, FLARE_THRESHOLD, find_dips, find_flares,
                                   noise_model, periodic_dips)

CADENCE = datasets.VisitSpec.frame_time   # the guider cadence of synthetic_light_curve
MAGNITUDES = (12, 14, 16)
SNR_BINS = (0, 3, 5, 7, 10, 20, 50, math.inf)
WIDTHS = np.geomspace(0.3, 4 * 3600, 30)
#: Cramer-Rao bound of the relative ED error times the injected SNR (best box) of a flare of
#: the template with free amplitude, peak time and FWHM in white noise (0.87 with the FWHM
#: and peak time known; computed from the template's Fisher matrix on the guider cadence).
ED_BOUND = 1.31


def white_noise(mag):
    """Relative white noise per frame at FGS magnitude ``mag`` and where it comes from."""
    return float(datasets.light_curve_noise(mag)), "spelunker.datasets.light_curve_noise"


def clean_light_curve(seconds, mag, rng):
    """Times and relative flux: white noise of the magnitude and RedNoise, no signal."""
    red = datasets.RedNoise(amplitude=rng.uniform(5e-4, 1e-3), timescale=rng.uniform(600, 1800),
                            seed=int(rng.integers(2 ** 31)))
    return datasets.synthetic_light_curve(seconds, fgs_mag=float(mag), red_noise=red,
                                          seed=int(rng.integers(2 ** 31)))


def flare_signal(peak, amplitude, fwhm):
    """The datasets' Flare and its truth (``time``, ``ed``, ``duration``)."""
    flare = datasets.Flare(peak_time=peak, fwhm=fwhm, amplitude=amplitude)
    truth = flare.truth()
    return flare, {"time": peak, "ed": truth["equivalent_duration"],
                   "duration": truth["duration"]}


def dip_signal(mid, depth, duration, shape, rng, span):
    """A box, trapezoid eclipse or physical transit and its truth (``time``, ``depth``, ...)."""
    if shape == "box":
        signal = datasets.BoxOccultation(mid_time=mid, duration=duration, depth=depth)
    elif shape == "trapezoid":
        signal = datasets.EclipsingBinary(period=1e7, t0=mid, duration=duration,
                                          primary_depth=depth, secondary_depth=0.0,
                                          ingress_fraction=rng.uniform(0.1, 0.25))
    else:
        rp_rs = math.sqrt(depth / 1.15)      # limb darkening deepens the centre ~15 %
        # a period of 3 spans at least: one transit in the light curve of ``span`` s
        a_rs = max(100.0, 3 * span * (1 + rp_rs) / (math.pi * duration))
        period = math.pi * a_rs * duration / (1 + rp_rs)
        signal = datasets.PhysicalTransit(mid_time=mid, period=period, rp_rs=min(rp_rs, 0.9),
                                          a_rs=a_rs)
    truth = signal.truth()
    return signal, {"time": mid, "depth": float(truth.get("depth", truth.get("primary_depth"))),
                    "duration": float(truth["duration"]), "shape": shape}


def injected_snr(times, signal, noise_rms):
    """Max over widths of the best box mean of ``signal`` over the noise's binned rms."""
    best = 0.0
    support = np.flatnonzero(np.abs(signal) > 1e-3 * np.max(np.abs(signal)))
    for width, rms in zip(WIDTHS, noise_rms):
        if not np.isfinite(rms):
            continue
        n = max(1, int(round(width / CADENCE)))
        lo, hi = max(0, support[0] - n), min(signal.size, support[-1] + n)
        csum = np.concatenate(([0.0], np.cumsum(np.abs(signal[lo:hi]))))
        if csum.size <= n:
            continue
        best = max(best, float(np.max(csum[n:] - csum[:-n]) / n / rms))
    return best


def one_trial(kind, mag, rng):
    """Inject one event in a fresh light curve and look for it; a result dict."""
    if kind == "flare":
        amplitude, fwhm = 10 ** rng.uniform(-2.7, -0.7), 10 ** rng.uniform(math.log10(5), 2.477)
        length = 13 * fwhm
    else:
        depth, duration = 10 ** rng.uniform(-3.3, -0.3), 10 ** rng.uniform(-0.523, 3.857)
        length = duration
    hours = min(8.0, max(1.0, 12 * length / 3600))
    times, noisy = clean_light_curve(hours * 3600, mag, rng)
    event_time = rng.uniform(0.3, 0.6) * times[-1]
    if kind == "flare":
        signal, truth = flare_signal(event_time, amplitude, fwhm)
        truth.update(size=amplitude, width=fwhm)
    else:
        shape = ("box", "trapezoid", "transit")[int(rng.integers(3))]
        signal, truth = dip_signal(event_time, depth, duration, shape, rng, float(times[-1]))
        truth.update(size=truth["depth"], width=truth["duration"])
    rms = noise_model(times, noisy, bin_sizes=WIDTHS).rms
    flux = datasets.inject(times, noisy, [signal])
    truth["snr"] = injected_snr(times, flux - noisy, rms)
    if kind == "flare":
        table = find_flares(times, flux)
        at = table["peak"].value if len(table) else np.array([])
    else:
        table = find_dips(times, flux)
        at = table["mid"].value if len(table) else np.array([])
    hold = (np.asarray(table["start"].value if len(table) else []) <= event_time) & (
        np.asarray(table["stop"].value if len(table) else []) >= event_time)
    result = dict(truth, mag=mag, found=bool(np.any(hold)), extra=int(len(table) - np.any(hold)))
    if result["found"]:
        k = int(np.flatnonzero(hold)[np.argmax(table["significance"][hold])])
        result["dt"] = float(at[k] - event_time)
        if kind == "flare":
            value = float(table["equivalent_duration"][k].value)
            sigma_value = float(table["equivalent_duration_error"][k].value)
            result["error"] = value / truth["ed"] - 1
        else:
            value, sigma_value = float(table["depth"][k]), float(table["depth_error"][k])
            result["error"] = value / truth["depth"] - 1
            result["duration_error"] = float(table["duration"][k].value) / truth["duration"] - 1
        result["pull"] = (value - (truth["ed"] if kind == "flare" else truth["depth"])) / \
            sigma_value
    return result


def print_recovery(kind, results):
    """Tables of recovery by injected SNR, by size and magnitude, and accuracy."""
    size_name = "amplitude" if kind == "flare" else "depth"
    error_name = "ED" if kind == "flare" else "depth"
    print(f"\n=== {kind}s: {len(results)} injections ===")
    print("recovered fraction by injected SNR (all magnitudes):")
    ranges = [f"{a:g}-{b:g}" for a, b in zip(SNR_BINS, SNR_BINS[1:])]
    print("  SNR        " + "".join(f"{text:>9s}" for text in ranges))
    for mag in (*MAGNITUDES, None):
        cells = []
        for low, high in zip(SNR_BINS, SNR_BINS[1:]):
            chosen = [r for r in results if low <= r["snr"] < high and mag in (None, r["mag"])]
            cells.append(f"{sum(r['found'] for r in chosen):>3d}/{len(chosen):<4d}"
                         if chosen else "      - ")
        print(f"  {'mag ' + str(mag) if mag else 'all':10s} " + " ".join(f"{c:>8s}" for c in cells))
    edges = (0.002, 0.005, 0.02, 0.05, 0.2) if kind == "flare" else (
        0.0005, 0.002, 0.01, 0.05, 0.5)
    print(f"recovered fraction by {size_name} (relative) and magnitude:")
    print("  " + f"{size_name:10s}" + "".join(f"{f'{a:g}-{b:g}':>14s}" for a, b in zip(edges,
                                                                                    edges[1:])))
    for mag in MAGNITUDES:
        cells = []
        for low, high in zip(edges, edges[1:]):
            chosen = [r for r in results if low <= r["size"] < high and r["mag"] == mag]
            cells.append(f"{sum(r['found'] for r in chosen)}/{len(chosen)}" if chosen else "-")
        print(f"  mag {mag:<6d}" + "".join(f"{c:>14s}" for c in cells))
    strong = [r for r in results if r["snr"] >= 7]
    found = [r for r in strong if r["found"]]
    if not strong:
        return
    print(f"injected SNR >= 7: {len(found)}/{len(strong)} recovered "
          f"({100 * len(found) / len(strong):.1f} %)")
    if found:
        tolerance = [max(1.0, 0.05 * r["duration"]) for r in found]
        timing = [abs(r["dt"]) <= tol for r, tol in zip(found, tolerance)]
        within_1s = [abs(r["dt"]) <= 1.0 for r in found]
        errors = np.array([r["error"] for r in found])
        print(f"  time within max(1 s, 5 % of duration): {100 * np.mean(timing):.1f} %; "
              f"within 1 s: {100 * np.mean(within_1s):.1f} %; median |error| "
              f"{np.median([abs(r['dt']) for r in found]):.2f} s")
        pulls = np.array([r["pull"] for r in found])
        print(f"  {error_name} within 20 %: {100 * np.mean(np.abs(errors) <= 0.2):.1f} %; "
              f"median error {100 * np.median(errors):+.1f} %, median |error| "
              f"{100 * np.median(np.abs(errors)):.1f} %; within 3 x its error: "
              f"{100 * np.mean(np.abs(pulls) <= 3):.1f} %")
        if kind == "dip":
            for shape in ("box", "trapezoid", "transit"):
                part = [r for r in found if r["shape"] == shape]
                if part:
                    e = np.array([r["error"] for r in part])
                    d = np.array([r["duration_error"] for r in part])
                    print(f"    {shape:9s}: {len(part)} found, depth within 20 % "
                          f"{100 * np.mean(np.abs(e) <= 0.2):.0f} % (median "
                          f"{100 * np.median(e):+.1f} %), duration within 5 % "
                          f"{100 * np.mean(np.abs(d) <= 0.05):.0f} %")
        for low, high in ((7, 20), (20, math.inf)):
            part = [r for r in found if low <= r["snr"] < high]
            if part:
                e = np.array([r["error"] for r in part])
                t = [abs(r["dt"]) <= max(1.0, 0.05 * r["duration"]) for r in part]
                print(f"    SNR {low:g}-{high:g}: {len(part)} found, time ok "
                      f"{100 * np.mean(t):.0f} %, {error_name} within 20 % "
                      f"{100 * np.mean(np.abs(e) <= 0.2):.0f} %")
        print_accuracy(kind, found)
    missed = sorted((r for r in strong if not r["found"]), key=lambda r: -r["snr"])[:5]
    for r in missed:
        print(f"  missed: mag {r['mag']} {size_name} {r['size']:.4f} width {r['width']:.1f} s "
              f"SNR {r['snr']:.1f}")


def print_accuracy(kind, found):
    """ED (depth) found / true by SNR bin and magnitude, with the errors' calibration."""
    name = "ED" if kind == "flare" else "depth"
    print(f"  {name} found / true at SNR >= 7: median, robust scatter, within 20 % "
          f"(best possible{'' if kind == 'flare' else ': -'}), within 1 and 2 stated sigma")
    rows = [(f"SNR {a:g}-{b:g}", [r for r in found if a <= r["snr"] < b])
            for a, b in ((7, 10), (10, 20), (20, 50), (50, math.inf))]
    rows += [(f"mag {m}", [r for r in found if r["mag"] == m]) for m in MAGNITUDES]
    rows += [("all", found)]
    for label, part in rows:
        if not part:
            continue
        ratio = np.array([r["error"] for r in part]) + 1
        pull = np.abs([r["pull"] for r in part])
        median = float(np.median(ratio))
        scatter = 1.4826 * float(np.median(np.abs(ratio - median)))
        best = "      -"
        if kind == "flare":   # the fraction an unbiased estimator at the bound has within 20 %
            best = np.mean([math.erf(0.2 * r["snr"] / ED_BOUND / math.sqrt(2)) for r in part])
            best = f"{100 * best:6.0f}%"
        print(f"    {label:10s} n {len(part):4d}  median {median:.3f}  scatter {scatter:.3f}  "
              f"within 20 % {100 * np.mean(np.abs(ratio - 1) <= 0.2):5.1f} % ({best})  "
              f"1 sigma {100 * np.mean(pull <= 1):5.1f} %  "
              f"2 sigma {100 * np.mean(pull <= 2):5.1f} %")


def periodic_trials(n, seed):
    """periodic_dips on 8 h light curves (magnitude 14) holding box dips every 1-3 h."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        period, duration = rng.uniform(3600, 10800), rng.uniform(300, 1200)
        depth, phase = 10 ** rng.uniform(-2.5, -1.7), rng.uniform(0, 1)
        times, flux = clean_light_curve(8 * 3600, 14, rng)
        flux *= 1 - depth * ((((times / period) - phase) % 1.0) * period < duration)
        found = periodic_dips(times, flux)
        rows.append((period, found))
    good = [(p, f) for p, f in rows if f is not None and f.snr >= 7]
    within = [abs(f.period / p - 1) <= 1e-3 for p, f in good]
    inside = [abs(f.period - p) <= 3 * f.period_error for p, f in good]
    print(f"\n=== periodic dips: {n} light curves of 8 h (mag 14, red noise), periods 1-3 h, "
          "box dips 5-20 min, 0.3-2 % ===")
    print(f"  snr >= 7: {len(good)}/{n}; period within 0.1 %: {sum(within)}/{len(good)}; "
          f"within 3 x period_error: {sum(inside)}/{len(good)}; median period_error "
          f"{np.median([f.period_error / p for p, f in good]) * 100 if good else np.nan:.3f} %")


def false_alarms(hours, seed):
    """Flares and dips found on clean light curves of 10 h, per 10 h, by threshold."""
    rng = np.random.default_rng(seed)
    thresholds = (5.0, 5.5, 6.0, 6.5, 7.0)
    n_curves = max(1, int(round(hours / 10)))
    print(f"\n=== false alarms: {n_curves} light curve(s) of 10 h per magnitude "
          f"(white + AR(1) red noise 0.05-0.1 %, 10-30 min) ===")
    print(f"  {'':12s}" + "".join(f"{f'>= {t:g}':>9s}" for t in thresholds) + "   (per 10 h)")
    for mag in MAGNITUDES:
        counts = {"flares": np.zeros(len(thresholds)), "dips": np.zeros(len(thresholds))}
        for _ in range(n_curves):
            times, flux = clean_light_curve(10 * 3600, mag, rng)
            flares = find_flares(times, flux, threshold=min(thresholds))
            dips = find_dips(times, flux, threshold=min(thresholds))
            for name, table in (("flares", flares), ("dips", dips)):
                significance = np.asarray(table["significance"])
                counts[name] += [np.count_nonzero(significance >= t) for t in thresholds]
        for name in ("flares", "dips"):
            cells = "".join(f"{c / n_curves:9.2f}" for c in counts[name])
            print(f"  mag {mag} {name:6s}{cells}")
    print(f"  defaults: FLARE_THRESHOLD = {FLARE_THRESHOLD:g}, DIP_THRESHOLD = {DIP_THRESHOLD:g}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 minute")
    parser.add_argument("--n", type=int, default=150, help="injections per kind and magnitude")
    parser.add_argument("--hours", type=float, default=30.0,
                        help="hours of clean data per magnitude for false alarms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("flare", "dip"),
                        help="only this injection-recovery (no periodic dips, no false alarms)")
    args = parser.parse_args(argv)
    n, hours = (15, 10.0) if args.quick else (args.n, args.hours)
    start = time.perf_counter()
    print(f"white noise per frame from {white_noise(12)[1]}: "
          + ", ".join(f"mag {m}: {white_noise(m)[0]:.4f}" for m in MAGNITUDES))
    rng = np.random.default_rng(args.seed)
    for kind in ("flare", "dip"):
        if args.only not in (None, kind):
            continue      # the flares' draws come first: --only flare draws the same flares
        results = [one_trial(kind, mag, rng) for mag in MAGNITUDES for _ in range(n)]
        print_recovery(kind, results)
        extra = sum(r["extra"] for r in results)
        print(f"  other events found in these light curves: {extra}")
    if args.only is None:
        periodic_trials(5 if args.quick else 30, args.seed + 500)
        false_alarms(hours, args.seed + 1000)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
