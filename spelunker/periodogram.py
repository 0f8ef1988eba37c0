"""Lomb-Scargle periodograms of guide-star time series.

Plain functions on arrays and on a `~spelunker.GuideStarModel`; the
`~spelunker.PeriodogramStep` and the notebook API both call them.

- `frequency_grid`: the default grid, from ``1 / baseline`` to the Nyquist
  frequency of the *median* cadence (about 9 Hz for fine-guide data), in
  steps of ``1 / (samples_per_peak * baseline)``.
- `lomb_scargle`: standard-normalised, floating-mean Lomb-Scargle of several
  series sharing one time axis, each with its own validity mask and
  optional uncertainties (weights), with the strongest peaks of each and
  their false-alarm probabilities.  Engine ``'nifty'`` (default) uses
  `nifty-ls <https://github.com/flatironinstitute/nifty-ls>`_ (a
  non-uniform FFT, accurate to about 1e-9 in power), batched over the
  series that share a mask; engine ``'astropy'`` uses astropy's exact
  ``method='cython'``, the slow reference.
- `series_from_model`: the seven PSF parameters of a fit table (flagged
  frames left out, errors as weights) and the light curve's flux.
- `store_periodogram`, `periodogram_table`, `periodogram_peaks_table`: the
  model's ``periodogram`` and ``periodogram_peaks`` tables.
- `run_periodogram`: all of it on a model (fitting first if it has no fit
  table), the computation behind the step.
"""

import logging
import time
from dataclasses import dataclass, field

import nifty_ls
import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time
from astropy.timeseries import LombScargle

from spelunker._validate import check_finite_float, check_positive_float, check_positive_int
from spelunker.errors import GuideStarInputError
from spelunker.fitting import ensure_fit_table

__all__ = [
    "PERIODOGRAM_SERIES",
    "FIT_PARAMETERS",
    "ENGINES",
    "PeriodogramResult",
    "frequency_grid",
    "lomb_scargle",
    "find_peaks",
    "series_from_model",
    "store_periodogram",
    "periodogram_table",
    "periodogram_peaks_table",
    "run_periodogram",
    "periodogram_groups",
]

log = logging.getLogger(__name__)

#: Largest memory (bytes) a periodogram may need before `lomb_scargle` refuses it.
MAX_MEMORY = 16e9

#: The PSF parameters of a fit table that get a periodogram.
FIT_PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")

#: Every series of the model's ``periodogram`` table, in column order.
PERIODOGRAM_SERIES = (*FIT_PARAMETERS, "flux")

#: Columns of the ``periodogram`` table that are not power.
_TABLE_KEYS = ("visit_index", "guidestar_index", "frequency")

#: Lomb-Scargle implementations `lomb_scargle` can use.
ENGINES = ("nifty", "astropy")

#: Fewest valid points for which a periodogram is computed (mean + sinusoid
#: is three parameters).
MIN_POINTS = 4

#: Most series per nifty-ls call: measured on 8 series of 1M points and 2.5M
#: frequencies (2 cores), batches of 4 took the same time as one batch of 8
#: (about 2.5 s) with 1.0 instead of 1.7 GB peak memory.
_MAX_BATCH = 4

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
    ValueError
        For non-finite times, fewer than two distinct times, a bad
        ``samples_per_peak``, or limits that leave fewer than two
        frequencies.

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
    samples_per_peak = check_positive_float(samples_per_peak, "samples_per_peak")
    if samples_per_peak < 1:
        msg = f"samples_per_peak={samples_per_peak!r} must be >= 1"
        raise ValueError(msg)
    baseline, cadence = _baseline_and_cadence(times)
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
        raise ValueError(msg)
    n_frequencies = int(np.floor((fmax - fmin) / step + 1e-9)) + 1
    while n_frequencies > 1 and fmin + step * (n_frequencies - 1) > fmax:
        n_frequencies -= 1
    if n_frequencies < 2:
        msg = (f"the grid from {fmin:.6g} to {fmax:.6g} Hz in steps of {step:.6g} Hz has "
               f"fewer than 2 frequencies; lower minimum_frequency, raise "
               f"maximum_frequency or samples_per_peak")
        raise ValueError(msg)
    _check_size(n_frequencies, 1, "nifty")  # refuse before allocating a huge grid
    return fmin + step * np.arange(n_frequencies)


def lomb_scargle(times, series, *, errors=None, frequency=None, samples_per_peak=5.0,
                 minimum_frequency=None, maximum_frequency=None, engine="nifty", n_peaks=5,
                 peak_separation=None):
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
        the whole mapping or one series) means unweighted.
    frequency : array-like or Quantity, optional
        Frequencies (Hz), increasing and positive; for engine ``'nifty'``
        a regular grid.  Default `frequency_grid` of ``times`` with the
        next three options, which must then not be given.
    samples_per_peak, minimum_frequency, maximum_frequency : optional
        Options of `frequency_grid`.
    engine : {'nifty', 'astropy'}, optional
        ``'nifty'``: `nifty_ls.lombscargle`, one batched transform per
        group of series sharing a mask.  ``'astropy'``:
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

    Returns
    -------
    PeriodogramResult
        ``frequency`` (Hz), ``power`` per series (float32), ``peaks``.

    Raises
    ------
    ValueError
        For inconsistent shapes, an unknown engine, bad grid options, or a
        grid that the engine cannot use.

    Notes
    -----
    A peak is an interior grid point that is higher than its left
    neighbour, at least as high as its right one, and the highest within
    ``peak_separation`` on both sides.  Its false-alarm probability is
    astropy's Baluev (2008) approximation for the grid's maximum
    frequency: the probability that noise alone gives a peak this high
    somewhere in the grid.

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
    if engine not in ENGINES:
        msg = f"engine={engine!r} is not one of {list(ENGINES)}"
        raise ValueError(msg)
    n_peaks = check_positive_int(n_peaks, "n_peaks")
    times = _as_seconds(times, "times")
    series = _as_series(series, len(times))
    errors = _as_errors(errors, series)
    if frequency is None:
        frequency = frequency_grid(times, samples_per_peak=samples_per_peak,
                                   minimum_frequency=minimum_frequency,
                                   maximum_frequency=maximum_frequency)
    else:
        if minimum_frequency is not None or maximum_frequency is not None:
            msg = "give either frequency or minimum_frequency / maximum_frequency, not both"
            raise ValueError(msg)
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
        mask = np.isfinite(values)
        if errors[name] is not None:
            mask &= np.isfinite(errors[name]) & (errors[name] > 0)
        n_points[name] = int(np.count_nonzero(mask))
        weighted[name] = errors[name] is not None
        reason = None
        if n_points[name] < MIN_POINTS:
            reason = f"{n_points[name]} valid point(s), fewer than {MIN_POINTS}"
        elif np.ptp(values[mask]) == 0:
            reason = "it is constant"
        if reason:
            log.warning("no periodogram of %s: %s", name, reason)
        else:
            masks[name] = mask

    _check_size(len(frequency), len(masks), engine)
    for mask, names in _group_by_mask(masks):
        start = time.perf_counter()
        t = times[mask]
        y = np.stack([series[name][mask] for name in names])
        if any(weighted[name] for name in names):
            dy = np.stack([errors[name][mask] if weighted[name] else np.ones(len(t))
                           for name in names])
        else:
            dy = None
        if engine == "nifty":
            group_power = _nifty_power(t, y, dy, frequency)
        else:
            group_power = _astropy_power(t, y, dy, frequency)
        for name, row in zip(names, group_power, strict=True):
            power[name] = np.asarray(row, dtype=np.float32)
        log.info("Lomb-Scargle (%s) of %s: %d points x %d frequencies in %.2f s", engine,
                 ", ".join(names), len(t), len(frequency), time.perf_counter() - start)

    # Series in the order given; NaN power for those that could not be computed.
    power = {name: power[name] if name in power
             else np.full(len(frequency), np.nan, dtype=np.float32) for name in series}
    rows = []
    spacing = np.median(np.diff(frequency)) if len(frequency) > 1 else 0.0
    for name in series:
        if name not in masks:
            continue
        mask = masks[name]
        separation = peak_separation
        if separation is None:  # the resolution of this series: 1 / its own valid baseline
            baseline = float(np.ptp(times[mask]))
            separation = 1.0 / baseline if baseline > 0 else 0.0
        window = max(1, int(round(separation / spacing))) if spacing > 0 else 1
        index = find_peaks(power[name], n_peaks=n_peaks, window=window)
        if not len(index):
            continue
        fap = _false_alarm_probability(times[mask], series[name][mask],
                                       errors[name][mask] if weighted[name] else None,
                                       power[name][index].astype(float), frequency[-1])
        for rank, (i, probability) in enumerate(zip(index, fap, strict=True), start=1):
            rows.append((name, rank, frequency[i], float(power[name][i]), probability))
    return PeriodogramResult(frequency=frequency, power=power, peaks=_peaks_qtable(rows),
                             n_points=n_points, weighted=weighted, engine=engine)


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
    if power.ndim != 1:
        msg = f"power must be 1-D, got shape {power.shape}"
        raise ValueError(msg)
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


def series_from_model(model, *, fit_table="auto"):
    """The time series of a `~spelunker.GuideStarModel` that get a periodogram.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``frames`` table and a ``gauss_fit`` or
        ``quick_fit`` table (`~spelunker.GuideStarFitStep`); its
        ``lightcurve`` table is used if present.  Not modified.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        Fit table to read; ``'auto'`` prefers ``gauss_fit``.

    Returns
    -------
    times : numpy.ndarray
        Mid-frame times, seconds since the first frame (leap seconds
        counted).
    series : dict of str to numpy.ndarray
        The seven PSF parameters (`FIT_PARAMETERS`), NaN on frames whose
        fit flags are not 0, and ``flux`` (DN/s) if the model has a light
        curve.
    errors : dict of str to numpy.ndarray or None
        The ``<name>_err`` columns (``flux_err``) for the series that have
        a finite positive error on some valid frame; None (unweighted)
        for the others, such as the moments fit's widths and theta.
    source : str
        The fit table used: ``'gauss_fit'`` or ``'quick_fit'``.

    Raises
    ------
    ValueError
        For an unknown ``fit_table``, a model without that table (or any
        fit table), or tables whose lengths differ from the frame count.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames
    >>> from spelunker.periodogram import FIT_PARAMETERS, series_from_model
    >>> from spelunker.fitting import store_fit
    >>> data, err, _ = simulate_frames(50, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> model.frames = [(60000.0 + i * 0.0538 / 86400, 0, 0, i) for i in range(50)]
    >>> _ = store_fit(model, fit_moments_frames(data, err), "quick")
    >>> times, series, errors, source = series_from_model(model)
    >>> source, sorted(series) == sorted(FIT_PARAMETERS), errors["theta"] is None
    ('quick_fit', True, True)
    """
    fit_table = model.fit_table_name(fit_table, name="fit_table")
    if not model.hasattr("frames"):
        msg = "the model has no frames table (frame times)"
        raise ValueError(msg)
    times = model.frame_seconds()
    n_frames = len(times)

    table = getattr(model, fit_table)
    _check_length(table, n_frames, fit_table)
    # Field access: a saved FITS_rec's raw storage holds uint32 with an offset.
    flags = np.asarray(table["flags"])
    clean = flags == 0
    series = {}
    errors = {}
    for name in FIT_PARAMETERS:
        values = np.array(table[name], dtype=float)
        values[~clean] = np.nan
        series[name] = values
        errors[name] = _usable_errors(np.asarray(table[f"{name}_err"], dtype=float),
                                      clean & np.isfinite(values), name)
    n_flagged = int(np.count_nonzero(~clean))
    if n_flagged:
        log.info("%s: %d of %d frames flagged (fit flags != 0) and left out", fit_table,
                 n_flagged, n_frames)
    if model.hasattr("lightcurve"):
        lightcurve = model.lightcurve
        _check_length(lightcurve, n_frames, "lightcurve")
        flux = np.array(lightcurve["flux"], dtype=float)
        series["flux"] = flux
        errors["flux"] = _usable_errors(np.asarray(lightcurve["flux_err"], dtype=float),
                                        np.isfinite(flux), "flux")
    else:
        log.info("the model has no lightcurve table: no flux periodogram")
    return times, series, errors, fit_table


def store_periodogram(model, result, *, source, samples_per_peak):
    """Write periodograms into the model's ``periodogram`` and ``periodogram_peaks`` tables.

    The one conversion from results to the model's tables, shared by
    `~spelunker.PeriodogramStep` and the notebook API.  Series of
    `PERIODOGRAM_SERIES` missing from a result get NaN power.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place: both tables and ``meta.spelunker.periodogram_source``
        and ``periodogram_samples_per_peak``.
    result : PeriodogramResult or list of (int, int, PeriodogramResult)
        One result (stored as visit 0, guide star 0), or one per group:
        ``(visit_index, guidestar_index, result)`` as `run_periodogram`
        makes them.
    source : str or None
        Fit table the parameters came from (``'gauss_fit'`` or
        ``'quick_fit'``); None records nothing.
    samples_per_peak : float or None
        Grid oversampling; None records nothing (e.g. a custom grid).

    Returns
    -------
    periodogram, peaks : numpy.ndarray
        The structured arrays stored (the schema's dtypes).

    Raises
    ------
    ValueError
        For a series the table has no column for, or power arrays whose
        length differs from the frequency grid.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.periodogram import lomb_scargle, store_periodogram
    >>> times = np.arange(500) * 0.0538
    >>> result = lomb_scargle(times, {"flux": np.sin(2 * np.pi * times / 3.0)})
    >>> model = GuideStarModel()
    >>> table, peaks = store_periodogram(model, result, source=None, samples_per_peak=5)
    >>> len(model.periodogram) == len(result.frequency), bool(np.isnan(table["theta"]).all())
    (True, True)
    """
    groups = [(0, 0, result)] if isinstance(result, PeriodogramResult) else list(result)
    tables, peak_tables = [], []
    for visit_index, guidestar_index, group_result in groups:
        table, peaks = _group_tables(model, group_result)
        table["visit_index"] = peaks["visit_index"] = visit_index
        table["guidestar_index"] = peaks["guidestar_index"] = guidestar_index
        tables.append(table)
        peak_tables.append(peaks)
    table = np.concatenate(tables) if tables else np.zeros(0, model.table_dtype("periodogram"))
    peaks = np.concatenate(peak_tables) if peak_tables else np.zeros(
        0, model.table_dtype("periodogram_peaks"))
    with model.trusted_assignment():
        model.periodogram = table
        model.periodogram_peaks = peaks
    if source is not None:
        model.meta.spelunker.periodogram_source = str(source)
    if samples_per_peak is not None:
        model.meta.spelunker.periodogram_samples_per_peak = float(samples_per_peak)
    return table, peaks


def _group_tables(model, result):
    """The periodogram and peak rows (schema dtypes) of one result."""
    dtype = model.table_dtype("periodogram")
    columns = [name for name in dtype.names if name not in _TABLE_KEYS]
    unknown = sorted(set(result.power) - set(columns))
    if unknown:
        msg = f"the periodogram table has no column for series {unknown}; columns: {columns}"
        raise ValueError(msg)
    frequency = np.asarray(result.frequency, dtype=float)
    table = np.zeros(len(frequency), dtype=dtype)
    table["frequency"] = frequency
    for name in columns:
        power = result.power.get(name)
        if power is None:
            table[name] = np.nan
            continue
        power = np.asarray(power)
        if power.shape != frequency.shape:
            msg = (f"power of {name!r} has shape {power.shape}; the frequency grid has "
                   f"{len(frequency)} points")
            raise ValueError(msg)
        table[name] = power

    peaks_dtype = model.table_dtype("periodogram_peaks")
    width = peaks_dtype["series"].itemsize
    source_peaks = result.peaks
    peaks = np.zeros(len(source_peaks), dtype=peaks_dtype)
    if len(source_peaks):
        names = [str(name) for name in source_peaks["series"]]
        too_long = [name for name in names if len(name.encode("ascii")) > width]
        if too_long:
            msg = f"series names longer than {width} characters: {sorted(set(too_long))}"
            raise ValueError(msg)
        peaks["series"] = np.array(names, dtype=f"S{width}")
        peaks["rank"] = np.asarray(source_peaks["rank"])
        peaks["frequency"] = u.Quantity(source_peaks["frequency"], u.Hz).value
        peaks["period"] = u.Quantity(source_peaks["period"], u.s).value
        peaks["power"] = np.asarray(source_peaks["power"])
        peaks["false_alarm_probability"] = np.asarray(source_peaks["false_alarm_probability"])
    return table, peaks


def periodogram_table(model):
    """Return the model's periodograms as a QTable with units.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``periodogram`` table (`store_periodogram`,
        `~spelunker.stpipe.periodogram_step.PeriodogramStep`).

    Returns
    -------
    astropy.table.QTable
        ``visit_index`` and ``guidestar_index`` (the group of each row, see
        `run_periodogram`), ``frequency`` (Hz) and one float32 power column
        per series of `PERIODOGRAM_SERIES` (dimensionless, NaN where the
        series was not available); ``meta`` holds ``source`` and
        ``samples_per_peak``.

    Raises
    ------
    ValueError
        If the model has no periodogram.
    """
    if not model.hasattr("periodogram"):
        msg = ("the model has no periodogram table; run PeriodogramStep "
               "(strun spelunker_periodogram)")
        raise ValueError(msg)
    stored = model.periodogram
    table = QTable()
    for name in ("visit_index", "guidestar_index"):
        table[name] = np.asarray(stored[name], dtype=np.int64)
    table["frequency"] = np.asarray(stored["frequency"], dtype=float) * u.Hz
    for name in stored.dtype.names:
        if name not in _TABLE_KEYS:
            table[name] = np.asarray(stored[name])
    table.meta["source"] = model.meta.spelunker.periodogram_source
    table.meta["samples_per_peak"] = model.meta.spelunker.periodogram_samples_per_peak
    return table


def periodogram_peaks_table(model):
    """Return the model's periodogram peaks as a QTable with units.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``periodogram_peaks`` table.

    Returns
    -------
    astropy.table.QTable
        ``visit_index``, ``guidestar_index`` (the group), ``series`` (str),
        ``rank``, ``frequency`` (Hz), ``period`` (s), ``power``,
        ``false_alarm_probability``.

    Raises
    ------
    ValueError
        If the model has no peaks table.
    """
    if not model.hasattr("periodogram_peaks"):
        msg = ("the model has no periodogram_peaks table; run PeriodogramStep "
               "(strun spelunker_periodogram)")
        raise ValueError(msg)
    stored = model.periodogram_peaks
    names = np.asarray(stored["series"])
    if names.dtype.kind == "S":
        names = np.char.decode(names, "ascii")
    rows = zip(names,
               np.asarray(stored["rank"]), np.asarray(stored["frequency"]),
               np.asarray(stored["power"]), np.asarray(stored["false_alarm_probability"]),
               strict=True)
    table = _peaks_qtable([(str(name), int(rank), float(freq), float(power), float(fap))
                           for name, rank, freq, power, fap in rows])
    table.add_column(np.asarray(stored["guidestar_index"], dtype=np.int64), index=0,
                     name="guidestar_index")
    table.add_column(np.asarray(stored["visit_index"], dtype=np.int64), index=0,
                     name="visit_index")
    return table


# --- engines -------------------------------------------------------------------------------


def periodogram_groups(model):
    """The frames of each periodogram of a model: one group per visit and guide star.

    A periodogram never spans several visits (its grid would be set by the
    gaps between them), nor several guide stars: their series have other
    levels and positions, and the steps between them would leak red noise
    into every frequency.  Within a group, gaps (re-acquisitions of the
    same star, missing segments) are left as they are: Lomb-Scargle needs
    no even sampling.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``frames`` table.

    Returns
    -------
    list of (int, int, numpy.ndarray)
        ``(visit_index, guidestar_index, frames)`` in time order:
        ``visit_index`` is the position in `spelunker.GuideStarModel.visits`,
        ``guidestar_index`` the row of the guide-star table, ``frames`` the
        frame indices.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.periodogram import periodogram_groups
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=1),
    ...                                 datasets.VisitSpec(visit=2, n_frames=200, n_segments=1)],
    ...     seed=1)
    >>> [(v, g, len(frames)) for v, g, frames in periodogram_groups(read_guidestar(visit.files))]
    [(0, 0, 300), (1, 1, 200)]
    """
    return model.frame_groups()


def run_periodogram(model, *, fit_table="auto", samples_per_peak=5.0, maximum_frequency=None,
                    n_peaks=5, engine="nifty"):
    """Periodograms of every series of ``model``, one per visit and guide star, stored in it.

    The computation behind `~spelunker.PeriodogramStep`, shared with the
    notebook API: the fit table is computed first (quick fit, with a
    warning) if the model has none (`spelunker.fitting.ensure_fit_table`),
    then `lomb_scargle` runs on the series of `series_from_model`, on the
    frames of each group of `periodogram_groups` (its grid bounded by the
    group's own span and cadence), and `store_periodogram` writes the tables.
    With several groups, a group too short for a periodogram is left out
    with a warning.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        Fit table whose parameters are analysed ('auto' prefers gauss_fit).
    samples_per_peak, maximum_frequency, n_peaks, engine
        As in `lomb_scargle`.

    Returns
    -------
    list of (int, int, PeriodogramResult)
        ``(visit_index, guidestar_index, result)`` of every group computed.

    Raises
    ------
    ValueError
        When no group can have a periodogram (the message says why).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.periodogram import run_periodogram
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=400, n_segments=1)], seed=1)
    >>> model = read_guidestar(visit.files)
    >>> groups = run_periodogram(model)   # runs the quick fit first
    >>> model.meta.spelunker.periodogram_source, len(groups)
    ('quick_fit', 1)
    """
    fit_table = ensure_fit_table(model, fit_table)
    times, series, errors, source = series_from_model(model, fit_table=fit_table)
    groups = periodogram_groups(model)
    results = []
    for visit_index, guidestar_index, frames in groups:
        label = f"visit {visit_index}, guide star {guidestar_index}"
        try:
            result = lomb_scargle(
                times[frames] - times[frames[0]],
                {name: values[frames] for name, values in series.items()},
                errors={name: None if error is None else error[frames]
                        for name, error in errors.items()},
                samples_per_peak=samples_per_peak, maximum_frequency=maximum_frequency,
                engine=engine, n_peaks=n_peaks)
        except ValueError as exc:
            if len(groups) == 1:
                raise
            log.warning("no periodogram for %s (%d frames): %s", label, len(frames), exc)
            continue
        _log_summary(result, source, label if len(groups) > 1 else None)
        results.append((visit_index, guidestar_index, result))
    if not results:
        msg = (f"none of the {len(groups)} visit/guide-star intervals can have a periodogram; "
               "see the warnings above")
        raise ValueError(msg)
    store_periodogram(model, results, source=source, samples_per_peak=samples_per_peak)
    return results


def _log_summary(result, source, label):
    log.info("periodograms of %d series (parameters from %s)%s on %d frequencies, "
             "%.4g to %.4g Hz", len(result.power), source, f" for {label}" if label else "",
             len(result.frequency), result.frequency[0], result.frequency[-1])
    peaks = result.peaks
    for name in result.power:
        rows = peaks[(peaks["series"] == name) & (peaks["rank"] == 1)]
        if len(rows):
            row = rows[0]
            log.info("  %-9s strongest peak: period %.6g s (%.6g Hz), power %.3g, FAP %.2g",
                     name, row["period"].value, row["frequency"].value, row["power"],
                     row["false_alarm_probability"])
        else:
            log.info("  %-9s no peak (%d valid points)", name, result.n_points.get(name, 0))


def _nifty_power(t, y, dy, frequency):
    """Batched nifty-ls power (float32), shape (n_series, n_frequencies)."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    power = np.empty((len(y), len(frequency)), dtype=np.float32)
    for first in range(0, len(y), _MAX_BATCH):
        batch = slice(first, first + _MAX_BATCH)
        result = nifty_ls.lombscargle(
            t,
            np.ascontiguousarray(y[batch], dtype=np.float64),
            None if dy is None else np.ascontiguousarray(dy[batch], dtype=np.float64),
            fmin=float(frequency[0]), fmax=float(frequency[-1]), Nf=len(frequency),
            center_data=True, fit_mean=True, normalization="standard",
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
              "of one visit at a time (GuideStarModel.select_visit or spelunker.visits.split_visits), "
              "or lower samples_per_peak or maximum_frequency")
    if estimate > MAX_MEMORY:
        msg = (f"the periodogram grid has {n_frequencies} frequencies for {n_series} series: "
               f"about {estimate / 1e9:.0f} GB of memory; {advice}")
        raise ValueError(msg)
    if estimate > MAX_MEMORY / 4:
        log.warning("the periodogram grid has %d frequencies: about %.1f GB of memory is "
                    "needed; %s", n_frequencies, estimate / 1e9, advice)


def _astropy_power(t, y, dy, frequency):
    """astropy's exact power, one series at a time, shape (n_series, n_frequencies)."""
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


def _false_alarm_probability(t, values, dy, power, maximum_frequency):
    """astropy's Baluev false-alarm probability of ``power`` (cheap: no periodogram)."""
    periodogram = LombScargle(t, values, dy, fit_mean=True, center_data=True,
                              normalization="standard")
    with np.errstate(over="ignore", under="ignore"):
        fap = periodogram.false_alarm_probability(power, method="baluev",
                                                  maximum_frequency=maximum_frequency)
    return np.clip(np.asarray(fap, dtype=float), 0.0, 1.0)


# --- helpers -------------------------------------------------------------------------------


def _group_by_mask(masks):
    """[(mask, [names])] of the series that share exactly the same mask, in order."""
    groups = []
    for name, mask in masks.items():
        for group_mask, names in groups:
            if np.array_equal(group_mask, mask):
                names.append(name)
                break
        else:
            groups.append((mask, [name]))
    return groups


def _peaks_qtable(rows):
    table = QTable()
    table["series"] = np.array([row[0] for row in rows], dtype=str)
    table["rank"] = np.array([row[1] for row in rows], dtype=np.int32)
    frequency = np.array([row[2] for row in rows], dtype=float)
    table["frequency"] = frequency * u.Hz
    with np.errstate(divide="ignore"):
        table["period"] = (1.0 / frequency) * u.s
    table["power"] = np.array([row[3] for row in rows], dtype=float)
    table["false_alarm_probability"] = np.array([row[4] for row in rows], dtype=float)
    return table


def _as_seconds(times, name):
    if isinstance(times, Time):
        times = (times - times.min()).to_value(u.s) if times.size else np.zeros(0)
    elif isinstance(times, u.Quantity):
        try:
            times = times.to_value(u.s)
        except u.UnitConversionError:
            msg = f"{name} must be in units of time, got {times.unit}"
            raise ValueError(msg) from None
    times = np.asarray(times, dtype=float)
    if times.ndim != 1:
        msg = f"{name} must be 1-D, got shape {times.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(times)):
        msg = f"{name} has {np.count_nonzero(~np.isfinite(times))} non-finite value(s)"
        raise ValueError(msg)
    return times


#: Evenly spaced times a default frequency grid needs (1/baseline below the Nyquist frequency).
_MIN_PERIODOGRAM_TIMES = 4


def _baseline_and_cadence(times):
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
    if not hasattr(series, "items"):
        series = {"series": series}
    if not series:
        msg = "no series given"
        raise ValueError(msg)
    checked = {}
    for name, values in series.items():
        if not isinstance(name, str) or not name:
            msg = f"series names must be non-empty strings, got {name!r}"
            raise ValueError(msg)
        values = np.asarray(u.Quantity(values).value if isinstance(values, u.Quantity)
                            else values, dtype=float)
        if values.shape != (n_times,):
            msg = f"series {name!r} has shape {values.shape}; times have {n_times} points"
            raise ValueError(msg)
        checked[name] = values
    return checked


def _as_errors(errors, series):
    if errors is None:
        errors = {}
    if not hasattr(errors, "items"):
        if len(series) != 1:
            msg = "errors must be a mapping of series name to array when several series are given"
            raise ValueError(msg)
        errors = {next(iter(series)): errors}
    unknown = sorted(set(errors) - set(series))
    if unknown:
        msg = f"errors given for unknown series {unknown}; series: {list(series)}"
        raise ValueError(msg)
    checked = {}
    for name, values in series.items():
        error = errors.get(name)
        if error is not None:
            if isinstance(error, u.Quantity):
                error = error.value
            error = np.asarray(error, dtype=float)
            if error.ndim == 0:
                error = np.full(values.shape, float(error))
            if error.shape != values.shape:
                msg = f"errors of {name!r} have shape {error.shape}; the series has {values.shape}"
                raise ValueError(msg)
        checked[name] = error
    return checked


def _usable_errors(error, valid, name):
    """``error`` if some valid frame has a finite positive one, else None (unweighted)."""
    usable = np.isfinite(error) & (error > 0)
    n_usable = int(np.count_nonzero(usable & valid))
    if n_usable == 0:
        log.debug("%s: no finite positive uncertainty; unweighted periodogram", name)
        return None
    n_dropped = int(np.count_nonzero(valid)) - n_usable
    if n_dropped:
        log.info("%s: %d valid frame(s) without a finite positive uncertainty left out",
                 name, n_dropped)
    return error


def _check_length(table, n_frames, name):
    if len(table) != n_frames:
        msg = f"the {name} table has {len(table)} rows; the model has {n_frames} frames"
        raise ValueError(msg)


def _checked_frequency(frequency, engine):
    frequency = np.asarray(u.Quantity(frequency, u.Hz).value if isinstance(frequency, u.Quantity)
                           else frequency, dtype=float)
    if frequency.ndim != 1 or len(frequency) < 2:
        msg = f"frequency must be a 1-D grid of at least 2 values, got shape {frequency.shape}"
        raise ValueError(msg)
    steps = np.diff(frequency)
    if not (np.all(np.isfinite(frequency)) and frequency[0] > 0 and np.all(steps > 0)):
        msg = "frequency must be finite, positive and increasing"
        raise ValueError(msg)
    if engine == "nifty" and not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        msg = ("engine 'nifty' needs a regular frequency grid (constant spacing); use "
               "frequency_grid, or engine='astropy' for an irregular grid")
        raise ValueError(msg)
    return frequency


def _frequency_value(value, name, *, zero=False):
    if isinstance(value, u.Quantity):
        try:
            value = value.to_value(u.Hz)
        except u.UnitConversionError:
            msg = f"{name} must be a frequency, got unit {value.unit}"
            raise ValueError(msg) from None
    value = check_finite_float(value, name)
    if value < 0 or (value == 0 and not zero):
        msg = f"{name}={value!r} must be {'>= 0' if zero else 'positive'} (Hz)"
        raise ValueError(msg)
    return value
