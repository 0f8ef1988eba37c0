"""Detrending that keeps short events: a sliding robust biweight on a binned series.

The trend of a light curve is the time-windowed biweight location (Tukey's
biweight with tuning constant 5, the sliding robust detrender of Hippke et
al. 2019, AJ 158, 143) of the series binned to about 1/100 of the window
(never finer than one frame), interpolated back to every frame.  The
biweight ignores outliers, so an event shorter than about a third of the
window stays in the residual ``flux / trend - 1``: `trend_window` makes the
window three times the longest duration searched.

The biweight is `sliding_biweight`, a numba kernel (compiled on first use,
then cached on disk; see `spelunker._jit`).  A window never holds more than
about 100 bins, so the trend of a million frames takes milliseconds.
"""

import logging

import numpy as np

from spelunker._jit import njit
from spelunker._validate import check_positive_float
from spelunker.errors import ParameterError
from spelunker.variability.noise import cadence_of, check_series, stretch_bounds

__all__ = ["BIWEIGHT_C", "BIWEIGHT_TOLERANCE", "TREND_GAP", "TREND_WINDOW_FACTOR", "detrend",
           "sliding_biweight", "trend_window"]

log = logging.getLogger(__name__)

#: Window of the biweight trend, in units of the longest event duration searched.
TREND_WINDOW_FACTOR = 3.0

#: A gap (s) longer than this (or than half the window) ends a stretch detrended on its
#: own: a trend bridging a gap cannot follow a flux step across it, and the two levels
#: around it would pass for red noise or, once the events found are left out of the
#: noise estimate, for a long flare or dip.
TREND_GAP = 60.0

#: Tuning constant of the biweight, in units of the window's median absolute deviation.
BIWEIGHT_C = 5.0

#: The biweight iteration stops when a step moves the location by less than
#: this fraction of the window's median absolute deviation.
BIWEIGHT_TOLERANCE = 1e-6

# bins per window of the binned series given to the biweight
_BINS_PER_WINDOW = 100

# most iterations of one window's biweight (it converges in about ten)
_MAX_ITERATIONS = 1000


def trend_window(longest_duration):
    """Window (s) of the trend for a search whose longest event lasts ``longest_duration`` s.

    Examples
    --------
    >>> from spelunker.variability import trend_window
    >>> trend_window(1800.0)
    5400.0
    """
    longest = check_positive_float(longest_duration, "longest_duration", unit="seconds",
                                   where="trend_window")
    return TREND_WINDOW_FACTOR * longest


def binned_valid(times, flux, valid, bin_size):
    """Mean time and mean flux of the valid frames in each non-empty time bin."""
    index = np.floor((times - times[0]) / bin_size).astype(np.int64)
    index = index[valid]
    length = int(index[-1]) + 1
    counts = np.bincount(index, minlength=length)
    sum_t = np.bincount(index, weights=times[valid], minlength=length)
    sum_f = np.bincount(index, weights=flux[valid], minlength=length)
    filled = counts > 0
    return sum_t[filled] / counts[filled], sum_f[filled] / counts[filled], counts[filled]


def detrend(times, flux, *, window, mask=None):
    """The slow trend of a relative light curve, one value per frame.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Relative flux; NaN frames are ignored.
    window : float
        Biweight window (s), e.g. ``trend_window(longest_duration)``.
    mask : array_like of bool, optional
        True for frames not used for the trend (they still get a trend value).

    Returns
    -------
    numpy.ndarray
        The trend (relative flux) at every frame; the residual of an event is
        ``flux / trend - 1``.

    Raises
    ------
    spelunker.errors.ParameterError
        Bad arguments.

    Notes
    -----
    The series is binned to ``max(cadence, window / 100)`` (mean of the valid
    frames of each bin); `sliding_biweight` runs on the bins, each stretch
    separated by a gap longer than half the window or `TREND_GAP` on its own;
    the trend is interpolated linearly back to the frame times.  A series
    of fewer than 3 bins gets its median as trend.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability import detrend
    >>> times = np.arange(100_000) * 0.0538
    >>> flux = 1 + 0.01 * times / times[-1]
    >>> flux[50_000:50_100] += 0.05  # a 5 s flare stays out of the trend
    >>> trend = detrend(times, flux, window=600.0)
    >>> error = np.abs(trend - (1 + 0.01 * times / times[-1]))
    >>> bool(error[50_000] < 1e-5)
    True
    >>> round(float(error.max()), 5)  # at the ends: slope x window / 4 (a one-sided window)
    0.00028
    """
    where = "detrend"
    times, flux, valid = check_series(times, flux, mask, where=where)
    window = check_positive_float(window, "window", unit="seconds", where=where)
    cadence = cadence_of(times)
    bin_size = max(cadence, window / _BINS_PER_WINDOW)
    # each stretch on its own: shifted apart by a window, so no bin and no biweight
    # window spans a gap longer than TREND_GAP
    starts, stops = stretch_bounds(times, cadence, gap=min(window / 2, TREND_GAP))
    stretch = np.repeat(np.arange(starts.size), stops - starts)
    shifted = times + (window + bin_size) * stretch if starts.size > 1 else times
    bin_times, bin_flux, _ = binned_valid(shifted, flux, valid, bin_size)
    if bin_times.size < 3:
        return np.full(times.shape, float(np.median(flux[valid])))
    # stretches are a window apart: no biweight window holds bins of two of them
    trend = sliding_biweight(bin_times, bin_flux, window=window)
    log.debug("%s: %d bins of %.3g s, window %.4g s, %d stretch(es)", where, bin_times.size,
              bin_size, window, starts.size)
    if starts.size == 1:
        return np.interp(times, bin_times, trend)
    out = np.empty(times.shape)
    edges = np.searchsorted(bin_times, shifted[starts])
    edges = np.append(edges, bin_times.size)
    for k, (first, last) in enumerate(zip(starts, stops, strict=True)):
        low, high = edges[k], edges[k + 1]
        if high > low:     # the stretch's own bins
            out[first:last] = np.interp(shifted[first:last], bin_times[low:high],
                                        trend[low:high])
        else:              # no valid frame in it: the nearest bins'
            out[first:last] = np.interp(shifted[first:last], bin_times, trend)
    return out


def sliding_biweight(times, values, *, window):
    """Biweight location of ``values`` in a window of ``window`` s around each time.

    Parameters
    ----------
    times : array_like
        Increasing times (s), finite.
    values : array_like
        Finite values, one per time.
    window : float
        Full width (s) of the window: point ``i`` uses the points with
        ``times[i] - window / 2 <= t < times[i] + window / 2``.

    Returns
    -------
    numpy.ndarray
        The location at each time (float64).

    Notes
    -----
    Each window's location starts at its median ``M`` with the median
    absolute deviation ``MAD``; it is then iterated as the weighted mean
    ``c <- c + sum(w d) / sum(w)`` with ``d = x - c``, ``u = d / (C MAD)``,
    ``w = (1 - u^2)^2`` for ``|u| < 1`` and 0 beyond (`BIWEIGHT_C` ``= 5``),
    until a step moves it by at most `BIWEIGHT_TOLERANCE` ``x MAD``.  A window
    whose MAD is 0 keeps its median.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability.detrend import sliding_biweight
    >>> times = np.arange(11.0)
    >>> values = np.ones(11)
    >>> values[5] = 100.0   # an outlier leaves the location alone
    >>> sliding_biweight(times, values, window=5.0)[3:8].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    where = "sliding_biweight"
    times, values, finite = check_series(times, values, None, where=where, short_ok=True)
    if not np.all(finite):
        msg = f"{where}: values must be finite (bin or mask the series first, as detrend does)"
        raise ParameterError(msg)
    window = check_positive_float(window, "window", unit="seconds", where=where)
    times = np.ascontiguousarray(times, dtype=np.float64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    return _sliding_biweight(times, values, window / 2.0, BIWEIGHT_C,
                             BIWEIGHT_TOLERANCE, _MAX_ITERATIONS)


@njit(cache=True, nogil=True)
def _sliding_biweight(times, values, half, tuning, tolerance, max_iterations):
    n = times.size
    out = np.empty(n)
    buffer = np.empty(n)
    first = 0
    stop = 0
    for i in range(n):
        while first < n and times[first] < times[i] - half:
            first += 1
        while stop < n and times[stop] < times[i] + half:
            stop += 1
        count = stop - first
        window = values[first:stop]
        median = np.median(window)
        for j in range(count):
            buffer[j] = abs(window[j] - median)
        mad = np.median(buffer[:count])
        center = median
        if mad > 0:
            scale = 1.0 / (tuning * mad)
            for _ in range(max_iterations):
                sum_wd = 0.0
                sum_w = 0.0
                for j in range(count):
                    d = window[j] - center
                    u = d * scale
                    if abs(u) < 1.0:
                        w = (1.0 - u * u) ** 2
                        sum_wd += w * d
                        sum_w += w
                step = sum_wd / sum_w if sum_w > 0 else 0.0
                center += step
                if abs(step) <= tolerance * mad:
                    break
        out[i] = center
    return out


def residual(times, flux, valid, window, *, exclude=None):
    """``flux / trend - 1`` (0 where not valid) with the trend of `detrend`.

    ``exclude`` (bool, optional): frames left out of the trend as well (found
    flares and dips), unless that leaves fewer than 2 valid frames.
    """
    used = valid if exclude is None else valid & ~exclude
    if np.count_nonzero(used) < 2:
        used = valid
    trend = detrend(times, flux, window=window, mask=~used)
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = flux / trend - 1.0
    return np.where(valid & np.isfinite(resid), resid, 0.0), trend

