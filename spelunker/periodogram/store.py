"""Periodograms of a `~spelunker.GuideStarModel`: its series, its runs, its tables.

- `series_from_model`: the seven PSF parameters of a fit table (flagged
  frames left out, errors as weights) and the light curve's flux.
- `run_periodogram`: all of it on a model (fitting first if it has no fit
  table), the computation behind `~spelunker.PeriodogramStep`, one
  periodogram per group of `periodogram_groups`.
- `store_periodogram`, `periodogram_table`, `periodogram_peaks_table`: the
  model's ``periodogram`` and ``periodogram_peaks`` tables.
"""

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy import units as u
from astropy.table import QTable

from spelunker._validate import check_cpus, check_positive_float, thread_count
from spelunker.datamodels import check_model
from spelunker.datamodels.rows import run_slice
from spelunker.errors import GuideStarInputError, ParameterError, SpelunkerError
from spelunker.fitting import ensure_fit_table
from spelunker.periodogram.engines import PeriodogramResult, lomb_scargle
from spelunker.periodogram.peaks import REFINED_COLUMNS, peaks_qtable

__all__ = ["FIT_PARAMETERS", "PERIODOGRAM_SERIES", "series_from_model", "run_periodogram",
           "periodogram_groups", "store_periodogram", "periodogram_table",
           "periodogram_peaks_table"]

log = logging.getLogger(__name__)

#: The PSF parameters of a fit table that get a periodogram.
FIT_PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")

#: Every series of the model's ``periodogram`` table, in column order.
PERIODOGRAM_SERIES = (*FIT_PARAMETERS, "flux")

#: Columns of the ``periodogram`` table that are not power.
_TABLE_KEYS = ("visit_index", "guidestar_index", "frequency")


def series_from_model(model, *, fit_table="auto", ncpus=None):
    """The time series of a `~spelunker.GuideStarModel` that get a periodogram.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``frames`` table and a ``gauss_fit`` or
        ``quick_fit`` table (`~spelunker.GuideStarFitStep`); its
        ``lightcurve`` table is used if present.  Not modified.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        Fit table to read; ``'auto'`` prefers ``gauss_fit``.
    ncpus : int or None, optional
        Threads copying the table's columns (at most 2; None: every CPU
        this process may use, `spelunker._validate.thread_count`).  The
        results do not depend on it.

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
    spelunker.errors.ParameterError
        For an unknown ``fit_table`` or a bad ``ncpus``.
    spelunker.errors.GuideStarInputError
        For a model without frames table, without that fit table (or any
        fit table), or with tables whose lengths differ from the frame
        count.

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
    fit_table = check_model(model, where="series_from_model").fit_table_name(
        fit_table, name="fit_table")
    threads = thread_count(None if ncpus is None else check_cpus(ncpus), most=2)
    times, series, errors, usable = _series_in_place(model, fit_table)
    names = list(series)
    columns = [series[name] for name in names]
    columns += [errors[name] for name in names if errors[name] is not None]
    # Each column read from the table's rows into a float array of its own:
    # numpy's copies release the GIL, so two run at once (0.7 s at 2 million
    # frames one after the other, memory touched for the first time).
    with ThreadPoolExecutor(threads) as pool:
        floats = iter(pool.map(_float_copy, columns))
    series = {name: next(floats) for name in names}
    errors = {name: None if errors[name] is None else next(floats) for name in names}
    for name, clean in usable.items():
        series[name][~clean] = np.nan
    return times, series, errors, fit_table


def _series_in_place(model, fit_table):
    """`series_from_model`'s series read in place, flagged frames as they are.

    ``(times, series, errors, usable)``: the columns of the fit table
    ``fit_table`` (a name, checked) and of the light curve as the model
    holds them (views: float64 values, float32 errors), with ``usable``
    the unflagged frames of each fit parameter (`lomb_scargle`'s
    ``usable``).  The periodograms read them so, with no copy of the visit.
    """
    if not model.hasattr("frames"):
        msg = "the model has no frames table (frame times)"
        raise GuideStarInputError(msg)
    times = model.frame_seconds()
    n_frames = len(times)

    table = getattr(model, fit_table)
    _check_length(table, n_frames, fit_table)
    # Field access: a saved FITS_rec's raw storage holds uint32 with an offset.
    clean = np.asarray(table["flags"]) == 0
    series, errors = {}, {}
    for name in FIT_PARAMETERS:
        series[name] = np.asarray(table[name])
        errors[name] = _usable_errors(np.asarray(table[f"{name}_err"]),
                                      clean & np.isfinite(series[name]), name)
    n_flagged = n_frames - int(np.count_nonzero(clean))
    if n_flagged:
        log.info("%s: %d of %d frames flagged (fit flags != 0) and left out", fit_table,
                 n_flagged, n_frames)
    if model.hasattr("lightcurve"):
        lightcurve = model.lightcurve
        _check_length(lightcurve, n_frames, "lightcurve")
        series["flux"] = np.asarray(lightcurve["flux"])
        errors["flux"] = _usable_errors(np.asarray(lightcurve["flux_err"]),
                                        np.isfinite(series["flux"]), "flux")
    else:
        log.info("the model has no lightcurve table: no flux periodogram")
    return times, series, errors, dict.fromkeys(FIT_PARAMETERS, clean)


def run_periodogram(model, *, fit_table="auto", samples_per_peak=2.0, maximum_frequency=None,
                    n_peaks=5, engine="nifty", peak_samples_per_peak=5.0, ncpus=None):
    """Periodograms of every series of ``model``, one per visit and guide star, stored in it.

    The computation behind `~spelunker.PeriodogramStep`, shared with the
    notebook API: the fit table is computed first (quick fit, with a
    warning) if the model has none (`spelunker.fitting.ensure_fit_table`),
    then `lomb_scargle` runs on the series of `series_from_model` (read in
    place from the model's tables, the flagged frames passed as ``usable``
    instead of NaN written into copies), on the frames of each group of
    `periodogram_groups` (its grid bounded by the group's own span and
    cadence), and `store_periodogram` writes the tables.
    With several groups, a group too short for a periodogram is left out
    with a warning.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        Fit table whose parameters are analysed ('auto' prefers gauss_fit).
    samples_per_peak : float, optional
        Oversampling of the stored ``periodogram`` table (as in
        `lomb_scargle`); default 2, a tenth of a peak's height at most lost
        between grid points for evenly spread frames.
    peak_samples_per_peak : float, optional
        Oversampling of the grid the peaks are found on (as in
        `lomb_scargle`); default 5, the peaks of the 5-point grid in full,
        computed around the candidates only.  None: the stored grid.
    maximum_frequency, n_peaks, engine, ncpus
        As in `lomb_scargle` (``ncpus`` None: every CPU of the process).

    Returns
    -------
    list of (int, int, PeriodogramResult)
        ``(visit_index, guidestar_index, result)`` of every group computed.

    Raises
    ------
    spelunker.errors.SpelunkerError
        The error of `lomb_scargle` when the model has one group
        (`~spelunker.errors.ParameterError` for a bad option,
        `~spelunker.errors.GuideStarInputError` for a series too short); a
        `~spelunker.errors.GuideStarInputError` when none of several groups
        can have a periodogram (the warnings say why).

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
    fit_table = ensure_fit_table(check_model(model, where="run_periodogram"), fit_table)
    times, series, errors, usable = _series_in_place(model, fit_table)
    groups = periodogram_groups(model)
    results = []
    for visit_index, guidestar_index, frames in groups:
        label = f"visit {visit_index}, guide star {guidestar_index}"
        rows = run_slice(frames)  # one run of frames: views of the series, not copies
        try:
            result = lomb_scargle(
                times[rows] - times[frames[0]],
                {name: values[rows] for name, values in series.items()},
                errors={name: None if error is None else error[rows]
                        for name, error in errors.items()},
                usable={name: clean[rows] for name, clean in usable.items()},
                samples_per_peak=samples_per_peak, maximum_frequency=maximum_frequency,
                engine=engine, n_peaks=n_peaks, peak_samples_per_peak=peak_samples_per_peak,
                ncpus=ncpus)
        except SpelunkerError as exc:
            if len(groups) == 1:
                raise
            log.warning("no periodogram for %s (%d frames): %s", label, len(frames), exc)
            continue
        _log_summary(result, fit_table, label if len(groups) > 1 else None)
        results.append((visit_index, guidestar_index, result))
    if not results:
        msg = (f"none of the {len(groups)} visit/guide-star intervals can have a periodogram; "
               "see the warnings above")
        raise GuideStarInputError(msg)
    store_periodogram(model, results, source=fit_table, samples_per_peak=samples_per_peak)
    return results


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
        Its ``frames`` table (and ``files`` table, for the visits) is read.

    Returns
    -------
    list of (int, int, numpy.ndarray)
        The model's own grouping, `spelunker.GuideStarModel.frame_groups`:
        ``(visit_index, guidestar_index, frames)`` in time order, with
        ``visit_index`` the position in `spelunker.GuideStarModel.visits`,
        ``guidestar_index`` the row of the guide-star table and ``frames``
        the frame indices.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.periodogram import periodogram_groups
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + i / 86400, 0, int(i >= 3), i) for i in range(5)]
    >>> [(v, g, frames.tolist()) for v, g, frames in periodogram_groups(model)]
    [(0, 0, [0, 1, 2]), (0, 1, [3, 4])]
    """
    return check_model(model, where="periodogram_groups").frame_groups()


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
    spelunker.errors.ParameterError
        For a result that is not a `PeriodogramResult` (or a list of
        groups of them), a series the table has no column for, or power
        arrays whose length differs from the frequency grid.

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
    check_model(model, where="store_periodogram")
    groups = [(0, 0, result)] if isinstance(result, PeriodogramResult) else result
    if not isinstance(groups, (list, tuple)) or not all(
            isinstance(group, (list, tuple)) and len(group) == 3
            and all(isinstance(index, (int, np.integer)) for index in group[:2])
            and isinstance(group[2], PeriodogramResult) for group in groups):
        msg = ("result must be a PeriodogramResult or a list of (visit_index, guidestar_index, "
               f"PeriodogramResult), not {type(result).__name__}")
        raise ParameterError(msg)
    if samples_per_peak is not None:
        samples_per_peak = check_positive_float(samples_per_peak, "samples_per_peak")
    tables, peak_tables = [], []
    for visit_index, guidestar_index, group_result in groups:
        table, peaks = _group_tables(model, group_result)
        table["visit_index"] = peaks["visit_index"] = visit_index
        table["guidestar_index"] = peaks["guidestar_index"] = guidestar_index
        tables.append(table)
        peak_tables.append(peaks)
    if len(tables) == 1:  # one visit and guide star: its table, not a copy (48 MB at 1M)
        table = tables[0]
    else:
        table = np.concatenate(tables) if tables else np.zeros(
            0, model.table_dtype("periodogram"))
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
        raise ParameterError(msg)
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
            raise ParameterError(msg)
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
            raise ParameterError(msg)
        peaks["series"] = np.array(names, dtype=f"S{width}")
        peaks["rank"] = np.asarray(source_peaks["rank"])
        peaks["frequency"] = u.Quantity(source_peaks["frequency"], u.Hz).value
        peaks["period"] = u.Quantity(source_peaks["period"], u.s).value
        peaks["power"] = np.asarray(source_peaks["power"])
        peaks["false_alarm_probability"] = np.asarray(source_peaks["false_alarm_probability"])
        for name in REFINED_COLUMNS:
            column = source_peaks[name]
            peaks[name] = u.Quantity(column, u.s).value if name.startswith("period") \
                else np.asarray(column)
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
    spelunker.errors.GuideStarInputError
        If the model has no periodogram.
    """
    if not check_model(model, where="periodogram_table").hasattr("periodogram"):
        msg = ("the model has no periodogram table; run PeriodogramStep "
               "(strun spelunker_periodogram)")
        raise GuideStarInputError(msg)
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
        ``false_alarm_probability``, and the refined period of each peak
        (`spelunker.periodogram.refine_period`): ``period_refined``,
        ``period_error`` (s), ``amplitude``, ``amplitude_error`` (unit of
        the series) and ``refine_flag`` (0: good; NaN and flag 1 in a
        table stored before these columns existed).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        If the model has no peaks table.
    """
    if not check_model(model, where="periodogram_peaks_table").hasattr("periodogram_peaks"):
        msg = ("the model has no periodogram_peaks table; run PeriodogramStep "
               "(strun spelunker_periodogram)")
        raise GuideStarInputError(msg)
    stored = model.periodogram_peaks
    names = np.asarray(stored["series"])
    if names.dtype.kind == "S":
        names = np.char.decode(names, "ascii")
    columns = [names, np.asarray(stored["rank"]), np.asarray(stored["frequency"]),
               np.asarray(stored["power"]), np.asarray(stored["false_alarm_probability"])]
    if all(name in stored.dtype.names for name in REFINED_COLUMNS):
        columns += [np.asarray(stored[name]) for name in REFINED_COLUMNS]
    kinds = (str, int, float, float, float, float, float, float, float, int)
    table = peaks_qtable([tuple(kind(value) for kind, value in zip(kinds, row, strict=False))
                          for row in zip(*columns, strict=True)])
    table.add_column(np.asarray(stored["guidestar_index"], dtype=np.int64), index=0,
                     name="guidestar_index")
    table.add_column(np.asarray(stored["visit_index"], dtype=np.int64), index=0,
                     name="visit_index")
    return table


def _float_copy(column):
    """``column`` (a table's column) as a new float64 array."""
    return np.array(column, dtype=float)


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
    """Refuse a per-frame table of the model whose length is not the frame count."""
    if len(table) != n_frames:
        msg = f"the {name} table has {len(table)} rows; the model has {n_frames} frames"
        raise GuideStarInputError(msg)
