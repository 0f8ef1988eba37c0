"""PhotometryOptimizeStep: the guide star's light curve through an optimised aperture.

The step is thin: it opens its input as a `~spelunker.GuideStarModel` (a
copy: the caller's model is never modified), checks its parameters, calls
`spelunker.photometry.optimize_aperture` (through `run_photometry`), stores
the result with `spelunker.photometry.store_photometry` and logs a summary.
"""

import logging
import math
import os
import time

import numpy as np

from spelunker.photometry import (
    DEFAULT_BIN_SIZE,
    optimize_aperture,
    read_aperture_mask,
    store_photometry,
)
from spelunker.stpipe.core import SpelunkerStep
from spelunker.stpipe.guide_star_fit_step import parse_dq_bits

__all__ = ["PhotometryOptimizeStep", "run_photometry"]

log = logging.getLogger(__name__)


class PhotometryOptimizeStep(SpelunkerStep):
    """Light curve of the guide star through the aperture that minimises its binned scatter.

    For every aperture size N (``min_pixels`` to ``max_pixels``) the
    aperture is the N brightest pixels of the median frame; the step keeps
    the N whose light curve, binned in ``bin_size`` seconds, has the
    smallest relative scatter (`spelunker.photometry.optimize_aperture`).
    With ``per_guidestar`` each guide star of the input gets its own
    aperture; with ``aperture_mask`` a user aperture is used as it is.

    The input is anything `spelunker.io.open_guidestar` reads (calibrated
    fine-guide products, a glob, a directory, an association, a
    `~spelunker.GuideStarModel`, which is copied, never modified).  The
    result is a GuideStarModel with ``lightcurve`` (``flux``, ``flux_err``
    in DN/s and ``n_pixels``, one row per frame), ``aperture_mask`` and
    ``aperture_search`` filled in, and ``meta.spelunker.photometry_bin_size``
    and ``photometry_aperture`` set.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.stpipe.photometry_optimize_step import PhotometryOptimizeStep
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1500, n_segments=1)],
    ...     seed=1)
    >>> result = PhotometryOptimizeStep.call(visit.files, bin_size=5.0)
    >>> len(result.lightcurve) == len(result.data), result.aperture_mask.shape
    (True, (1, 8, 8))
    """

    class_alias = "spelunker_photometry"

    spec = """
    bin_size = float(default=10.0)  # Time bin (seconds) of the light curve whose relative scatter is minimised. 10 s holds 160-190 frames at 16-19 Hz, so frame-to-frame noise averages down ~13x and the slow variations that matter in light curves dominate, while a 20-minute segment still gives over 100 bins; use a smaller value for series shorter than about a minute
    min_pixels = integer(min=1, default=1)  # Smallest aperture tried (number of brightest pixels)
    max_pixels = integer(min=1, max=64, default=64)  # Largest aperture tried (64 = the whole 8x8 frame)
    per_guidestar = boolean(default=False)  # One aperture per guide star of the input (rows of the guidestars table) instead of one for all frames
    aperture_mask = string(default=None)  # Path to a user aperture, a .npy file or a FITS image of shape (8, 8) with 1 for pixels in the aperture; skips the search
    bad_dq_bits = pass(default='DO_NOT_USE')  # DQ bits of unusable pixels: an integer, or JWST DQ names joined by '+' or ','; a frame whose aperture holds such a pixel (or a non-finite one) gets a NaN flux
    progress = boolean(default=False)  # Show a progress bar while reading guider products
    suffix = string(default='gsphot')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Measure the light curve of ``input_data`` and return a new GuideStarModel.

        Parameters
        ----------
        input_data : object
            Anything `spelunker.io.open_guidestar` accepts.

        Returns
        -------
        GuideStarModel
            A copy of the input with ``lightcurve``, ``aperture_mask``,
            ``aperture_search`` and ``meta.spelunker.photometry_*`` filled in.
        """
        bin_size, sizes, mask_path, bad_bits = self._checked_parameters()
        mask = None
        if mask_path is not None:
            mask = _read_mask(self.name, mask_path)
        model = self.open_input(input_data, progress=bool(self.progress))
        start = time.perf_counter()
        result = run_photometry(model, bin_size=bin_size, n_pixels=sizes,
                                per_guidestar=bool(self.per_guidestar), mask=mask,
                                bad_dq_bits=bad_bits)
        elapsed = time.perf_counter() - start
        store_photometry(model, result)
        _log_summary(result, len(model.data), elapsed, mask_path)
        return model

    def _checked_parameters(self):
        """Return ``(bin_size, sizes, mask_path, bad_dq_bits)`` or raise ValueError.

        The spec validates parameters given to ``call``, ``strun`` or the
        constructor; attributes set on an instance afterwards (and values
        the spec cannot express, such as ``bin_size > 0``) are checked here.
        """
        name = self.name
        bin_size = self.bin_size
        if isinstance(bin_size, (bool, np.bool_)) or not isinstance(
                bin_size, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(bin_size) and bin_size > 0):
            msg = f"{name}: bin_size={bin_size!r} must be a finite number of seconds > 0"
            raise ValueError(msg)
        min_pixels = _pixel_count(name, "min_pixels", self.min_pixels)
        max_pixels = _pixel_count(name, "max_pixels", self.max_pixels)
        if min_pixels > max_pixels:
            msg = (f"{name}: min_pixels={min_pixels} is larger than max_pixels={max_pixels}; "
                   "no aperture size to try")
            raise ValueError(msg)
        mask_path = self.aperture_mask
        if mask_path is not None:
            if not isinstance(mask_path, (str, os.PathLike)):
                msg = f"{name}: aperture_mask={mask_path!r} must be a path (.npy or FITS)"
                raise ValueError(msg)
            mask_path = os.fspath(mask_path)
            if mask_path.strip().lower() in ("", "none"):
                mask_path = None
        bad_bits = parse_dq_bits(self.bad_dq_bits)
        return float(bin_size), np.arange(min_pixels, max_pixels + 1), mask_path, bad_bits


def run_photometry(model, *, bin_size=DEFAULT_BIN_SIZE, n_pixels=None, per_guidestar=False,
                   mask=None, bad_dq_bits=1):
    """Run `spelunker.photometry.optimize_aperture` on the frames of ``model``.

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
        One aperture per ``guidestar_index`` of the ``frames`` table.
    mask : array_like of bool or None, optional
        User aperture (no search).
    bad_dq_bits : int, optional
        DQ bits of unusable pixels.

    Returns
    -------
    spelunker.photometry.ApertureResult
    """
    from spelunker.photometry import frame_seconds

    data = np.asarray(model.data)
    if data.ndim != 3 or data.shape[0] == 0:
        msg = f"the input has no frames to measure (data shape {data.shape})"
        raise ValueError(msg)
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
    times = frame_seconds(model)
    groups = None
    if per_guidestar:
        groups = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    log.info("photometry of %d frames: %s, %s s bins", len(data),
             "user aperture" if mask is not None
             else "one aperture per guide star" if per_guidestar else "one aperture",
             f"{bin_size:g}")
    return optimize_aperture(data, err, times=times, dq=dq, bad_dq_bits=bad_dq_bits,
                             bin_size=bin_size, n_pixels=n_pixels, groups=groups, mask=mask)


def _read_mask(step_name, path):
    try:
        return read_aperture_mask(path)
    except FileNotFoundError:
        msg = f"{step_name}: aperture_mask={path!r}: no such file"
        raise FileNotFoundError(msg) from None
    except ValueError as exc:
        msg = f"{step_name}: aperture_mask: {exc}"
        raise ValueError(msg) from None


def _pixel_count(step_name, parameter, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        msg = f"{step_name}: {parameter}={value!r} must be an integer between 1 and 64"
        raise ValueError(msg)
    if not 1 <= value <= 64:
        msg = f"{step_name}: {parameter}={value!r} must be between 1 and 64"
        raise ValueError(msg)
    return int(value)


def _log_summary(result, n_frames, elapsed, mask_path):
    n_bad = int(np.count_nonzero(~np.isfinite(result.flux)))
    log.info("photometry: %d frames in %.2f s; %d frame(s) with NaN flux (non-finite or "
             "flagged pixel in the aperture)", n_frames, elapsed, n_bad)
    for row in result.summary:
        label = int(row["guidestar_index"])
        who = "all frames" if label < 0 else f"guide star {label}"
        source = f"user aperture {mask_path}" if mask_path else "optimised aperture"
        chosen, full = float(row["binned_scatter"]), float(row["full_frame_scatter"])
        gain = ""
        if chosen > 0 and full > chosen:
            gain = f" ({full / chosen:.2f}x lower)"
        log.info("  %s: %s of %d pixels; binned scatter (%g s bins) %.4g vs %.4g for all "
                 "pixels%s", who, source, int(row["n_pixels"]), result.bin_size, chosen, full,
                 gain)
