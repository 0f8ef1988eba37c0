"""Peaks of a periodogram: the strongest, their false-alarm probability, as a table.

A peak is an interior grid point that is higher than its left neighbour,
at least as high as its right one, and the highest within a window on both
sides (`find_peaks`); its false-alarm probability is Baluev's (2008)
approximation for the grid's maximum frequency (astropy's
``method='baluev'``, computed by ``spelunker.periodogram.refine._false_alarm``
from the weighted variance of the times).
`spelunker.periodogram.lomb_scargle` reports the peaks of every series it
computes.
"""

from collections.abc import Iterable, Sized

import numpy as np
from astropy import units as u
from astropy.table import QTable

from spelunker._validate import check_positive_int
from spelunker.errors import ParameterError
from spelunker.periodogram.refine import (
    FLAG_FAILED,
    FLAG_NOT_SIGNIFICANT,
    _false_alarm,
    _long_dot,
    _Series,
)

__all__ = ["find_peaks", "peaks_qtable", "REFINED_COLUMNS", "MAX_REFINE_FALSE_ALARM"]

#: Columns of the peak table from `spelunker.periodogram.refine_period`, after the first five.
REFINED_COLUMNS = ("period_refined", "period_error", "amplitude", "amplitude_error",
                   "refine_flag")

#: Peaks with a higher false-alarm probability are not refined (flagged
#: ``FLAG_NOT_SIGNIFICANT``): a fit of a noise peak means nothing, and
#: skipping them keeps a million-point periodogram fast.
MAX_REFINE_FALSE_ALARM = 0.01


def find_peaks(power, *, n_peaks=5, window=1):
    """Indices of the ``n_peaks`` highest distinct peaks of ``power``, highest first.

    Parameters
    ----------
    power : array-like
        A periodogram (NaN points are never peaks).
    n_peaks : int, optional
        Largest number of peaks returned.
    window : int, optional
        A peak is the highest point within ``window`` grid points on each
        side (1: any local maximum).

    Returns
    -------
    numpy.ndarray
        int64 indices; interior points only, each higher than its left
        neighbour and at least as high as its right one (so a flat top
        counts once).

    Examples
    --------
    >>> from spelunker.periodogram import find_peaks
    >>> find_peaks([0, 3, 1, 2, 1, 5, 5, 0], n_peaks=5)
    array([5, 1, 3])
    >>> find_peaks([0, 3, 1, 2, 1, 5, 5, 0], window=2)
    array([5, 1])
    """
    n_peaks = check_positive_int(n_peaks, "n_peaks")
    window = check_positive_int(window, "window")
    power = np.asarray(power)
    if power.ndim != 1 or power.dtype.kind not in "biuf":
        msg = f"power must be a 1-D array of numbers, got shape {power.shape} of {power.dtype}"
        raise ParameterError(msg)
    if len(power) < 3:
        return np.zeros(0, dtype=np.int64)
    power = np.where(np.isfinite(power), power, -np.inf).astype(float, copy=False)
    middle = power[1:-1]
    candidates = np.flatnonzero((middle > power[:-2]) & (middle >= power[2:])) + 1
    if window == 1:
        order = np.argsort(-power[candidates], kind="stable")[:n_peaks]
        return candidates[order].astype(np.int64)
    # Highest local maxima first; keep those that are the highest within the
    # window.  Usually a few dozen are looked at, so they are taken from the
    # top in chunks rather than sorting all of them.
    peaks = []
    remaining = candidates
    chunk = 64 * n_peaks
    while len(remaining) and len(peaks) < n_peaks:
        if len(remaining) > chunk:
            split = np.argpartition(-power[remaining], chunk)
            top, remaining = remaining[split[:chunk]], remaining[split[chunk:]]
        else:
            top, remaining = remaining, remaining[:0]
        for index in top[np.argsort(-power[top], kind="stable")]:
            low = max(0, index - window)
            if power[low:index + window + 1].max() <= power[index]:
                peaks.append(index)
                if len(peaks) == n_peaks:
                    break
        chunk *= 4
    return np.array(peaks, dtype=np.int64)


def _series_peaks(times, frequency, power, series, masks, errors, *, n_peaks,
                  peak_separation=None, refine_below=MAX_REFINE_FALSE_ALARM):
    """The strongest peaks of the periodogram of every series, as a table.

    Parameters
    ----------
    times : numpy.ndarray
        The shared time axis (seconds).
    frequency : numpy.ndarray
        The grid (Hz), increasing.
    power : dict of str to numpy.ndarray
        The periodogram of each series on ``frequency``.
    series : dict of str to numpy.ndarray
        The values of each series, in the order of the table.
    masks : dict of str to numpy.ndarray
        The valid points of each series that has a periodogram; the
        others have no peak.
    errors : dict of str to numpy.ndarray or None
        1-sigma errors of each series (None: unweighted), for the
        false-alarm probabilities.
    n_peaks : int
        Largest number of peaks per series.
    peak_separation : float or None, optional
        Half-width (Hz) of the neighbourhood in which a peak must be the
        highest point; None: ``1 / baseline`` of each series' own valid
        points.

    Returns
    -------
    astropy.table.QTable
        ``series``, ``rank`` (1 = strongest), ``frequency`` (Hz), ``period``
        (s), ``power``, ``false_alarm_probability`` and the columns of
        `refine_period` (`REFINED_COLUMNS`): ``period_refined``,
        ``period_error`` (s), ``amplitude``, ``amplitude_error`` (unit of
        the series), ``refine_flag``.  Peaks with a false-alarm
        probability above `MAX_REFINE_FALSE_ALARM` are not refined (NaN,
        flag ``FLAG_NOT_SIGNIFICANT``).

    Notes
    -----
    ``refine_below`` (default `MAX_REFINE_FALSE_ALARM`) is the false-alarm
    probability at or below which a peak is refined; a negative value
    refines none (the baseline of ``benchmarks/bench_refine.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.periodogram.peaks import _series_peaks
    >>> times = np.arange(200.0)
    >>> frequency = np.linspace(0.01, 0.5, 50)
    >>> power = {"x": np.exp(-0.5 * ((frequency - 0.1) / 0.01) ** 2)}
    >>> series = {"x": np.sin(2 * np.pi * 0.1 * times)}
    >>> peaks = _series_peaks(times, frequency, power, series, {"x": np.ones(200, bool)},
    ...                      {"x": None}, n_peaks=1)
    >>> round(float(peaks["frequency"][0].value), 6), int(peaks["rank"][0])
    (0.1, 1)
    """
    rows = []
    spacing = np.median(np.diff(frequency)) if len(frequency) > 1 else 0.0
    for name in series:
        if name not in masks:
            continue
        mask = masks[name]
        t, values = times[mask], series[name][mask]
        dy = None if errors[name] is None else errors[name][mask]
        window = _peak_window(_baseline(t), spacing, peak_separation)
        index = find_peaks(power[name], n_peaks=n_peaks, window=window)
        rows += _rows_of_peaks(name, frequency[index], power[name][index], frequency[-1],
                               n_points=len(t), time_variance=_time_variance(t, dy),
                               points=lambda t=t, values=values, dy=dy: (t, values, dy),
                               refine_below=refine_below)
    return peaks_qtable(rows)


def _peak_window(baseline, spacing, peak_separation):
    """Grid points on each side within which a peak must be the highest (at least 1).

    ``spacing`` is the grid's step (Hz); the separation is `_separation`.
    """
    separation = _separation(baseline, peak_separation)
    return max(1, int(round(separation / spacing))) if spacing > 0 else 1


def _separation(baseline, peak_separation):
    """``peak_separation`` (Hz), or if None ``1 / baseline`` (s, the valid points' span)."""
    if peak_separation is not None:
        return peak_separation
    return 1.0 / baseline if baseline > 0 else 0.0


def _baseline(times):
    """Span (s) of ``times``; 0 for none."""
    return float(np.ptp(times)) if len(times) else 0.0


def _time_variance(times, errors):
    """Weighted variance of ``times`` (s**2): Baluev's effective baseline is ``sqrt(4 pi var)``.

    The weights are ``errors**-2`` (None: equal), as in astropy's
    false-alarm probabilities; the times are centred on their weighted
    mean first, so no precision is lost to a large time origin.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.periodogram.peaks import _time_variance
    >>> _time_variance(np.array([0.0, 1.0, 2.0]), None)
    0.6666666666666666
    """
    weight = np.ones(len(times)) if errors is None else np.asarray(errors, dtype=float) ** -2.0
    weight /= weight.sum()
    centred = times - _long_dot(weight, times)
    return _long_dot(weight, np.square(centred, out=centred))


def _rows_of_peaks(name, frequency, power, maximum_frequency, *, n_points, time_variance,
                   points, refine_below=MAX_REFINE_FALSE_ALARM):
    """Peak-table rows of the peaks of one series at ``frequency`` (Hz) with ``power``, ranked.

    ``n_points`` and ``time_variance`` (`_time_variance`) are those of the
    series' valid points, ``maximum_frequency`` the grid's last frequency
    (false-alarm probabilities, refinement).  ``points()`` returns the
    valid ``(times, values, errors or None)``; it is called only when a
    peak is significant enough to be refined.
    """
    rows = []
    prepared = None
    for rank, peak in enumerate(frequency, start=1):
        peak_power = float(power[rank - 1])
        probability = _false_alarm(peak_power, n_points, time_variance, maximum_frequency)
        refined = (np.nan, np.nan, np.nan, np.nan, FLAG_NOT_SIGNIFICANT)
        # A fit of a noise peak means nothing (and costs time): only the
        # significant peaks are refined.
        if probability <= refine_below:
            if prepared is None:  # the series' points, once for all its peaks
                prepared = _Series(*points(), maximum_frequency)
            fit = prepared.refine(1.0 / peak, max_shift=0.5,
                                  max_false_alarm=max(refine_below, MAX_REFINE_FALSE_ALARM))
            refined = (fit.period, fit.period_error, fit.amplitude, fit.amplitude_error,
                       fit.flag)
        rows.append((name, rank, float(peak), peak_power, probability, *refined))
    return rows


def peaks_qtable(rows):
    """The peak table of ``(series, rank, frequency, power, false_alarm_probability, ...)`` rows.

    Parameters
    ----------
    rows : sequence of tuple
        One ``(series, rank, frequency, power, false_alarm_probability)``
        per peak: a series name, an integer rank, a frequency (Hz) and two
        numbers; optionally followed by the five `REFINED_COLUMNS`
        (``period_refined``, ``period_error`` in s, ``amplitude``,
        ``amplitude_error``, integer ``refine_flag``).  Rows of five get
        NaN and ``refine_flag`` ``FLAG_FAILED`` (not refined).

    Returns
    -------
    astropy.table.QTable
        ``series``, ``rank``, ``frequency`` (Hz), ``period`` (s), ``power``,
        ``false_alarm_probability``, ``period_refined`` (s),
        ``period_error`` (s), ``amplitude``, ``amplitude_error`` and
        ``refine_flag``.

    Raises
    ------
    spelunker.errors.ParameterError
        ``rows`` is not a sequence of such 5- or 10-tuples.

    Examples
    --------
    >>> from spelunker.periodogram.peaks import peaks_qtable
    >>> table = peaks_qtable([("flux", 1, 0.01, 0.5, 1e-3)])
    >>> table["period"][0]
    <Quantity 100. s>
    """
    rows = _peak_rows(rows)
    table = QTable()
    try:
        table["series"] = np.array([row[0] for row in rows], dtype=str)
        table["rank"] = np.array([row[1] for row in rows], dtype=np.int32)
        frequency = np.array([row[2] for row in rows], dtype=float)
        table["frequency"] = frequency * u.Hz
        with np.errstate(divide="ignore"):
            table["period"] = (1.0 / frequency) * u.s
        table["power"] = np.array([row[3] for row in rows], dtype=float)
        table["false_alarm_probability"] = np.array([row[4] for row in rows], dtype=float)
        refined = [tuple(row[5:]) if len(row) == 10
                   else (np.nan, np.nan, np.nan, np.nan, FLAG_FAILED) for row in rows]
        for column, name in enumerate(REFINED_COLUMNS):
            if name == "refine_flag":
                table[name] = np.array([row[column] for row in refined], dtype=np.int16)
                continue
            values = np.array([row[column] for row in refined], dtype=float)
            table[name] = values * u.s if name.startswith("period") else values
    except (TypeError, ValueError, OverflowError) as exc:  # numpy's conversions of the values
        msg = f"peaks_qtable: a row has a value of the wrong kind ({exc})"
        raise ParameterError(msg) from exc
    return table


def _peak_rows(rows):
    """``rows`` as a list of 5-item rows, or a ParameterError."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        msg = f"peaks_qtable: rows={rows!r:.60} must be a sequence of peak rows"
        raise ParameterError(msg)
    rows = list(rows)
    for index, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sized) or len(row) not in (5, 10):
            msg = (f"peaks_qtable: rows[{index}]={row!r:.60} must be (series, rank, frequency, "
                   "power, false_alarm_probability), optionally followed by the "
                   f"{len(REFINED_COLUMNS)} refined columns")
            raise ParameterError(msg)
    return rows
