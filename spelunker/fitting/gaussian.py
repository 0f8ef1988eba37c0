"""Compiled Levenberg-Marquardt fit of a 2-D Gaussian to every frame.

One small least-squares problem per 8x8 frame, solved by a numba-compiled
kernel (analytic Jacobian, its exponentials and products in vectorized
loops, 7x7 Marquardt-scaled normal equations factored L D L^T, bounds by
projection) over blocks of frames, on one or more threads.  On the 2-core
development machines this fits about 4.5e5 frames per CPU second (a
magnitude 13.3 star: 3.15 Levenberg-Marquardt steps per frame), some 200
times a `scipy.optimize.curve_fit` loop per core, and agrees with
`scipy.optimize.least_squares` to better than 1e-5 px (see
``benchmarks/bench_fit.py`` and ``tests/test_fitting.py``).
"""

import logging

import numpy as np

from spelunker._validate import check_positive_int
from spelunker.errors import ParameterError
from spelunker.fitting._common import check_inputs, run_blocks
from spelunker.fitting._kernels import fit_gaussian_block

__all__ = ["fit_gaussian_frames", "SIGMA_BOUNDS", "CENTRE_MARGIN", "EDGE_MARGIN"]

log = logging.getLogger(__name__)

#: Allowed range of both widths during the fit (pixels).
SIGMA_BOUNDS = (0.2, 4.0)
#: The centre may leave the frame's pixel centres by this much (pixels):
#: x in [-1, nx], y in [-1, ny].
CENTRE_MARGIN = 1.0
#: EDGE is raised when the centre is within this distance (pixels) of the
#: frame's outer edge (-0.5 and n - 0.5), or outside it.
EDGE_MARGIN = 1.0
#: NO_SIGNAL when the amplitude is below this many of its 1-sigma errors.
SNR_MIN = 5.0


def _chi2_limits(npix, pvalue):
    """Chi2 thresholds for 0..npix degrees of freedom (inf: never an outlier)."""
    limits = np.full(npix + 1, np.inf)
    if pvalue is not None and npix >= 1:
        # heavy: scipy.special (0.05 s) is imported when a fit runs, not by a command's
        # --help; chi2.isf(pvalue, dof) as scipy.stats computes it (the same ufunc),
        # without importing scipy.stats (1 s)
        from scipy.special import chdtri  # noqa: PLC0415

        dof = np.arange(1, npix + 1)
        limits[1:] = chdtri(dof, pvalue)
    return limits


def fit_gaussian_frames(
    data,
    err=None,
    *,
    dq=None,
    bad_dq_bits=1,
    ncpus=1,
    max_iterations=50,
    chunk_size=16384,
    chi2_pvalue=1e-6,
    progress=False,
    out=None,
):
    """Fit a 2-D Gaussian plus constant to every frame.

    The model is ``A exp(-(a dx^2 + b dx dy + c dy^2)) + offset`` of
    `spelunker.fitting.model.gaussian2d` (astropy's Gaussian2D convention),
    sampled at pixel centres, fitted by weighted least squares with a
    compiled Levenberg-Marquardt loop per frame.

    Parameters
    ----------
    data : array_like, shape (n_frames, ny, nx)
        Frames (DN/s).  float32 input is processed without a float64 copy.
    err : array_like, shape (n_frames, ny, nx), optional
        1-sigma uncertainty of each pixel; the fit uses weights 1/err**2.
        If None, every pixel has unit weight: chi2 is then the plain sum of
        squared residuals ((DN/s)**2), CHI2_OUTLIER is never set, and the
        uncertainties (and the NO_SIGNAL test) use a pixel noise estimated
        from the residuals, ``sqrt(chi2 / dof)``, like `curve_fit` with
        ``absolute_sigma=False``.
    dq : array_like of int, shape (ny, nx) or (n_frames, ny, nx), optional
        Data-quality bits of the pixels.
    bad_dq_bits : int, optional
        Pixels with ``dq & bad_dq_bits != 0`` are excluded (default 1,
        DO_NOT_USE); at most 64 bits (``0 <= bad_dq_bits < 2**64``).
        Pixels with non-finite data, or non-finite or non-positive err, are
        always excluded.
    ncpus : int, optional
        Number of threads (the compiled kernel releases the GIL).  Results
        do not depend on it.
    max_iterations : int, optional
        Maximum number of Levenberg-Marquardt trial steps per frame.  A
        frame that uses them all is flagged ITERATION_CAP (see Notes).
    chunk_size : int, optional
        Frames per block; bounds the temporary memory (one block of each
        thread is converted at a time) and sets the progress-bar updates.
    chi2_pvalue : float or None, optional
        A fit whose chi2 has a p-value below this for its degrees of freedom
        is flagged CHI2_OUTLIER (needs ``err``; None disables the test).
    progress : bool, optional
        Show a tqdm progress bar, updated per block.
    out : numpy.ndarray, optional
        A structured array with one row per frame and (at least) the
        result's fields, numbers of any type (e.g. a fit table's dtype,
        `spelunker.GuideStarModel.table_dtype`): filled and returned instead
        of a FitResult.  Each block is fitted into small arrays and copied
        into it (integer fields must hold the values, else ParameterError),
        so no float64 copy of the whole result is made.

    Returns
    -------
    FitResult or numpy.ndarray
        A dict of 1-D arrays, one entry per frame: the seven parameters
        (``amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset``),
        their 1-sigma errors ``<name>_err``, ``chi2``, ``dof`` (usable
        pixels - 7), ``iterations`` and ``flags`` (`FitFlag` bits); or
        ``out``, holding them.

    Notes
    -----
    - Initial values come from the moments of `fit_moments_frames`
      (thresholded centroid and second moments; the background is the mean
      rather than the median of the border pixels, which is quicker and
      enough for a start), widths clipped to 0.3 .. 3 px, all clipped to
      the bounds.
    - Bounds, enforced by projection in every step (parameters on a bound
      whose gradient points outwards are held fixed): amplitude >= 0,
      ``-1 <= x_mean <= nx`` and ``-1 <= y_mean <= ny``,
      ``0.2 <= x_stddev, y_stddev <= 4``.  A final value on a bound sets
      AT_BOUND.
    - Convergence: the next Gauss-Newton step would move no parameter by
      more than 1e-3 of its conditional standard error (the step is taken;
      chi2 and the errors are those of the point before it, equal to
      O(1e-6)), or an accepted step lowered chi2 by less than 1e-10 chi2.
      A frame that stops without either (no step lowers chi2 any more, or
      ``max_iterations`` is reached) is accepted only if the projected
      scaled gradient is below 1e-5 of the pixel noise, and is otherwise
      flagged NOT_CONVERGED.  Reaching ``max_iterations`` always sets
      ITERATION_CAP (``iterations == max_iterations``), also when the
      gradient test then accepts the point.  The result typically matches
      `scipy.optimize.least_squares` to 1e-8 px (bright) - 1e-6 px (mag 17).
    - Uncertainties are the square roots of the diagonal of
      ``(J^T W J)^-1`` at the optimum.  With ``err`` they are *not* rescaled
      by the reduced chi2: with correct ``err`` they are the statistical
      errors; multiply by ``sqrt(chi2 / dof)`` yourself if you distrust
      ``err``.  (Without ``err`` see above.)
    - The shape is returned in canonical form (`canonical_shape`):
      ``x_stddev >= y_stddev``, ``-pi/2 <= theta < pi/2``; the errors of the
      two widths are swapped with them.
    - Every row is either clean (``flags == 0`` and all parameters and
      errors finite) or carries at least one flag (values may then be NaN).

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_gaussian_frames
    >>> data, err, truth = simulate_frames(100, x_mean=3.2, seed=3)
    >>> result = fit_gaussian_frames(data, err)
    >>> bool((result["flags"] == 0).all())
    True
    >>> bool(abs(result["x_mean"] - truth["x_mean"]).max() < 0.01)
    True
    """
    data, err, dq, dtype = check_inputs(data, err, dq, bad_dq_bits)
    ncpus = check_positive_int(ncpus, "ncpus")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if chi2_pvalue is not None and (
        isinstance(chi2_pvalue, (bool, np.bool_))
        or not isinstance(chi2_pvalue, (int, float, np.integer, np.floating))
        or not (0.0 < chi2_pvalue < 1.0)
    ):
        msg = f"chi2_pvalue must be a number in (0, 1) or None; got {chi2_pvalue!r}"
        raise ParameterError(msg)
    _, ny, nx = data.shape
    lo = np.array([0.0, -CENTRE_MARGIN, -CENTRE_MARGIN, SIGMA_BOUNDS[0], SIGMA_BOUNDS[0],
                   -np.inf, -np.inf])
    hi = np.array([np.inf, nx - 1 + CENTRE_MARGIN, ny - 1 + CENTRE_MARGIN,
                   SIGMA_BOUNDS[1], SIGMA_BOUNDS[1], np.inf, np.inf])
    limits = _chi2_limits(ny * nx, chi2_pvalue if err is not None else None)
    if err is None:
        log.info("fit_gaussian_frames: no err given, fitting with unit weights")
    extra = (lo, hi, max_iterations, limits, EDGE_MARGIN, SNR_MIN)
    return run_blocks(
        fit_gaussian_block, extra, data, err, dq, bad_dq_bits, dtype,
        ncpus=ncpus, chunk_size=chunk_size, progress=progress, desc="gauss fit", out=out,
    )

