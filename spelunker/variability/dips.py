"""Dips in a relative light curve: single events by matched box, periodic ones by BLS.

`find_dips` searches the residual of the biweight trend (window three times
the longest duration, `spelunker.variability.detrend`) with the matched-box
engine of `spelunker.variability.search` for boxes of 0.3 s (about 6 frames
at 18.6 Hz: occultations by solar-system bodies) to 3 h (eclipses and
transits).  `periodic_dips` runs astropy's `~astropy.timeseries.BoxLeastSquares`
on the binned residual.
"""

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.timeseries import BoxLeastSquares

from spelunker._validate import check_cpus, check_positive_float, thread_count
from spelunker.errors import ParameterError
from spelunker.variability.detrend import binned_valid, residual, trend_window
from spelunker.variability.noise import cadence_of, check_series
from spelunker.variability.search import (DIP_THRESHOLD, check_durations, duration_grid,
                                          event_table, frame_of, searches, transient_search,
                                          window_means)

__all__ = ["DIP_THRESHOLD", "PeriodicDips", "find_dips", "periodic_dips"]

log = logging.getLogger(__name__)

# DIP_THRESHOLD (6, from spelunker.variability.search): no false dip in 90 h of white +
# AR(1) red noise (0.05-0.1 %, 10-30 min; 0.2 per 10 h at 5) and 98 % of the dips of
# injected signal-to-noise >= 7 found (benchmarks/variability_recovery.py).

# BLS: bins per shortest duration, and durations searched per factor of 2
_BLS_BINS_PER_DURATION = 4
# default shortest period (s)
_MIN_PERIOD = 3600.0
# BLS trial periods: log-spaced, so that a period half a step off moves the last dip
# of the span by at most this fraction of the shortest duration (astropy's autoperiod
# allows half a duration at a period as long as the span and far less at short
# periods: its grid grows as span**2, this one as span)
_GRID_DRIFT = 0.25
# phase steps per duration of the refining BLS grid
_OVERSAMPLE = 100
# most threads of one BLS search: astropy's BLS releases the GIL and computes every trial
# period on its own, so the periods split between threads give the same numbers
_BLS_THREADS = 2


@dataclass(frozen=True)
class PeriodicDips:
    """Best periodic box dip of a light curve (see `periodic_dips`).

    Attributes
    ----------
    period, period_error : float
        Period (s) and its 1-sigma error (the range where the BLS log-likelihood
        is within 0.5 of its peak).
    duration : float
        Dip duration (s).
    depth, depth_error : float
        Relative depth (positive for a dip) and its error (red noise included).
    mid_time : float
        Mid time (s, same zero as the times) of the first dip in the data.
    snr : float
        Significance of the mean depth of the dips other than the deepest
        one (so that a single event cannot make a period): compare with a
        threshold (7 is usual).
    n_dips : int
        Number of dips covered by valid data.
    """

    period: float
    period_error: float
    duration: float
    depth: float
    depth_error: float
    mid_time: float
    snr: float
    n_dips: int


def find_dips(times, flux, *, mask=None, threshold=DIP_THRESHOLD, min_duration=0.3,
              max_duration=10800.0):
    """Single dips (eclipses, transits, occultations) in a relative light curve.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Relative flux (median ~1); NaN frames ignored.
    mask : array_like of bool, optional
        True for frames not used (flagged, inside technical events).
    threshold : float, optional
        Minimum significance (sigma of the box mean, red noise included).
    min_duration, max_duration : float, optional
        Shortest and longest box durations searched (s).

    Returns
    -------
    astropy.table.QTable
        One row per dip, in time order: ``frame_start, frame_mid, frame_stop``
        (int64 positions in the arrays), ``start, mid, stop`` (s),
        ``duration`` (s), ``depth`` (relative, positive), ``depth_error``,
        ``significance``.  Zero rows (same columns) when nothing is found, also
        for a series of fewer than 2 valid frames (e.g. an empty array: a
        visit group too short to search is not an error).

    Raises
    ------
    spelunker.errors.ParameterError
        Bad arguments.

    Notes
    -----
    The box mean at each duration (geometric grid, ratio 1.4) is compared with
    its own noise measured on the series at that duration, so red noise
    raises the bar where it matters.  The best box of a dip is refined on the
    frames; its mean is the depth (the mean depth for a dip that is not flat)
    and ``depth_error`` the noise of a box mean of that duration.  Overlapping
    detections at several durations are one dip (the most significant); two
    dips closer than the longer one's duration may be reported as one.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability import find_dips
    >>> rng = np.random.default_rng(2)
    >>> times = np.arange(40_000) * 0.0538
    >>> flux = 1 + rng.normal(0, 0.004, times.size)
    >>> flux[(times >= 1200) & (times < 1260)] *= 0.995   # 60 s, 0.5 % deep
    >>> dips = find_dips(times, flux, max_duration=600)
    >>> len(dips), round(dips["mid"][0].value), bool(abs(dips["duration"][0].value - 60) < 3)
    (1, 1230, True)
    >>> bool(abs(dips["depth"][0] - 0.005) < 3 * dips["depth_error"][0])
    True
    """
    where = "find_dips"
    times, flux, valid = check_series(times, flux, mask, where=where, short_ok=True)
    low, high = check_durations(min_duration, max_duration, where)
    threshold = check_positive_float(threshold, "threshold", where=where)
    cadence = cadence_of(times) if times.size >= 2 else 0.0
    resid, found = transient_search(times, flux, valid, cadence,
                                    searches(dips=(low, high, threshold)))[-1]
    return dip_table(times, resid, valid, cadence, found)


def dip_table(times, resid, valid, cadence, found):
    """The dips table of `find_dips` from the checked series and the negative search.

    ``resid`` is the detrended residual (0 where not ``valid``), ``found`` the
    `~spelunker.variability.search.BoxSearchResult` of the dip search on it.
    """
    sums = _ShapeSums(times, resid, valid)   # a window's sums, made when a fit needs them
    fits = []
    for k in range(found.start.size):
        fits.append((*_trapezoid_fit(sums, found.start[k], found.stop[k], cadence),
                     found.significance[k]))
    fits = _merge_touching(sums, fits, cadence)
    start, stop, depth, weight, significance = (np.array([f[i] for f in fits], dtype=float)
                                                for i in range(5))
    mid = (start + stop) / 2
    depth_error = np.asarray(found.noise_at(weight * cadence), dtype=float).reshape(-1)
    return event_table([
        ("frame_start", frame_of(times, start), None, np.int64),
        ("frame_mid", frame_of(times, mid), None, np.int64),
        ("frame_stop", frame_of(times, stop) - (stop <= times[-1] if times.size else 0), None,
         np.int64),
        ("start", start, u.s, float),
        ("mid", mid, u.s, float),
        ("stop", stop, u.s, float),
        ("duration", stop - start, u.s, float),
        ("depth", depth, None, float),
        ("depth_error", depth_error, None, float),
        ("significance", significance, None, float),
    ])


class _ShapeSums:
    """Cumulative sums of the valid frames' residual and time powers, for trapezoid fits.

    Kept for one window of frames at a time (`window`): the fits of a dip
    look at a few of its durations around it, not at the whole series.
    """

    def __init__(self, times, resid, valid):
        self.all = (times, resid, valid)
        self.window(0, 0)

    def window(self, low, high):
        """Make the sums of the frames with times in ``[low, high)``."""
        times, resid, valid = self.all
        i, j = np.searchsorted(times, [low, high])
        self.times = times[i:j]
        self.zero = float(self.times[0]) if self.times.size else 0.0
        t = self.times - self.zero
        w = valid[i:j].astype(float)
        r = np.where(valid[i:j], resid[i:j], 0.0)
        self.c = {key: np.concatenate(([0.0], np.cumsum(v))) for key, v in
                  (("n", w), ("t", w * t), ("tt", w * t * t), ("r", r), ("rt", r * t))}

    def between(self, low, high):
        """Sums over the frames with times in ``[low, high)`` (arrays broadcast)."""
        i = np.searchsorted(self.times, low)
        j = np.searchsorted(self.times, high)
        return {key: c[j] - c[i] for key, c in self.c.items()}


def _ramp(sums, a, b, up):
    """``sum(r * s)`` and ``sum(s * s)`` of the linear ramp ``s`` from 0 to 1 on ``[a, b)``."""
    part = sums.between(a, b)
    a, b = a - sums.zero, b - sums.zero
    width = np.maximum(b - a, 1e-12)
    if up:   # s = (t - a) / width
        rs = (part["rt"] - a * part["r"]) / width
        ss = (part["tt"] - 2 * a * part["t"] + a * a * part["n"]) / width ** 2
    else:    # s = (b - t) / width
        rs = (b * part["r"] - part["rt"]) / width
        ss = (part["tt"] - 2 * b * part["t"] + b * b * part["n"]) / width ** 2
    return rs, ss


def _trapezoid_sums(sums, centre, duration, fraction):
    """``sum(r * s)`` and ``sum(s * s)`` of symmetric trapezoids (broadcast arguments)."""
    first, last = centre - duration / 2, centre + duration / 2
    ramp = fraction * duration
    flat = sums.between(first + ramp, last - ramp)
    up_rs, up_ss = _ramp(sums, first, first + ramp, True)
    down_rs, down_ss = _ramp(sums, last - ramp, last, False)
    return flat["r"] + up_rs + down_rs, flat["n"] + up_ss + down_ss


def _trapezoid_fit(sums, start, stop, cadence):
    """First and last contact, flat depth and ``sum(s**2)`` of the best symmetric trapezoid.

    Least squares (free depth) over centres within a quarter of the box, total
    durations 0.8-2.5 boxes and ingress fractions 0-0.5 (the box is one of
    them), then on a grid five times finer around the best.
    """
    box = stop - start
    centre, duration = (start + stop) / 2, box
    sums.window(centre - 2 * box - cadence, centre + 2 * box + cadence)   # reach: 1.5 boxes
    fractions = np.linspace(0.0, 0.5, 11)
    steps = (max(cadence, box / 80), 1.03)
    reach = (0.25 * box, np.log(2.5) / np.log(1.03))
    best = (-np.inf, centre, duration, 0.0, 0.0, 1.0)
    for level in range(2):
        shift, ratio = steps[0] / 5 ** level, steps[1] ** (1 / 5 ** level)
        span = reach[0] / 4 ** level
        centres = centre + np.arange(-span, span + shift / 2, shift)
        low = -np.log(1.25) / np.log(ratio) if level == 0 else -12
        high = reach[1] if level == 0 else 12
        durations = duration * ratio ** np.arange(np.floor(low), np.ceil(high) + 1)
        durations = durations[durations >= 3 * cadence]
        if durations.size == 0:
            break
        c, d, f = np.meshgrid(centres, durations, fractions, indexing="ij")
        rs, ss = _trapezoid_sums(sums, c, d, f)
        good = (ss > 0) & (rs < 0)       # a dip: the residual is negative
        energy = np.where(good, rs ** 2 / np.where(good, ss, 1.0), -np.inf)
        k = np.unravel_index(int(np.argmax(energy)), energy.shape)
        if energy[k] > best[0]:
            best = (float(energy[k]), float(c[k]), float(d[k]), float(f[k]), float(rs[k]),
                    float(ss[k]))
        centre, duration = best[1], best[2]
    if best[0] == -np.inf:
        return start, stop, 0.0, box / cadence
    _, centre, duration, _, rs, ss = best
    return centre - duration / 2, centre + duration / 2, -rs / ss, ss


def _merge_touching(sums, fits, cadence):
    """One fit per group of dips whose contacts overlap or touch (fragments of one eclipse).

    ``fits`` rows are ``(start, stop, depth, weight, significance)``; a group
    is fitted again from its first to its last contact.
    """
    merged = []
    for fit in sorted(fits, key=lambda row: row[0]):
        if merged and fit[0] <= merged[-1][-1][1] + 2 * cadence:
            merged[-1].append(fit)
        else:
            merged.append([fit])
    rows = []
    for group in merged:
        if len(group) == 1:
            rows.append(group[0])
            continue
        start = min(row[0] for row in group)
        stop = max(row[1] for row in group)
        rows.append((*_trapezoid_fit(sums, start, stop, cadence),
                     max(row[4] for row in group)))
    return rows


def _refine_period(bls, period, duration, span, threads):
    """Best ``(period, duration)`` on a fine local grid and the period's 1-sigma error.

    The error is the half width of the period range where the BLS
    log-likelihood (best duration at each period) is within 0.5 of its peak.
    """
    width = period * duration / span
    durations = duration * np.linspace(0.8, 1.25, 10)
    for _ in range(6):
        periods = np.linspace(period - 4 * width, period + 4 * width, 161)
        periods = periods[periods > 1.3 * durations[-1]]
        result = _bls_power(bls, periods, durations, _OVERSAMPLE, threads)
        best = int(np.argmax(result.power))
        inside = periods[result.power >= result.power[best] - 0.5]
        if inside.size >= 5 and inside[0] > periods[0] and inside[-1] < periods[-1]:
            return (float(periods[best]), float(result.duration[best]),
                    float((inside[-1] - inside[0]) / 2))
        period = float(periods[best])
        width *= 3 if inside.size >= 5 else 1 / 8
    return float(periods[best]), float(result.duration[best]), float(width)


def period_grid(shortest, longest, min_duration, span):
    """Trial periods (s) of the periodic-dip search, log-spaced from ``shortest`` to ``longest``.

    A trial period ``P`` off the true one by ``dP`` moves the last dip of a
    ``span`` long series by ``span * dP / P``; the relative step
    ``2 * _GRID_DRIFT * min_duration / span`` keeps that within `_GRID_DRIFT`
    (a quarter) of the shortest duration half a step away, at every period.
    The number of periods grows as ``span / min_duration``.

    Examples
    --------
    >>> from spelunker.variability.dips import period_grid
    >>> grid = period_grid(3600.0, 31_250.0, 120.0, 62_500.0)
    >>> len(grid), float(grid[0]), round(float(grid[-1]))
    (2253, 3600.0, 31250)
    """
    step = 2 * _GRID_DRIFT * min_duration / span
    count = int(np.ceil(np.log(longest / shortest) / step)) + 1
    return shortest * np.exp(np.linspace(0.0, np.log(longest / shortest), count))


def periodic_dips(times, flux, *, mask=None, min_period=None, max_period=None,
                  min_duration=120.0, max_duration=3600.0, threads=None):
    """Best periodic box-shaped dip (eclipsing binary, transit) by BoxLeastSquares.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Relative flux; NaN frames ignored.
    mask : array_like of bool, optional
        True for frames not used.
    min_period, max_period : float, optional
        Period range (s); default from 1 h (or 3 x ``min_duration`` if
        longer) to half the time span (at least 2 dips in the data).
    min_duration, max_duration : float, optional
        Dip durations searched (s); durations longer than a third of
        ``min_period`` are left out.  The cost grows as the number of periods
        (`period_grid`) times the bins, ``span**2 / min_duration**2``.
    threads : int or None, optional
        Most threads of each BoxLeastSquares search (at most 2); None: the
        CPUs this process may use.  The result does not depend on it.

    Returns
    -------
    PeriodicDips or None
        None when the visit cannot hold 2 dips of the shortest period.  The
        best peak is returned whatever its ``snr``: compare it with a
        threshold (7 is a usual one).  ``snr`` leaves out the deepest dip, so
        one eclipse and noise do not make a period.

    Raises
    ------
    spelunker.errors.ParameterError
        Bad arguments.

    Notes
    -----
    The residual of the biweight trend (window 3 x ``max_duration``) is
    binned to ``min_duration / 4``; each bin's error is the white noise of the
    bins scaled by the red-noise factor at ``min_duration``, so the
    likelihood (and the period and depth errors) count red noise.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability import periodic_dips
    >>> rng = np.random.default_rng(4)
    >>> times = np.arange(200_000) * 0.0538          # 3 h
    >>> flux = 1 + rng.normal(0, 0.004, times.size)
    >>> flux[((times - 300.0) % 2000.0) < 100.0] *= 0.99   # 100 s, 1 %, every 2000 s
    >>> found = periodic_dips(times, flux, min_period=600, min_duration=30, max_duration=200)
    >>> round(found.period), round(found.mid_time), found.n_dips
    (2000, 350, 6)
    >>> bool(abs(found.depth - 0.01) < 3 * found.depth_error)
    True
    >>> bool(abs(found.period - 2000) < 3 * found.period_error)
    True
    """
    where = "periodic_dips"
    times, flux, valid = check_series(times, flux, mask, where=where)
    low, high = check_durations(min_duration, max_duration, where)
    threads = check_cpus(threads, name="threads", where=where)
    shortest = max(_MIN_PERIOD, 3 * low) if min_period is None else check_positive_float(
        min_period, "min_period", unit="seconds", where=where)
    if low >= shortest / 3:
        msg = f"{where}: min_duration={low:g} s must be below min_period / 3 = {shortest / 3:g} s"
        raise ParameterError(msg)
    span = float(times[-1] - times[0])
    longest = span / 2 if max_period is None else check_positive_float(
        max_period, "max_period", unit="seconds", where=where)
    if span < 2 * shortest or longest < shortest:
        log.debug("%s: %.0f s cannot hold 2 dips of period %.0f s", where, span, shortest)
        return None
    durations = duration_grid(low, min(high, shortest / 3))
    cadence = cadence_of(times)
    resid, _ = residual(times, flux, valid, trend_window(max(high, shortest)))
    coarse = _binned_bls(times, resid, valid, max(cadence, low / _BLS_BINS_PER_DURATION), low,
                         cadence)
    grid = period_grid(shortest, longest, low, span)
    # phase steps of one coarse bin: finer steps than the data bins add cost, not resolution
    result = _bls_power(coarse, grid, durations, _BLS_BINS_PER_DURATION, threads)
    best = int(np.argmax(result.power))
    duration = float(result.duration[best])
    # refined on bins of 1/50 of the dip: the coarse bins bias the period at high snr
    fine_bin = max(cadence, duration / 50)
    bls = _binned_bls(times, resid, valid, fine_bin, low, cadence)
    period, duration, period_error = _refine_period(bls, float(result.period[best]), duration,
                                                    span, threads)
    fine = bls.power([period], [duration], objective="likelihood", oversample=_OVERSAMPLE)
    stats = bls.compute_stats(period, duration, float(fine.transit_time[0]))
    depth, depth_error = (float(v) for v in stats["depth"])
    mids = np.asarray(stats["transit_times"], dtype=float)
    per_dip = np.asarray(stats["per_transit_count"])
    mids = mids[per_dip >= 0.5 * duration / fine_bin]
    timed = _dip_times(times, resid, valid, mids, duration, cadence)
    if timed is not None:
        period, period_error, mids = _ephemeris(timed, period, period_error, duration, depth,
                                                depth_error, cadence)
    first_mid = float(mids[0]) if mids.size else float(stats["transit_times"][0])
    snr = _snr_without_deepest(times, resid, valid, mids, duration, depth_error)
    log.debug("%s: period %.1f +- %.2f s, depth %.3g, %d dips", where, period, period_error,
              depth, mids.size)
    return PeriodicDips(period=period, period_error=period_error, duration=duration,
                        depth=depth, depth_error=depth_error, mid_time=first_mid,
                        snr=snr,
                        n_dips=int(mids.size))


def _dip_times(times, resid, valid, mids, duration, cadence):
    """Mid time of each dip: the deepest box of ``duration`` within half a duration of ``mids``."""
    if mids.size < 2:
        return None
    mean = window_means(times, resid, valid)
    found = []
    for mid in mids:
        centres = np.arange(mid - duration / 2, mid + duration / 2,
                            max(cadence, duration / 400))
        means = mean(centres - duration / 2, centres + duration / 2)
        if np.any(np.isfinite(means)):
            found.append(float(centres[np.nanargmin(means)]))
    return np.array(found) if len(found) >= 2 else None


def _snr_without_deepest(times, resid, valid, mids, duration, depth_error):
    """Mean depth of the dips other than the deepest, over its error (a period needs 2 dips).

    ``depth_error`` is the error of the mean depth of all ``mids.size`` dips.
    """
    if mids.size < 2 or not depth_error > 0:
        return math.nan
    depths = -window_means(times, resid, valid)(mids - duration / 2, mids + duration / 2)
    depths = np.sort(depths[np.isfinite(depths)])[:-1]
    if depths.size == 0:
        return math.nan
    per_dip = depth_error * math.sqrt(mids.size)
    return float(np.mean(depths) / (per_dip / math.sqrt(depths.size)))


def _ephemeris(timed, period, period_error, duration, depth, depth_error, cadence):
    """Period, its error and mid times from a straight line through the dips' mid times.

    The error is the slope's standard error from the scatter of the mid times
    about the line (3 dips or more), never below that of a per-dip timing
    error ``max(cadence, duration * depth_error / depth) / sqrt(12)`` nor the
    BLS likelihood width ``period_error``.
    """
    epochs = np.round((timed - timed[0]) / period)
    if np.unique(epochs).size < 2:  # pragma: no cover - BLS dips are a period apart
        return period, period_error, timed
    slope, intercept = np.polyfit(epochs, timed, 1)
    spread = np.sum((epochs - epochs.mean()) ** 2)
    floor = max(cadence, duration * depth_error / max(depth, depth_error)) / math.sqrt(12)
    if epochs.size >= 3:
        scatter = math.sqrt(np.sum((timed - (intercept + slope * epochs)) ** 2)
                            / (epochs.size - 2))
        floor = max(floor, scatter)
    error = max(period_error, floor / math.sqrt(spread))
    return float(slope), float(error), intercept + slope * epochs


@dataclass(frozen=True)
class _BlsPower:
    """The columns of astropy's BLS result that the search reads, one value per period."""

    period: np.ndarray
    power: np.ndarray
    duration: np.ndarray


def _bls_power(bls, periods, durations, oversample, threads=None):
    """``bls.power`` (likelihood) at ``periods``, in up to `_BLS_THREADS` threads.

    ``threads`` caps them (None: the CPUs this process may use).

    Each thread takes a run of periods of about equal cost (a period's phase
    bins grow with it); astropy computes each period alone, so the result is
    the one call's, number for number.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.timeseries import BoxLeastSquares
    >>> from spelunker.variability.dips import _bls_power
    >>> t = np.arange(5000.0)
    >>> y = np.where(t % 700 < 30, -1.0, 0.0)
    >>> bls = BoxLeastSquares(t, y, dy=np.ones(t.size))
    >>> periods = np.linspace(600, 800, 41)
    >>> ours = _bls_power(bls, periods, [20, 30, 40], 4)
    >>> theirs = bls.power(periods, [20, 30, 40], objective="likelihood", oversample=4)
    >>> bool(np.array_equal(ours.power, theirs.power)), float(ours.period[np.argmax(ours.power)])
    (True, 700.0)
    """
    periods = np.asarray(periods, dtype=float)
    threads = thread_count(threads, most=min(_BLS_THREADS, periods.size))

    def run(part):
        return bls.power(part, durations, objective="likelihood", oversample=oversample)

    if threads <= 1:
        result = run(periods)
        return _BlsPower(np.asarray(result.period), np.asarray(result.power),
                         np.asarray(result.duration))
    cost = np.cumsum(periods)
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, threads) / threads)
    parts = [part for part in np.split(periods, cuts) if part.size]
    with ThreadPoolExecutor(len(parts)) as pool:
        results = list(pool.map(run, parts))
    return _BlsPower(*(np.concatenate([np.asarray(getattr(result, name)) for result in results])
                       for name in ("period", "power", "duration")))


def _binned_bls(times, resid, valid, bin_size, low, cadence):
    """BoxLeastSquares on the residual binned to ``bin_size``, errors scaled for red noise."""
    bin_times, bin_resid, counts = binned_valid(times, resid, valid, bin_size)
    white = 1.4826 * np.median(np.abs(np.diff(bin_resid))) / math.sqrt(2) * np.sqrt(
        np.median(counts) / counts)
    scale = _red_factor(bin_resid, low / bin_size)
    return BoxLeastSquares(bin_times, bin_resid, dy=white * scale)


def _red_factor(values, n):
    """Ratio of the rms of ``n``-bin means to its white expectation (>= 1)."""
    n = max(1, int(round(n)))
    if values.size < 10 * n:
        return 1.0
    usable = values[: values.size // n * n]
    means = usable.reshape(-1, n).mean(axis=1)
    white = 1.4826 * np.median(np.abs(np.diff(values))) / math.sqrt(2)
    expected = white / math.sqrt(n)
    spread = 1.4826 * np.median(np.abs(means - np.median(means)))
    return max(1.0, float(spread / expected)) if expected > 0 else 1.0
