"""Flares in a relative light curve: matched boxes over durations, then peak, extent and ED.

Detection
    The residual of the biweight trend (window three times the longest
    duration, `spelunker.variability.detrend`) is searched for positive boxes
    of ``min_duration`` (1 s) to ``max_duration`` (1 h) by
    `spelunker.variability.search`, at the native cadence of the frames (no
    binning for boxes under 1 s; 2-frame to 128-frame bins for longer boxes,
    always at least 8 bins per box).  This replaces the usual rule "N >= 3
    consecutive points at >= 3 sigma" (Chang et al. 2015), which at the
    guider's 18.6 Hz cadence looks at 0.16 s only: it misses every flare whose
    frames are individually below 3 sigma (a 1 % flare at magnitude 16 is
    0.8 sigma per frame, yet about 20 sigma over a 2-minute box) and its
    false-alarm rate depends on the red noise, which per-frame sigmas do not
    see.  Binning first (e.g. to 1 min, then N >= 3) fixes one time scale and
    blurs flares shorter than it.  A box of the flare's own duration collects
    its signal (a matched filter); the grid of durations (ratio 1.4) loses at
    most ~5 % of the signal-to-noise; each duration's noise is measured on
    the series, red noise included, so one threshold means the same at every
    duration.  Durations below 1 s are left out by default (flares that short
    are not expected, and every duration adds trials).
Threshold
    `FLARE_THRESHOLD` (6 sigma of the box mean, red noise included): on 90 h
    of white noise (magnitudes 12, 14, 16) with AR(1) red noise of 0.05-0.1 %
    on 10-30 min, one false flare at 6 (0.1 per 10 h; as many at 5), and
    99.7 % of the flares of injected signal-to-noise >= 7 are found
    (``benchmarks/variability_recovery.py``).  6 leaves a margin for noise
    less Gaussian than the simulated one.
Properties
    Start and stop are where the residual smoothed over a quarter of the
    best box returns to the trend (crosses zero) on either side of the
    peak, followed as far as the tail goes.  The flare template
    (`spelunker.variability.template`, Davenport et al. 2014, its rise free
    to be shorter) is fitted by least squares to the residual around the
    flare (free amplitude, peak time, FWHM and rise): the peak time is the
    template's, the amplitude is its amplitude.  Then the template and a
    local straight line are fitted together from 5 FWHM before the peak to
    25 after it (the line held near zero by a prior of the noise of a box
    that long, so in white noise it stays at the trend).  The line takes up
    the red noise the trend leaves around the flare (a biweight of 3 h
    does not follow noise on 10-30 min), which lifted or lowered the
    template and its long tail: with red noise of 0.05-0.1 % the ED of the
    template fit alone scattered 3-4 times more than its own error said.
    The FWHM of that fit is held within the search's best box (about 2
    FWHM for a flare of the template): at signal-to-noise 7-10 the fit
    read a noise bump after the flare as its tail and made the FWHM 2-20
    times too long.  The equivalent duration (s) is measured where the
    fitted template is above 1 % of its peak and above twice the noise of
    a box mean of one FWHM (the data less the line, so a flare of another
    shape, e.g. one exponential, is measured, not the template's tail
    extrapolated; a tail below the noise is not summed with the noise)
    plus the template's area beyond; its error is that of the
    template's area from the fit's covariance (scaled by the reduced
    chi-square and by the red noise left in blocks of 3 FWHM, when above
    1) and the noise of the measured sum, added in quadrature.  Measured
    (``benchmarks/variability_recovery.py --n 100 --only flare``): at
    injected signal-to-noise >= 7 91.5 % of the EDs are within 20 %, at
    >= 20 99 %, at 10-20 85 %, at 7-10 61 %; the Cramer-Rao
    bound of the template fit (free amplitude, peak time, FWHM) is
    ``sigma_ED / ED = 1.31 / SNR`` with that SNR, so no unbiased estimator
    does better than 71 % within 20 % at SNR 7 (89 % over the 7-20
    trials).  The fit without the line (the first one) is
    used when the joint fit fails.  When both fail, the fallback is the
    old measure: the peak is the maximum of the smoothed residual near the
    onset (a least-squares sudden rise with an exponential decay), the
    amplitude the smoothed residual there, the equivalent duration the
    integral of the residual from start to stop, its error the noise of a
    box mean of that length times the length.
    Candidates inside a brighter flare's start-stop are part of it.
"""

import logging
import math

import astropy.units as u
import numpy as np
from scipy.optimize import least_squares

from spelunker._validate import check_positive_float
from spelunker.variability.noise import cadence_of, check_series
from spelunker.variability.template import RISE_AREA, flare_area, flare_template
from spelunker.variability.search import (FLARE_THRESHOLD, check_durations, event_table, searches,
                                          transient_search, window_means)

__all__ = ["FLARE_THRESHOLD", "find_flares"]

log = logging.getLogger(__name__)

# a smoothing width is used for the peak when the flare stands this many sigma in it
_PEAK_SNR = 5.0
# start and stop: the residual smoothed over the box / this returns to the trend
_EXTENT_SMOOTHING = 4.0
# the flare's core, where the fitted template is above this fraction of its peak: the
# template's misfit there adds to the error of the equivalent duration
_CORE_LEVEL = 0.05
# rise fractions of the template tried by the flare fit (the last is the fit's bound)
_RISES = (1.0, 0.5, 0.25, 0.1, 0.03)
# smoothing widths tried for the peak, in seconds (after 3 frames)
_PEAK_WIDTHS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
# the window of the fit with a local baseline, in FWHM before and after the peak
_BEFORE, _AFTER = 5.0, 25.0
# the red noise left around a flare is measured in blocks of this many FWHM
_RED_SCALE = 3.0
# the flare is measured (the data less the line) where the template is above this fraction
# of its peak, and modelled (the template) beyond
_MEASURED_LEVEL = 0.01
# ... or, when higher, where the template is below this many times the noise of a box mean
# of one FWHM (a tail that is not significant is modelled, not summed with the noise)
_TAIL_SIGMA = 2.0
# the FWHM of the fit with a line is at most this many times the search's best box (a
# flare of the template has a best box of about 2 FWHM, 1.1 at least in the benchmark's
# 235 flares; longer fits read a noise bump after a faint flare as its tail)
_FWHM_PER_BOX = 1.0
# a dip beside a flare (this many sigma) ends the window of the fit with a line
_DIP_SIGMA = 4.0


def _crossing(times, window_mean, width, peak, step):
    """First frame from ``peak`` in direction ``step`` (+1/-1) where the mean over ``width`` <= 0.

    Scanned in chunks, so a long tail is followed to its end; the last frame
    of the array when the residual never returns to the trend.
    """
    chunk = max(2000, int(20 * width / (times[1] - times[0] + 1e-12)))
    position = peak
    while 0 <= position < times.size:
        stop = position + step * chunk
        index = np.arange(position, min(max(stop, -1), times.size), step)
        if index.size == 0:
            break
        wide = window_mean(times[index] - width / 2, times[index] + width / 2)
        below = np.flatnonzero(~(wide > 0))       # NaN (no data) also ends a flare
        if below.size:
            return int(index[below[0]])
        position = int(index[-1]) + step
    return -1 if step < 0 else times.size


def _fit_onset(times, values, weights, onsets, taus):
    """Onset and decay time of the best template ``exp(-(t - onset) / tau)`` after the onset."""
    best, best_score = (onsets[0], taus[0]), -np.inf
    for tau in taus:
        lag = times[None, :] - onsets[:, None]
        model = np.where(lag >= 0, np.exp(-np.clip(lag, 0, None) / tau), 0.0)
        projection = model @ (values * weights)
        norm = (model ** 2) @ weights
        score = np.where((projection > 0) & (norm > 0),
                         projection ** 2 / np.maximum(norm, 1e-300), -np.inf)
        k = int(np.argmax(score))
        if score[k] > best_score:
            best, best_score = (float(onsets[k]), float(tau)), float(score[k])
    return best


def _onset(times, resid, valid, t0, t1, cadence):
    """Time of a flare's rise: least-squares fit of a sudden rise with an exponential decay.

    First on bins of 1/40 of the box (onsets from half a box before it to its
    end, decay times 1/4 to 2 boxes), then on the frames within a bin of that
    onset.
    """
    box = t1 - t0
    size = max(cadence, box / 40)
    taus = box * np.array([0.25, 0.5, 1.0, 2.0])
    first, last = np.searchsorted(times, [t0 - box / 2 - size, t1 + 4 * box])
    t, r, v = times[first:last], resid[first:last], valid[first:last]
    index = ((t - t[0]) / size).astype(np.int64)
    counts = np.bincount(index, weights=v)
    sums = np.bincount(index, weights=np.where(v, r, 0.0))
    centres = t[0] + size * (np.arange(counts.size) + 0.5)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    onsets = t[0] + size * np.arange(counts.size)
    onsets = onsets[(onsets >= t0 - box / 2) & (onsets <= t1)]
    if onsets.size == 0:  # pragma: no cover - the box holds bins
        return t0
    onset, tau = _fit_onset(centres, means, counts, onsets, taus)
    low, high = np.searchsorted(times, [onset - size, onset + size])
    stop = np.searchsorted(times, onset + 5 * tau)
    fine = np.arange(low, max(high, low + 1))
    frames = np.arange(low, max(stop, low + 1))
    stride = max(1, fine.size * frames.size // 2_000_000)
    frames = frames[::stride]
    onset, _ = _fit_onset(times[frames], resid[frames], valid[frames].astype(float),
                          times[fine], [tau])
    return onset, tau


def _describe(times, resid, valid, window_mean, cadence, found, k):
    """Peak, amplitude(+error), start, stop, ED(+error) of candidate ``k``."""
    t0, t1, mean = found.start[k], found.stop[k], found.mean[k]
    box = t1 - t0
    widths = [3 * cadence] + [w for w in _PEAK_WIDTHS if w <= box / 2]
    width = widths[-1]
    for trial in widths:
        if 1.5 * mean >= _PEAK_SNR * float(found.noise_at(trial)):
            width = trial
            break
    rise, _ = _onset(times, resid, valid, t0, t1, cadence)
    # the peak: the maximum of the centred running mean within a width of the rise
    near = np.arange(np.searchsorted(times, rise - width), np.searchsorted(times, rise + width))
    smooth = window_mean(times[near] - width / 2, times[near] + width / 2)
    if not np.any(np.isfinite(smooth)):  # pragma: no cover - the rise is a frame with data
        smooth = np.zeros(near.size)
    peak = int(near[np.nanargmax(smooth)])
    amplitude = float(np.nanmax(smooth))
    amplitude_error = float(found.noise_at(width))
    # start and stop: where the residual smoothed over a quarter box returns to the trend
    wide = max(width, box / _EXTENT_SMOOTHING)
    first = min(peak, _crossing(times, window_mean, wide, peak - 1, -1) + 1)
    last = max(peak, _crossing(times, window_mean, wide, peak + 1, 1) - 1)
    fit = _fit_template(times, resid, valid, cadence, found.noise_at, float(times[peak]), box,
                        first, last, window_mean)
    if fit is None:   # the fallback: the integral of the residual from start to stop
        span = float(times[last] - times[first]) + cadence
        used = valid[first:last + 1]
        level = float(np.mean(resid[first:last + 1][used])) if np.any(used) else 0.0
        return (first, peak, last, amplitude, amplitude_error, level * span,
                float(found.noise_at(span)) * span)
    peak_time, _, amplitude, amplitude_error, ed, ed_error = fit
    peak = int(np.clip(np.searchsorted(times, peak_time), 0, times.size - 1))
    if peak > 0 and peak_time - times[peak - 1] < times[peak] - peak_time:
        peak -= 1
    return (min(first, peak), peak, max(last, peak), amplitude, amplitude_error, ed, ed_error)


def _binned_window(times, resid, valid, low, high, size):
    """Mean time, mean residual and count of the valid frames in bins of ``size`` s."""
    i, j = np.searchsorted(times, [low, high])
    t, r, v = times[i:j], resid[i:j], valid[i:j]
    if not np.any(v):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    index = ((t[v] - low) / size).astype(np.int64)
    counts = np.bincount(index)
    keep = counts > 0
    sum_t = np.bincount(index, weights=t[v])[keep]
    sum_r = np.bincount(index, weights=r[v])[keep]
    return sum_t / counts[keep], sum_r / counts[keep], counts[keep].astype(float)


def _fit_template(times, resid, valid, cadence, noise_at, peak, box, first, last,
                  window_mean):
    """Fit of the flare template: ``(peak, fwhm, amplitude, error, ED, error)`` or None.

    The template (`spelunker.variability.template.flare_template`) with free
    amplitude, peak time and FWHM is fitted to the residual binned to 1/8 of
    the shortest FWHM tried (at least a frame), from a box before the flare's
    start to a box after its stop (at least three boxes after the peak): first
    on a grid (FWHM from 1/12 to 2 boxes, peak within half a box of the
    smoothed peak), then by `scipy.optimize.least_squares`.  Each bin's error
    is the noise of a box mean of its length (red noise included) scaled
    for its count; the covariance of the fit (scaled by the reduced
    chi-square when above 1) gives the errors of the amplitude and of the
    equivalent duration ``FLARE_AREA * amplitude * FWHM``.  None when the
    fit fails (no positive amplitude, a FWHM at the grid's edge of the bounds,
    a singular covariance).  Its result starts `_fit_with_baseline`, whose
    equivalent duration and error replace the template's when it succeeds.
    """
    shortest, longest = max(cadence, box / 12), 2.0 * box
    size = max(cadence, shortest / 8)
    low = float(times[first]) - box
    high = max(float(times[last]), peak + 3 * box) + box
    centres, means, counts = _binned_window(times, resid, valid, low, high, size)
    if centres.size < 6:
        return None
    sigma = float(noise_at(size)) * np.sqrt(np.maximum(size / cadence, 1.0) / counts)
    if not np.all(np.isfinite(sigma)) or not np.all(sigma > 0):
        return None
    weight = 1.0 / sigma ** 2
    peaks = peak + np.arange(-box / 2, box / 2 + shortest / 4, shortest / 4)
    best = (-np.inf, 0.0, peak, shortest, 1.0)
    for rise in _RISES:
        for fwhm in np.geomspace(shortest, longest, 25):
            shape = flare_template((centres[None, :] - peaks[:, None]) / fwhm, rise)
            rs = shape @ (weight * means)
            ss = (shape ** 2) @ weight
            energy = np.where((rs > 0) & (ss > 0), rs ** 2 / np.maximum(ss, 1e-300), -np.inf)
            k = int(np.argmax(energy))
            if energy[k] > best[0]:
                best = (float(energy[k]), float(rs[k] / ss[k]), float(peaks[k]), float(fwhm),
                        rise)
    if best[0] == -np.inf:
        return None

    def scaled(params):
        amplitude, peak_time, fwhm, rise = params
        return (amplitude * flare_template((centres - peak_time) / fwhm, rise) - means) / sigma

    bounds = ([0.0, low, size / 2, _RISES[-1]], [np.inf, high, 2 * longest, 1.0])
    start = np.clip(best[1:], np.array(bounds[0]) * (1 + 1e-9) + 1e-12, bounds[1])
    try:
        result = least_squares(scaled, start, bounds=bounds,
                               x_scale=[best[1], best[3], best[3], 0.1])
        covariance = np.linalg.inv(result.jac.T @ result.jac)
    except (ValueError, np.linalg.LinAlgError):
        return None
    amplitude, peak_time, fwhm, rise = (float(v) for v in result.x)
    dof = max(1, centres.size - 4)
    # correlated (red) noise: the bins' errors hold at the bin size, the flare's at its FWHM
    red = float(noise_at(fwhm)) / (float(noise_at(size)) * math.sqrt(size / fwhm))
    covariance *= max(1.0, float(np.sum(result.fun ** 2)) / dof, red ** 2 if red > 0 else 1.0)
    if not (amplitude > 0 and np.all(np.isfinite(covariance))
            and fwhm < 0.99 * bounds[1][2] and fwhm > 1.01 * bounds[0][2]):
        return None
    cap = min(longest, _FWHM_PER_BOX * box)
    local = _fit_with_baseline(times, resid, valid, cadence, noise_at,
                               (amplitude, peak_time, min(fwhm, cap), rise), (shortest, cap),
                               _clear_window(window_mean, noise_at, peak_time, min(fwhm, cap)))
    if local is not None:   # its ED; the peak and amplitude of the template's fit alone
        return (peak_time, fwhm, amplitude, float(np.sqrt(max(covariance[0, 0], 0.0))),
                local[4], local[5])
    area = flare_area(rise)
    gradient = np.array([fwhm * area, 0.0, amplitude * area, amplitude * fwhm * RISE_AREA])
    # what the template leaves of the flare (a flare of another shape) counts as an error
    model = amplitude * flare_template((centres - peak_time) / fwhm, rise)
    core = model > _CORE_LEVEL * amplitude
    mismatch = float(np.sum((means - model)[core] * counts[core])) * cadence
    ed_error = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0) + mismatch ** 2))
    return (peak_time, fwhm, amplitude, float(np.sqrt(max(covariance[0, 0], 0.0))),
            area * amplitude * fwhm, ed_error)


def _red_factor(residual, counts, size, scale):
    """Scatter of ``residual`` (bins of ``size`` s) in blocks of ``scale`` s over white noise.

    The weighted means of consecutive blocks of the normalised residual
    (residual / its bin's error) against the 1 their count expects: at
    least 1; 1 with fewer than 4 blocks.
    """
    per = max(1, int(round(scale / size)))
    n_blocks = residual.size // per
    if n_blocks < 4:
        return 1.0
    blocks = residual[:n_blocks * per].reshape(n_blocks, per)
    weight = np.sqrt(counts[:n_blocks * per].reshape(n_blocks, per))
    means = np.sum(blocks * weight, axis=1) / np.sqrt(np.sum(weight ** 2, axis=1))
    return max(1.0, float(np.sqrt(np.mean(means ** 2))))


def _clear_window(window_mean, noise_at, peak, fwhm):
    """The window of `_fit_with_baseline`: `_BEFORE` FWHM before ``peak`` to `_AFTER` after.

    Shortened to end 2 FWHM short of a dip beside the flare (the residual's
    mean over 2 FWHM below `_DIP_SIGMA` times its noise, 1 FWHM before the
    peak or 3 after it), which the straight line cannot follow (the sample
    visit's transit 75 s after its 5-s flare).
    """
    width = 2.0 * fwhm
    limit = -_DIP_SIGMA * float(noise_at(width))
    after = peak + fwhm * np.arange(3.0, _AFTER + 0.25, 0.5)
    before = peak - fwhm * np.arange(1.0, _BEFORE + 0.25, 0.5)
    low, high = peak - _BEFORE * fwhm, peak + _AFTER * fwhm
    dips = np.flatnonzero(window_mean(after - width / 2, after + width / 2) < limit)
    if dips.size:
        high = float(after[dips[0]]) - width
    dips = np.flatnonzero(window_mean(before - width / 2, before + width / 2) < limit)
    if dips.size:
        low = float(before[dips[0]]) + width
    return low, high


def _fit_with_baseline(times, resid, valid, cadence, noise_at, start, widths, limits):
    """Template plus a local straight line fitted around a flare: the `_fit_template` tuple.

    ``start`` is ``(amplitude, peak, fwhm, rise)`` of the fit without a
    line, ``widths`` the bounds of the FWHM (a fit at the upper one, the
    cap of `_FWHM_PER_BOX` boxes, is kept), ``limits`` the window of
    `_clear_window` (from `_BEFORE` FWHM before the peak to `_AFTER` after
    it, short of a neighbouring dip), binned to a sixteenth of the
    FWHM (at least a frame), each bin weighted by the white noise of its
    frames; the line's offset and slope have a prior of the noise of a box
    of the window's length (red noise included).  The line takes up what
    the trend left of slow (red) noise around the flare.  The ED is the
    data less the line where the template is above `_MEASURED_LEVEL` of its
    peak and above `_TAIL_SIGMA` times the noise of a box mean of one FWHM,
    plus the template beyond; its error the template area's (the
    covariance scaled by the reduced chi-square and by the red noise left
    in blocks of `_RED_SCALE` FWHM, when above 1) and the noise of the
    measured sum, in quadrature.  None when the fit fails.
    """
    amplitude, peak, fwhm, rise = start
    low, high = limits
    size = max(cadence, fwhm / 16)
    centres, means, counts = _binned_window(times, resid, valid, low, high, size)
    if centres.size < 12:
        return None
    sigma = float(noise_at(cadence)) / np.sqrt(counts)
    if not np.all(np.isfinite(sigma)) or not np.all(sigma > 0) or not noise_at(high - low) > 0:
        return None
    x = (centres - peak) / (high - low)

    # the line's prior: the residual's mean over the window has the noise of a box that long
    prior = float(noise_at(high - low))

    def scaled(params):
        a, t0, w, r, c0, c1 = params
        return np.concatenate([
            (a * flare_template((centres - t0) / w, r) + c0 + c1 * x - means) / sigma,
            [c0 / prior, c1 / prior]])

    bounds = ([0.0, low, max(size / 2, widths[0]), _RISES[-1], -np.inf, -np.inf],
              [np.inf, high, widths[1], 1.0, np.inf, np.inf])
    first = np.array([amplitude, peak, fwhm, rise, 0.0, 0.0])
    first[:4] = np.clip(first[:4], np.array(bounds[0][:4]) * (1 + 1e-9) + 1e-12, bounds[1][:4])
    try:
        result = least_squares(scaled, first, bounds=bounds,
                               x_scale=[amplitude, fwhm, fwhm, 0.1, amplitude, amplitude])
        covariance = np.linalg.inv(result.jac.T @ result.jac)
    except (ValueError, np.linalg.LinAlgError):
        return None
    amplitude, peak_time, fwhm, rise = (float(v) for v in result.x[:4])
    dof = max(1, centres.size - 4)
    fun = result.fun[:-2]
    red = _red_factor(fun, counts, size, max(_RED_SCALE * fwhm, size))
    covariance *= max(1.0, float(np.sum(fun ** 2)) / dof, red ** 2)
    if not (amplitude > 0 and np.all(np.isfinite(covariance))
            and fwhm > 1.01 * bounds[0][2]):      # the FWHM may reach its cap
        return None
    area = flare_area(rise)
    gradient = np.array([fwhm * area, 0.0, amplitude * area, amplitude * fwhm * RISE_AREA,
                         0.0, 0.0])
    # the flare's core is measured, not modelled: what the template leaves there (a flare
    # of another shape) is added, with the noise of that sum
    shape = amplitude * flare_template((centres - peak_time) / fwhm, rise)
    level = max(_MEASURED_LEVEL, _TAIL_SIGMA * float(noise_at(fwhm)) / amplitude)
    core = shape > level * amplitude
    left = float(np.sum((fun * sigma * counts)[core])) * cadence
    log.debug("flare fit: template ED %.4g, measured less template %.4g, line %.3g %.3g",
              area * amplitude * fwhm, -left, *result.x[4:])
    core_error = float(noise_at(cadence)) * math.sqrt(float(np.sum(counts[core]))) * cadence * red
    ed_error = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0) + core_error ** 2))
    return (peak_time, fwhm, amplitude, float(np.sqrt(max(covariance[0, 0], 0.0))),
            area * amplitude * fwhm - left, ed_error)


def find_flares(times, flux, *, mask=None, threshold=FLARE_THRESHOLD, min_duration=1.0,
                max_duration=3600.0):
    """Flares in a relative light curve, with peak, amplitude and equivalent duration.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Relative flux (median ~1); NaN frames ignored.
    mask : array_like of bool, optional
        True for frames not used (flagged, inside technical events).
    threshold : float, optional
        Minimum significance of the best box (sigma, red noise included).
    min_duration, max_duration : float, optional
        Shortest and longest boxes searched (s); the trend window is three
        times ``max_duration``.  The default 1 h (a 3 h window) keeps the
        tail of a flare of 5 min FWHM (about 40 min long) out of the trend:
        with 30 min its equivalent duration came out 20 % low, with 1 h 11 %.

    Returns
    -------
    astropy.table.QTable
        One row per flare, in time order: ``frame_start, frame_peak,
        frame_stop`` (int64 positions in the arrays), ``start, peak, stop``
        (s), ``duration`` (s), ``amplitude`` (relative flux above the trend at
        the peak), ``amplitude_error``, ``equivalent_duration`` (s),
        ``equivalent_duration_error`` (s), ``significance``.  Zero rows (same
        columns) when nothing is found, also
        for a series of fewer than 2 valid frames (e.g. an empty array: a
        visit group too short to search is not an error).

    Raises
    ------
    spelunker.errors.ParameterError
        Bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import datasets
    >>> from spelunker.variability import find_flares
    >>> rng = np.random.default_rng(5)
    >>> times = np.arange(60_000) * 0.0538
    >>> flux = 1 + rng.normal(0, 0.004, times.size)
    >>> flare = datasets.Flare(peak_time=1500.0, fwhm=20.0, amplitude=0.02)
    >>> flux *= flare.flux_factor(times)
    >>> round(flare.truth()["equivalent_duration"], 3)
    0.731
    >>> flares = find_flares(times, flux, max_duration=600)
    >>> len(flares), round(flares["peak"][0].value)
    (1, 1500)
    >>> ed, error = flares["equivalent_duration"][0].value, flares["equivalent_duration_error"][0]
    >>> bool(abs(ed - 0.731) < 3 * error.value), bool(error.value < 0.05)
    (True, True)
    """
    where = "find_flares"
    times, flux, valid = check_series(times, flux, mask, where=where, short_ok=True)
    low, high = check_durations(min_duration, max_duration, where)
    threshold = check_positive_float(threshold, "threshold", where=where)
    cadence = cadence_of(times) if times.size >= 2 else 0.0
    resid, found = transient_search(times, flux, valid, cadence,
                                    searches(flares=(low, high, threshold)))[1]
    return flare_table(times, resid, valid, cadence, found)


def flare_table(times, resid, valid, cadence, found):
    """The flares table of `find_flares` from the checked series and the positive search.

    ``resid`` is the detrended residual (0 where not ``valid``), ``found`` the
    `~spelunker.variability.search.BoxSearchResult` of the flare search on it.
    """
    window_mean = window_means(times, resid, valid)
    rows, kept = [], []
    for k in np.argsort(-found.significance, kind="stable"):
        inside = [row for row in rows
                  if times[row[0]] <= found.stop[k] and found.start[k] <= times[row[2]]]
        if inside:       # part of a brighter flare's rise or tail
            continue
        rows.append(_describe(times, resid, valid, window_mean, cadence, found, k))
        kept.append(k)
    order = np.argsort([row[1] for row in rows], kind="stable")
    rows = [rows[i] for i in order]
    significance = found.significance[np.array(kept, dtype=np.int64)[order]]
    columns = np.array(rows, dtype=float).reshape(-1, 7)
    first, peak, last = (columns[:, i].astype(np.int64) for i in range(3))
    stop = times[last] + cadence
    log.debug("find_flares: %d flares", len(rows))
    return event_table([
        ("frame_start", first, None, np.int64),
        ("frame_peak", peak, None, np.int64),
        ("frame_stop", last, None, np.int64),
        ("start", times[first], u.s, float),
        ("peak", times[peak], u.s, float),
        ("stop", stop, u.s, float),
        ("duration", stop - times[first], u.s, float),
        ("amplitude", columns[:, 3], None, float),
        ("amplitude_error", columns[:, 4], None, float),
        ("equivalent_duration", columns[:, 5], u.s, float),
        ("equivalent_duration_error", columns[:, 6], u.s, float),
        ("significance", significance, None, float),
    ])

