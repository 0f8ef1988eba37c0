"""GuideStarModel: the product every spelunker step reads and writes.

The model also owns the operations every layer needs on it: which fit table
to read (`GuideStarModel.fit_table_name`), frame times as seconds since the
start (`GuideStarModel.frame_seconds`, `GuideStarModel.frame_interval`), the
visits it holds (`GuideStarModel.visits`), the grouping by visit and guide
star (`GuideStarModel.frame_groups`, `GuideStarModel.periodogram_curves`,
on `spelunker.datamodels.rows.group_rows`), and subsets of its frames: by
index (`GuideStarModel.select`), visit (`GuideStarModel.select_visit`), file
fields (`GuideStarModel.select_files`) or time range
(`GuideStarModel.frames_between`).
"""

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
from asdf import AsdfFile
from astropy.io import fits
from astropy.time import Time
from stdatamodels import DataModel
from stdatamodels.jwst.datamodels import JwstDataModel

from spelunker._validate import check_choice, check_path
from spelunker.atomic import atomic_file
from spelunker.datamodels._fits_write import write_fits
from spelunker.datamodels._upgrade import with_added_columns
from spelunker.datamodels._units import units_table
from spelunker.datamodels.rows import group_rows
from spelunker.errors import CorruptFileError, GuideStarInputError, ParameterError
from spelunker.filetable import fg_table
from spelunker.names import id_number
from spelunker.times import as_utc_time

__all__ = ["GuideStarModel", "FIT_TABLES", "FRAME_RESULT_TABLES", "check_model", "group_rows"]

log = logging.getLogger(__name__)

#: Fitting method -> the table of the model it writes.
FIT_TABLES = {"gauss": "gauss_fit", "quick": "quick_fit"}

#: Result tables with one row per frame (cut with the frames by `GuideStarModel.select`).
FRAME_RESULT_TABLES = ("gauss_fit", "quick_fit", "lightcurve")

#: Result tables that describe the whole series (never carried over to a subset).
_SERIES_RESULT_TABLES = ("periodogram", "periodogram_peaks", "events", "flares", "dips",
                         "variability")

#: ``meta.spelunker`` fields that describe results.
_RESULT_META = ("fit_method", "fit_status", "fit_ncpus", "fit_n_flagged", "photometry_bin_size",
                "photometry_aperture", "periodogram_source", "periodogram_samples_per_peak")

#: Tables with a ``file_index`` column, cut with the files.
_PER_FILE_TABLES = ("pointing_table", "centroid_table")

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
    so a saved product reopens as a GuideStarModel.  ``init`` is None, a
    saved product's path, a dict, a datamodel, an ``HDUList`` or an
    ``AsdfFile`` (the model has no primary array, so no shape or array);
    anything else raises `~spelunker.errors.ParameterError`.
    """

    schema_url = "http://spelunker.readthedocs.io/schemas/guidestar.schema"

    def __init__(self, init=None, **kwargs):
        if not isinstance(init, (str, os.PathLike)):
            if not (init is None or isinstance(init, (dict, DataModel, AsdfFile, fits.HDUList))):
                msg = (f"GuideStarModel: init={init!r:.60} is not a saved product's path, a "
                       "dict or a datamodel (give arrays by keyword: data=...)")
                raise ParameterError(msg)
            super().__init__(init, **kwargs)
            return
        if not os.path.isfile(init):
            msg = f"{os.fspath(init)}: no such file (a saved GuideStarModel was expected)"
            raise GuideStarInputError(msg)
        try:
            try:
                super().__init__(init, **kwargs)
            except ValueError as exc:
                # A product written before the schema gained a column (see
                # datamodels._upgrade): open it with the column's "unknown" value.
                upgraded = (with_added_columns(init) if "don't match schema" in str(exc)
                            and os.fspath(init).lower().endswith(".fits") else None)
                if upgraded is None:
                    raise
                super().__init__(upgraded, **kwargs)
                self.meta.filename = Path(init).name
            if os.fspath(init).lower().endswith(".asdf"):
                # ASDF blocks load on access: read them now, as FITS is read,
                # so that a truncated file fails here and not at first use.
                for name in ("data", "err", "dq", "frames", "files"):
                    if self.hasattr(name):
                        np.asarray(getattr(self, name))
        except Exception as exc:  # stdatamodels, astropy and asdf raise many kinds
            with contextlib.suppress(Exception):  # a half-opened model may hold the file
                self.close()
            msg = (f"{os.fspath(init)}: saved GuideStarModel cannot be read; the file is "
                   f"truncated or damaged ({type(exc).__name__}: {exc})")
            raise CorruptFileError(msg) from exc

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

    @contextlib.contextmanager
    def without_frames(self):
        """Hold the model without its frames (``data``, ``err``, ``dq``) inside the block.

        What a product without frames is saved from: its frames are in the
        guider products its ``files`` table names.  The arrays are back when
        the block ends.
        """
        held = {name: getattr(self, name) for name in ("data", "err", "dq") if self.hasattr(name)}
        try:
            for name in held:
                delattr(self, name)
            yield self
        finally:
            with self.trusted_assignment():
                for name, values in held.items():
                    setattr(self, name, values)

    def save(self, path, dir_path=None, *args, **kwargs):
        """Save the model to a FITS or ASDF file (see ``stdatamodels.DataModel.save``).

        The file is written under a temporary name and renamed when
        complete (`spelunker.atomic.atomic_file`), so a failed save leaves
        no partial product.  In a FITS file every table carries its units
        (``TUNITn``) and its time columns are labelled as MJD in UTC
        (``TIMESYS``, ``MJDREF``, ``TIMEUNIT``, ``TCTYPn``), so
        ``astropy.table.Table.read(path, hdu="FRAMES", astropy_native=True)``
        gives `~astropy.time.Time` columns and units without spelunker.  The
        tables are written straight from their columns, a block of rows at a
        time (`spelunker.datamodels._fits_write`): no string is decoded and
        no table copied whole.

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

        Raises
        ------
        spelunker.errors.ParameterError
            For a path that is not a str, path-like or function, a file name
            that is not ``.fits`` or ``.asdf``, a folder that does not exist
            or is not writable, or a path that is a folder (checked before
            writing).
        """
        if not callable(path):
            check_path(path, "path", where="GuideStarModel.save")
        head, tail = os.path.split(path(self.meta.filename) if callable(path) else os.fspath(path))
        head = dir_path or head
        output = Path(head or ".") / tail
        if output.suffix not in (".fits", ".asdf"):
            msg = f"{output}: a GuideStarModel is saved as .fits or .asdf, not {output.suffix!r}"
            raise ParameterError(msg)
        folder = output.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            msg = f"{output}: the folder {folder} does not exist or is not writable"
            raise ParameterError(msg)
        # The final name inside a temporary folder beside it: the product
        # records its own file name.
        with atomic_file(output, keep_name=True) as partial:
            super().save(str(partial), None, *args, **kwargs)
        return str(output) if head else tail

    def to_fits(self, init, *args, **kwargs):
        """Write the model to a FITS file, its tables streamed from their columns (``_fits_write``).

        Parameters
        ----------
        init : str or file-like
            The file to write.
        *args, **kwargs
            Passed to `astropy.io.fits.HDUList.writeto`.
        """
        self.on_save(init)
        write_fits(self, init, *args, **kwargs)

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

        Raises
        ------
        spelunker.errors.ParameterError
            ``name`` is not one of the model's tables.
        """
        name = self._table_name(name, where="GuideStarModel.table_dtype")
        columns = self.schema["properties"][name]["datatype"]
        fields = []
        for column in columns:
            kind = column["datatype"]
            if isinstance(kind, list):
                fields.append((column["name"], f"S{kind[1]}"))
            else:
                fields.append((column["name"], np.dtype(kind)))
        return np.dtype(fields)

    def _table_name(self, name, *, where):
        """``name`` if it is one of the schema's tables, else a ParameterError listing them."""
        tables = [table for table, definition in self.schema["properties"].items()
                  if isinstance(definition.get("datatype"), list)]
        return check_choice(name, "name", tables, where=where)

    @property
    def frame_times(self):
        """Mid-frame times as an `astropy.time.Time` (scale ``utc``, format ``mjd``).

        A `~spelunker.errors.GuideStarInputError` for a model without a
        ``frames`` table.
        """
        return self.frame_times_at(slice(None))

    def frame_times_at(self, rows):
        """Mid-frame times of the frames ``rows`` (an index, indices or a slice), as `frame_times`.

        Only those frames' times are converted (`frame_times` converts
        every frame's: 0.2 s at 2 million frames).

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> model = GuideStarModel()
        >>> model.frames = [(60000.0 + i / 86400, 0, 0, i) for i in range(5)]
        >>> ends = model.frame_times_at([0, -1])
        >>> ends.scale, round(float((ends[1] - ends[0]).to_value("s")), 6)
        ('utc', 4.0)
        """
        if not self.hasattr("frames"):
            msg = "the model has no frames table, so no frame times"
            raise GuideStarInputError(msg)
        return Time(np.asarray(self.frames["mid_time_mjd"])[rows], format="mjd", scale="utc")

    def require_frames(self, purpose):
        """Raise a clear error when the model holds no frames (``data``).

        A pipeline product saved without its frames (``save_frames`` off)
        holds the results and tables only; what needs pixels (fits,
        photometry, frame images) must read the guider products its
        ``files`` table names.

        Parameters
        ----------
        purpose : str
            What needs the frames, for the message (``"fitting"``).

        Raises
        ------
        spelunker.errors.GuideStarInputError

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> GuideStarModel().require_frames("fitting")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        spelunker.errors.GuideStarInputError: fitting needs the frames, but the model holds
        none (a product saved without frames?); read the guider products of its files table
        """
        data = self.data if self.hasattr("data") else None
        if data is None or np.ndim(data) != 3 or len(data) == 0:
            msg = (f"{purpose} needs the frames, but the model holds none (a product saved "
                   "without frames?); read the guider products of its files table")
            raise GuideStarInputError(msg)

    def frame_seconds(self):
        """Mid-frame times in seconds since the earliest frame.

        Computed from the MJD (UTC) column of ``frames`` without building a
        million-element `~astropy.time.Time`; when the series crosses a
        leap second the exact astropy difference is used.

        Returns
        -------
        numpy.ndarray
            float64 seconds, 0 at the earliest frame.

        Raises
        ------
        spelunker.errors.GuideStarInputError
            When the model has no ``frames`` table.

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> model = GuideStarModel()
        >>> model.frames = [(60000.0 + i * 0.5 / 86400, 0, 0, i) for i in range(3)]
        >>> model.frame_seconds().round(6).tolist()
        [0.0, 0.5, 1.0]
        """
        if not self.hasattr("frames"):
            msg = "the model has no frames table, so no frame times"
            raise GuideStarInputError(msg)
        mjd = np.asarray(self.frames["mid_time_mjd"], dtype=np.float64)
        if mjd.size == 0:
            return mjd.copy()
        first, last = np.argmin(mjd), np.argmax(mjd)
        seconds = (mjd - mjd[first]) * 86400.0
        ends = Time(mjd[[first, last]], format="mjd", scale="utc")
        exact = (ends[1] - ends[0]).to_value("s")
        if abs(exact - seconds[last]) > 1e-3:  # a leap second inside the series
            times = Time(mjd, format="mjd", scale="utc")
            seconds = (times - ends[0]).to_value("s")
        return seconds

    def frame_interval(self):
        """The median interval between frames in seconds (1 for a single frame).

        Returns
        -------
        float

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> model = GuideStarModel()
        >>> model.frames = [(60000.0 + i * 0.0625 / 86400, 0, 0, i) for i in range(4)]
        >>> round(model.frame_interval(), 6)
        0.0625
        """
        seconds = np.asarray(self.frame_seconds(), dtype=float)
        return float(np.nanmedian(np.diff(seconds))) if len(seconds) > 1 else 1.0

    def fit_table_name(self, fit="auto", *, name="fit"):
        """The fit table to read: the one every layer (periodogram, figures, report) uses.

        Parameters
        ----------
        fit : {'auto', 'gauss', 'quick', 'gauss_fit', 'quick_fit'}, optional
            A method or a table name; ``'auto'`` prefers the 2-D Gaussian
            fit (``gauss_fit``), then the moments fit (``quick_fit``).
        name : str, optional
            The caller's name for the parameter, in error messages.

        Returns
        -------
        str
            ``'gauss_fit'`` or ``'quick_fit'``.

        Raises
        ------
        spelunker.errors.ParameterError
            For an unknown ``fit``.
        spelunker.errors.GuideStarInputError
            When the model does not have the table (or, for ``'auto'``, any
            fit table); the message says which step to run.

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> GuideStarModel().fit_table_name("quick")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        spelunker.errors.GuideStarInputError: the model has no quick_fit table; run
        GuideStarFitStep with method='quick'
        """
        names = {**{method: table for method, table in FIT_TABLES.items()},
                 **{table: table for table in FIT_TABLES.values()}}
        if not isinstance(fit, str) or (fit != "auto" and fit not in names):
            msg = f"{name}={fit!r} is not one of {['auto', *names]}"
            raise ParameterError(msg)
        if fit == "auto":
            for table in FIT_TABLES.values():
                if self.hasattr(table):
                    return table
            msg = ("the model has no gauss_fit or quick_fit table; run GuideStarFitStep "
                   "(strun spelunker_fit) first")
            raise GuideStarInputError(msg)
        table = names[fit]
        if not self.hasattr(table):
            method = next(m for m, t in FIT_TABLES.items() if t == table)
            msg = f"the model has no {table} table; run GuideStarFitStep with method={method!r}"
            raise GuideStarInputError(msg)
        return table

    def visits(self):
        """The visits the model holds, in time order.

        Returns
        -------
        list of tuple of int
            ``(program, observation, visit)`` of each visit, from the
            ``files`` table; empty for a model without files.

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
        >>> read_guidestar(visit.files).visits()
        [(1534, 1, 1)]
        """
        return [key for key, _ in self._visit_file_rows()]

    def frame_visits(self):
        """Position in `visits` of the visit of every frame.

        Returns
        -------
        numpy.ndarray
            int64 ``(n_frames,)``; zeros for a model without files.

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
        >>> set(read_guidestar(visit.files).frame_visits().tolist())
        {0}
        """
        n_frames = len(self.frames) if self.hasattr("frames") else 0
        rows = self._visit_file_rows()
        if len(rows) <= 1:  # every frame in visit 0 (np.zeros: no memory is written)
            return np.zeros(n_frames, dtype=np.int64)
        file_visit = np.zeros(len(self.files), dtype=np.int64)
        for position, (_, file_rows) in enumerate(rows):
            file_visit[file_rows] = position
        return file_visit[np.asarray(self.frames["file_index"], dtype=np.int64)]

    def guidestar_frames(self):
        """The frames of each guide star (across visits), in guide-star order.

        A guide star's series (its relative flux, its files) may span
        several visits; per-visit work uses `frame_groups`.

        Returns
        -------
        list of (int, numpy.ndarray)
            ``(guidestar_index, frames)``: the row of the guide-star table
            and the frame indices, one entry per guide star with frames.

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
        >>> [(g, len(frames)) for g, frames in read_guidestar(visit.files).guidestar_frames()]
        [(0, 6000)]
        """
        if not self.hasattr("frames"):
            return []
        stars = np.asarray(self.frames["guidestar_index"], dtype=np.int64)
        return [(int(star), np.flatnonzero(stars == star)) for star in np.unique(stars)]

    def frame_groups(self):
        """The frames of each visit and guide star, in time order.

        Returns
        -------
        list of (int, int, numpy.ndarray)
            ``(visit_index, guidestar_index, frames)``: the position in
            `visits`, the row of the guide-star table and the frame indices
            (see `group_rows`); empty for a model without frames.

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(),
        ...     visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=1),
        ...             datasets.VisitSpec(visit=2, n_frames=200, n_segments=1)],
        ...     seed=1)
        >>> [(v, g, len(frames)) for v, g, frames in read_guidestar(visit.files).frame_groups()]
        [(0, 0, 300), (1, 1, 200)]
        """
        if not self.hasattr("frames"):
            return []
        return group_rows(self.frame_visits(), self.frames["guidestar_index"])

    def periodogram_curves(self, series):
        """(frequency, power) of one series in each periodogram (visit and guide star).

        Parameters
        ----------
        series : str
            A power column of the ``periodogram`` table (``'x_mean'``,
            ``'flux'``, ...).

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            Frequencies (Hz) and powers, one pair per group of `group_rows`,
            in time order.

        Raises
        ------
        spelunker.errors.GuideStarInputError
            When the model has no periodogram.

        Examples
        --------
        >>> import numpy as np
        >>> from spelunker import GuideStarModel
        >>> model = GuideStarModel()
        >>> table = np.zeros(4, dtype=model.table_dtype("periodogram"))
        >>> table["visit_index"], table["frequency"] = [0, 0, 1, 1], [0.1, 0.2, 0.1, 0.2]
        >>> table["flux"] = [1.0, 2.0, 3.0, 4.0]
        >>> model.periodogram = table
        >>> [power.tolist() for _, power in model.periodogram_curves("flux")]
        [[1.0, 2.0], [3.0, 4.0]]
        """
        if not self.hasattr("periodogram"):
            msg = ("the model has no periodogram table; run PeriodogramStep "
                   "(strun spelunker_periodogram)")
            raise GuideStarInputError(msg)
        table = np.asarray(self.periodogram)
        return [(np.asarray(table["frequency"][rows]), np.asarray(table[series][rows]))
                for _, _, rows in group_rows(table["visit_index"], table["guidestar_index"])]

    def _visit_file_rows(self):
        if not self.hasattr("files") or len(self.files) == 0:
            return []
        files = self.files
        keys = zip(np.asarray(files["program"]).tolist(), np.asarray(files["observation"]).tolist(),
                   np.asarray(files["visit"]).tolist(), strict=True)
        groups = {}
        for row, key in enumerate(keys):
            groups.setdefault(tuple(int(k) for k in key), []).append(row)
        start = np.asarray(files["data_start_mjd"], dtype=float)
        return sorted(groups.items(), key=lambda item: float(start[item[1]].min()))

    def select_visit(self, program, observation, visit, *, keep_results=True, where=None):
        """A new model holding the frames of one visit.

        Parameters
        ----------
        program : int, str or None
            Program number (``1534``, ``'01534'``); None for the program of
            the only visit held with these observation and visit numbers.
        observation, visit : int or str
            Observation and visit numbers (``1``, ``'1'``, ``'001'``; read
            by `spelunker.names.id_number`).
        keep_results : bool, optional
            Carry the per-frame results over (see `select`).
        where : str, optional
            The caller's name, at the start of error messages.

        Returns
        -------
        GuideStarModel
            The frames of the visit's files (`select`).

        Raises
        ------
        spelunker.errors.ParameterError
            A number that is not a positive integer (or digits), or no single
            visit held matches (the message lists the visits held).

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> specs = [datasets.VisitSpec(visit=v, n_frames=20, n_segments=1) for v in (1, 2)]
        >>> model = read_guidestar(datasets.make_guidestar_files(tempfile.mkdtemp(), visits=specs,
        ...                                                      seed=1).files)
        >>> model.select_visit(None, 1, "002").visits(), model.select_visit(1534, 1, 1).visits()
        ([(1534, 1, 2)], [(1534, 1, 1)])
        """
        where = where or "GuideStarModel.select_visit"
        numbers = {kind: id_number(value, kind, where=where) for kind, value in (
            ("program", program), ("observation", observation), ("visit", visit))
            if value is not None or kind != "program"}
        held = self._visit_file_rows()
        matches = [(key, rows) for key, rows in held
                   if key[1:] == (numbers["observation"], numbers["visit"])
                   and numbers.get("program", key[0]) == key[0]]
        if len(matches) != 1:
            asked = ", ".join(f"{kind} {value}" for kind, value in numbers.items())
            listed = "; ".join(f"program {p}, observation {o}, visit {v}" for (p, o, v), _ in held)
            problem = (f"{asked} is held in programs "
                       f"{', '.join(str(key[0]) for key, _ in matches)}: give program="
                       if matches else f"the model holds no visit {asked}")
            msg = f"{where}: {problem}; the {len(held)} visit(s) held: {listed or 'none'}"
            raise ParameterError(msg)
        rows = matches[0][1]
        frames = np.flatnonzero(np.isin(np.asarray(self.frames["file_index"]), rows))
        return self.select(frames, keep_results=keep_results)

    def select_files(self, *, keep_results=False, **fields):
        """A new model holding the frames of the files whose name fields match.

        Parameters
        ----------
        keep_results : bool, optional
            Carry the per-frame results over (see `select`).
        **fields
            Columns of `spelunker.filetable.fg_table` and the value to keep,
            e.g. ``segment=2``, ``visit_group=5``, ``detector='GUIDER1'``;
            a file whose field is unknown (masked) is left out.

        Returns
        -------
        GuideStarModel
            The frames of the matching files, in order.

        Raises
        ------
        spelunker.errors.ParameterError
            A field that `spelunker.filetable.fg_table` does not have, or fields
            that leave no file (the message lists the values the files hold).

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=200, n_segments=2)], seed=1)
        >>> model = read_guidestar(visit.files)
        >>> len(model.files), len(model.select_files(segment=2).files)
        (2, 1)
        """
        table = fg_table(self)
        unknown = sorted(set(fields) - set(table.colnames))
        if unknown:
            msg = (f"select_files: the files have no field {', '.join(unknown)} (fields: "
                   f"{', '.join(table.colnames)})")
            raise ParameterError(msg)
        keep = np.ones(len(table), dtype=bool)
        for column, value in fields.items():
            values = table[column]
            keep &= ~np.ma.getmaskarray(values) & (np.ma.getdata(values) == value)
        if not keep.any():
            held = "; ".join(f"{column}: " + ", ".join(sorted({str(v) for v in table[column]}))
                             for column in fields)
            msg = (f"the filters {fields} leave none of the {len(table)} file(s) read "
                   f"(the files hold {held})")
            raise ParameterError(msg)
        frames = np.flatnonzero(np.isin(np.asarray(self.frames["file_index"]),
                                        np.flatnonzero(keep)))
        log.info("filters %s keep %d of %d file(s), %d frames", fields, int(keep.sum()),
                 len(table), len(frames))
        return self.select(frames, keep_results=keep_results)

    def frames_between(self, start=None, end=None, *, frames=None):
        """The frames whose mid-time is from ``start`` to ``end`` (both included).

        Parameters
        ----------
        start, end : float, str or astropy.time.Time, optional
            Limits: MJD (UTC) numbers, ISO strings (UTC) or Times
            (`spelunker.times.as_utc_time`); None for no limit.
        frames : array_like of int, optional
            Look among these frame indices only, keeping their order
            (default: all frames).

        Returns
        -------
        numpy.ndarray
            int64 frame indices; give them to `select` for a model.

        Raises
        ------
        spelunker.errors.ParameterError
            A limit that is not one time, or ``frames`` that are not frame
            indices.
        spelunker.errors.GuideStarInputError
            The model has no frames table.

        Examples
        --------
        >>> from spelunker import GuideStarModel
        >>> model = GuideStarModel()
        >>> model.frames = [(60000.0 + i / 86400, 0, 0, i) for i in range(5)]
        >>> model.frames_between(60000.0 + 1.5 / 86400, None).tolist()
        [2, 3, 4]
        >>> model.frames_between(end=60000.0 + 3 / 86400, frames=[4, 3, 0]).tolist()
        [3, 0]
        """
        if not self.hasattr("frames"):
            msg = "frames_between: the model has no frames table, so no frame times"
            raise GuideStarInputError(msg)
        index = np.arange(len(self.frames))
        if frames is not None:
            try:
                index = index[np.asarray(frames, dtype=np.int64)]
            except (TypeError, ValueError, IndexError):
                msg = f"frames_between: frames={frames!r:.60} are not frame indices"
                raise ParameterError(msg) from None
        if start is None and end is None:
            return index
        times = np.asarray(self.frame_times.mjd, dtype=np.float64)[index]
        keep = np.ones(len(index), dtype=bool)
        for limit, name, inside in ((start, "start", np.greater_equal),
                                    (end, "end", np.less_equal)):
            if limit is not None:
                time = as_utc_time(limit, name=name)
                if time.size != 1:
                    msg = f"frames_between: {name} must be one time; got {time.size}"
                    raise ParameterError(msg)
                keep &= inside(times, float(time.mjd.reshape(-1)[0]))
        return index[keep]

    def select(self, frames, *, keep_results=False):
        """A new model holding a subset of the frames; the one way to cut a model.

        The files, guide-star, POINTING and CENTROID tables keep the rows of
        the selected frames' files and guide stars, renumbered; the
        guide-star rows count the selected frames and files.  The model is
        not modified.

        Parameters
        ----------
        frames : slice or array_like of int or bool
            The frames to keep, in the order given.
        keep_results : bool, optional
            Carry over the per-frame results (fit tables, light curve) cut
            to the frames, and the apertures of the kept guide stars.  The
            periodograms describe the whole series and are never carried
            over.  Default: no result is carried over.

        Returns
        -------
        GuideStarModel
            The selected frames with the rows of their files and guide stars.

        Raises
        ------
        spelunker.errors.ParameterError
            When ``frames`` is not a frame selection or selects no frame.
        spelunker.errors.GuideStarInputError
            When the model holds no frames.

        Examples
        --------
        >>> import tempfile
        >>> from spelunker import datasets, read_guidestar
        >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
        >>> len(read_guidestar(visit.files).select(slice(0, 100)).data)
        100
        """
        self.require_frames("selecting frames")
        n_frames = len(self.data)
        try:
            index = np.arange(n_frames)[frames]
        except (IndexError, TypeError, ValueError) as exc:
            msg = f"frames={frames!r} is not a selection of the {n_frames} frames ({exc})"
            raise ParameterError(msg) from None
        index = np.atleast_1d(index)
        if index.ndim != 1:
            msg = f"frames={frames!r:.60} is not a selection of the {n_frames} frames (1-D)"
            raise ParameterError(msg)
        if index.size == 0:
            msg = f"frames={frames!r} selects no frame of the {n_frames}"
            raise ParameterError(msg)
        part = GuideStarModel()
        part.update(self)
        for field in _RESULT_META:
            if not keep_results and getattr(part.meta.spelunker, field, None) is not None:
                delattr(part.meta.spelunker, field)
        with part.trusted_assignment():
            for name in ("data", "err", "dq"):
                if self.hasattr(name):
                    values = np.asarray(getattr(self, name))
                    setattr(part, name, values[index] if len(values) == n_frames else values)
            self._select_tables(part, index, keep_results=keep_results)
        return part

    def _select_tables(self, part, index, *, keep_results):
        """Fill ``part``'s tables with the rows of the frames ``index``, renumbered."""
        if not self.hasattr("frames"):
            return
        cut = np.array(self.frames)[index]
        old_files = np.unique(cut["file_index"]).astype(np.int64)
        old_stars = np.unique(cut["guidestar_index"]).astype(np.int64)
        n_files = len(self.files) if self.hasattr("files") else 0
        n_stars = len(self.guidestars) if self.hasattr("guidestars") else 0
        file_map = np.full(max(n_files, int(old_files.max()) + 1), -1, dtype=np.int64)
        file_map[old_files] = np.arange(old_files.size)
        star_map = np.full(max(n_stars, int(old_stars.max()) + 1), -1, dtype=np.int64)
        star_map[old_stars] = np.arange(old_stars.size)
        cut["file_index"] = file_map[cut["file_index"]]
        cut["guidestar_index"] = star_map[cut["guidestar_index"]]
        part.frames = cut
        if n_files:
            files = np.array(self.files)[old_files[old_files < n_files]]
            _, first = np.unique(cut["file_index"], return_index=True)
            files["first_frame"] = first[: len(files)]
            part.files = files
            part.meta.spelunker.n_files = int(len(files))
        if n_stars:
            part.guidestars = _count_guidestars(np.array(self.guidestars)[old_stars], cut,
                                                part.files if n_files else None)
            part.meta.spelunker.n_guidestars = int(old_stars.size)
        for name in _PER_FILE_TABLES:
            if self.hasattr(name):
                table = np.array(getattr(self, name))
                table = table[np.isin(table["file_index"], old_files)]
                table["file_index"] = file_map[table["file_index"]]
                setattr(part, name, table)
        for name in (*FRAME_RESULT_TABLES, *_SERIES_RESULT_TABLES, "aperture_mask",
                     "aperture_search"):
            if part.hasattr(name):
                delattr(part, name)
        if not keep_results:
            return
        for name in FRAME_RESULT_TABLES:
            if self.hasattr(name) and len(getattr(self, name)) == len(self.data):
                setattr(part, name, np.array(getattr(self, name))[index])
        if self.hasattr("aperture_mask"):
            planes = np.asarray(self.aperture_mask)
            per_star = planes.ndim == 3 and planes.shape[0] > 1
            part.aperture_mask = planes[old_stars] if per_star else planes.copy()
        if self.hasattr("aperture_search"):
            search = np.array(self.aperture_search)
            group = search["guidestar_index"]
            search = search[(group < 0) | np.isin(group, old_stars)]
            positive = search["guidestar_index"] >= 0
            search["guidestar_index"][positive] = star_map[search["guidestar_index"][positive]]
            part.aperture_search = search
        fit = FIT_TABLES.get(getattr(self.meta.spelunker, "fit_method", None))
        if fit is not None and part.hasattr(fit):
            part.meta.spelunker.fit_n_flagged = int(np.count_nonzero(
                np.asarray(getattr(part, fit)["flags"])))

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

        Raises
        ------
        spelunker.errors.ParameterError
            ``name`` is not one of the model's tables (the message lists them).
        spelunker.errors.GuideStarInputError
            The model does not hold that table (yet).

        Notes
        -----
        This is the table as stored (and saved in the product's HDU): the
        same columns, times as MJD (UTC) floats named ``*_mjd``.  The
        analysis view of a result table, with `~astropy.time.Time` columns,
        is its function's, which differs from this by exactly:

        - ``gauss_fit``, ``quick_fit``: `spelunker.fitting.fit_table` adds
          ``time`` (mid-frame);
        - ``lightcurve``: `spelunker.photometry.lightcurve_table` adds
          ``time`` and ``guidestar_index`` (from ``frames``);
        - ``periodogram``, ``periodogram_peaks``:
          `spelunker.periodogram.periodogram_table` and
          `~spelunker.periodogram.periodogram_peaks_table` have the same
          columns;
        - ``flares``, ``dips``, ``variability``: `spelunker.variability.flares_table`,
          `~spelunker.variability.dips_table`, `~spelunker.variability.variability_table`
          have ``<x>`` (Time) for each ``<x>_mjd``;
        - ``events``: `spelunker.events.events_table` (the columns of
          `spelunker.events.find_events`) has ``start`` and ``end`` (Time)
          for ``start_mjd`` and ``end_mjd``, and adds ``duration`` (s).

        ``tests/test_pipeline.py`` holds each function to this list.
        """
        name = self._table_name(name, where="GuideStarModel.table")
        if not self.hasattr(name):
            msg = f"GuideStarModel.table: the model holds no {name} table"
            raise GuideStarInputError(msg)
        return units_table(name, getattr(self, name))


def _count_guidestars(stars, frames, files):
    """Guide-star rows whose frame and file counts and interval describe ``frames``."""
    for row in range(len(stars)):
        mine = frames["guidestar_index"] == row
        rows = np.unique(frames["file_index"][mine])
        stars["n_frames"][row] = int(np.count_nonzero(mine))
        stars["n_files"][row] = int(rows.size)
        if rows.size and files is not None:
            stars["start_mjd"][row] = float(np.min(files["data_start_mjd"][rows]))
            stars["stop_mjd"][row] = float(np.max(files["data_end_mjd"][rows]))
    return stars


def check_model(value, name="model", *, where=None):
    """Return ``value`` if it is a `~spelunker.GuideStarModel`.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datamodels import check_model
    >>> check_model(GuideStarModel()).__class__.__name__
    'GuideStarModel'
    >>> check_model("visit.fits",
    ...             where="lightcurve_table")  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: lightcurve_table: model='visit.fits' must be a
    GuideStarModel ...
    """
    if not isinstance(value, GuideStarModel):
        text = (f"{name}={value!r:.60} must be a GuideStarModel "
                "(spelunker.io.open_guidestar opens files)")
        raise ParameterError(f"{where}: {text}" if where else text)
    return value

