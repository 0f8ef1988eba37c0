"""The files the original notebook tool wrote: per-guide-star series, arrays and result tables.

The notebook session (`spelunker.session`) writes them for the original's
``save`` arguments: ``load(..., save=True)`` (`write_arrays`),
``spk.save(suffix)`` (`write_star_series`), ``gauss2d_fit(save=True)`` and
``quick_fit(save=True)`` (`write_result_table`), ``periodogram(save=True)``
(`write_periodogram`); their names come from `program_label` and
`series_stem`.  Tables are ECSV, which keeps the units and flags the
original's text files lost; every file is written through
`spelunker.atomic.atomic_file`, so it appears whole or not at all.
"""

import logging
from collections.abc import Mapping

import astropy.units as u
import numpy as np
from astropy.table import QTable

from spelunker._validate import check_float_array, check_output_dir, check_path, check_table
from spelunker.atomic import atomic_file
from spelunker.datamodels import check_model
from spelunker.errors import ParameterError
from spelunker.times import as_utc_time

__all__ = ["program_label", "series_stem", "write_arrays", "write_periodogram",
           "write_result_table", "write_star_series", "write_table"]

log = logging.getLogger(__name__)


def _check_text(value, name, *, where, optional=False):
    """``value`` if it is a string (or None when ``optional``), else a ParameterError."""
    if (value is None and optional) or isinstance(value, str):
        return value
    msg = f"{where}: {name}={value!r:.60} must be a string"
    raise ParameterError(msg)


def program_label(model):
    """The original's file label of a session's data: its program(s), ``1534`` or ``1534_1535``.

    ``'session'`` for a model without files.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarModel, datasets, read_guidestar
    >>> from spelunker.session.files import program_label
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> program_label(read_guidestar(visit.files)), program_label(GuideStarModel())
    ('1534', 'session')
    """
    programs = sorted({str(key[0]) for key in check_model(model, where="program_label").visits()})
    return "_".join(programs) or "session"


def series_stem(gs_id, start, *, prefix=None):
    """The original's name of a guide star's series: ``[<prefix>_]<gs_id>_<start>``.

    Parameters
    ----------
    gs_id : str
        Guide-star ID.
    start : astropy.time.Time, float or str
        The series' first time (``YYYYMMDDTHHMMSS`` UTC in the name; read
        by `spelunker.times.as_utc_time`).
    prefix : str, optional
        The original's ``save(suffix)``.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from spelunker.session.files import series_stem
    >>> series_stem("S1HP012345", Time("2023-05-01T12:00:00"), prefix="run1")
    'run1_S1HP012345_20230501T120000'
    """
    prefix = _check_text(prefix, "prefix", where="series_stem", optional=True)
    gs_id = _check_text(gs_id, "gs_id", where="series_stem")
    start = as_utc_time(start, name="start")
    if start.shape:
        msg = f"series_stem: start must be one time; got {start.size}"
        raise ParameterError(msg)
    return f"{prefix + '_' if prefix else ''}{gs_id}_{start.strftime('%Y%m%dT%H%M%S')}"


def write_table(table, path):
    """Write a table as ECSV (units and masks kept); returns the path.

    Examples
    --------
    >>> import tempfile
    >>> from astropy.table import QTable
    >>> from spelunker.session.files import write_table
    >>> folder = tempfile.mkdtemp()
    >>> QTable.read(write_table(QTable({"a": [1, 2]}), f"{folder}/a.ecsv"))["a"].tolist()
    [1, 2]
    """
    check_table(table, "table", where="write_table")
    path = check_path(path, "path", where="write_table")
    with atomic_file(path) as temporary:
        table.write(temporary, format="ascii.ecsv", overwrite=True)
    log.info("wrote %s", path)
    return path


def write_arrays(folder, program, arrays):
    """The original's ``load(..., save=True)``: ``<folder>/pid_<program>_<name>.npy`` files.

    Parameters
    ----------
    folder : str or path-like
        Created if needed.
    program : int or str
        The program in the file names, as given.
    arrays : dict
        Name (``'fg_array'``, ``'fg_time'``, ``'fg_flux'``) -> array.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.session.files import write_arrays
    >>> [path.name for path in write_arrays(tempfile.mkdtemp(), 1534, {"fg_time": [1.0]})]
    ['pid_1534_fg_time.npy']
    """
    where = "write_arrays"
    if isinstance(program, bool) or not isinstance(program, (int, np.integer, str)):
        msg = f"{where}: program={program!r:.60} must be a program number (int or str)"
        raise ParameterError(msg)
    if not isinstance(arrays, Mapping) or not all(isinstance(name, str) for name in arrays):
        msg = f"{where}: arrays must be a dict of name -> array; got {type(arrays).__name__}"
        raise ParameterError(msg)
    folder = check_output_dir(folder, "folder", where=where)
    written = []
    for name, values in arrays.items():
        path = folder / f"pid_{program}_{name}.npy"
        with atomic_file(path) as temporary:
            np.save(temporary, values)
        written.append(path)
    log.info("wrote %s", ", ".join(str(path) for path in written))
    return written


def write_result_table(table, folder, kind, label):
    """A result table as the original's ``save=True``: ``<folder>/<kind>/<label>_<kind>.ecsv``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from astropy.table import QTable
    >>> from spelunker.session.files import write_result_table
    >>> write_result_table(QTable({"a": [1]}), tempfile.mkdtemp(), "quickfits", "1534").name
    '1534_quickfits.ecsv'
    """
    where = "write_result_table"
    check_table(table, "table", where=where)
    kind = _check_text(kind, "kind", where=where)
    label = _check_text(label, "label", where=where)
    folder = check_output_dir(check_path(folder, "folder", kind="folder", where=where) / kind,
                              "folder", where=where)
    return write_table(table, folder / f"{label}_{kind}.ecsv")


def write_periodogram(figure, peaks, folder, label):
    """The original's ``periodogram(save=True)``: ``<label>_pgram_results.png`` and ``.ecsv``.

    Returns
    -------
    list of pathlib.Path
        The figure and the peaks table.
    """
    where = "write_periodogram"
    if not callable(getattr(figure, "savefig", None)):
        msg = f"{where}: figure={figure!r:.60} must be a matplotlib Figure"
        raise ParameterError(msg)
    check_table(peaks, "peaks", where=where)
    label = _check_text(label, "label", where=where)
    folder = check_output_dir(folder, "folder", where=where)
    image = folder / f"{label}_pgram_results.png"
    with atomic_file(image) as temporary:
        figure.savefig(temporary)
    return [image, write_table(peaks, folder / f"{label}_pgram_results.ecsv")]


def write_star_series(model, folder, flux, *, prefix=None, gauss=None, quick=None, peaks=None):
    """The original's ``save(suffix)``: one ECSV series per guide star.

    ``[<prefix>_]<gs_id>_<start>.ecsv`` (`series_stem`) holds the time (MJD
    UTC, mid-frame), the flux (DN/s) and, when given, the Gaussian fit of
    every frame of the guide star (its frames across visits:
    `spelunker.GuideStarModel.guidestar_frames`); ``..._quickfit.ecsv`` the
    moments fit; ``..._pgram.ecsv`` the periodogram peaks.

    Parameters
    ----------
    model : GuideStarModel
        The frames (their times and guide stars).
    folder : str or path-like
        Created if needed.
    flux : array_like
        The light curve, one value per frame (DN/s).
    prefix : str, optional
        The original's ``suffix``, at the start of every name.
    gauss, quick : astropy.table.QTable, optional
        Fit tables; used when they have one row per frame.
    peaks : astropy.table.QTable, optional
        The periodogram peaks.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    spelunker.errors.ParameterError
        An argument of the wrong type, or ``flux`` that is not one number
        per frame.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.session.files import write_star_series
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=40, n_segments=1)])
    >>> model = read_guidestar(visit.files)
    >>> paths = write_star_series(model, tempfile.mkdtemp(), model.data.sum(axis=(1, 2)))
    >>> [path.suffix for path in paths]
    ['.ecsv']
    """
    where = "write_star_series"
    check_model(model, where=where)
    model.require_frames("writing the series of each guide star")
    n = len(model.data)
    check_float_array(flux, "flux", shape=(n,), needed=f"one value per frame ({n})", where=where)
    flux = np.asarray(getattr(flux, "value", flux))  # as given: float32 stays float32
    _check_text(prefix, "prefix", where=where, optional=True)
    for name, table in (("gauss", gauss), ("quick", quick), ("peaks", peaks)):
        if table is not None:
            check_table(table, name, where=where)
    folder = check_output_dir(folder, "folder", where=where)
    stars = model.table("guidestars") if model.hasattr("guidestars") else None
    times = model.frame_times
    written = []
    for star, rows in model.guidestar_frames():
        gs_id = str(stars["gs_id"][star]).strip() if stars is not None else f"star{star}"
        stem = series_stem(gs_id, times[rows][0], prefix=prefix)
        series = QTable({"time": times[rows], "flux": flux[rows] * u.DN / u.s})
        if gauss is not None and len(gauss) == n:
            for name in gauss.colnames:
                if name != "time":
                    series[name] = gauss[name][rows]
        written.append(write_table(series, folder / f"{stem}.ecsv"))
        if quick is not None and len(quick) == n:
            written.append(write_table(quick[rows], folder / f"{stem}_quickfit.ecsv"))
        if peaks is not None:
            written.append(write_table(peaks, folder / f"{stem}_pgram.ecsv"))
    return written
