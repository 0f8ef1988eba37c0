"""Photometry on a `~spelunker.GuideStarModel`: run the search, store and read the light curve.

`run_photometry` runs `spelunker.photometry.optimize_aperture` on a model's
frames, `store_photometry` and `lightcurve_table` convert between a result
and the model, and `read_aperture_mask` reads a user aperture
(`spelunker.stpipe.PhotometryOptimizeStep` and the notebook API share them).
"""

import logging
import operator
import os

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable

from spelunker._validate import check_choice, check_positive_float
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.instrument import FRAME_SHAPE
from spelunker.photometry._frames import check_mask
from spelunker.photometry.scatter import _bin_size_for_spans
from spelunker.photometry.search import ApertureResult, optimize_aperture

__all__ = ["run_photometry", "read_aperture_mask", "store_photometry", "lightcurve_table",
           "APERTURE_KINDS"]

log = logging.getLogger(__name__)

#: How an aperture was chosen (``meta.spelunker.photometry_aperture``).
APERTURE_KINDS = ("optimized", "optimized_per_guidestar", "user")


def run_photometry(model, *, bin_size=DEFAULT_BIN_SIZE, n_pixels=None, per_guidestar=True,
                   mask=None, bad_dq_bits=1):
    """Run `~spelunker.photometry.optimize_aperture` on the frames of a `~spelunker.GuideStarModel`.

    The computation behind `~spelunker.PhotometryOptimizeStep`, shared with
    the notebook API; store the result with `store_photometry`.

    Parameters
    ----------
    model : GuideStarModel
        Frames (``data``, ``err``, ``dq``) and their times (``frames``); not
        modified.
    bin_size : float, optional
        Time bin (seconds) of the metric.
    n_pixels : int, sequence of int or None, optional
        Aperture sizes to try; None tries all.
    per_guidestar : bool, optional
        One aperture per ``guidestar_index`` of the ``frames`` table (the
        default) when the model holds several guide stars: stars of other
        brightness and at other places on the detector need their own.
        With one star, or False, one aperture serves every frame.
    mask : array_like of bool or None, optional
        User aperture (no search).
    bad_dq_bits : int, optional
        DQ bits of unusable pixels.

    Returns
    -------
    ApertureResult

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.photometry import run_photometry
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1500, n_segments=1)],
    ...     seed=1)
    >>> result = run_photometry(read_guidestar(visit.files), bin_size=5.0)
    >>> result.aperture, len(result.flux)
    ('optimized', 1500)
    """
    check_model(model, where="run_photometry").require_frames("photometry")
    if not isinstance(per_guidestar, (bool, np.bool_, int, np.integer)):
        msg = f"per_guidestar={per_guidestar!r:.60} must be True or False"
        raise ParameterError(msg)
    data = np.asarray(model.data)
    err = np.asarray(model.err) if model.hasattr("err") else None
    if err is not None and err.shape != data.shape:
        log.warning("input ERR has shape %s, not that of the frames %s; flux_err will be NaN",
                    err.shape, data.shape)
        err = None
    if err is None:
        log.warning("input has no usable ERR array; flux_err will be NaN")
    dq = np.asarray(model.dq) if model.hasattr("dq") else None
    if dq is not None and dq.shape not in (data.shape, data.shape[1:]):
        log.warning("input DQ has shape %s, neither that of the frames %s nor of one frame "
                    "%s; it is ignored and only non-finite pixels count as bad", dq.shape,
                    data.shape, data.shape[1:])
        dq = None
    groups = None
    if per_guidestar:
        groups = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
        if np.unique(groups).size < 2:  # one star: one aperture for all frames
            per_guidestar, groups = False, None
    times = model.frame_seconds()
    bin_size = check_positive_float(bin_size, "bin_size", unit="seconds")
    if mask is None:
        bin_size = _bin_size_for_spans(times, groups, bin_size)
    log.info("photometry of %d frames: %s, %s s bins", len(data),
             "user aperture" if mask is not None
             else "one aperture per guide star" if per_guidestar else "one aperture",
             f"{bin_size:g}")
    return optimize_aperture(data, err, times=times, dq=dq, bad_dq_bits=bad_dq_bits,
                             bin_size=bin_size, n_pixels=n_pixels, groups=groups, mask=mask)


def read_aperture_mask(path, *, shape=FRAME_SHAPE):
    """Read a user aperture from a ``.npy`` file or a FITS image.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` file, or FITS file whose first image HDU with data is the
        mask.
    shape : tuple of int, optional
        Expected shape (the frame shape).

    Returns
    -------
    numpy.ndarray
        bool ``shape``; True for pixels in the aperture.

    Raises
    ------
    spelunker.errors.ParameterError
        When the file does not exist, cannot be read, has no image, has the
        wrong shape, holds values other than 0 and 1 (or True/False), or
        selects no pixel; the message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from spelunker.photometry import read_aperture_mask
    >>> path = os.path.join(tempfile.mkdtemp(), "mask.npy")
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[3:5, 3:5] = True
    >>> np.save(path, mask)
    >>> int(read_aperture_mask(path).sum())
    4
    """
    if isinstance(path, (bool, np.bool_)) or not isinstance(path, (str, os.PathLike)):
        msg = f"aperture mask path={path!r} must be a file path (.npy or FITS)"
        raise ParameterError(msg)
    path = os.path.expanduser(os.fspath(path))
    what = f"aperture mask file {path!r}"
    if not os.path.isfile(path):
        msg = f"{what}: no such file"
        raise ParameterError(msg)
    try:
        shape = tuple(operator.index(n) for n in shape)
    except TypeError:
        msg = f"shape={shape!r:.60} must be (rows, columns), two integers"
        raise ParameterError(msg) from None
    lower = path.lower()
    if not lower.endswith((".npy", *_FITS_SUFFIXES)):
        msg = f"{what}: use a .npy file or a FITS image (.fits)"
        raise ParameterError(msg)
    try:
        if lower.endswith(".npy"):
            values = np.load(path, allow_pickle=False)
        else:
            values = _read_fits_image(path)
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        # numpy's and astropy's kinds for files that are not what they claim
        msg = f"{what} cannot be read: {exc}"
        raise ParameterError(msg) from exc
    if values is None:
        msg = f"{what}: no image HDU with data"
        raise ParameterError(msg)
    try:
        return check_mask(values, shape)
    except ParameterError as exc:
        msg = f"{what}: {exc}"
        raise ParameterError(msg) from None


_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")


def _read_fits_image(path):
    """The data of the first image HDU of a FITS file that has data, or None."""
    with fits.open(path, memmap=False) as hdulist:
        for hdu in hdulist:
            if hdu.is_image and hdu.data is not None:
                return np.array(hdu.data)
    return None


def store_photometry(model, result, *, bin_size=None, aperture=None):
    """Write an `ApertureResult` into a `~spelunker.GuideStarModel`.

    The one conversion from a photometry result to the model, shared by
    `~spelunker.stpipe.PhotometryOptimizeStep` and the notebook API.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place: ``lightcurve`` (``flux``, ``flux_err`` in DN/s,
        ``n_pixels``; one row per frame), ``aperture_mask``,
        ``aperture_search``, ``meta.spelunker.photometry_bin_size`` and
        ``meta.spelunker.photometry_aperture``.
    result : ApertureResult
        From `~spelunker.photometry.optimize_aperture` on the model's frames.
    bin_size : float or None, optional
        Time bin (seconds) of the metric; None takes ``result.bin_size``.
    aperture : {'optimized', 'optimized_per_guidestar', 'user'} or None, optional
        How the aperture was chosen; None takes ``result.aperture``.

    Returns
    -------
    numpy.ndarray
        The ``lightcurve`` structured array stored.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``result`` is not an `ApertureResult` matching the model's
        frames, or ``aperture`` is unknown.
    spelunker.errors.GuideStarInputError
        When the model holds no frames.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.photometry import optimize_aperture, store_photometry
    >>> data, err, _ = simulate_frames(500, seed=2)
    >>> model = GuideStarModel(data=data, err=err)
    >>> result = optimize_aperture(data, err, times=np.arange(500) * 0.0538, bin_size=2.0)
    >>> table = store_photometry(model, result)
    >>> len(model.lightcurve), model.meta.spelunker.photometry_aperture
    (500, 'optimized')
    """
    if not isinstance(result, ApertureResult):
        msg = f"result must be an ApertureResult (optimize_aperture), not {type(result).__name__}"
        raise ParameterError(msg)
    bin_size = result.bin_size if bin_size is None else check_positive_float(
        bin_size, "bin_size", unit="seconds")
    aperture = result.aperture if aperture is None else check_choice(
        aperture, "aperture", APERTURE_KINDS)
    check_model(model, where="store_photometry").require_frames("store_photometry")
    n_frames = len(model.data)
    for name in ("flux", "flux_err", "n_pixels"):
        if np.shape(getattr(result, name)) != (n_frames,):
            msg = (f"result.{name} has shape {np.shape(getattr(result, name))}; the model has "
                   f"{n_frames} frames")
            raise ParameterError(msg)
    masks = np.asarray(result.masks)
    if masks.ndim != 3 or masks.shape[1:] != np.shape(model.data)[1:]:
        msg = (f"result.masks has shape {masks.shape}; expected (n_masks,) + the frame shape "
               f"{np.shape(model.data)[1:]}")
        raise ParameterError(msg)
    lightcurve = np.zeros(n_frames, dtype=model.table_dtype("lightcurve"))
    lightcurve["flux"] = result.flux
    lightcurve["flux_err"] = result.flux_err
    lightcurve["n_pixels"] = result.n_pixels
    search = np.zeros(len(result.search), dtype=model.table_dtype("aperture_search"))
    for column in search.dtype.names:
        search[column] = np.asarray(result.search[column])
    with model.trusted_assignment():
        model.lightcurve = lightcurve
        model.aperture_search = search
    model.aperture_mask = (masks != 0).astype(np.uint8)
    model.meta.spelunker.photometry_bin_size = float(bin_size)
    model.meta.spelunker.photometry_aperture = aperture
    return lightcurve


def lightcurve_table(model):
    """The light curve of a model as a `~astropy.table.QTable` with units and times.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``lightcurve`` table (`store_photometry`).

    Returns
    -------
    astropy.table.QTable
        ``time`` (`~astropy.time.Time`, UTC, mid-frame; when the model has a
        ``frames`` table), ``flux`` and ``flux_err`` (DN/s), ``n_pixels``
        and ``guidestar_index`` (when known).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without light curve (run `store_photometry` first).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.photometry import lightcurve_table, optimize_aperture, store_photometry
    >>> data, err, _ = simulate_frames(500, seed=2)
    >>> model = GuideStarModel(data=data, err=err)
    >>> _ = store_photometry(model, optimize_aperture(
    ...     data, err, times=np.arange(500) * 0.0538, bin_size=2.0))
    >>> lightcurve_table(model)["flux"].unit
    Unit("DN / s")
    """
    if not check_model(model, where="lightcurve_table").hasattr("lightcurve"):
        msg = "the model has no lightcurve table; run PhotometryOptimizeStep (or store_photometry)"
        raise GuideStarInputError(msg)
    stored = model.lightcurve
    table = QTable()
    if model.hasattr("frames") and len(model.frames) == len(stored):
        table["time"] = model.frame_times
    # Field access: numpy.asarray of a saved FITS_rec gives its raw storage.
    table["flux"] = np.asarray(stored["flux"], dtype=np.float64) * (u.DN / u.s)
    table["flux_err"] = np.asarray(stored["flux_err"], dtype=np.float64) * (u.DN / u.s)
    table["n_pixels"] = np.asarray(stored["n_pixels"], dtype=np.int32)
    if model.hasattr("frames") and len(model.frames) == len(stored):
        table["guidestar_index"] = np.asarray(model.frames["guidestar_index"], dtype=np.int32)
    return table
