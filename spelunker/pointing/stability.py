"""Pointing-stability metrics of a V2/V3 offset series (mas), on plain arrays.

The definitions (``docs/pointing.rst`` gives their sources and measured
accuracy):

- **NEA** (noise equivalent angle, per axis): the median of the per-frame
  1-sigma centroid errors of the fit, carried to V2/V3 (mas).  Cross-check:
  the point-to-point scatter ``p2p`` = 1.4826 median(abs(diff(offset))) / sqrt(2),
  which equals the NEA for white noise (it also holds jitter faster than
  a frame).
- **stability** (JWST's metric, "JWST Fine Guide Stability"): the offsets
  averaged in consecutive `STABILITY_INTERVAL` (15 s) intervals, and the
  rms of those averages about their mean over the observation; over a
  series longer than `STABILITY_WINDOW` (10,000 s), about the mean of each
  consecutive window of as many whole intervals as fit in 10,000 s
  (666 x 15 s = 9,990 s; the rms over all intervals).  Intervals
  holding fewer than 90 % of the median number of frames per interval (at
  gaps, masked events and ends) are left out.  ``stability_mas`` is the radial value
  ``hypot(stability_v2_mas, stability_v3_mas)``.  White noise of rms
  sigma averages down to sigma / sqrt(N) (N frames per interval); a
  sinusoid of semi-amplitude A and frequency f to A abs(sinc(f T)) / sqrt(2)
  (``sinc(u) = sin(pi u) / (pi u)``, T = 15 s), so stability**2 is about
  (1 - 1/M) (A**2 sinc(f T)**2 / 2 + sigma**2 / N) for M intervals.
- **rms**: the standard deviation of the offsets about their mean.
- **drift**: the least-squares slope of the offsets against time (mas/h).

Examples
--------
>>> import numpy as np
>>> from spelunker.pointing import stability_metrics
>>> t = np.arange(0.0, 600.0, 0.0625)
>>> metrics = stability_metrics(t, np.sin(2 * np.pi * t / 300.0), 0.0 * t)
>>> round(metrics["stability_v2_mas"], 2), round(metrics["rms_v2_mas"], 2)
(0.7, 0.71)
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import Table

from spelunker._validate import check_finite_float, check_positive_float, check_positive_int
from spelunker.errors import ParameterError

__all__ = [
    "AVERAGE_INTERVAL",
    "FULL_INTERVAL",
    "METRIC_COLUMNS",
    "STABILITY_INTERVAL",
    "STABILITY_WINDOW",
    "excursion_histogram",
    "expected_stability",
    "interval_averages",
    "stability_metrics",
]

log = logging.getLogger(__name__)

#: Averaging interval (s) of JWST's pointing-stability metric.
STABILITY_INTERVAL = 15.0

#: Window (s) about whose mean the 15 s averages are compared.
STABILITY_WINDOW = 10000.0

#: Interval (s) of the per-exposure averages (HST's jitter files use 3 s).
AVERAGE_INTERVAL = 3.0

#: A stability interval counts when it holds at least this fraction of the
#: median number of frames per interval (a partial interval averages a
#: sinusoid down less, so it would bias the metric up).
FULL_INTERVAL = 0.9

#: The metrics `stability_metrics` returns: (name, unit, description).
METRIC_COLUMNS = (
    ("n_frames", "", "frames used (finite offsets, good fits, outside masked events)"),
    ("duration", "s", "time from the first to the last frame used"),
    ("nea_v2_mas", "mas", "noise equivalent angle in V2: median 1-sigma fit error per frame"),
    ("nea_v3_mas", "mas", "noise equivalent angle in V3: median 1-sigma fit error per frame"),
    ("p2p_v2_mas", "mas", "point-to-point scatter in V2: 1.4826 median |difference| / sqrt(2)"),
    ("p2p_v3_mas", "mas", "point-to-point scatter in V3: 1.4826 median |difference| / sqrt(2)"),
    ("stability_v2_mas", "mas", "rms of 15 s averages of V2 about the mean (10,000 s windows)"),
    ("stability_v3_mas", "mas", "rms of 15 s averages of V3 about the mean (10,000 s windows)"),
    ("stability_mas", "mas", "JWST's 15 s pointing-stability metric, radial (hypot of V2, V3)"),
    ("rms_v2_mas", "mas", "rms of the V2 offsets about their mean"),
    ("rms_v3_mas", "mas", "rms of the V3 offsets about their mean"),
    ("drift_v2_mas_per_h", "mas / h", "least-squares drift rate of V2"),
    ("drift_v3_mas_per_h", "mas / h", "least-squares drift rate of V3"),
)


def _arrays(where, **arrays):
    out = {}
    length = None
    for name, value in arrays.items():
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            msg = f"{where}: {name} must be an array of numbers, got {type(value).__name__}"
            raise ParameterError(msg) from None
        array = np.atleast_1d(array)
        if array.ndim != 1:
            msg = f"{where}: {name} must be one-dimensional, got shape {array.shape}"
            raise ParameterError(msg)
        if length is not None and len(array) != length:
            msg = f"{where}: {name} has {len(array)} values, seconds has {length}"
            raise ParameterError(msg)
        length = len(array)
        out[name] = array
    return out


def _finite(*arrays):
    """Bool mask of the entries finite in every array; None when all are (no copies needed)."""
    use = np.isfinite(arrays[0])
    for array in arrays[1:]:
        use &= np.isfinite(array)
    return None if use.all() else use


def _usable(arrays):
    """``seconds``, ``dv2_mas``, ``dv3_mas`` of `_arrays`' dict, where all three are finite."""
    use = _finite(arrays["seconds"], arrays["dv2_mas"], arrays["dv3_mas"])
    return tuple(arrays[name] if use is None else arrays[name][use]
                 for name in ("seconds", "dv2_mas", "dv3_mas"))


def _bins(seconds, interval):
    """0-based consecutive interval of each time, counted from the first time."""
    return np.floor((seconds - seconds[0]) / interval).astype(np.int64)


def interval_averages(seconds, dv2_mas, dv3_mas, *, interval=AVERAGE_INTERVAL):
    """Offsets averaged in consecutive intervals (HST's 3-second jitter table).

    Parameters
    ----------
    seconds : array_like
        Times (s), increasing.
    dv2_mas, dv3_mas : array_like
        Offsets (mas); NaN values are left out.
    interval : float, optional
        Interval length (s), counted from the first finite sample.

    Returns
    -------
    astropy.table.Table
        One row per interval holding frames: ``start_s``, ``mid_s``,
        ``stop_s`` (s), ``n_frames``, ``dv2_mas``, ``dv3_mas`` (means),
        ``rms_v2_mas``, ``rms_v3_mas`` (rms about the interval's mean).

    Raises
    ------
    spelunker.errors.ParameterError
        For arrays of different lengths or a non-positive interval.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 9.0, 0.5)
    >>> table = interval_averages(t, t, -t, interval=3.0)
    >>> table["mid_s"].tolist(), table["dv2_mas"].tolist()
    ([1.5, 4.5, 7.5], [1.25, 4.25, 7.25])
    """
    where = "interval_averages"
    interval = check_positive_float(interval, "interval", where=where)
    a = _arrays(where, seconds=seconds, dv2_mas=dv2_mas, dv3_mas=dv3_mas)
    t, d2, d3 = _usable(a)
    table = Table()
    if t.size == 0:
        index = np.zeros(0, np.int64)
        count = np.zeros(0, np.int64)
        sums = [np.zeros(0)] * 4
        origin = 0.0
    else:
        origin = t[0]
        bins = _bins(t, interval)
        count_all = np.bincount(bins)
        index = np.flatnonzero(count_all)
        count = count_all[index]
        sums = [np.bincount(bins, weights=w)[index] for w in (d2, d3, d2 * d2, d3 * d3)]
    mean2, mean3 = sums[0] / np.maximum(count, 1), sums[1] / np.maximum(count, 1)
    rms2 = np.sqrt(np.maximum(sums[2] / np.maximum(count, 1) - mean2**2, 0.0))
    rms3 = np.sqrt(np.maximum(sums[3] / np.maximum(count, 1) - mean3**2, 0.0))
    start = origin + index * interval
    table["start_s"] = start * u.s
    table["mid_s"] = (start + 0.5 * interval) * u.s
    table["stop_s"] = (start + interval) * u.s
    table["n_frames"] = count.astype(np.int64)
    table["dv2_mas"] = mean2 * u.mas
    table["dv3_mas"] = mean3 * u.mas
    table["rms_v2_mas"] = rms2 * u.mas
    table["rms_v3_mas"] = rms3 * u.mas
    return table


def _stability(t, d2, d3, interval, window):
    """(v2, v3) rms of interval averages about the mean of each window."""
    bins = _bins(t, interval)
    count = np.bincount(bins)
    full = np.flatnonzero(count)
    if full.size == 0:
        return np.nan, np.nan
    keep = full[count[full] >= FULL_INTERVAL * np.median(count[full])]
    n = count[keep]
    averages = [np.bincount(bins, weights=d)[keep] / n for d in (d2, d3)]
    # Windows of whole intervals, as many as fit in `window` seconds (666 x 15 s).
    windows = keep // max(int(np.floor(window / interval + 1e-9)), 1)
    out = []
    for average in averages:
        sums = np.bincount(windows, weights=average * n)
        weights = np.bincount(windows, weights=n)
        mean = sums[windows] / weights[windows]
        out.append(float(np.sqrt(np.mean((average - mean) ** 2))) if keep.size > 1 else np.nan)
    return out[0], out[1]


def _slope_per_hour(t, d):
    tc = t - t.mean()
    denominator = np.dot(tc, tc)
    return float(np.dot(tc, d - d.mean()) / denominator * 3600.0) if denominator > 0 else np.nan


def _p2p(d):
    if d.size < 3:
        return np.nan
    # Differences of neighbouring frames have median zero (up to a drift of far less
    # than the noise per frame), so the MAD is taken about zero: one partition.
    return float(1.4826 * np.median(np.abs(np.diff(d))) / np.sqrt(2.0))


def stability_metrics(seconds, dv2_mas, dv3_mas, *, err_v2_mas=None, err_v3_mas=None,
                      interval=STABILITY_INTERVAL, window=STABILITY_WINDOW):
    """NEA, JWST's 15 s stability metric, rms and drift of a V2/V3 offset series.

    Parameters
    ----------
    seconds : array_like
        Times (s), increasing.
    dv2_mas, dv3_mas : array_like
        Offsets (mas) of the frames to use; NaN values are left out (pass
        NaN for flagged frames and frames inside masked events).
    err_v2_mas, err_v3_mas : array_like, optional
        Per-frame 1-sigma errors (mas); without them the NEA is NaN.
    interval : float, optional
        Averaging interval (s) of the stability metric.
    window : float, optional
        Window (s) about whose mean the averages are compared.

    Returns
    -------
    dict
        The metrics of `METRIC_COLUMNS` (floats; ``n_frames`` an int); NaN
        where the series is too short (fewer than two full intervals for the
        stability, three frames for the rest).

    Raises
    ------
    spelunker.errors.ParameterError
        For arrays of different lengths or non-positive interval or window.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> t = np.arange(0.0, 900.0, 0.05)
    >>> white = rng.normal(0.0, 2.0, (2, t.size))
    >>> m = stability_metrics(t, white[0], white[1], err_v2_mas=np.full(t.size, 2.0),
    ...                       err_v3_mas=np.full(t.size, 2.0))
    >>> round(m["nea_v2_mas"], 2), round(m["p2p_v2_mas"], 1), round(m["stability_v2_mas"], 2)
    (2.0, 2.0, 0.12)
    """
    where = "stability_metrics"
    interval = check_positive_float(interval, "interval", where=where)
    window = check_positive_float(window, "window", where=where)
    arrays = {"seconds": seconds, "dv2_mas": dv2_mas, "dv3_mas": dv3_mas}
    for name, value in (("err_v2_mas", err_v2_mas), ("err_v3_mas", err_v3_mas)):
        if value is not None:
            arrays[name] = value
    a = _arrays(where, **arrays)
    use = _finite(a["seconds"], a["dv2_mas"], a["dv3_mas"])
    t, d2, d3 = (a[name] if use is None else a[name][use]
                 for name in ("seconds", "dv2_mas", "dv3_mas"))
    nan = float("nan")
    metrics = {name: nan for name, _, _ in METRIC_COLUMNS}
    metrics["n_frames"] = int(t.size)
    for axis in ("v2", "v3"):
        err = a.get(f"err_{axis}_mas")
        if err is not None:
            err = err if use is None else err[use]
            finite = _finite(err)
            err = err if finite is None else err[finite]
            metrics[f"nea_{axis}_mas"] = float(np.median(err)) if err.size else nan
    if t.size == 0:
        return metrics
    metrics["duration"] = float(t[-1] - t[0])
    if t.size < 3:
        return metrics
    metrics["p2p_v2_mas"], metrics["p2p_v3_mas"] = _p2p(d2), _p2p(d3)
    metrics["rms_v2_mas"], metrics["rms_v3_mas"] = float(np.std(d2)), float(np.std(d3))
    metrics["drift_v2_mas_per_h"] = _slope_per_hour(t, d2)
    metrics["drift_v3_mas_per_h"] = _slope_per_hour(t, d3)
    s2, s3 = _stability(t, d2, d3, interval, window)
    metrics["stability_v2_mas"], metrics["stability_v3_mas"] = s2, s3
    metrics["stability_mas"] = float(np.hypot(s2, s3))
    return metrics


def expected_stability(*, white_mas, frames_per_interval, amplitude_mas=0.0, frequency_hz=0.0,
                       interval=STABILITY_INTERVAL, n_intervals=None):
    """The stability metric of one axis expected for white noise plus a sinusoid.

    ``sqrt(f_M (A**2 sinc(f T)**2 / 2 + sigma**2 / N))``: a sinusoid of
    semi-amplitude A averaged over T seconds keeps A abs(sinc(f T)) (with a
    random phase per interval, an rms of that over sqrt(2)); white noise of
    rms sigma averages down to sigma / sqrt(N); ``f_M = 1 - 1/M`` for the
    mean of M intervals subtracted (1 without ``n_intervals``).

    Parameters
    ----------
    white_mas : float
        Rms of the white part per frame (jitter and centroid noise, mas).
    frames_per_interval : float
        N, frames in each interval.
    amplitude_mas, frequency_hz : float, optional
        The sinusoid's semi-amplitude (mas) and frequency (Hz).
    interval : float, optional
        T (s).
    n_intervals : int, optional
        M.

    Returns
    -------
    float
        mas.

    Examples
    --------
    >>> round(expected_stability(white_mas=0.0, frames_per_interval=1, amplitude_mas=1.0,
    ...                          frequency_hz=1 / 30.0), 4)
    0.4502
    """
    where = "expected_stability"
    white_mas = check_finite_float(white_mas, "white_mas", minimum=0.0, where=where)
    frames_per_interval = check_positive_float(frames_per_interval, "frames_per_interval",
                                               where=where)
    amplitude_mas = check_finite_float(amplitude_mas, "amplitude_mas", where=where)
    frequency_hz = check_finite_float(frequency_hz, "frequency_hz", minimum=0.0, where=where)
    interval = check_positive_float(interval, "interval", where=where)
    if n_intervals is not None:
        n_intervals = check_positive_int(n_intervals, "n_intervals", where=where)
    attenuation = np.sinc(frequency_hz * interval)
    variance = amplitude_mas**2 * attenuation**2 / 2.0 + white_mas**2 / frames_per_interval
    if n_intervals:
        variance *= 1.0 - 1.0 / n_intervals
    return float(np.sqrt(variance))


def excursion_histogram(dv2_mas, dv3_mas, *, bin_mas=1.0, half_width_mas=None):
    """2-D histogram of the V2/V3 excursions (HST's jitter-file image), counts per bin.

    Parameters
    ----------
    dv2_mas, dv3_mas : array_like
        Offsets (mas); NaN values are left out.
    bin_mas : float, optional
        Bin width (mas), the same on both axes.
    half_width_mas : float, optional
        The histogram spans ``[-half_width, half_width]`` on both axes;
        by default the largest finite excursion rounded up to a whole bin
        (at most 200 bins each side).  Excursions beyond it are counted in
        the outermost bins, so the counts add up to the frames used.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``counts`` (int64, shape ``(n_v3, n_v2)``: rows along V3, columns
        along V2, as an image), ``v2_edges_mas``, ``v3_edges_mas``.

    Raises
    ------
    spelunker.errors.ParameterError
        For arrays of different lengths or a non-positive width.

    Examples
    --------
    >>> counts, v2_edges, v3_edges = excursion_histogram([0.2, 0.4, -1.5], [0.1, 0.3, 1.2])
    >>> counts.shape, int(counts.sum()), v2_edges.tolist()
    ((4, 4), 3, [-2.0, -1.0, 0.0, 1.0, 2.0])
    """
    where = "excursion_histogram"
    bin_mas = check_positive_float(bin_mas, "bin_mas", where=where)
    a = _arrays(where, dv2_mas=dv2_mas, dv3_mas=dv3_mas)
    use = np.isfinite(a["dv2_mas"]) & np.isfinite(a["dv3_mas"])
    d2, d3 = a["dv2_mas"][use], a["dv3_mas"][use]
    if half_width_mas is None:
        largest = float(max(np.abs(d2).max(initial=0.0), np.abs(d3).max(initial=0.0)))
        n_half = int(min(max(np.ceil(largest / bin_mas), 1), 200))
    else:
        half_width_mas = check_positive_float(half_width_mas, "half_width_mas", where=where)
        n_half = max(int(np.ceil(half_width_mas / bin_mas - 1e-9)), 1)
    edges = (np.arange(-n_half, n_half + 1) * bin_mas).astype(np.float64)
    n_bins = 2 * n_half
    column = np.clip(np.floor(d2 / bin_mas).astype(np.int64) + n_half, 0, n_bins - 1)
    row = np.clip(np.floor(d3 / bin_mas).astype(np.int64) + n_half, 0, n_bins - 1)
    counts = np.bincount(row * n_bins + column, minlength=n_bins * n_bins)
    return counts.reshape(n_bins, n_bins).astype(np.int64), edges, edges.copy()
