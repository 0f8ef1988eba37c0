"""PhotometryOptimizeStep: the guide star's light curve through an optimised aperture.

Glue in the manner of jwst's small steps: open the input (a copy), check the
parameters, call `spelunker.photometry.run_photometry`, store the result
with `spelunker.photometry.store_photometry`, log a summary, return the model.
"""

import logging
import os
import time

import numpy as np

from spelunker._validate import check_int_range, check_positive_float, parse_dq_bits
from spelunker.errors import ParameterError
from spelunker.photometry import read_aperture_mask, run_photometry, store_photometry
from spelunker.stpipe.core import SpelunkerStep

__all__ = ["PhotometryOptimizeStep"]

log = logging.getLogger(__name__)


class PhotometryOptimizeStep(SpelunkerStep):
    """Light curve of the guide star through the aperture that minimises its binned scatter.

    For every aperture size N (``min_pixels`` to ``max_pixels``) the
    aperture is the N brightest pixels of the median frame; the step keeps
    the N whose light curve, binned in ``bin_size`` seconds, has the
    smallest relative scatter (`spelunker.photometry.optimize_aperture`).
    An input of several guide stars (a program, re-acquisitions) gets one
    aperture per guide star unless ``per_guidestar`` is False; with
    ``aperture_mask`` a user aperture is used as it is.

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
    >>> from spelunker import PhotometryOptimizeStep
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
    per_guidestar = boolean(default=True)  # One aperture per guide star of the input (rows of the guidestars table) when it holds several: stars of different brightness and place on the detector need their own; False: one aperture for all frames
    aperture_mask = string(default=None)  # Path to a user aperture, a .npy file or a FITS image of shape (8, 8) with 1 for pixels in the aperture; skips the search
    bad_dq_bits = pass(default='DO_NOT_USE')  # DQ bits of unusable pixels: an integer, or JWST DQ names joined by '+' or ','; a frame whose aperture holds such a pixel (or a non-finite one) gets a NaN flux
    progress = boolean(default=False)  # Show a progress bar while reading guider products
    suffix = string(default='gsphot')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Measure the light curve of ``input_data`` (anything `spelunker.io.open_guidestar` reads).

        Returns a copy of the input with ``lightcurve``, ``aperture_mask``,
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
        """Return ``(bin_size, sizes, mask_path, bad_dq_bits)`` or raise ParameterError.

        The spec validates parameters given to ``call``, ``strun`` or the
        constructor; attributes set on an instance afterwards (and values
        the spec cannot express, such as ``bin_size > 0``) are checked here.
        """
        name = self.name
        bin_size = check_positive_float(self.bin_size, "bin_size", unit="seconds", where=name)
        min_pixels = check_int_range(self.min_pixels, "min_pixels", 1, 64, where=name)
        max_pixels = check_int_range(self.max_pixels, "max_pixels", 1, 64, where=name)
        if min_pixels > max_pixels:
            msg = (f"{name}: min_pixels={min_pixels} is larger than max_pixels={max_pixels}; "
                   "no aperture size to try")
            raise ParameterError(msg)
        mask_path = self.aperture_mask
        if mask_path is not None:
            if not isinstance(mask_path, (str, os.PathLike)):
                msg = f"{name}: aperture_mask={mask_path!r} must be a path (.npy or FITS)"
                raise ParameterError(msg)
            mask_path = os.fspath(mask_path)
            if mask_path.strip().lower() in ("", "none"):
                mask_path = None
        bad_bits = parse_dq_bits(self.bad_dq_bits, where=name)
        return bin_size, np.arange(min_pixels, max_pixels + 1), mask_path, bad_bits


def _read_mask(step_name, path):
    """The aperture mask file of the step's parameter; any problem is a ParameterError."""
    try:
        return read_aperture_mask(path)
    except FileNotFoundError:
        msg = f"{step_name}: aperture_mask={path!r}: no such file"
        raise ParameterError(msg) from None
    except ValueError as exc:
        msg = f"{step_name}: aperture_mask: {exc}"
        raise ParameterError(msg) from None


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
