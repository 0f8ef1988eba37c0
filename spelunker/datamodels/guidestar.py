"""GuideStarModel: the product every spelunker step reads and writes."""

import contextlib

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time
from stdatamodels.jwst.datamodels import JwstDataModel

__all__ = ["GuideStarModel"]


class GuideStarModel(JwstDataModel):
    """Stitched fine-guide frames of a visit (or program) and their results.

    Attributes
    ----------
    data : numpy.ndarray
        float32 (n_frames, 8, 8) frames in DN/s, in time order.
    err : numpy.ndarray
        float32 (n_frames, 8, 8) 1-sigma uncertainties (DN/s).
    dq : numpy.ndarray
        uint32 (n_frames, 8, 8) JWST data-quality bits per pixel and frame;
        every non-finite pixel carries ``DO_NOT_USE``.
    frames : numpy record array
        One row per frame: ``mid_time_mjd`` (MJD, UTC), ``file_index`` (row
        of ``files``), ``guidestar_index`` (row of ``guidestars``) and
        ``frame_in_file``.
    files : numpy record array
        One row per guider product (name, program, observation, visit,
        segment, detector, gs_id, EXP_TYPE, DATASTRT/DATAEND, frame count,
        first frame and the source of its frame times).
    guidestars : numpy record array
        One row per distinct guide star (id, coordinates, FGS magnitude,
        detector, interval start/stop, number of files and frames).
    pointing_table, centroid_table : numpy record array
        The products' POINTING and FGS CENTROID PACKET tables, concatenated,
        with a ``file_index`` column.

    Notes
    -----
    ``spelunker.read_guidestar`` builds this model from guider products.
    Importing spelunker registers the class with ``jwst.datamodels.open``,
    so a saved product reopens as a GuideStarModel.
    """

    schema_url = "http://spelunker.readthedocs.io/schemas/guidestar.schema"

    @contextlib.contextmanager
    def trusted_assignment(self):
        """Assign arrays built from `table_dtype` without re-validating them.

        stdatamodels validates every assignment by walking the value as a
        FITS record array, which decodes every string: seconds for the
        million-row tables of a long visit.  Code that builds arrays from the
        schema's own dtypes wraps its assignments in this context; the
        model validates as usual afterwards (and on save).
        """
        previous = self._validate_on_assignment
        self._validate_on_assignment = False
        try:
            yield self
        finally:
            self._validate_on_assignment = previous

    def save(self, path, dir_path=None, *args, **kwargs):
        """Save the model to a FITS or ASDF file (see ``stdatamodels.DataModel.save``).

        String columns are written straight from their ASCII bytes.  Left to
        itself, stdatamodels decodes every string of every table while
        validating, and astropy then encodes them back one by one: about a
        second per million rows of the on-board CENTROID table.

        Parameters
        ----------
        path : str or callable
            File path (``.fits`` or ``.asdf``), or a function of
            ``meta.filename`` returning one.
        dir_path : str, optional
            Directory that overrides the directory part of ``path``.
        *args, **kwargs
            Passed to ``stdatamodels.DataModel.save``.

        Returns
        -------
        str
            The path written.
        """
        with self._string_columns_as_bytes():
            return super().save(path, dir_path, *args, **kwargs)

    @contextlib.contextmanager
    def _string_columns_as_bytes(self):
        """Temporarily hold tables with string columns as bytes-valued FITS_rec."""
        originals = {}
        for name, definition in self.schema["properties"].items():
            if "datatype" not in definition or not isinstance(definition["datatype"], list):
                continue
            table = getattr(self, name, None) if self.hasattr(name) else None
            if isinstance(table, fits.FITS_rec) and any(
                    column.format.endswith("A") for column in table.columns):
                originals[name] = table
        try:
            with self.trusted_assignment():
                for name, table in originals.items():
                    setattr(self, name,
                            fits.FITS_rec.from_columns(table.columns, character_as_bytes=True))
            yield
        finally:
            with self.trusted_assignment():
                for name, table in originals.items():
                    setattr(self, name, table)

    def table_dtype(self, name):
        """Return the numpy dtype the schema gives the table ``name``.

        Parameters
        ----------
        name : str
            Table attribute, e.g. ``"files"`` or ``"pointing_table"``.

        Returns
        -------
        numpy.dtype
            Structured dtype; ``[ascii, N]`` columns become ``SN``.
        """
        columns = self.schema["properties"][name]["datatype"]
        fields = []
        for column in columns:
            kind = column["datatype"]
            if isinstance(kind, list):
                fields.append((column["name"], f"S{kind[1]}"))
            else:
                fields.append((column["name"], np.dtype(kind)))
        return np.dtype(fields)

    @property
    def frame_times(self):
        """Mid-frame times as an `astropy.time.Time` (scale ``utc``, format ``mjd``)."""
        return Time(np.asarray(self.frames["mid_time_mjd"]), format="mjd", scale="utc")

    def table(self, name):
        """Return one of the model's tables as an `astropy.table.QTable`.

        Parameters
        ----------
        name : str
            Attribute name of the table, e.g. ``"files"``, ``"guidestars"``,
            ``"frames"``, ``"pointing_table"``.

        Returns
        -------
        astropy.table.QTable
            A copy; string columns are decoded to ``str``, and the columns
            of the result tables carry their units (DN/s, pix, rad, Hz, s);
            times stay MJD floats (``frame_times`` gives them as Time).
        """
        source = getattr(self, name)
        table = QTable()
        for column in source.dtype.names:
            # Column by column: a FITS record array's raw storage holds
            # unsigned integers with their FITS offset.
            values = np.asarray(source[column])
            if values.dtype.kind == "S":
                values = np.char.decode(values, "ascii")
            unit = _column_unit(name, column)
            table[column] = values if unit is None else values * unit
        return table


_FIT_UNITS = {"amplitude": u.DN / u.s, "offset": u.DN / u.s, "x_mean": u.pix, "y_mean": u.pix,
              "x_stddev": u.pix, "y_stddev": u.pix, "theta": u.rad}
_TABLE_UNITS = {
    "gauss_fit": {**_FIT_UNITS, **{f"{k}_err": v for k, v in _FIT_UNITS.items()}},
    "lightcurve": {"flux": u.DN / u.s, "flux_err": u.DN / u.s},
    "periodogram": {"frequency": u.Hz},
    "periodogram_peaks": {"frequency": u.Hz, "period": u.s},
}
_TABLE_UNITS["quick_fit"] = _TABLE_UNITS["gauss_fit"]


def _column_unit(table, column):
    """Physical unit of a column of one of the model's tables (None if dimensionless)."""
    return _TABLE_UNITS.get(table, {}).get(column)
