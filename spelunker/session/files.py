"""The files the original notebook tool wrote: per-guide-star series, arrays and result tables.

The notebook session (`spelunker.session`) writes them for the original's
``save`` arguments: ``load(..., save=True)`` (`write_arrays`),
``spk.save(suffix)`` (`write_star_series`), ``gauss2d_fit(save=True)`` and
``quick_fit(save=True)`` (`write_result_table`), ``periodogram(save=True)``
(`write_periodogram`).  Tables are ECSV, which keeps the units and flags
the original's text files lost; every file is written through
`spelunker.atomic.atomic_file`, so it appears whole or not at all.
"""

import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable

from spelunker.atomic import atomic_file

__all__ = ["write_arrays", "write_periodogram", "write_result_table", "write_star_series",
           "write_table"]

log = logging.getLogger(__name__)


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
    path = Path(path)
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
        The program in the file names.
    arrays : dict
        Name (``'fg_array'``, ``'fg_time'``, ``'fg_flux'``) -> array.

    Returns
    -------
    list of pathlib.Path
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
    """
    folder = Path(folder) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return write_table(table, folder / f"{label}_{kind}.ecsv")


def write_periodogram(figure, peaks, folder, label):
    """The original's ``periodogram(save=True)``: ``<label>_pgram_results.png`` and ``.ecsv``.

    Returns
    -------
    list of pathlib.Path
        The figure and the peaks table.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"{label}_pgram_results.png"
    with atomic_file(image) as temporary:
        figure.savefig(temporary)
    return [image, write_table(peaks, folder / f"{label}_pgram_results.ecsv")]


def write_star_series(model, folder, flux, *, prefix=None, gauss=None, quick=None, peaks=None):
    """The original's ``save(suffix)``: one ECSV series per guide star.

    ``[<prefix>_]<gs_id>_<start>.ecsv`` holds the time (MJD UTC, mid-frame),
    the flux (DN/s) and, when given, the Gaussian fit of every frame of the
    guide star; ``..._quickfit.ecsv`` the moments fit; ``..._pgram.ecsv``
    the periodogram peaks.

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
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stars = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    table = model.table("guidestars") if model.hasattr("guidestars") else None
    times, flux = model.frame_times, np.asarray(flux)
    n = len(model.data)
    written = []
    for star in np.unique(stars):
        rows = stars == star
        gs_id = str(table["gs_id"][star]).strip() if table is not None else f"star{star}"
        start = times[rows][0].strftime("%Y%m%dT%H%M%S")
        stem = f"{prefix + '_' if prefix else ''}{gs_id}_{start}"
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
