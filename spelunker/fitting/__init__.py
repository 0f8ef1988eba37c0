"""PSF fitting of guider frames: compiled 2-D Gaussian fit and quick moments.

- `fit_gaussian_frames`: weighted Levenberg-Marquardt fit of
  `gaussian2d` to every frame (numba-compiled, threaded, bounded, flagged).
- `fit_moments_frames`: background, centroid and second moments over the
  whole frame (fast "quick" fit).
- `fit_result_table`: either result as an astropy QTable with units.
- `FitFlag`: the quality bits; ``flags == 0`` is a clean fit.
- `run_fit`, `store_fit`, `fit_table`, `ensure_fit_table`, `fit_target`,
  `which_fit`: the same on a `~spelunker.GuideStarModel` (what the step,
  the periodogram and the notebook session call).

Examples
--------
>>> from spelunker.datasets import simulate_frames
>>> from spelunker.fitting import fit_gaussian_frames, fit_result_table
>>> data, err, truth = simulate_frames(10, seed=5)
>>> table = fit_result_table(fit_gaussian_frames(data, err))
>>> table.colnames[:3]
['amplitude', 'x_mean', 'y_mean']
"""

from spelunker.fitting.flags import FitFlag
from spelunker.fitting.gaussian import fit_gaussian_frames
from spelunker.fitting.model import PARAMETER_NAMES, canonical_shape, gaussian2d
from spelunker.fitting.moments import fit_moments_frames
from spelunker.fitting.result import FitResult, fit_result_table
from spelunker.fitting.store import (ensure_fit_table, fit_table, fit_target, flag_counts, run_fit,
                                     store_fit, which_fit)

__all__ = [
    "FitFlag",
    "FitResult",
    "PARAMETER_NAMES",
    "canonical_shape",
    "fit_gaussian_frames",
    "fit_moments_frames",
    "fit_result_table",
    "gaussian2d",
    "run_fit",
    "store_fit",
    "fit_table",
    "ensure_fit_table",
    "fit_target",
    "which_fit",
    "flag_counts",
]
