"""Guide-star series on the science cadence, in barycentric time.

The guide star's 16 Hz series (the fitted PSF parameters, the photometry,
the on-board centroids and the POINTING jitter) are binned onto the
integrations of a JWST time-series observation, so they can be compared with,
or regressed against, the science light curve:

- `integration_times` reads the integrations of a science product
  (its ``INT_TIMES`` table, e.g. ``*_rateints.fits``, ``*_calints.fits``,
  ``*_x1dints.fits``) or of arrays of start and end times;
- `bin_to_integrations` gives an `~astropy.timeseries.TimeSeries`, one row
  per integration, whose ``time`` is the mid-integration time in BJD_TDB;
- `design_matrix` turns that table into standardised regressors
  (`Regressors`: an array and names, an astropy table, a lightkurve
  ``DesignMatrix``);
- `frame_times_bjd` gives every frame's time in BJD_TDB;
- `to_timeseries` and `to_lightkurve` export the guide-star series.

A frame belongs to integration ``k`` when its mid-time ``t`` (UTC) satisfies
``start_k <= t < end_k``.  A frame is *flagged* when its fit has a nonzero
flag (`spelunker.fitting.flags`); flagged frames, and non-finite values, are
left out of every statistic of that frame's series and counted in
``flagged_fraction``.  The barycentric conversions are in `spelunker.times`.
"""

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.timeseries import TimeSeries
from numba import njit

from spelunker._validate import check_output_file
from spelunker.errors import GuideStarInputError, ParameterError, ScienceInputError, SpelunkerError
from spelunker.events import EVENT_KINDS
from spelunker.fitting.result import PARAMETER_UNITS
from spelunker.times import (INT_TIMES_COLUMNS, Ephemeris, barycentric_times,
                             bjd_from_int_times, utc_from_barycentric)

__all__ = [
    "DEFAULT_REGRESSORS",
    "INT_TIMES_COLUMNS",
    "IntegrationTimes",
    "Regressors",
    "bin_to_integrations",
    "design_matrix",
    "frame_times_bjd",
    "guidestar_series",
    "integration_times",
    "science_light_curve",
    "to_lightkurve",
    "to_timeseries",
    "write_table",
]

log = logging.getLogger(__name__)

#: Default regressors of `design_matrix`: the centroid (pointing drift and
#: jitter move the science spectrum or image), the PSF widths (wavefront
#: changes such as mirror-segment tilt events) and the guide-star flux.
DEFAULT_REGRESSORS = ("x_mean", "y_mean", "x_stddev", "y_stddev", "flux")

#: The fit parameters binned (units as in the fit tables).
_FIT_SERIES = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")

#: Units of the on-board series: centroid packets (arcsec) and POINTING jitter (mas).
_ONBOARD_SERIES = {"centroid_x": ("centroid_table", "guide_star_position_x", u.arcsec),
                   "centroid_y": ("centroid_table", "guide_star_position_y", u.arcsec),
                   "jitter": ("pointing_table", "jitter", u.mas)}

_TIME_SCALES = ("utc", "tdb", "bjd_tdb")

#: Largest |BJD_TDB - UTC| (s) of an INT_TIMES row: TDB - UTC (69.2 s) plus the light
#: travel time from JWST to the barycentre (at most ~513 s), with a margin.
_MAX_BJD_MINUS_UTC = 700.0

#: Overlap (days) of consecutive integrations tolerated as rounding: 1 ms.
_OVERLAP_TOLERANCE = 1e-3 / 86400.0


# --------------------------------------------------------------------------
# Integration times


@dataclass(frozen=True)
class IntegrationTimes:
    """The integrations of a science exposure.

    Attributes
    ----------
    number : numpy.ndarray
        Integration numbers (1-based, as in ``INT_TIMES``).
    start, end : astropy.time.Time
        Start and end of each integration, scale ``utc``.
    mid_bjd : astropy.time.Time
        Mid-integration time in BJD_TDB (scale ``tdb``).
    source : str
        Where the times came from: the science product's name, or
        ``'arrays'``.
    time_source : str
        How the BJD_TDB times were obtained: ``'INT_TIMES'``,
        ``'ephemeris'`` (JWST's position from the product header),
        ``'observer'`` (a position given by the user).
    target : astropy.coordinates.SkyCoord or None
        The science target, when known.
    """

    number: np.ndarray
    start: Time
    end: Time
    mid_bjd: Time
    source: str
    time_source: str
    target: object = None

    def __len__(self):
        return len(self.number)

    @property
    def mid(self):
        """Mid-integration times, scale ``utc``."""
        return self.start + (self.end - self.start) * 0.5


def _target_coord(target, *, name="target"):
    if target is None or isinstance(target, SkyCoord):
        return target
    try:
        ra, dec = (float(value) for value in target)
    except (TypeError, ValueError):
        msg = f"{name}={target!r} is neither a SkyCoord nor an (ra, dec) pair in degrees"
        raise ParameterError(msg) from None
    try:
        return SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
    except ValueError as exc:  # e.g. a declination beyond +-90 deg
        msg = f"{name}={target!r} is not a sky position ({exc})"
        raise ParameterError(msg) from None


def _times_call(function, *args, **kwargs):
    """Call a `spelunker.times` conversion, its plain ValueError made a ParameterError.

    Those errors name the unusable target, observer or time in their message.
    """
    try:
        return function(*args, **kwargs)
    except ValueError as exc:
        if isinstance(exc, SpelunkerError):
            raise
        raise ParameterError(str(exc)) from None


def _header_target(header, source):
    ra, dec = header.get("TARG_RA"), header.get("TARG_DEC")
    if ra is None or dec is None:
        return None
    try:
        return SkyCoord(float(ra) * u.deg, float(dec) * u.deg, frame="icrs")
    except (TypeError, ValueError):
        log.warning("%s: TARG_RA/TARG_DEC (%r, %r) are not coordinates", source, ra, dec)
        return None


def _int_times_array(table, source):
    """The ``INT_TIMES`` columns of a table as float arrays, checked."""
    names = getattr(table, "colnames", None) or getattr(getattr(table, "dtype", None),
                                                         "names", None) or ()
    missing = [column for column in INT_TIMES_COLUMNS if column not in names]
    if missing:
        msg = f"{source}: the INT_TIMES table lacks the column(s) {', '.join(missing)}"
        raise ScienceInputError(msg)
    columns = {column: np.asarray(table[column], dtype=float) for column in INT_TIMES_COLUMNS}
    if columns["integration_number"].size == 0:
        msg = f"{source}: the INT_TIMES table is empty"
        raise ScienceInputError(msg)
    number = columns["integration_number"]
    bad = np.flatnonzero(~np.isfinite(number) | (number != np.round(number)))
    if bad.size:
        msg = (f"{source}: INT_TIMES integration_number is not a whole number in {bad.size} "
               f"row(s) (first: row {bad[0]}, {number[bad[0]]})")
        raise ScienceInputError(msg)
    for edge in ("start", "mid", "end"):
        offset = (columns[f"int_{edge}_BJD_TDB"] - columns[f"int_{edge}_MJD_UTC"]) * 86400.0
        with np.errstate(invalid="ignore"):
            wrong = np.flatnonzero(np.abs(offset) > _MAX_BJD_MINUS_UTC)  # NaN: checked later
        if wrong.size:
            msg = (f"{source}: INT_TIMES int_{edge}_BJD_TDB differs from int_{edge}_MJD_UTC by "
                   f"{offset[wrong[0]]:.6g} s in {wrong.size} row(s) (first: row {wrong[0]}); "
                   f"BJD_TDB - UTC is within +-{_MAX_BJD_MINUS_UTC:.0f} s (TDB - UTC plus the "
                   "light travel time), so the column does not hold BJD_TDB - 2400000.5 "
                   "(zeros: not computed?); give the integration start and end times with "
                   "target= and observer= instead")
            raise ScienceInputError(msg)
    return columns


def _damage(caught):
    """The first astropy warning (of those ``caught``) saying a FITS file is truncated."""
    for warning in caught:
        text = str(warning.message)
        if "truncated" in text or "corrupted" in text:
            return " ".join(text.split())
    return None


def _read_science_file(path):
    """INT_TIMES columns and primary header of a science product file."""
    path = Path(path)
    if not path.is_file():
        msg = f"science product {str(path)!r} does not exist"
        raise ScienceInputError(msg)
    problem, has_int_times = None, False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdulist:
                header = hdulist[0].header.copy()
                has_int_times = "INT_TIMES" in hdulist
                table = Table(hdulist["INT_TIMES"].data) if has_int_times else None
        except (OSError, ValueError, TypeError) as exc:
            problem = exc
    damage = _damage(caught)
    if problem is not None:
        reason = f"truncated or damaged: {damage}; {problem}" if damage else str(problem)
        msg = f"{path.name}: cannot read it as a FITS science product ({reason})"
        raise ScienceInputError(msg)
    if not has_int_times:
        if damage:
            msg = (f"{path.name}: the file is truncated or damaged ({damage}); no INT_TIMES "
                   "extension could be read")
        else:
            msg = (f"{path.name}: no INT_TIMES extension (a product with one time per "
                   "integration: *_rateints, *_calints, *_x1dints ...); give the "
                   "integration start and end times instead")
        raise ScienceInputError(msg)
    for warning in caught:  # recorded to read them; shown as usual when no error says it
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return _int_times_array(table, path.name), header, path.name


def _model_header(model):
    """The keywords this module reads, from a stdatamodels model's meta."""
    header = fits.Header()
    meta = model.meta
    pairs = {"TARG_RA": ("target", "ra"), "TARG_DEC": ("target", "dec"),
             "INTSTART": ("exposure", "integration_start"),
             "INTEND": ("exposure", "integration_end")}
    for keyword, (group, attribute) in pairs.items():
        value = getattr(getattr(meta, group, None), attribute, None)
        if value is not None:
            header[keyword] = value
    return header


def _check_intervals(start, end, source):
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(end))):
        msg = f"{source}: the integration times are not all finite"
        raise ScienceInputError(msg)
    if start.shape != end.shape or start.ndim != 1:
        msg = (f"{source}: integration start and end times must be 1-D and of equal length; "
               f"got shapes {start.shape} and {end.shape}")
        raise ScienceInputError(msg)
    if start.size == 0:
        msg = f"{source}: no integrations (the start and end times are empty)"
        raise ScienceInputError(msg)
    bad = np.flatnonzero(end <= start)
    if bad.size:
        msg = (f"{source}: {bad.size} integration(s) end at or before they start "
               f"(first: index {bad[0]})")
        raise ScienceInputError(msg)
    if start.size > 1 and np.any(np.diff(start) < 0):
        msg = f"{source}: the integrations are not in time order"
        raise ScienceInputError(msg)
    overlap = np.flatnonzero(end[:-1] - start[1:] > _OVERLAP_TOLERANCE)
    if overlap.size:
        first = overlap[0]
        msg = (f"{source}: {overlap.size} integration(s) overlap the next one (first: index "
               f"{first} by {(end[first] - start[first + 1]) * 86400.0:.6g} s; duplicated "
               "rows?): a guide-star frame would be counted in two integrations")
        raise ScienceInputError(msg)


def integration_times(science, *, scale="utc", target=None, observer=None):
    """The integrations of a science exposure, with mid-times in BJD_TDB.

    Parameters
    ----------
    science : str, os.PathLike, stdatamodels model, table or tuple
        A science product with an ``INT_TIMES`` table (path or open model,
        e.g. ``*_rateints.fits``; of a segment, ``-seg002``..., only the
        rows of its own integrations, ``INTSTART`` to ``INTEND``, are
        used), an ``INT_TIMES``-like table, or a pair
        ``(start, end)`` of integration start and end times (astropy Time or
        MJD numbers in ``scale``).
    scale : {'utc', 'tdb', 'bjd_tdb'}, optional
        Scale of ``(start, end)`` numbers: MJD in UTC, MJD in TDB, or
        barycentric MJD in TDB (BJD_TDB - 2400000.5).  A `~astropy.time.Time`
        brings its own scale (``utc``, ``tt``, ``tdb``...), but a barycentric
        Time must still be marked with ``scale='bjd_tdb'``.  Ignored for
        products and tables.
    target : astropy.coordinates.SkyCoord or (float, float), optional
        The science target (ICRS; degrees).  Default: ``TARG_RA``/``TARG_DEC``
        of the product.  Needed when the times are not from ``INT_TIMES``.
    observer : spelunker.times.Ephemeris, EarthLocation, 'geocenter' or Quantity, optional
        JWST's position (see `spelunker.times.barycentric_times`).  Default:
        the product's ephemeris keywords (``JWST_X``...).  Needed for arrays
        of times.

    Returns
    -------
    IntegrationTimes

    Raises
    ------
    spelunker.errors.ScienceInputError
        For a product without ``INT_TIMES`` (or truncated), no integrations,
        times that are not finite, integrations that end before they start,
        are out of order or overlap (by more than 1 ms), ``int_*_BJD_TDB``
        columns more than 700 s from UTC (not BJD_TDB), or barycentric
        times asked for without a target or observer.
    spelunker.errors.ParameterError
        For an unusable ``scale``, ``target`` or ``observer``.

    Examples
    --------
    >>> from astropy.coordinates import EarthLocation
    >>> from spelunker.science import integration_times
    >>> times = integration_times(([60000.0, 60000.001], [60000.001, 60000.002]),
    ...                           target=(286.0, -41.3), observer="geocenter")
    >>> len(times), times.time_source, times.mid_bjd.scale
    (2, 'observer', 'tdb')
    """
    target = _target_coord(target)
    if isinstance(science, tuple) and len(science) == 2:
        return _from_arrays(science, scale=scale, target=target, observer=observer)
    return _from_int_times(*_read_int_times(science), target)


def _read_int_times(science):
    """``(columns, header, name)`` of the INT_TIMES of a product path, a model or a table."""
    if isinstance(science, (str, Path)) or hasattr(science, "__fspath__"):
        return _read_science_file(science)
    if hasattr(science, "meta") and hasattr(science, "hasattr"):  # a stdatamodels model
        name = getattr(science.meta, "filename", None) or type(science).__name__
        int_times = getattr(science, "int_times", None) if science.hasattr("int_times") else None
        if int_times is None or len(int_times) == 0:
            msg = f"{name}: the model has no INT_TIMES table (int_times)"
            raise ScienceInputError(msg)
        return _int_times_array(int_times, name), _model_header(science), name
    if hasattr(science, "dtype") or hasattr(science, "colnames"):
        return _int_times_array(science, "the INT_TIMES table"), fits.Header(), "INT_TIMES table"
    msg = (f"science={science!r} is neither a science product (path or model with INT_TIMES), "
           "an INT_TIMES table nor a (start, end) pair of times")
    raise ScienceInputError(msg)


def _segment_rows(columns, header, name):
    """The INT_TIMES rows of this segment's integrations (``INTSTART`` to ``INTEND``).

    A segment of a long exposure (``-seg002``...) may carry the INT_TIMES of
    the whole exposure; its own integrations are ``INTSTART`` to ``INTEND``
    (1-based, inclusive), as its SCI planes are.
    """
    first, last = header.get("INTSTART"), header.get("INTEND")
    if not all(isinstance(value, (int, np.integer)) and not isinstance(value, bool)
               for value in (first, last)):
        return columns
    number = columns["integration_number"]
    keep = (number >= first) & (number <= last)
    if keep.all():
        return columns
    if np.count_nonzero(keep) != last - first + 1:
        msg = (f"{name}: the product holds integrations {first} to {last} (INTSTART, INTEND) "
               f"but its INT_TIMES table has {np.count_nonzero(keep)} of them (integrations "
               f"{np.nanmin(number):.0f} to {np.nanmax(number):.0f})")
        raise ScienceInputError(msg)
    log.info("%s: INT_TIMES holds %d integrations; this segment's are %d to %d (INTSTART, "
             "INTEND)", name, number.size, first, last)
    return {column: values[keep] for column, values in columns.items()}


def _from_int_times(columns, header, name, target):
    columns = _segment_rows(columns, header, name)
    start, end = columns["int_start_MJD_UTC"], columns["int_end_MJD_UTC"]
    _check_intervals(start, end, name)
    mid_bjd = columns["int_mid_BJD_TDB"]
    if not np.all(np.isfinite(mid_bjd)):
        msg = f"{name}: INT_TIMES int_mid_BJD_TDB is not all finite"
        raise ScienceInputError(msg)
    return IntegrationTimes(
        number=columns["integration_number"].astype(np.int64),
        start=Time(start, format="mjd", scale="utc"),
        end=Time(end, format="mjd", scale="utc"),
        mid_bjd=Time(mid_bjd, format="mjd", scale="tdb"),
        source=name, time_source="INT_TIMES",
        target=target if target is not None else _header_target(header, name))


def _as_time(values, scale, name):
    if isinstance(values, Time):
        return values
    try:
        mjd = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        msg = f"integration {name} times {values!r} are neither astropy Time nor MJD numbers"
        raise ScienceInputError(msg) from None
    bad = np.flatnonzero(~np.isfinite(mjd))
    if bad.size:
        msg = (f"arrays: the integration {name} times are not all finite ({bad.size} value(s); "
               f"first: index {bad[0]})")
        raise ScienceInputError(msg)
    return Time(mjd, format="mjd", scale="tdb" if scale == "bjd_tdb" else scale)


def _from_arrays(science, *, scale, target, observer):
    if scale not in _TIME_SCALES:
        msg = f"scale={scale!r} is not one of {', '.join(map(repr, _TIME_SCALES))}"
        raise ParameterError(msg)
    start, end = (_as_time(values, scale, name) for values, name in zip(science, ("start", "end")))
    start = start.reshape(1) if start.ndim == 0 else start
    end = end.reshape(1) if end.ndim == 0 else end
    if target is None or observer is None:
        msg = ("integration times given as arrays need target= (the science target's "
               "coordinates) and observer= (JWST's position: an Ephemeris, e.g. "
               "spelunker.times.Ephemeris.from_header(science_file)) to be put in BJD_TDB")
        raise ScienceInputError(msg)
    if scale == "bjd_tdb":
        start_utc = _times_call(utc_from_barycentric, start, target, observer=observer)
        end_utc = _times_call(utc_from_barycentric, end, target, observer=observer)
    else:
        start_utc, end_utc = start.utc, end.utc
    _check_intervals(start_utc.mjd, end_utc.mjd, "arrays")
    mid_utc = start_utc + (end_utc - start_utc) * 0.5
    if scale == "bjd_tdb":
        mid_bjd = start.tdb + (end.tdb - start.tdb) * 0.5
    else:
        mid_bjd = _times_call(barycentric_times, mid_utc, target, observer=observer)
    return IntegrationTimes(number=np.arange(1, len(start_utc) + 1), start=start_utc,
                            end=end_utc, mid_bjd=mid_bjd, source="arrays",
                            time_source="observer", target=target)


# --------------------------------------------------------------------------
# Frame times in BJD_TDB


def frame_times_bjd(model, science=None, *, target=None, observer=None):
    """Every frame's mid-time in BJD_TDB.

    The sources, in order: the science product's ``INT_TIMES`` (its own
    BJD_TDB - UTC relation interpolated onto the frames; exact to well under
    1 ms over a visit), the product's JWST ephemeris keywords with its target
    coordinates, or ``target`` and ``observer`` given here.  The accuracy of
    each is in `spelunker.times`.

    Parameters
    ----------
    model : spelunker.GuideStarModel
    science : str, os.PathLike or stdatamodels model, optional
        A science product with ``INT_TIMES`` (and ``TARG_RA``/``TARG_DEC``,
        ``JWST_X``... keywords).
    target : astropy.coordinates.SkyCoord or (float, float), optional
    observer : spelunker.times.Ephemeris, EarthLocation, 'geocenter' or Quantity, optional

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
    frames = model.frames if model.hasattr("frames") else None
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
    try:
        return model.fit_table_name(fit)
    except ValueError:
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


# --------------------------------------------------------------------------
# Regressors


@dataclass(frozen=True)
class Regressors:
    """Standardised guide-star regressors on the science cadence.

    Attributes
    ----------
    values : numpy.ndarray
        ``(n_integrations, n_regressors)``: ``(x - mean) / std`` of each
        column over the valid rows; invalid rows hold 0 (the mean).
    names : tuple of str
    valid : numpy.ndarray
        Rows where every regressor is finite.
    mean, std : tuple of astropy.units.Quantity
        The mean and standard deviation that standardised each column.
    time : astropy.time.Time
        Mid-integration times (BJD_TDB).
    """

    values: np.ndarray
    names: tuple
    valid: np.ndarray
    mean: tuple
    std: tuple
    time: Time

    def to_table(self):
        """The regressors as an `~astropy.timeseries.TimeSeries` (write it as ECSV or FITS).

        Columns: ``time`` (BJD_TDB), one column per regressor
        (dimensionless, standardised) and ``valid``; ``meta`` holds the
        means and standard deviations with their units.
        """
        table = TimeSeries(time=self.time)
        for index, name in enumerate(self.names):
            table[name] = self.values[:, index]
        table["valid"] = self.valid
        table.meta["comments"] = [
            "regressors standardised: (x - mean) / std over the valid rows; invalid rows 0"]
        for name, mean, std in zip(self.names, self.mean, self.std):
            table.meta["comments"].append(f"{name}: mean {mean.value!r} std {std.value!r} "
                                          f"{mean.unit}")
        return table

    def to_lightkurve(self, *, constant=True, name="guide star"):
        """A lightkurve ``DesignMatrix`` of the regressors.

        Parameters
        ----------
        constant : bool, optional
            Append a constant column (lightkurve's ``append_constant``).
        name : str, optional

        Returns
        -------
        lightkurve.correctors.DesignMatrix

        Raises
        ------
        ImportError
            When lightkurve is not installed
            (``pip install 'spelunker[lightkurve]'``).
        """
        design = _lightkurve().correctors.DesignMatrix(
            self.values, columns=list(self.names), name=name)
        return design.append_constant() if constant else design

    def correlation(self, flux):
        """Pearson correlation of every regressor with a light curve.

        Parameters
        ----------
        flux : array_like or astropy.units.Quantity
            One value per integration (e.g. the science white-light curve).

        Returns
        -------
        dict
            Regressor name -> correlation coefficient, over the rows where
            the regressors are valid and ``flux`` is finite (NaN, with a
            warning, when fewer than 3 such rows).
        """
        if isinstance(flux, Time):
            msg = "flux is an astropy Time; give the light curve (one value per integration)"
            raise ParameterError(msg)
        try:
            flux = np.asarray(getattr(flux, "value", flux), dtype=float)
        except (TypeError, ValueError):
            msg = f"flux must be numbers, one per integration; got {type(flux).__name__}"
            raise ParameterError(msg) from None
        if flux.shape != (self.values.shape[0],):
            msg = (f"flux has shape {flux.shape}; one value per integration "
                   f"({self.values.shape[0]}) is needed")
            raise ParameterError(msg)
        rows = self.valid & np.isfinite(flux)
        if np.count_nonzero(rows) < 3:
            log.warning("correlation: only %d integration(s) have a finite flux and every "
                        "regressor; no correlation (NaN)", np.count_nonzero(rows))
            return dict.fromkeys(self.names, np.nan)
        centred = flux[rows] - flux[rows].mean()
        result = {}
        for index, name in enumerate(self.names):
            column = self.values[rows, index]
            column = column - column.mean()  # zero over the valid rows, not over these
            norm = np.sqrt(np.sum(centred**2) * np.sum(column**2))
            result[name] = float(np.sum(centred * column) / norm) if norm > 0 else np.nan
        return result


def design_matrix(binned, *, columns=DEFAULT_REGRESSORS):
    """Standardised regressors from a `bin_to_integrations` table.

    Parameters
    ----------
    binned : astropy.timeseries.TimeSeries
        The result of `bin_to_integrations`.
    columns : sequence of str, optional
        The regressors (default `DEFAULT_REGRESSORS`: ``x_mean``,
        ``y_mean``, ``x_stddev``, ``y_stddev``, ``flux``); columns the table
        lacks are left out with a warning, as are constant columns.

    Returns
    -------
    Regressors

    Raises
    ------
    spelunker.errors.ParameterError
        When none of ``columns`` can be used, one is not numeric, no row has
        every regressor, or ``binned`` has no ``time`` column.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.time import Time
    >>> from astropy.timeseries import TimeSeries
    >>> from spelunker.science import design_matrix
    >>> table = TimeSeries(time=Time(60000 + np.arange(4) / 86400, format="mjd", scale="tdb"))
    >>> table["x_mean"] = [1.0, 2.0, 3.0, 4.0]
    >>> regressors = design_matrix(table, columns=["x_mean"])
    >>> regressors.values[:, 0].round(3).tolist()
    [-1.342, -0.447, 0.447, 1.342]
    """
    time = _table_time(binned, "binned")
    columns = [columns] if isinstance(columns, str) else columns
    names, arrays, means, stds = [], [], [], []
    for name in columns:
        if name not in binned.colnames:
            log.warning("design_matrix: the table has no column %r; left out", name)
            continue
        try:
            values = np.asarray(u.Quantity(binned[name]).value, dtype=float)
        except (TypeError, ValueError):
            msg = f"columns: {name!r} is not a numeric column; it cannot be a regressor"
            raise ParameterError(msg) from None
        if values.ndim != 1:
            msg = f"columns: {name!r} has shape {values.shape}; a regressor is one number a row"
            raise ParameterError(msg)
        finite = np.isfinite(values)
        if not finite.any() or np.nanstd(values) == 0:
            log.warning("design_matrix: %r is constant or empty over the integrations; "
                        "left out", name)
            continue
        names.append(name)
        arrays.append(values)
    if not arrays:
        msg = f"columns={list(columns)!r}: none of them can be a regressor for this table"
        raise ParameterError(msg)
    raw = np.column_stack(arrays)
    valid = np.all(np.isfinite(raw), axis=1)
    if not valid.any():
        msg = "no integration has every regressor (no guide-star frames inside any of them?)"
        raise ParameterError(msg)
    values = np.zeros_like(raw)
    for index, name in enumerate(names):
        mean = raw[valid, index].mean()
        std = raw[valid, index].std()
        std = std if std > 0 else 1.0
        values[valid, index] = (raw[valid, index] - mean) / std
        unit = u.Quantity(binned[name]).unit
        means.append(mean * unit)
        stds.append(std * unit)
    return Regressors(values=values, names=tuple(names), valid=valid, mean=tuple(means),
                      std=tuple(stds), time=time)


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


# --------------------------------------------------------------------------
# Science light curve and exports


def science_light_curve(science):
    """The white-light curve of a science product: the sum of each integration.

    Parameters
    ----------
    science : str, os.PathLike or stdatamodels model
        A product whose data are one image per integration
        (``*_rateints.fits``, ``*_calints.fits``; 3-D ``SCI``).

    Returns
    -------
    astropy.units.Quantity
        One value per integration (NaN pixels skipped; NaN, with a warning,
        for an integration without any finite pixel), in the product's
        ``BUNIT`` when it is a unit astropy reads, else dimensionless.

    Raises
    ------
    spelunker.errors.ScienceInputError
        When the product has no 3-D ``SCI`` array.
    """
    if isinstance(science, (str, Path)) or hasattr(science, "__fspath__"):
        name = Path(science).name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with fits.open(science, memmap=False) as hdulist:
                    data = np.asarray(hdulist["SCI"].data, dtype=float)
                    unit = hdulist["SCI"].header.get("BUNIT", "")
            except (OSError, KeyError, ValueError) as exc:
                damage = _damage(caught)
                reason = f"the file is truncated or damaged: {damage}; {exc}" if damage \
                    else str(exc)
                msg = f"{name}: no SCI array to sum ({reason})"
                raise ScienceInputError(msg) from None
        for warning in caught:  # recorded to read them; shown as usual when no error says it
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    else:
        meta, data = getattr(science, "meta", None), getattr(science, "data", None)
        if meta is None or data is None:
            msg = (f"science={type(science).__name__}: neither a path nor a science model "
                   "with data (*_rateints, *_calints)")
            raise ScienceInputError(msg)
        name = getattr(meta, "filename", None) or type(science).__name__
        data = np.asarray(data, dtype=float)
        unit = getattr(meta, "bunit_data", None) or ""
    if data.ndim != 3:
        msg = f"{name}: SCI has shape {data.shape}; one image per integration (3-D) is needed"
        raise ScienceInputError(msg)
    try:
        unit = u.Unit(unit) if unit else u.one
    except ValueError:
        log.warning("%s: BUNIT %r is not a unit astropy reads; the sums are dimensionless",
                    name, unit)
        unit = u.one
    sums = np.nansum(data, axis=(1, 2))
    blank = np.flatnonzero(~np.any(np.isfinite(data), axis=(1, 2)))
    if blank.size:  # a sum of nothing is no flux of 0
        sums[blank] = np.nan
        log.warning("%s: %d integration(s) have no finite pixel (first: index %d); their "
                    "sums are NaN", name, blank.size, blank[0])
    return sums * unit


def to_timeseries(model, *, fit="auto", science=None, target=None, observer=None):
    """The guide-star series, one row per frame, as an `~astropy.timeseries.TimeSeries`.

    Parameters
    ----------
    model : spelunker.GuideStarModel
    fit : {'auto', 'gauss', 'quick'}, optional
    science, target, observer : optional
        When given, ``time`` is in BJD_TDB (`frame_times_bjd`); otherwise it
        is the mid-frame time in UTC.

    Returns
    -------
    astropy.timeseries.TimeSeries
        ``time``; the fit parameters and ``flux``/``flux_err`` with units;
        ``flagged`` (nonzero fit flag).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frames, or without a fit and photometry.
    """
    available = guidestar_series(model, fit=fit)
    if not any(one.source not in ("centroid_table", "pointing_table")
               for one in available.values()):
        msg = "the model holds no fit and no photometry; run GuideStarFitStep first"
        raise GuideStarInputError(msg)
    if science is None and observer is None:
        times = model.frame_times
    else:
        times = frame_times_bjd(model, science, target=target, observer=observer)
    table = TimeSeries(time=times)
    flagged = np.zeros(len(times), dtype=bool)
    for name, one in available.items():
        if one.source in ("centroid_table", "pointing_table"):
            continue
        table[name] = one.values * one.unit
        flagged = one.flagged
    if model.hasattr("lightcurve"):
        table["flux_err"] = np.asarray(model.lightcurve["flux_err"], dtype=float) * u.DN / u.s
    table["flagged"] = flagged
    return table


def to_lightkurve(source, *, fit="auto", science=None, target=None, observer=None):
    """The guide-star light curve as a lightkurve ``LightCurve``.

    Parameters
    ----------
    source : spelunker.GuideStarModel or astropy.timeseries.TimeSeries
        A model with photometry (one row per frame), or a
        `bin_to_integrations` table (one row per integration; also as read
        back by ``QTable.read``).
    fit, science, target, observer : optional
        For a model; see `to_timeseries`.

    Returns
    -------
    lightkurve.LightCurve
        ``time``, ``flux``, ``flux_err`` (DN/s) and the other series as
        columns.

    Raises
    ------
    spelunker.errors.ParameterError
        When there is no ``flux`` (run PhotometryOptimizeStep), or a table
        has no ``time`` column.
    ImportError
        When lightkurve is not installed (``pip install 'spelunker[lightkurve]'``).
    """
    table = source if isinstance(source, Table) else to_timeseries(
        source, fit=fit, science=science, target=target, observer=observer)
    time = _table_time(table, "source")
    if "flux" not in table.colnames:
        msg = "no flux column: run the photometry (PhotometryOptimizeStep) first"
        raise ParameterError(msg)
    lightkurve = _lightkurve()
    flux_err = table["flux_err"] if "flux_err" in table.colnames else None
    curve = lightkurve.LightCurve(time=time, flux=table["flux"], flux_err=flux_err)
    for name in table.colnames:
        if name not in ("time", "flux", "flux_err") and not isinstance(table[name], Time):
            curve[name] = table[name]
    curve.meta.update(table.meta)
    return curve


def write_table(table, path, *, overwrite=False):
    """Write a `bin_to_integrations` or `Regressors.to_table` table as ECSV or FITS.

    The file is written under a temporary name and renamed, so no partial
    file is left.  In FITS, DN (data numbers) are spelled ``adu`` as the
    FITS standard has no DN; the time columns keep their scales (``TIMESYS``
    / ``TCTYPn``), so a plain astropy reader gets `~astropy.time.Time`
    columns and units back: ``QTable.read(path)`` for ECSV,
    ``QTable.read(path, astropy_native=True)`` for FITS.

    Parameters
    ----------
    table : astropy.table.Table
    path : str or os.PathLike
        Ending ``.ecsv`` or ``.fits`` (any case; ``.fits.gz`` is refused).
    overwrite : bool, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    spelunker.errors.ParameterError
        For an unwritable path, another ending, an existing file without
        ``overwrite``, or a table (or column) the format cannot hold.
    """
    if not isinstance(table, Table):
        msg = f"table={type(table).__name__}: not an astropy Table"
        raise ParameterError(msg)
    path = check_output_file(path, "path", suffixes=(".ecsv", ".fits"))
    if path.exists() and not overwrite:
        msg = f"path={str(path)!r} exists; pass overwrite=True to replace it"
        raise ParameterError(msg)
    out = table.copy(copy_data=False)
    fmt = "ascii.ecsv" if path.suffix.lower() == ".ecsv" else "fits"
    if fmt == "fits":
        for name in out.colnames:
            unit = getattr(out[name], "unit", None)
            if unit is not None and u.DN in unit.bases:
                out[name] = u.Quantity(out[name]).value * (unit * u.adu / u.DN)
        # A QTable: astropy's FITS writer cannot replace the indexed time column of a
        # TimeSeries (e.g. Regressors.to_table) with its jd1/jd2 columns.
        out = QTable(out, copy=False)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=path.suffix)
    os.close(handle)
    try:
        try:
            out.write(temporary, overwrite=True, format=fmt)
        except (TypeError, ValueError) as exc:
            msg = f"path={str(path)!r}: the table cannot be written as {fmt} ({exc})"
            raise ParameterError(msg) from None
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def _lightkurve():
    # lightkurve is an optional extra: importing it costs seconds and pulls
    # pandas, scikit-learn and bokeh, which nothing else here needs.
    try:
        import lightkurve
    except ImportError:
        msg = ("lightkurve is not installed; install the optional extra: "
               "pip install 'spelunker[lightkurve]'")
        raise ImportError(msg) from None
    return lightkurve
