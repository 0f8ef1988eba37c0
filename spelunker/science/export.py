"""Exporting the guide-star series: astropy time series, lightkurve, ECSV and FITS files.

`to_timeseries` gives the series one row per frame, `to_lightkurve` a
lightkurve ``LightCurve`` of a model or of a binned table, and
`write_table` writes a binned or regressor table (through
`spelunker.atomic.atomic_file`: whole or not at all).
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.timeseries import TimeSeries

from spelunker._validate import check_output_file
from spelunker.atomic import atomic_file
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.science.binning import _table_time, frame_times_bjd, guidestar_series
from spelunker.science.regressors import _lightkurve

__all__ = ["to_lightkurve", "to_timeseries", "write_table"]

log = logging.getLogger(__name__)

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

    The file is written under a temporary name and renamed
    (`spelunker.atomic.atomic_file`), so no partial file is left.  In FITS,
    DN (data numbers) are spelled ``adu`` as the FITS standard has no DN; the
    time columns keep their scales (``TIMESYS`` / ``TCTYPn``), so a plain
    astropy reader gets `~astropy.time.Time` columns and units back:
    ``QTable.read(path)`` for ECSV, ``QTable.read(path, astropy_native=True)``
    for FITS.

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
    with atomic_file(path, overwrite=overwrite) as temporary:
        try:
            out.write(temporary, format=fmt)
        except (TypeError, ValueError) as exc:
            msg = f"path={str(path)!r}: the table cannot be written as {fmt} ({exc})"
            raise ParameterError(msg) from None
    log.info("wrote %s (%d rows)", path, len(table))
    return path

