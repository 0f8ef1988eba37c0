"""Abrupt, lasting changes (steps) in a time series: the detector behind tilt events.

`find_steps` works on plain arrays.  The method, chosen by measurement for
16 Hz guide-star series (see ``docs/events.rst``):

1. **Bins.**  The series is reduced to the median of each bin of
   ``bin_size`` seconds (1 s: 16-19 frames) with
   `spelunker.binning.time_bin_index`; non-finite values (flagged fits) are
   left out, and the median shrugs off the outliers of real frames (zeroed
   or negative pixels in about one frame in ten, unflagged cosmic rays).
   Runs of well-filled bins make segments; a gap (an empty or half-empty
   bin) ends a segment, so no step is ever claimed across a gap.
2. **Noise.**  The scatter of one bin mean, ``sigma``, from the median
   absolute difference of neighbouring bins (robust to the steps themselves,
   to slow drifts and to outliers), so one threshold holds for faint and
   bright stars.
3. **Periodic motion.**  A smooth periodic motion of the star (a centroid
   wobble of 30 s to 30 min) moves the means of neighbouring windows apart
   as a step does.  Sinusoids of periods from 4 bins to half the segment
   are searched in the bin means less a quadratic (a drift) and a step at
   each candidate of a first search (so a step is not taken for a
   sinusoid), kept when they improve the chi-square by ``2 ln(frequencies
   searched) + 16`` (up to 4: harmonics, several wobbles), and subtracted
   before the search (and from the frames the steps are placed in); then
   fitted again with the candidates that are left (a strong wobble fakes
   many), up to 3 times, and the bin scatter measured again without it (a
   fast wobble widens the differences of neighbouring bins).
4. **Statistic.**  At every bin boundary, the difference of the means of the
   ``window`` bins after and before it, in units of its uncertainty
   ``sigma * sqrt(2 / window)`` (cumulative sums: linear time).
5. **Steps.**  Local maxima of ``|z|`` above ``threshold`` at least
   ``window`` bins apart whose change is abrupt: over the two windows, two
   levels fit the bins better than a straight line by a chi-square of 9.
   A smooth variation (a variable star, a drift, an ingress of several
   seconds) is close to a line there and is not a step.  Each is placed to
   the frame by the split that best fits two levels, and sized by the
   difference of the two windows' means.

With the defaults (1 s bins, windows of 10 bins, threshold 5.5), ten hours
of clean fitted frames give no false step; a step of 5 times the scatter of
1 s bin means is found in at least 95 % of trials, within 2 s
(``benchmarks/bench_events.py``); with centroid wobbles of 30 s to 30 min
and up to 0.03 px, red noise and a drift, fewer than one false technical
event per 10 hours (``benchmarks/events_false_alarms.py``,
``docs/events.rst``).
"""

import numpy as np

from spelunker._jit import njit
from spelunker._validate import check_positive_float, check_positive_int, check_usable
from spelunker.binning import time_bin_index
from spelunker.errors import ParameterError

__all__ = ["check_step_options", "find_steps", "find_series_steps", "STEP_COLUMNS"]

#: Columns of the structured array `find_steps` returns.
STEP_COLUMNS = (("time", np.float64), ("frame", np.int64), ("delta", np.float64),
                ("delta_err", np.float64), ("significance", np.float64),
                ("sigma_bin", np.float64))

#: A bin joins a segment when it holds at least this fraction of a typical bin's values.
_MIN_FILL = 0.5

#: Periodic motion removed before the search: at most this many sinusoids per segment,
_MAX_SINUSOIDS = 4
#: fitted again (with the candidate steps left) up to this many times,
_PERIODIC_PASSES = 3
#: periods from this many bins (to half the segment),
_MIN_PERIOD_BINS = 4
#: kept when the chi-square of the bin means improves by 2 ln(frequencies) + this.
_SINUSOID_MARGIN = 16.0

#: How much better (chi-square, in units of the bin scatter) two levels must fit the
#: two windows than a straight line for a change to be a step.
_STEP_OVER_LINE = 9.0


def check_step_options(bin_size, window, threshold, *, where=None):
    """``(bin_size, window, threshold)`` of `find_steps`, checked (ParameterError).

    The one check of these options, made by `find_steps`, by
    `spelunker.events.find_events` before any work and by its step.

    Examples
    --------
    >>> from spelunker.changepoints import check_step_options
    >>> check_step_options(1, 10, 5.5)
    (1.0, 10, 5.5)
    """
    return (check_positive_float(bin_size, "bin_size", unit="seconds", where=where),
            check_positive_int(window, "window", where=where),
            check_positive_float(threshold, "threshold", where=where))


def find_steps(times, values, *, bin_size=1.0, window=10, threshold=5.5):
    """Find steps (abrupt, lasting changes of level) in a series.

    Parameters
    ----------
    times : array_like
        ``(n,)`` finite times in seconds, increasing.
    values : array_like
        ``(n,)`` values; NaN for samples to leave out.
    bin_size : float, optional
        Bin width (s).
    window : int, optional
        Bins on each side of a boundary whose means are compared.
    threshold : float, optional
        Smallest significance (``|z|``) of a step.

    Returns
    -------
    numpy.ndarray
        Structured, one row per step in time order (`STEP_COLUMNS`):
        ``time`` of the first sample after the step (s), its index
        ``frame``, ``delta`` (after minus before), ``delta_err`` (1 sigma),
        ``significance`` (``|z|``) and ``sigma_bin``, the scatter of one bin
        mean of that segment.

    Raises
    ------
    spelunker.errors.ParameterError
        For mismatched arrays, non-finite or decreasing times, or bad options.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.changepoints import find_steps
    >>> rng = np.random.default_rng(1)
    >>> times = np.arange(20000) * 0.0538
    >>> values = 0.7 + rng.normal(0, 0.01, times.size) + 0.01 * (times > 500.0)
    >>> steps = find_steps(times, values)
    >>> len(steps), bool(abs(steps["time"][0] - 500.0) < 1.0)
    (1, True)
    """
    return find_series_steps(times, {"values": values}, bin_size=bin_size, window=window,
                             threshold=threshold)["values"]


def find_series_steps(times, series, *, bin_size=1.0, window=10, threshold=5.5, usable=None):
    """`find_steps` of several series sampled at the same times.

    The times are checked and binned once for all the series (a visit's
    five searched series share them), and no copy of a whole series is
    made unless a periodic motion is subtracted from it: the same steps as
    `find_steps` on each series, for less time and memory.

    Parameters
    ----------
    times : array_like
        ``(n,)`` finite times in seconds, increasing.
    series : mapping of str to array_like
        ``(n,)`` values of each series; NaN for samples to leave out.
        Not modified; float64 values are read where they are (a table's
        column too), not copied.
    bin_size, window, threshold : optional
        As in `find_steps`.
    usable : mapping of str to array_like of bool, optional
        ``(n,)`` samples of a series that may be used; the others are left
        out as NaN values are (flagged fits, without a copy of the series to
        write NaN into).  Series not named: every finite value.

    Returns
    -------
    dict of str to numpy.ndarray
        The steps of each series (`find_steps`), in the order given.

    Raises
    ------
    spelunker.errors.ParameterError
        For ``series`` that is not a mapping, a series whose length is not
        that of the times, non-finite or decreasing times, or bad options.

    Examples
    --------
    Two series of 20,000 frames, a step in the first:

    >>> from spelunker.changepoints import find_series_steps
    >>> import numpy as np
    >>> times, rng = np.arange(20000) * 0.0538, np.random.default_rng(1)
    >>> steps = find_series_steps(times, {
    ...     "x": rng.normal(0, 0.01, times.size) + 0.01 * (times > 500.0),
    ...     "y": rng.normal(0, 0.01, times.size)})
    >>> [(name, len(found)) for name, found in steps.items()]
    [('x', 1), ('y', 0)]
    """
    if not hasattr(series, "items"):
        msg = f"series must be a mapping of name to values, not {type(series).__name__}"
        raise ParameterError(msg)
    usable = check_usable(usable, series, np.shape(times))
    try:
        times = np.asarray(times, dtype=np.float64)
        series = {name: np.asarray(values, dtype=np.float64)
                  for name, values in series.items()}
    except (TypeError, ValueError) as exc:
        msg = f"times and values must be arrays of numbers ({exc})"
        raise ParameterError(msg) from None
    for values in series.values():
        if times.ndim != 1 or values.shape != times.shape:
            msg = (f"times and values must be 1-D and of equal length; got shapes "
                   f"{times.shape} and {values.shape}")
            raise ParameterError(msg)
    if times.size and (not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0)):
        msg = "times must be finite and in increasing order"
        raise ParameterError(msg)
    bin_size, window, threshold = check_step_options(bin_size, window, threshold)
    index = None  # the bin of each time, made for the first series that needs it
    found = {}
    for name, values in series.items():
        valid = np.isfinite(values)
        if name in usable:
            valid &= usable[name]
        n_valid = int(np.count_nonzero(valid))
        if n_valid < 2 * window:
            found[name] = np.zeros(0, dtype=list(STEP_COLUMNS))
            continue
        if index is None:
            index = time_bin_index(times, bin_size)
        found[name] = _steps(times, values, valid, n_valid, index, bin_size, window,
                             threshold)
    return found


def _steps(times, values, valid, n_valid, index, bin_size, window, threshold):
    """`find_steps` of one series: ``valid`` its finite values, ``index`` the bins of the times."""
    n_bins = int(index[-1]) + 1
    # The usable values are read in place, where they are: no copy of the series.
    usable = None if n_valid == values.size else valid
    counts = _bin_counts(index, usable, n_bins)
    full = counts >= _MIN_FILL * np.median(counts[counts > 0])
    means = np.where(full, _bin_medians(values, counts, usable), np.nan)
    copied = False  # the caller's array is not modified: copied before a wave is removed
    steps = []
    for first, stop in _runs(full):
        if stop - first < 2 * window:
            continue
        sigma = _bin_scatter(means[first:stop])
        if not sigma > 0:
            continue
        level = means[first:stop].copy()
        found = _segment_steps(level, first, sigma, window, threshold)
        waves = []
        for _ in range(_PERIODIC_PASSES):
            # The smooth periodic motion (a wobble) is no step: search what is left.  A
            # strong wobble fakes many candidates, which bias its fit: fit it again
            # with the candidates of what is left.
            candidates = [b - first for b, *_ in found]
            waves = _periodic_motion(level, sigma, candidates) or waves
            if not waves:
                break
            means[first:stop] = level - _waves(waves, np.arange(stop - first))
            # A fast wobble also widened the differences of neighbouring bins.
            sigma = min(sigma, _bin_scatter(means[first:stop]))
            found = _segment_steps(means[first:stop], first, sigma, window, threshold)
            if [b - first for b, *_ in found] == candidates:
                break
        if waves:
            if not copied:
                values, copied = values.copy(), True
            # The frames of bins first to stop - 1 (the bins are in time order), at their
            # bin positions (bin k is centred on k).
            inside = slice(*np.searchsorted(index, [first, stop]))
            position = (times[inside] - times[0]) / bin_size - 0.5
            values[inside] -= _waves(waves, position - first)
        steps.extend(found)
    if not steps:
        return np.zeros(0, dtype=list(STEP_COLUMNS))
    out = np.zeros(len(steps), dtype=list(STEP_COLUMNS))
    for row, (boundary, delta, error, z, sigma) in enumerate(sorted(steps)):
        frame = _place(times, values, valid, index, boundary, window, delta, means)
        out[row] = (times[frame], frame, delta, error, z, sigma)
    return out


def _periodic_motion(level, sigma, steps):
    """``[(omega, a, b)]``: the sinusoids ``a sin(omega k) + b cos(omega k)`` of a segment.

    Searched in the bin means ``level`` less a quadratic (a slow drift) and
    a step at each bin of ``steps`` (the candidates of a first search), so a
    step does not pass for a sinusoid.  Periods from ``_MIN_PERIOD_BINS``
    bins to half the segment; a sinusoid is kept when it improves the
    chi-square by ``2 ln(frequencies) + _SINUSOID_MARGIN`` (in units of the
    bin scatter ``sigma``), up to ``_MAX_SINUSOIDS`` (harmonics, several
    wobbles); the kept ones are then fitted together with the quadratic and
    the steps.
    """
    n = level.size
    if n < 4 * _MIN_PERIOD_BINS:
        return []
    k = np.arange(n, dtype=float)
    x = 2.0 * k / (n - 1) - 1.0
    base = [np.ones(n), x, x ** 2] + [(k >= b).astype(float) for b in steps]
    design = np.column_stack(base)
    residual = level - design @ np.linalg.lstsq(design, level, rcond=None)[0]
    n_fft = 1 << int(np.ceil(np.log2(4 * n)))
    frequencies = np.fft.rfftfreq(n_fft)
    band = np.flatnonzero((frequencies >= 2.0 / n) & (frequencies <= 1.0 / _MIN_PERIOD_BINS))
    if band.size == 0:
        return []
    limit = (2.0 * np.log(max(band.size / 4.0, 1.0)) + _SINUSOID_MARGIN) * sigma ** 2
    omegas = []
    for _ in range(_MAX_SINUSOIDS):
        power = np.abs(np.fft.rfft(residual, n_fft)[band]) ** 2
        best = int(np.argmax(power))
        if 2.0 * power[best] / n < 0.8 * limit:
            # The gain of the highest peak of the grid (within a few % of the refined
            # gain, 4 times oversampled): no sinusoid anywhere.
            break
        peak, width = frequencies[band[best]], 1.0 / n_fft
        omega = 2 * np.pi * _golden(lambda f, r=residual: -_gain(r, k, 2 * np.pi * f),
                                    peak - width, peak + width)
        gain, fit = _gain(residual, k, omega, fit=True)
        if gain < limit:
            break
        omegas.append(omega)
        residual = residual - fit
    if not omegas:
        return []
    waves = [f(w * k) for w in omegas for f in (np.sin, np.cos)]
    coef = np.linalg.lstsq(np.column_stack(base + waves), level, rcond=None)[0][len(base):]
    return [(omega, coef[2 * j], coef[2 * j + 1]) for j, omega in enumerate(omegas)]


def _waves(waves, positions):
    """The sum of the sinusoids of `_periodic_motion` at ``positions`` (bins)."""
    return sum(a * np.sin(omega * positions) + b * np.cos(omega * positions)
               for omega, a, b in waves)


def _gain(residual, k, omega, *, fit=False):
    """Chi-square improvement (unscaled) of a sinusoid of ``omega`` fitted to ``residual``."""
    cos, sin = np.cos(omega * k), np.sin(omega * k)
    # Sums, not BLAS dot products: no thread start-up for each of many short evaluations.
    cross = float(np.sum(cos * sin))
    matrix = np.array([[np.sum(cos * cos), cross], [cross, np.sum(sin * sin)]])
    vector = np.array([np.sum(cos * residual), np.sum(sin * residual)])
    try:
        coef = np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:  # a frequency the bins cannot tell apart
        return (0.0, np.zeros_like(residual)) if fit else 0.0
    gain = float(coef @ vector)
    return (gain, coef[0] * cos + coef[1] * sin) if fit else gain


def _golden(function, low, high, iterations=20):
    """The minimum of ``function`` on ``[low, high]`` by golden-section search."""
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = function(c), function(d)
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = function(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = function(d)
    return 0.5 * (a + b)


def _bin_counts(index, usable, n_bins):
    """Usable values in each of ``n_bins`` bins (int64); ``usable`` None: every value.

    ``index`` is the bin of each value.  Counted where the values are
    (`_usable_counts`): ``np.bincount(index[usable])`` would copy the index
    first, 16 MB at 2 million frames.
    """
    if usable is None:
        return np.bincount(index, minlength=n_bins)
    counts = np.zeros(n_bins, dtype=np.int64)
    _usable_counts(np.ascontiguousarray(index, dtype=np.int64), usable, counts)
    return counts


@njit(cache=True, nogil=True)
def _usable_counts(index, usable, counts):
    """``counts[index[i]] += 1`` for every ``i`` where ``usable[i]``."""
    for i in range(index.size):
        if usable[i]:
            counts[index[i]] += 1


def _bin_medians(values, counts, usable=None):
    """Median of the usable values of each bin (NaN for an empty bin).

    The median, not the mean: real fine-guide frames hold zeroed or negative
    pixels in about one frame in ten, and a cosmic ray the fit did not flag
    is no rarer; a tenth of outliers of any size barely moves a median.

    ``values`` are in time order, so bin ``k``'s usable values are the next
    ``counts[k]`` of them, sorted on their own (`_run_medians`, by
    insertion: a bin holds some twenty values) instead of one sort of all
    the values, with no temporary of the series' size (the same order
    statistics, so the same medians).  ``usable``: a boolean array of the
    values to read, the others skipped (None: every value).
    """
    out = np.empty(counts.size)
    if counts.size:
        every = np.zeros(0, dtype=bool)  # numba's "every value": no array of the series' size
        # float64 values read where they are (numba takes any stride): no copy.
        _run_medians(np.asarray(values, dtype=np.float64),
                     np.ascontiguousarray(counts, dtype=np.int64),
                     every if usable is None else np.ascontiguousarray(usable, dtype=bool),
                     out)
    return out


@njit(cache=True, nogil=True)
def _run_medians(values, counts, usable, out):
    """``out[k]``: the median of the next ``counts[k]`` usable values (NaN if none).

    ``usable`` empty: every value is.
    """
    run = np.empty(max(counts.max(), 1))
    every = usable.size == 0
    i = 0
    for k in range(counts.size):
        count = counts[k]
        if count == 0:
            out[k] = np.nan
            continue
        # Insertion sort: a bin holds some twenty values.
        n = 0
        while n < count:
            if every or usable[i]:
                value = values[i]
                j = n
                while j > 0 and run[j - 1] > value:
                    run[j] = run[j - 1]
                    j -= 1
                run[j] = value
                n += 1
            i += 1
        out[k] = 0.5 * (run[(count - 1) // 2] + run[count // 2])


def _runs(mask):
    """``(start, stop)`` of every run of True in ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


def _bin_scatter(level):
    """Scatter of one bin mean from neighbouring differences (robust to steps and drifts)."""
    differences = np.diff(level)
    mad = np.median(np.abs(differences - np.median(differences)))
    return float(1.4826 * mad / np.sqrt(2.0))


def _segment_steps(level, first, sigma, window, threshold):
    """``[(boundary bin, delta, delta_err, |z|, sigma)]`` of one segment of bin means."""
    cumulative = np.concatenate(([0.0], np.cumsum(level)))
    boundary = np.arange(window, level.size - window + 1)
    after = (cumulative[boundary + window] - cumulative[boundary]) / window
    before = (cumulative[boundary] - cumulative[boundary - window]) / window
    error = sigma * np.sqrt(2.0 / window)
    z = (after - before) / error
    # A step is abrupt: over the two windows, two levels fit the bins much
    # better than a straight line does.  A smooth variation (a variable star,
    # a drift, an ingress of several seconds) is close to a line there.
    abrupt = _step_beats_line(level, boundary, window, after, before, sigma)
    taken, seen = [], []
    for k in _strongest(z, threshold):
        b = int(boundary[k])
        if any(abs(b - other) < window for other in seen):
            continue  # the shoulder of a stronger maximum, kept or not
        seen.append(b)
        if abrupt[k]:
            taken.append(b)
    found = []
    for b in taken:
        k = b - window
        found.append((first + b, float(after[k] - before[k]), float(error), float(abs(z[k])),
                      sigma))
    return found


def _strongest(z, threshold):
    """Positions of ``z`` by decreasing ``|z|`` (ties in order), up to the first below threshold.

    The start of ``np.argsort(-np.abs(z), kind="stable")``, found by sorting
    only the values that reach the threshold (a few, against the 100,000
    boundaries of a 2-million-frame visit).  A NaN sorts last, so it is
    reached only when no value is below the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.changepoints import _strongest
    >>> _strongest(np.array([1.0, -7.0, 6.0, 0.5, 7.0]), 5.5).tolist()
    [1, 4, 2]
    """
    size = np.abs(z)
    below = size < threshold
    strong = np.flatnonzero(~below if not below.any() else size >= threshold)
    return strong[np.argsort(-size[strong], kind="stable")]


def _step_beats_line(level, boundary, window, after, before, sigma):
    """Whether two levels beat a line by ``_STEP_OVER_LINE`` (chi-square) over the windows."""
    n = 2 * window
    positions = np.arange(level.size, dtype=float)
    sums = [np.concatenate(([0.0], np.cumsum(values))) for values in
            (level, level ** 2, positions, positions ** 2, positions * level)]
    low, high = boundary - window, boundary + window
    s_y, s_yy, s_x, s_xx, s_xy = (total[high] - total[low] for total in sums)
    sse_line = s_yy - s_y ** 2 / n - (s_xy - s_x * s_y / n) ** 2 / (s_xx - s_x ** 2 / n)
    sse_step = s_yy - window * (after ** 2 + before ** 2)
    return (sse_line - sse_step) / sigma ** 2 >= _STEP_OVER_LINE


def _place(times, values, valid, index, boundary, window, delta, means):
    """The frame where a step at bin ``boundary`` starts: best split between the two levels."""
    low = np.searchsorted(index, boundary - 1)
    high = np.searchsorted(index, boundary + 1)
    before = np.nanmean(means[max(boundary - window, 0):boundary])
    after = before + delta
    segment = np.flatnonzero(valid[low:high]) + low
    if segment.size == 0:
        return int(np.searchsorted(index, boundary))
    y = values[segment]
    # Cost of a split before sample i: squared residuals of the left part to
    # the level before plus those of the right part to the level after.
    gain = np.concatenate(([0.0], np.cumsum((y - before) ** 2 - (y - after) ** 2)))
    split = int(np.argmin(np.sum((y - after) ** 2) + gain))
    return int(segment[min(split, segment.size - 1)])
