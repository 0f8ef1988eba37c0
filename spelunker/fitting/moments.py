"""Quick per-frame PSF estimate from image moments over the whole frame.

Unlike the original tool's quick fit, which used only the first row and
column, every usable pixel of the frame enters.  It runs in a compiled
kernel at several million frames per second and needs no iterations, which
makes it a good first look and the starting point of the Gaussian fit.
"""

import logging

from spelunker._validate import check_positive_int
from spelunker.fitting._common import check_inputs, run_blocks
from spelunker.fitting._kernels import fit_moments_block
from spelunker.fitting.gaussian import EDGE_MARGIN, SIGMA_BOUNDS, SNR_MIN

__all__ = ["fit_moments_frames"]

log = logging.getLogger(__name__)


def fit_moments_frames(
    data,
    err=None,
    *,
    dq=None,
    bad_dq_bits=1,
    ncpus=1,
    chunk_size=65536,
    progress=False,
    out=None,
):
    """Estimate the Gaussian parameters of every frame from its moments.

    Per frame:

    - ``offset``: median of the usable border pixels (20th percentile of all
      usable pixels when fewer than 4 border pixels are usable);
    - pixel noise: ``err``, or 1.4826 x the median absolute deviation of
      those background pixels when ``err`` is None;
    - ``x_mean, y_mean``: centroid of the background-subtracted values of
      the pixels more than 2 noise sigmas above the background;
    - ``x_stddev, y_stddev, theta``: from the second moments of the same
      pixels (eigenvalues and major-axis angle; canonical form, widths
      clipped to 0.2 .. 4 px with AT_BOUND set when clipped);
    - ``amplitude = flux / (2 pi x_stddev y_stddev)`` with ``flux`` the
      background-subtracted sum of all usable pixels.

    Parameters
    ----------
    data : array_like, shape (n_frames, ny, nx)
        Frames (DN/s).
    err : array_like, shape (n_frames, ny, nx), optional
        1-sigma pixel uncertainties (used for the pixel threshold, the flux
        significance, ``chi2`` and the centroid errors).
    dq : array_like of int, shape (ny, nx) or (n_frames, ny, nx), optional
        Data-quality bits; pixels with ``dq & bad_dq_bits != 0`` are
        excluded, as are non-finite data and non-finite or non-positive err.
    bad_dq_bits : int, optional
        DQ bits that exclude a pixel (default 1, DO_NOT_USE);
        ``0 <= bad_dq_bits < 2**64``.
    ncpus : int, optional
        Number of threads.
    chunk_size : int, optional
        Frames per block (bounds temporary memory; progress updates).
    progress : bool, optional
        Show a tqdm progress bar.
    out : numpy.ndarray, optional
        A table (structured array, one row per frame) filled and returned
        instead of a FitResult, as in `fit_gaussian_frames`.

    Returns
    -------
    FitResult or numpy.ndarray
        Same keys as `fit_gaussian_frames` (or ``out``, holding them).  Only ``x_mean_err``,
        ``y_mean_err`` (noise propagated through the centroid, ignoring the
        threshold) and ``offset_err`` (error of the median) are given; the
        other errors are NaN.  ``chi2`` is that of the implied Gaussian
        against the data (weights 1/err**2, or 1 without err) -- a
        diagnostic, not the minimum of a fit, so CHI2_OUTLIER is never set.
        ``iterations`` is 0.  Flags used: TOO_FEW_PIXELS, NO_SIGNAL (no
        pixel above the threshold, or flux below 5 times its error), EDGE,
        AT_BOUND, NONFINITE (never NOT_CONVERGED, ITERATION_CAP,
        CHI2_OUTLIER or SINGULAR).  A row with ``flags == 0`` has all seven
        parameters finite.

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames
    >>> data, err, truth = simulate_frames(100, fgs_mag=12.0, seed=4)
    >>> quick = fit_moments_frames(data, err)
    >>> bool(abs(quick["x_mean"] - truth["x_mean"]).max() < 0.05)
    True
    """
    data, err, dq, dtype = check_inputs(data, err, dq, bad_dq_bits)
    ncpus = check_positive_int(ncpus, "ncpus")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    extra = (SIGMA_BOUNDS[0], SIGMA_BOUNDS[1], EDGE_MARGIN, SNR_MIN)
    return run_blocks(
        fit_moments_block, extra, data, err, dq, bad_dq_bits, dtype,
        ncpus=ncpus, chunk_size=chunk_size, progress=progress, desc="quick fit", out=out,
    )
