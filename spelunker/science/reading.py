"""Reading a science exposure: its integrations (``INT_TIMES``) and its light curve.

`integration_times` reads the integrations of a science product (its
``INT_TIMES`` table, e.g. ``*_rateints.fits``, ``*_calints.fits``,
``*_x1dints.fits``; a path, an open stdatamodels model or the table itself)
or takes arrays of start and end times, checks them and gives their
mid-times in BJD_TDB (`IntegrationTimes`).  `science_light_curve` sums each
integration of an image product into the white-light curve.  Unusable
products raise `~spelunker.errors.ScienceInputError` naming the file and the
problem; the barycentric conversions are in `spelunker.barycentric`.
"""

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from spelunker.barycentric import INT_TIMES_COLUMNS, barycentric_times, utc_from_barycentric
from spelunker.errors import ParameterError, ScienceInputError, SpelunkerError

__all__ = ["IntegrationTimes", "integration_times", "science_light_curve"]

log = logging.getLogger(__name__)

_TIME_SCALES = ("utc", "tdb", "bjd_tdb")

#: Largest |BJD_TDB - UTC| (s) of an INT_TIMES row: TDB - UTC (69.2 s) plus the light
#: travel time from JWST to the barycentre (at most ~513 s), with a margin.
_MAX_BJD_MINUS_UTC = 700.0

#: Overlap (days) of consecutive integrations tolerated as rounding: 1 ms.
_OVERLAP_TOLERANCE = 1e-3 / 86400.0


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
    """Call a `spelunker.barycentric` conversion, a plain ValueError made a ParameterError.

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
    observer : spelunker.barycentric.Ephemeris, EarthLocation, 'geocenter' or Quantity, optional
        JWST's position (see `spelunker.barycentric.barycentric_times`).  Default:
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
               "spelunker.barycentric.Ephemeris.from_header(science_file)) to be put in BJD_TDB")
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

