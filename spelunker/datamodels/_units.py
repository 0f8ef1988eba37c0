"""Units and time labels of `~spelunker.GuideStarModel`'s tables, in a QTable and a FITS file.

`spelunker.GuideStarModel.table` gives each column its unit
(`column_unit`, `units_table`); `spelunker.GuideStarModel.save` writes the same units and
the UTC time labels into the FITS product's table headers
(`label_table_header` before writing; `label_fits_tables` on a saved file).
"""

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable

__all__ = []

_FIT_UNITS = {"amplitude": u.DN / u.s, "offset": u.DN / u.s, "x_mean": u.pix, "y_mean": u.pix,
              "x_stddev": u.pix, "y_stddev": u.pix, "theta": u.rad}
_TABLE_UNITS = {
    "gauss_fit": {**_FIT_UNITS, **{f"{k}_err": v for k, v in _FIT_UNITS.items()}},
    "lightcurve": {"flux": u.DN / u.s, "flux_err": u.DN / u.s},
    "periodogram": {"frequency": u.Hz},
    "periodogram_peaks": {"frequency": u.Hz, "period": u.s, "period_refined": u.s,
                          "period_error": u.s},
    "events": {f"delta_{key}{suffix}": unit for key, unit in (
        ("x_mean", u.pix), ("y_mean", u.pix), ("x_stddev", u.pix), ("y_stddev", u.pix),
        ("flux", u.DN / u.s)) for suffix in ("", "_err")},
}
_TABLE_UNITS["quick_fit"] = _TABLE_UNITS["gauss_fit"]
_TABLE_UNITS["flares"] = {"duration": u.s, "equivalent_duration": u.s,
                          "equivalent_duration_error": u.s}
_TABLE_UNITS["dips"] = {"duration": u.s}
_TABLE_UNITS["variability"] = {"hours": u.h, "flare_rate": u.h ** -1, "period": u.s,
                               "period_error": u.s, "bls_period": u.s}

#: Time columns of the tables: MJD in UTC.
_TIME_COLUMNS = {
    "frames": ("mid_time_mjd",),
    "files": ("data_start_mjd", "data_end_mjd"),
    "guidestars": ("start_mjd", "stop_mjd"),
    "pointing_table": ("time",),
    "centroid_table": ("observatory_time_mjd", "centroid_time_mjd"),
    "events": ("start_mjd", "end_mjd"),
    "flares": ("start_mjd", "peak_mjd", "stop_mjd"),
    "dips": ("start_mjd", "mid_mjd", "stop_mjd"),
}
_TABLE_UNITS["pointing_table"] = {
    "jitter": u.mas, **{f"delta_{axis}_{coordinate}": u.mas for axis in ("ddc", "v1", "j1")
                        for coordinate in ("ra", "dec")}}
_TABLE_UNITS["centroid_table"] = {"guide_star_position_x": u.arcsec,
                                  "guide_star_position_y": u.arcsec}


def _fits_unit(unit):
    """``unit`` in the FITS standard's spelling; DN (data numbers) are its ``adu``."""
    return (unit * u.adu / u.DN).to_string("fits") if u.DN in unit.bases else \
        unit.to_string("fits")


def label_fits_tables(path, model):
    """Write the units and the time labels of every table HDU of a saved FITS product."""
    with fits.open(path, mode="update", memmap=False) as hdulist:
        label_fits_hdus(hdulist, model)


def table_hdus(model):
    """``{table: EXTNAME}`` of the model's tables (schema properties with a list of columns).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> table_hdus(GuideStarModel())["gauss_fit"]
    'GAUSS_FIT'
    """
    return {name: definition["fits_hdu"]
            for name, definition in model.schema["properties"].items()
            if isinstance(definition.get("datatype"), list) and "fits_hdu" in definition}


def label_fits_hdus(hdulist, model):
    """Set the units and the time labels of every table HDU of ``hdulist`` (in memory)."""
    hdus = {extname: name for name, extname in table_hdus(model).items()}
    for hdu in hdulist:
        name = hdus.get(hdu.name)
        if name is not None and isinstance(hdu, fits.BinTableHDU):
            label_table_header(hdu.header, name, hdu.columns.names)


def label_table_header(header, name, columns):
    """Set the units (``TUNITn``) and time labels of the header of the model's table ``name``.

    ``columns`` are the table's column names in order.  `spelunker.GuideStarModel.save`
    labels each table's header before the table is written, so the file
    is written once (`label_fits_tables` rewrites a saved file).
    """
    times = _TIME_COLUMNS.get(name, ())
    for number, column in enumerate(columns, start=1):
        unit = column_unit(name, column)
        if unit is not None:
            header[f"TUNIT{number}"] = _fits_unit(unit)
        if column in times:
            header[f"TUNIT{number}"] = "d"
            header[f"TCTYP{number}"] = "UTC"
    if times:
        header["TIMESYS"] = ("UTC", "time scale of the time columns (MJD)")
        header["MJDREF"] = (0.0, "time columns are MJD: reference MJD 0")
        header["TIMEUNIT"] = ("d", "unit of the time columns")


def column_unit(table, column):
    """Physical unit of a column of one of the model's tables (None if dimensionless)."""
    return _TABLE_UNITS.get(table, {}).get(column)


def units_table(table, stored):
    """A stored table (record array) of the model's table ``table`` as a QTable with units.

    String columns are decoded to ``str``; times stay MJD floats.
    """
    result = QTable()
    for column in stored.dtype.names:
        # Column by column: a FITS record array's raw storage holds
        # unsigned integers with their FITS offset.
        values = np.asarray(stored[column])
        if values.dtype.kind == "S":
            values = np.char.decode(values, "ascii")
        unit = column_unit(table, column)
        result[column] = values if unit is None else values * unit
    return result
