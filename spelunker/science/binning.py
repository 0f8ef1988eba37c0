"""Binning the guide-star series onto the integrations of a science exposure.

`guidestar_series` gathers the series a model holds (the fitted PSF
parameters, the photometry, the on-board centroids and the POINTING jitter),
each on its own time axis; `bin_to_integrations` bins them onto the
integrations read by `spelunker.science.reading.integration_times` (a
compiled kernel computes the mean, median, standard error and count of each
integration) and flags the integrations touched by an event;
`frame_times_bjd` gives every frame's time in BJD_TDB.

A frame belongs to integration ``k`` when its mid-time ``t`` (UTC) satisfies
``start_k <= t < end_k``.  A frame is *flagged* when its fit has a nonzero
flag (`spelunker.fitting.flags`); flagged frames, and non-finite values, are
left out of every statistic of that frame's series and counted in
``flagged_fraction``.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from astropy.timeseries import TimeSeries

from spelunker._jit import njit
from spelunker.barycentric import Ephemeris, barycentric_times, bjd_from_int_times
from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError, ScienceInputError
from spelunker.events import EVENT_KINDS
from spelunker.fitting.result import PARAMETER_UNITS
from spelunker.science.reading import (_header_target, _model_header, _read_int_times,
                                       _target_coord, _times_call, integration_times)

__all__ = ["bin_to_integrations", "frame_times_bjd", "guidestar_series"]

log = logging.getLogger(__name__)

#: The fit parameters binned (units as in the fit tables).
_FIT_SERIES = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")

#: Units of the on-board series: centroid packets (arcsec) and POINTING jitter (mas).
_ONBOARD_SERIES = {"centroid_x": ("centroid_table", "guide_star_position_x", u.arcsec),
                   "centroid_y": ("centroid_table", "guide_star_position_y", u.arcsec),
                   "jitter": ("pointing_table", "jitter", u.mas)}


# --------------------------------------------------------------------------
# Frame times in BJD_TDB


def frame_times_bjd(model, science=None, *, target=None, observer=None):
    """Every frame's mid-time in BJD_TDB.

    The sources, in order: the science product's ``INT_TIMES`` (its own
    BJD_TDB - UTC relation interpolated onto the frames; exact to well under
    1 ms over a visit), the product's JWST ephemeris keywords with its target
    coordinates, or ``target`` and ``observer`` given here.  The accuracy of
    each is in `spelunker.barycentric`.

    Parameters
    ----------
    model : spelunker.GuideStarModel
    science : str, os.PathLike or stdatamodels model, optional
        A science product with ``INT_TIMES`` (and ``TARG_RA``/``TARG_DEC``,
        ``JWST_X``... keywords).
    target : astropy.coordinates.SkyCoord or (float, float), optional
    observer : spelunker.barycentric.Ephemeris, EarthLocation, 'geocenter' or Quantity, optional

    Returns
    -------
    astropy.time.Time
        Scale ``tdb``, one per frame; ``.info.meta['time_source']`` says
        which source was used.

    Raises
    ------
    spelunker.errors.ScienceInputError
        When no source applies.
    """
    _frame_mjd(model)
    frames = model.frame_times
    int_times_problem = None
    if science is not None and observer is None:
        try:
            columns, _, name = _read_int_times(science)
            bjd = bjd_from_int_times(frames, columns)
            bjd.info.meta = {"time_source": f"INT_TIMES of {name}"}
            log.info("frame times in BJD_TDB from the INT_TIMES of %s", name)
            return bjd
        except ScienceInputError as exc:
            int_times_problem = str(exc)
            log.info("no INT_TIMES route (%s); trying the ephemeris", exc)
    target = _target_coord(target)
    source = "observer"
    if observer is None and science is not None:
        try:
            observer = Ephemeris.from_header(science)
        except ScienceInputError as exc:  # say why neither route applies
            msg = (f"frame times in BJD_TDB: no usable INT_TIMES ({int_times_problem}), and "
                   f"{exc}")
            raise ScienceInputError(msg) from None
        source = f"ephemeris of {observer.source}"
        if target is None:
            path = isinstance(science, (str, Path)) or hasattr(science, "__fspath__")
            header = fits.getheader(science) if path else _model_header(science)
            target = _header_target(header, str(science))
    if target is None or observer is None:
        msg = ("frame times in BJD_TDB need a science product with INT_TIMES, or the "
               "target's coordinates (target=) and JWST's position (observer=)")
        raise ScienceInputError(msg)
    bjd = _times_call(barycentric_times, frames, target, observer=observer)
    bjd.info.meta = {"time_source": source}
    return bjd


# --------------------------------------------------------------------------
# The guide-star series


@dataclass(frozen=True)
class _Series:
    """One guide-star series on its own time axis."""

    mjd: np.ndarray  # UTC
    values: np.ndarray
    good: np.ndarray  # False: flagged or non-finite
    flagged: np.ndarray  # flagged by the fit (counted in flagged_fraction)
    unit: object
    source: str


def guidestar_series(model, *, fit="auto"):
    """The guide-star series that can be binned, on their own time axes.

    Parameters
    ----------
    model : spelunker.GuideStarModel
    fit : {'auto', 'gauss', 'quick'}, optional
        The fit table of the PSF parameters (`GuideStarModel.fit_table_name`).

    Returns
    -------
    dict
        Series name -> ``(mjd_utc, values, good, unit, source)`` as a
        `_Series`: the fit parameters (``x_mean``...; frames), ``flux``
        (photometry; frames), ``centroid_x``/``centroid_y`` (on-board
        centroid packets, arcsec) and ``jitter`` (POINTING, mas), those the
        model holds.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        When the model has no frames table, or a fit or photometry table
        without one row per frame.
    """
    mjd = _frame_mjd(model)
    timed = np.isfinite(mjd)
    flagged = np.zeros(mjd.size, dtype=bool)
    series = {}
    name = _fit_name(model, fit)
    if name is not None:
        table = _per_frame(model, name, mjd.size)
        flagged = np.asarray(table["flags"]) != 0
        for column in _FIT_SERIES:
            values = np.asarray(table[column], dtype=float)
            series[column] = _Series(mjd, values, ~flagged & np.isfinite(values) & timed,
                                     flagged, PARAMETER_UNITS[column], name)
    if model.hasattr("lightcurve"):
        values = np.asarray(_per_frame(model, "lightcurve", mjd.size)["flux"], dtype=float)
        series["flux"] = _Series(mjd, values, ~flagged & np.isfinite(values) & timed, flagged,
                                 u.DN / u.s, "lightcurve")
    for key, (table_name, column, unit) in _ONBOARD_SERIES.items():
        if not model.hasattr(table_name) or len(getattr(model, table_name)) == 0:
            continue
        table = getattr(model, table_name)
        time_column = "centroid_time_mjd" if table_name == "centroid_table" else "time"
        times = np.asarray(table[time_column], dtype=float)
        values = np.asarray(table[column], dtype=float)
        good = np.isfinite(values) & np.isfinite(times)
        if table_name == "centroid_table":
            good &= np.asarray(table["data_quality"]) == 0
        no_flags = np.zeros(times.size, dtype=bool)
        series[key] = _Series(times, values, good, no_flags, unit, table_name)
    return series


def _frame_mjd(model):
    """The frames' mid-times (MJD UTC), or a clear error for a model without frames."""
    frames = model.frames if check_model(model).hasattr("frames") else None
    if frames is None:
        msg = ("the model has no frames table (the frame times); read the guider products "
               "(spelunker.load, GuideStarFitStep)")
        raise GuideStarInputError(msg)
    return np.asarray(frames["mid_time_mjd"], dtype=float)


def _per_frame(model, name, n_frames):
    """A per-frame table of the model, checked to hold one row per frame."""
    table = getattr(model, name)
    if len(table) != n_frames:
        msg = (f"the model's {name} table has {len(table)} rows for {n_frames} frames; "
               "it does not belong to these frames (run the step again)")
        raise GuideStarInputError(msg)
    return table


def _frame_flags(model, fit):
    """True for the frames whose fit carries a nonzero flag."""
    name = _fit_name(model, fit)
    if name is None:
        return np.zeros(len(model.frames), dtype=bool)
    return np.asarray(getattr(model, name)["flags"]) != 0


def _fit_name(model, fit):
    """The model's fit table for ``fit``; None for ``'auto'`` on a model without a fit."""
    try:
        return model.fit_table_name(fit)
    except GuideStarInputError:
        if fit != "auto":
            raise
        return None


# --------------------------------------------------------------------------
# Binning


@njit(cache=True, nogil=True)
def _segment_statistics(values, good, lo, hi, medians):
    """Mean, median, standard error and count of the good values in ``[lo[k], hi[k])``."""
    m = lo.size
    mean = np.full(m, np.nan)
    median = np.full(m, np.nan)
    error = np.full(m, np.nan)
    count = np.zeros(m, dtype=np.int64)
    width = 0
    for k in range(m):
        width = max(width, hi[k] - lo[k])
    buffer = np.empty(max(width, 1))
    for k in range(m):
        n = 0
        total = 0.0
        for i in range(lo[k], hi[k]):
            if good[i]:
                buffer[n] = values[i]
                total += values[i]
                n += 1
        count[k] = n
        if n == 0:
            continue
        average = total / n
        mean[k] = average
        if n > 1:
            squares = 0.0
            for j in range(n):
                squares += (buffer[j] - average) ** 2
            error[k] = np.sqrt(squares / (n - 1) / n)
        if medians:
            median[k] = np.median(buffer[:n])
    return mean, median, error, count


def _ranges(mjd, start, end):
    """Index ranges ``[lo, hi)`` of the (sorted) times inside every integration."""
    return (np.searchsorted(mjd, start, side="left").astype(np.int64),
            np.searchsorted(mjd, end, side="left").astype(np.int64))


def _sorted(series):
    order = None
    if series.mjd.size > 1 and not np.all(series.mjd[1:] >= series.mjd[:-1]):  # NaN: last
        order = np.argsort(series.mjd, kind="stable")
    if order is None:
        return series
    return _Series(series.mjd[order], series.values[order], series.good[order],
                   series.flagged[order], series.unit, series.source)


def bin_to_integrations(model, science, *, series=None, fit="auto", median=True, events=True,
                        scale="utc", target=None, observer=None):
    """Bin the guide-star series onto the integrations of a science exposure.

    Parameters
    ----------
    model : spelunker.GuideStarModel
        A guide-star model with a fit (and, if run, photometry and events).
    science : str, os.PathLike, stdatamodels model, table or tuple
        The science integrations (see `integration_times`): a product with
        ``INT_TIMES`` (``*_rateints.fits``, ``*_calints.fits``,
        ``*_x1dints.fits``) or ``(start, end)`` times.
    series : sequence of str, optional
        The series to bin (default: all the model holds; see
        `guidestar_series`).
    fit : {'auto', 'gauss', 'quick'}, optional
        The fit table of the PSF parameters.
    median : bool, optional
        Also compute the median of every series (``<name>_median``).
    events : bool, optional
        Flag the integrations that overlap a stored event
        (``event_<kind>`` columns, and ``event`` for any kind).
    scale, target, observer
        For ``(start, end)`` times; see `integration_times`.

    Returns
    -------
    astropy.timeseries.TimeSeries
        One row per integration.  ``time``: mid-integration time in
        BJD_TDB (scale ``tdb``); ``integration_number``; ``start_utc``,
        ``end_utc`` (scale ``utc``); ``n_frames`` (frames whose mid-time
        falls inside) and ``flagged_fraction``; for every series ``<name>``
        (the mean, with its unit), ``<name>_median``, ``<name>_err``
        (standard error of the mean) and ``<name>_n`` (values used).
        Integrations without values hold NaN and a count of 0.  ``meta``
        records the science product, the time source, the fit table and the
        target.

    Raises
    ------
    spelunker.errors.ScienceInputError
        For unusable integration times (see `integration_times`).
    spelunker.errors.ParameterError
        For a series the model does not hold.
    spelunker.errors.GuideStarInputError
        For a model without frames, or without any series to bin.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.science import bin_to_integrations
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + (i + 0.5) / 86400, 0, 0, i) for i in range(10)]
    >>> model.lightcurve = [(float(i), 1.0, 64) for i in range(10)]
    >>> binned = bin_to_integrations(model, ([60000.0, 60000 + 4 / 86400],
    ...                                      [60000 + 4 / 86400, 60000 + 10 / 86400]),
    ...                              target=(286.0, -41.3), observer="geocenter")
    >>> binned["flux"].value.tolist(), binned["flux_n"].tolist()
    ([1.5, 6.5], [4, 6])
    """
    integrations = integration_times(science, scale=scale, target=target, observer=observer)
    available = guidestar_series(model, fit=fit)
    if series is None:
        names = list(available)
        if not names:
            msg = ("the model holds no series to bin (no fit, photometry, centroid or pointing "
                   "table); run GuideStarFitStep first")
            raise GuideStarInputError(msg)
    else:
        try:
            names = [series] if isinstance(series, str) else list(series)
        except TypeError:
            msg = f"series={series!r} is neither a series name nor a sequence of them"
            raise ParameterError(msg) from None
        missing = [name for name in names if name not in available]
        if missing:
            msg = (f"series={missing!r}: the model holds no such series; available: "
                   f"{', '.join(available) or 'none (run GuideStarFitStep first)'}")
            raise ParameterError(msg)
    start, end = integrations.start.mjd, integrations.end.mjd
    result = TimeSeries(time=integrations.mid_bjd)
    result.time.format = "mjd"
    result["integration_number"] = integrations.number
    result["start_utc"] = integrations.start
    result["end_utc"] = integrations.end
    frame_mjd = _frame_mjd(model)
    frame_order = np.argsort(frame_mjd, kind="stable")
    lo, hi = _ranges(frame_mjd[frame_order], start, end)
    result["n_frames"] = hi - lo
    _log_coverage(integrations, frame_mjd[frame_order], hi - lo)
    frame_flags = _frame_flags(model, fit)[frame_order].astype(np.int64)
    flagged_total = np.concatenate([[0], np.cumsum(frame_flags)])
    flagged = flagged_total[hi] - flagged_total[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        result["flagged_fraction"] = np.where(hi > lo, flagged / np.maximum(hi - lo, 1), np.nan)
    for name in names:
        one = _sorted(available[name])
        lo, hi = _ranges(one.mjd, start, end)
        mean, middle, error, count = _segment_statistics(one.values, one.good, lo, hi, median)
        result[name] = mean * one.unit
        if median:
            result[f"{name}_median"] = middle * one.unit
        result[f"{name}_err"] = error * one.unit
        result[f"{name}_n"] = count
    if events and model.hasattr("events"):
        _flag_events(result, model.events, start, end)
    result.meta.update({"SCIENCE": integrations.source, "TIMESRC": integrations.time_source,
                        "FITTABLE": _fit_name(model, fit) or ""})
    if integrations.target is not None:
        result.meta["TARG_RA"] = float(integrations.target.icrs.ra.deg)
        result.meta["TARG_DEC"] = float(integrations.target.icrs.dec.deg)
    result.meta["comments"] = [
        "time: mid-integration BJD_TDB; start_utc, end_utc: UTC",
        "a frame belongs to an integration when start <= mid-frame time < end",
        "<name>: mean of the unflagged finite values; _median, _err (standard error of the "
        "mean), _n (values used)",
    ]
    log.info("binned %d series onto %d integrations of %s", len(names), len(integrations),
             integrations.source)
    return result


def _log_coverage(integrations, frame_mjd, n_frames):
    """Say in the log what the binning cannot show: frames or integrations left empty."""
    timed = frame_mjd[np.isfinite(frame_mjd)]
    if timed.size < frame_mjd.size:
        log.warning("%d guide-star frame(s) have no finite mid-time: they are in no "
                    "integration", frame_mjd.size - timed.size)
    repeated = np.count_nonzero(np.diff(timed) == 0)
    if repeated:
        log.warning("%d guide-star frame(s) share their mid-time with another frame (stitched "
                    "twice?); each is counted", repeated)
    empty = np.count_nonzero(n_frames == 0)
    if empty == n_frames.size:
        frames = (f"MJD {timed[0]:.6f} to {timed[-1]:.6f} UTC" if timed.size
                  else "none with a finite time")
        log.warning("none of the %d integrations of %s (MJD %.6f to %.6f UTC) holds a "
                    "guide-star frame (frames: %s): every binned value is NaN",
                    n_frames.size, integrations.source, integrations.start.mjd[0],
                    integrations.end.mjd[-1], frames)
    elif empty:
        log.info("%d of the %d integrations of %s hold no guide-star frame (NaN rows)",
                 empty, n_frames.size, integrations.source)


def _flag_events(result, events, start, end):
    kinds = np.char.decode(np.asarray(events["kind"]), "ascii") \
        if np.asarray(events["kind"]).dtype.kind == "S" else np.asarray(events["kind"]).astype(str)
    first = np.asarray(events["start_mjd"], dtype=float)
    last = np.asarray(events["end_mjd"], dtype=float)
    any_event = np.zeros(start.size, dtype=bool)
    for kind in EVENT_KINDS:
        flag = np.zeros(start.size, dtype=bool)
        for t0, t1 in zip(first[kinds == kind], last[kinds == kind]):
            # An instantaneous event (t0 == t1) flags the integration holding it.
            flag |= (start <= t1) & (end > t0)
        result[f"event_{kind}"] = flag
        any_event |= flag
    result["event"] = any_event



def _table_time(table, name):
    """The ``time`` (astropy Time) of a binned table: a TimeSeries or one read back."""
    time = table.time if isinstance(table, TimeSeries) else None
    if time is None and "time" in getattr(table, "colnames", ()):
        time = table["time"]
    if not isinstance(time, Time):
        msg = (f"{name}={type(table).__name__}: not a table with a time column (astropy Time); "
               "give the table bin_to_integrations returns (or QTable.read of it)")
        raise ParameterError(msg)
    return time

