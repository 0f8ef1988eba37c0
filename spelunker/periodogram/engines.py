"""Compute the Lomb-Scargle periodograms of series that share one time axis, on plain arrays.

Its parts:

- `frequency_grid`: the default grid, from ``1 / baseline`` to the Nyquist
  frequency of the *median* cadence (about 9 Hz for fine-guide data), in
  steps of ``1 / (samples_per_peak * baseline)``.
- `lomb_scargle`: standard-normalised, floating-mean Lomb-Scargle of several
  series sharing one time axis, each with its own validity mask and
  optional uncertainties (weights), with the strongest peaks of each
  (`spelunker.periodogram.peaks`).  Engine ``'nifty'`` (default) uses
  `nifty-ls <https://github.com/flatironinstitute/nifty-ls>`_ (a
  non-uniform FFT, accurate to about 1e-9 in power), one series per
  transform (batches cost as much time and more memory); engine ``'astropy'`` uses astropy's exact
  ``method='cython'``, the slow reference.

They know nothing of the model (`spelunker.periodogram.store` runs them
on one).
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from spelunker._jit import njit
from spelunker._validate import (
    check_choice,
    check_cpus,
    check_finite_float,
    check_float_array,
    check_positive_float,
    check_positive_int,
    check_usable,
)
from spelunker.binning import check_times
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.periodogram.peaks import _series_peaks
from spelunker.periodogram.zoom import group_by_mask, zoom_periodograms

__all__ = ["ENGINES", "MAX_MEMORY", "MIN_POINTS", "PeriodogramResult", "frequency_grid",
           "lomb_scargle"]

log = logging.getLogger(__name__)

#: Largest memory (bytes) a periodogram may need before `lomb_scargle` refuses it.
MAX_MEMORY = 16e9

#: Lomb-Scargle implementations `lomb_scargle` can use.
ENGINES = ("nifty", "astropy")

#: Fewest valid points for which a periodogram is computed (mean + sinusoid
#: is three parameters).
MIN_POINTS = 4

#: Most series per nifty-ls call: measured on 7 series of 1M points and 2.5M
#: frequencies (2 cores), one series per call took 4 % more CPU than
#: batches of 4 (6.4 instead of 6.2 s) with 0.53 instead of 0.95 GB of
#: memory, which set the pipeline's peak (issue 23).  The power agrees to
#: float32 rounding (1e-8 relative).
_MAX_BATCH = 1

#: astropy's exact implementation used by engine ``'astropy'``.
_ASTROPY_METHOD = "cython"


@dataclass
class PeriodogramResult:
    """Lomb-Scargle periodograms of several series on one frequency grid.

    Attributes
    ----------
    frequency : numpy.ndarray
        float64 frequency grid (Hz).
    power : dict of str to numpy.ndarray
        float32 power (standard normalisation, between 0 and 1) of every
        series given, in the order given; all NaN for a series that had
        fewer than `MIN_POINTS` valid points or no variation.
    peaks : astropy.table.QTable
        The strongest peaks of every series: ``series``, ``rank`` (1 =
        strongest), ``frequency`` (Hz), ``period`` (s), ``power`` and
        ``false_alarm_probability``.
    n_points : dict of str to int
        Number of valid points used for each series.
    weighted : dict of str to bool
        Whether uncertainties were used as weights for each series.
    engine : str
        ``'nifty'`` or ``'astropy'``.
    """

    frequency: np.ndarray
    power: dict
    peaks: QTable
    n_points: dict = field(default_factory=dict)
    weighted: dict = field(default_factory=dict)
    engine: str = "nifty"

    def table(self):
        """Return the periodograms as a QTable: ``frequency`` (Hz) and one power column per series.

        Returns
        -------
        astropy.table.QTable
        """
        table = QTable()
        table["frequency"] = self.frequency * u.Hz
        for name, power in self.power.items():
            table[name] = power
        return table


def frequency_grid(times, *, samples_per_peak=5.0, minimum_frequency=None,
                   maximum_frequency=None):
    """Return the default regular frequency grid (Hz) for sampling ``times``.

    The grid runs from ``1 / baseline`` to the Nyquist frequency of the
    median cadence, ``0.5 / median(diff(times))``, in steps of
    ``1 / (samples_per_peak * baseline)``, where ``baseline`` is the span
    of ``times``.  The last frequency never exceeds the maximum.  Unlike
    astropy's ``autofrequency``, which runs to five times the Nyquist
    frequency of the *mean* cadence, the default stops where fine-guide
    data stop carrying information (about 9 Hz at 53.8 ms per frame).

    Parameters
    ----------
    times : array-like, `~astropy.units.Quantity` or `~astropy.time.Time`
        Sample times: seconds (plain numbers), a time Quantity, or Time.
        Need not be sorted; must be finite.
    samples_per_peak : float, optional
        Grid points per ``1 / baseline`` (the width of a peak); at least 1.
    minimum_frequency, maximum_frequency : float or Quantity, optional
        Limits of the grid (Hz, or a frequency Quantity); default
        ``1 / baseline`` and the Nyquist frequency of the median cadence.

    Returns
    -------
    numpy.ndarray
        float64 frequencies in Hz, increasing, at least two.

    Raises
    ------
    spelunker.errors.ParameterError
        For times that are not finite numbers, a bad ``samples_per_peak``,
        or limits that leave fewer than two frequencies.
    spelunker.errors.GuideStarInputError
        For a series too short for a periodogram (fewer than two distinct
        times, or a default grid with no frequency below the Nyquist
        frequency).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.periodogram import frequency_grid
    >>> times = np.arange(1000) * 0.0538   # 53.8 ms cadence: baseline 53.7462 s
    >>> grid = frequency_grid(times)
    >>> round(float(grid[0] * 53.7462), 12), round(float((grid[1] - grid[0]) * 5 * 53.7462), 12)
    (1.0, 1.0)
    >>> len(grid), float(grid[-1].round(4)), float(round(0.5 / 0.0538, 4))
    (2493, 9.2918, 9.2937)
    """
    times = _as_seconds(times, "times")
    fmin, step, n_frequencies = _grid(times, samples_per_peak, minimum_frequency,
                                      maximum_frequency)
    return fmin + step * np.arange(n_frequencies)


def _grid(times, samples_per_peak, minimum_frequency, maximum_frequency, *, span=None):
    """``(fmin, step, n)`` of `frequency_grid` (``times`` checked seconds), its checks.

    ``span``: ``(baseline, cadence)`` of ``times`` if already known.
    """
    samples_per_peak = check_positive_float(samples_per_peak, "samples_per_peak")
    if samples_per_peak < 1:
        msg = f"samples_per_peak={samples_per_peak!r} must be >= 1"
        raise ParameterError(msg)
    baseline, cadence = _baseline_and_cadence(times) if span is None else span
    step = 1.0 / (samples_per_peak * baseline)
    fmin = (1.0 / baseline if minimum_frequency is None
            else _frequency_value(minimum_frequency, "minimum_frequency"))
    fmax = (0.5 / cadence if maximum_frequency is None
            else _frequency_value(maximum_frequency, "maximum_frequency"))
    if fmax <= fmin and minimum_frequency is None and maximum_frequency is None:
        msg = (f"the series is too short for a periodogram: {len(np.unique(times))} distinct "
               f"times over {baseline:.4g} s, so the lowest frequency it resolves (1/baseline, "
               f"{fmin:.4g} Hz) is not below its Nyquist frequency ({fmax:.4g} Hz); at least "
               f"{_MIN_PERIODOGRAM_TIMES} evenly spaced times (frames) are needed")
        raise GuideStarInputError(msg)
    if fmax <= fmin:
        msg = (f"maximum frequency {fmax:.6g} Hz is not above the minimum frequency "
               f"{fmin:.6g} Hz (baseline {baseline:.6g} s, median cadence {cadence:.6g} s)")
        raise ParameterError(msg)
    n_frequencies = int(np.floor((fmax - fmin) / step + 1e-9)) + 1
    while n_frequencies > 1 and fmin + step * (n_frequencies - 1) > fmax:
        n_frequencies -= 1
    if n_frequencies < 2:
        msg = (f"the grid from {fmin:.6g} to {fmax:.6g} Hz in steps of {step:.6g} Hz has "
               f"fewer than 2 frequencies; lower minimum_frequency, raise "
               f"maximum_frequency or samples_per_peak")
        raise ParameterError(msg)
    _check_size(n_frequencies, 1, "nifty")  # refuse before allocating a huge grid
    return fmin, step, n_frequencies


def lomb_scargle(times, series, *, errors=None, frequency=None, samples_per_peak=5.0,
                 minimum_frequency=None, maximum_frequency=None, engine="nifty", n_peaks=5,
                 peak_separation=None, peak_samples_per_peak=None, ncpus=None, usable=None):
    """Lomb-Scargle periodograms of several series sampled at the same times.

    Each series is fitted at every frequency with a sinusoid plus a
    constant (floating mean), weighted by ``1 / errors**2`` where errors are
    given, and its power is given in astropy's *standard* normalisation,
    ``1 - chi2(f) / chi2_ref`` (between 0 and 1; ``chi2_ref`` is that of
    the weighted mean alone).  Every series has its own validity mask:
    finite values and, where errors are given, finite positive errors.

    Parameters
    ----------
    times : array-like, `~astropy.units.Quantity` or `~astropy.time.Time`
        The shared time axis (seconds if plain numbers), finite.
    series : mapping of str to array-like, or array-like
        Series (same length as ``times``); NaN marks a missing point.  A
        single 1-D array is named ``'series'``.
    errors : mapping of str to array-like or None, optional
        1-sigma uncertainties of some series, used as weights; None (for
        the whole mapping or one series) means unweighted.  float32 arrays
        (a fit table's) are read as they are, in float64 where used.
    frequency : array-like or Quantity, optional
        Frequencies (Hz), increasing and positive; for engine ``'nifty'``
        a regular grid.  Default `frequency_grid` of ``times`` with the
        next three options, which must then not be given.
    samples_per_peak, minimum_frequency, maximum_frequency : optional
        Options of `frequency_grid`.
    peak_samples_per_peak : float, optional
        Grid points per ``1 / baseline`` of the grid the peaks are found on;
        default (None) ``samples_per_peak``, the returned grid.  A larger
        value (engine ``'nifty'``, default grid) keeps the returned power on
        the coarse ``samples_per_peak`` grid and finds the peaks on the
        finer one, its power computed only around the candidates
        (`spelunker.periodogram.zoom`): the same peaks as on that grid in
        full, for a fraction of its time.
    engine : {'nifty', 'astropy'}, optional
        ``'nifty'``: `nifty_ls.lombscargle`, one transform per
        series (batches of `_MAX_BATCH` series sharing a mask).  ``'astropy'``:
        `astropy.timeseries.LombScargle` with ``method='cython'``, exact
        but O(points x frequencies): a reference for small problems.
    n_peaks : int, optional
        Number of peaks to report per series.
    peak_separation : float, optional
        Half-width (Hz) of the neighbourhood in which a peak must be the
        highest point; default ``1 / baseline``, the frequency resolution,
        which also keeps the side lobes of a strong peak out of the list.
        The baseline is that of each series' own valid points: a series
        masked at the ends has broader peaks and side lobes farther apart.
    ncpus : int, optional
        Threads of engine ``'nifty'`` (capped at the CPUs this process may
        use): with zoomed peaks, series computed at once (at most 2, for
        memory), 1 computing them in the calling thread; otherwise the
        threads of each nifty-ls transform.  Default (None): every CPU of
        the process.  The results do not depend on it.
    usable : mapping of str to array-like of bool, optional
        Points of a series that may be used; the others are left out as
        NaN values are (a fit table's flagged frames, read in place
        without a copy to write NaN into).  Series not named: every point.

    Returns
    -------
    PeriodogramResult
        ``frequency`` (Hz), ``power`` per series (float32), ``peaks``.

    Raises
    ------
    spelunker.errors.ParameterError
        For inconsistent shapes, an unknown engine, bad grid options, or a
        grid that the engine cannot use (or that would need more than
        `MAX_MEMORY`).
    spelunker.errors.GuideStarInputError
        For a series too short for the default grid.

    Notes
    -----
    A peak is an interior grid point that is higher than its left
    neighbour, at least as high as its right one, and the highest within
    ``peak_separation`` on both sides.  Its false-alarm probability is
    Baluev's (2008) approximation (astropy's ``method='baluev'``) for the
    grid's last frequency: the probability that noise alone gives a peak
    this high somewhere in the grid.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.periodogram import lomb_scargle
    >>> rng = np.random.default_rng(1)
    >>> times = np.sort(rng.uniform(0, 100, 2000))
    >>> wobble = 0.1 * np.sin(2 * np.pi * times / 2.5) + rng.normal(0, 0.05, 2000)
    >>> result = lomb_scargle(times, {"x_mean": wobble}, n_peaks=2)
    >>> best = result.peaks[0]
    >>> float(best["period"].value.round(2)), bool(best["false_alarm_probability"] < 1e-3)
    (2.5, True)
    """
    engine = check_choice(engine, "engine", ENGINES)
    n_peaks = check_positive_int(n_peaks, "n_peaks")
    if ncpus is not None:
        ncpus = check_cpus(ncpus, log=log)
    times = _as_seconds(times, "times")
    series = _as_series(series, len(times))
    errors = _as_errors(errors, series)
    usable = check_usable(usable, series, times.shape)
    zoom = fine_frequency = None
    if frequency is None:
        span = _baseline_and_cadence(times)
        fmin, step, n_frequencies = _grid(times, samples_per_peak, minimum_frequency,
                                          maximum_frequency, span=span)
        frequency = fmin + step * np.arange(n_frequencies)
        if peak_samples_per_peak is not None:
            _, fine_step, n_fine = _grid(times, peak_samples_per_peak, minimum_frequency,
                                         maximum_frequency, span=span)
            if fine_step < step and engine == "nifty":
                zoom = {"fmin": fmin, "step": step, "n_power": n_frequencies,
                        "fine_step": fine_step, "n_fine": n_fine}
            elif fine_step < step:  # 'astropy': the fine grid in full
                fine_frequency = fmin + fine_step * np.arange(n_fine)
    else:
        if minimum_frequency is not None or maximum_frequency is not None:
            msg = "give either frequency or minimum_frequency / maximum_frequency, not both"
            raise ParameterError(msg)
        if peak_samples_per_peak is not None:
            msg = "give either frequency or peak_samples_per_peak, not both"
            raise ParameterError(msg)
        frequency = _checked_frequency(frequency, engine)
    if peak_separation is not None:
        peak_separation = _frequency_value(peak_separation, "peak_separation", zero=True)
    # A time shift leaves the power unchanged and keeps phases accurate.
    times = times - times.min()

    power = {}
    weighted = {}
    n_points = {}
    masks = {}
    for name, values in series.items():
        mask, n_points[name], lowest, highest = _valid_points(values, errors[name],
                                                              usable.get(name))
        weighted[name] = errors[name] is not None
        reason = None
        if n_points[name] < MIN_POINTS:
            reason = f"{n_points[name]} valid point(s), fewer than {MIN_POINTS}"
        elif lowest == highest:
            reason = "it is constant"
        if reason:
            log.warning("no periodogram of %s: %s", name, reason)
        else:
            masks[name] = mask

    if zoom is not None:
        _check_size(2 * zoom["n_power"], len(masks), engine)
        start = time.perf_counter()
        power, peaks = zoom_periodograms(times, series, errors, masks, n_peaks=n_peaks,
                                         peak_separation=peak_separation, threads=ncpus,
                                         **zoom)
        log.info("Lomb-Scargle (%s) of %d series: %d points x %d frequencies, peaks on a "
                 "grid of %d, in %.2f s", engine, len(masks), len(times), len(frequency),
                 zoom["n_fine"], time.perf_counter() - start)
    else:
        # These engines read float64 errors.
        errors = {name: None if error is None else np.asarray(error, dtype=float)
                  for name, error in errors.items()}
        power = _powers(times, series, errors, masks, frequency, engine, ncpus)
        peak_frequency, peak_power = frequency, power
        if fine_frequency is not None:
            peak_frequency = fine_frequency
            peak_power = _powers(times, series, errors, masks, fine_frequency, engine, ncpus)
        peaks = _series_peaks(times, peak_frequency, peak_power, series, masks, errors,
                              n_peaks=n_peaks, peak_separation=peak_separation)
    # Series in the order given; NaN power for those that could not be computed.
    power = {name: power[name] if name in power
             else np.full(len(frequency), np.nan, dtype=np.float32) for name in series}
    return PeriodogramResult(frequency=frequency, power=power, peaks=peaks,
                             n_points=n_points, weighted=weighted, engine=engine)


def _valid_points(values, errors, usable):
    """``(mask, count, lowest, highest)`` of a series' valid points, in one pass.

    Valid: a finite value, usable (``usable`` None: every point) and, with
    ``errors`` (None: unweighted), a finite positive error.  The series,
    its errors and ``usable`` are read once, where they are (a fit table's
    columns: one pass over its rows, where numpy's expressions made five).
    """
    mask = np.empty(values.shape, dtype=bool)
    count, lowest, highest = _valid_kernel(
        values, np.zeros(0) if errors is None else errors,
        np.zeros(0, dtype=bool) if usable is None else usable, mask)
    return mask, int(count), float(lowest), float(highest)


@njit(cache=True, nogil=True)
def _valid_kernel(values, errors, usable, mask):
    """`_valid_points`: ``mask`` filled; count and extremes of the valid values returned."""
    weighted = errors.size > 0
    every = usable.size == 0
    count = 0
    lowest = np.inf
    highest = -np.inf
    for i in range(values.size):
        value = values[i]
        valid = np.isfinite(value) and (every or usable[i])
        if valid and weighted:
            error = errors[i]
            valid = np.isfinite(error) and error > 0
        mask[i] = valid
        if valid:
            count += 1
            lowest = min(lowest, value)
            highest = max(highest, value)
    return count, lowest, highest


def _powers(times, series, errors, masks, frequency, engine, ncpus=None):
    """float32 power on ``frequency`` of every series of ``masks`` (all NaN for the others).

    ``ncpus``: threads of each nifty-ls transform (None: nifty-ls's default).
    """
    _check_size(len(frequency), len(masks), engine)
    power = {}
    for mask, names in group_by_mask(masks):
        start = time.perf_counter()
        t = times[mask]
        y = np.stack([series[name][mask] for name in names])
        if any(errors[name] is not None for name in names):
            dy = np.stack([errors[name][mask] if errors[name] is not None else np.ones(len(t))
                           for name in names])
        else:
            dy = None
        if engine == "nifty":
            group_power = _nifty_power(t, y, dy, frequency, ncpus)
        else:
            group_power = _astropy_power(t, y, dy, frequency)
        for name, row in zip(names, group_power, strict=True):
            power[name] = np.asarray(row, dtype=np.float32)
        log.info("Lomb-Scargle (%s) of %s: %d points x %d frequencies in %.2f s", engine,
                 ", ".join(names), len(t), len(frequency), time.perf_counter() - start)
    return {name: power.get(name, np.full(len(frequency), np.nan, dtype=np.float32))
            for name in series}


def _nifty_power(t, y, dy, frequency, ncpus=None):
    """Batched nifty-ls power (float32), shape (n_series, n_frequencies); ``ncpus`` threads."""
    # heavy: nifty_ls and the astropy.timeseries it loads (~11 ms), which a command's --help
    # need not pay
    import nifty_ls

    threads = {} if ncpus is None else {"nthreads": ncpus}
    t = np.ascontiguousarray(t, dtype=np.float64)
    power = np.empty((len(y), len(frequency)), dtype=np.float32)
    for first in range(0, len(y), _MAX_BATCH):
        batch = slice(first, first + _MAX_BATCH)
        result = nifty_ls.lombscargle(
            t,
            np.ascontiguousarray(y[batch], dtype=np.float64),
            None if dy is None else np.ascontiguousarray(dy[batch], dtype=np.float64),
            fmin=float(frequency[0]), fmax=float(frequency[-1]), Nf=len(frequency),
            center_data=True, fit_mean=True, normalization="standard", **threads,
        )
        power[batch] = np.atleast_2d(result.power)
    return power


def _check_size(n_frequencies, n_series, engine):
    """Refuse a grid whose memory would exceed `MAX_MEMORY`; warn above a quarter of it."""
    if not n_series:
        return
    # Measured: a nifty-ls batch needs about 84 bytes per frequency and
    # series (finufft's complex outputs and fine grid); results are float32.
    per_frequency = 84 * min(n_series, _MAX_BATCH) if engine == "nifty" else 16
    estimate = n_frequencies * (per_frequency + 4 * n_series + 8)
    advice = ("a long time span (several visits?) makes a fine grid: compute the periodogram "
              "of one visit at a time (GuideStarModel.select_visit or "
              "spelunker.visits.split_visits), or lower samples_per_peak or maximum_frequency")
    if estimate > MAX_MEMORY:
        msg = (f"the periodogram grid has {n_frequencies} frequencies for {n_series} series: "
               f"about {estimate / 1e9:.0f} GB of memory; {advice}")
        raise ParameterError(msg)
    if estimate > MAX_MEMORY / 4:
        log.warning("the periodogram grid has %d frequencies: about %.1f GB of memory is "
                    "needed; %s", n_frequencies, estimate / 1e9, advice)


def _astropy_power(t, y, dy, frequency):
    """astropy's exact power, one series at a time, shape (n_series, n_frequencies)."""
    # heavy: astropy.timeseries (~7 ms), which a command's --help need not pay
    from astropy.timeseries import LombScargle

    if len(t) * len(frequency) > 1e10:
        log.warning("engine 'astropy' is exact but slow: %d points x %d frequencies per "
                    "series; engine 'nifty' gives the same power to ~1e-9",
                    len(t), len(frequency))
    rows = []
    for i, values in enumerate(y):
        periodogram = LombScargle(t, values, None if dy is None else dy[i], fit_mean=True,
                                  center_data=True, normalization="standard")
        rows.append(periodogram.power(frequency, method=_ASTROPY_METHOD))
    return np.array(rows)


# --------------------------------------------------------------------------
# Checks


def _as_seconds(times, name):
    """``times`` (numbers in seconds, a time Quantity or Time) as float seconds, checked."""
    if isinstance(times, Time):
        times = (times - times.min()).to_value(u.s) if times.size else np.zeros(0)
    return check_times(_in_unit(times, u.s, name, "in units of time"), name=name)


def _in_unit(value, unit, name, kind):
    """A Quantity ``value`` in ``unit`` (other values as given); refused if it is not ``kind``."""
    if not isinstance(value, u.Quantity):
        return value
    try:
        return value.to_value(unit)
    except u.UnitConversionError:
        msg = f"{name} must be {kind}, got unit {value.unit}"
        raise ParameterError(msg) from None


#: Evenly spaced times a default frequency grid needs (1/baseline below the Nyquist frequency).
_MIN_PERIODOGRAM_TIMES = 4


def _baseline_and_cadence(times):
    """The span of ``times`` and their median step between distinct values."""
    steps = np.diff(times)
    ordered = times
    if np.any(steps < 0):  # frame times are usually in order already
        ordered = np.sort(times)
        steps = np.diff(ordered)
    steps = steps[steps > 0]
    if not len(steps):
        msg = (f"the series is too short for a periodogram: {len(np.unique(times))} distinct "
               f"time(s) (frames), and at least two distinct values are needed "
               f"({_MIN_PERIODOGRAM_TIMES} evenly spaced ones for the default frequency grid)")
        raise GuideStarInputError(msg)
    return float(ordered[-1] - ordered[0]), float(np.median(steps))


def _as_series(series, n_times):
    """``series`` as a dict of name to float array of ``n_times`` points."""
    if not hasattr(series, "items"):
        series = {"series": series}
    if not series:
        msg = "no series given"
        raise ParameterError(msg)
    checked = {}
    for name, values in series.items():
        if not isinstance(name, str) or not name:
            msg = f"series names must be non-empty strings, got {name!r}"
            raise ParameterError(msg)
        values = check_float_array(values.value if isinstance(values, u.Quantity) else values,
                            f"series {name!r}")
        if values.shape != (n_times,):
            msg = f"series {name!r} has shape {values.shape}; times have {n_times} points"
            raise ParameterError(msg)
        checked[name] = values
    return checked


def _as_errors(errors, series):
    """``errors`` as a dict of every series name to a float array of its shape, or None."""
    if errors is None:
        errors = {}
    if not hasattr(errors, "items"):
        if len(series) != 1:
            msg = "errors must be a mapping of series name to array when several series are given"
            raise ParameterError(msg)
        errors = {next(iter(series)): errors}
    unknown = sorted(set(errors) - set(series))
    if unknown:
        msg = f"errors given for unknown series {unknown}; series: {list(series)}"
        raise ParameterError(msg)
    checked = {}
    for name, values in series.items():
        error = errors.get(name)
        if error is not None:
            if isinstance(error, u.Quantity):
                error = error.value
            # float32 (a fit table's column) as it is: no float64 copy of the visit
            error = check_float_array(error, f"errors of {name!r}", keep_float32=True)
            if error.ndim == 0:
                error = np.full(values.shape, float(error))
            if error.shape != values.shape:
                msg = f"errors of {name!r} have shape {error.shape}; the series has {values.shape}"
                raise ParameterError(msg)
        checked[name] = error
    return checked


def _checked_frequency(frequency, engine):
    """A user's frequency grid (Hz) that ``engine`` can use."""
    frequency = check_float_array(_in_unit(frequency, u.Hz, "frequency", "a frequency"),
                                  "frequency")
    if frequency.ndim != 1 or len(frequency) < 2:
        msg = f"frequency must be a 1-D grid of at least 2 values, got shape {frequency.shape}"
        raise ParameterError(msg)
    steps = np.diff(frequency)
    if not (np.all(np.isfinite(frequency)) and frequency[0] > 0 and np.all(steps > 0)):
        msg = "frequency must be finite, positive and increasing"
        raise ParameterError(msg)
    if engine == "nifty" and not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        msg = ("engine 'nifty' needs a regular frequency grid (constant spacing); use "
               "frequency_grid, or engine='astropy' for an irregular grid")
        raise ParameterError(msg)
    return frequency


def _frequency_value(value, name, *, zero=False):
    """A frequency (Hz, or a frequency Quantity) as a float > 0 (>= 0 with ``zero``)."""
    value = check_finite_float(_in_unit(value, u.Hz, name, "a frequency"), name)
    if value < 0 or (value == 0 and not zero):
        msg = f"{name}={value!r} must be {'>= 0' if zero else 'positive'} (Hz)"
        raise ParameterError(msg)
    return value
