"""Lomb-Scargle periodograms of guide-star time series.

Plain functions on arrays and on a `~spelunker.GuideStarModel`; the
`~spelunker.PeriodogramStep` and the notebook API both call them.  The
package's modules, one job each (every public name is imported here):

- `spelunker.periodogram.engines`: `frequency_grid`, the default grid, from
  ``1 / baseline`` to the Nyquist frequency of the *median* cadence (about
  9 Hz for fine-guide data), in steps of ``1 / (samples_per_peak *
  baseline)``; `lomb_scargle`, standard-normalised, floating-mean
  Lomb-Scargle of several series sharing one time axis, each with its own
  validity mask and optional uncertainties (weights).  Engine ``'nifty'``
  (default) uses `nifty-ls <https://github.com/flatironinstitute/nifty-ls>`_
  (a non-uniform FFT, accurate to about 1e-9 in power), one series per
  transform; engine ``'astropy'`` uses astropy's exact
  ``method='cython'``, the slow reference.  With ``peak_samples_per_peak``
  finer than ``samples_per_peak``, the peaks are those of the finer grid.
- `spelunker.periodogram.zoom`: `zoom_periodograms`, the power on the
  coarse grid and the peaks of the fine one computed around the candidates
  only (finufft sums, interpolated), what ``'nifty'`` does then.
- `spelunker.periodogram.peaks`: `find_peaks`, the strongest peaks of each
  series and their false-alarm probabilities.
- `spelunker.periodogram.refine`: `refine_period`, a periodogram peak
  refined by a least-squares sinusoid fit to a period with a 1-sigma
  error, an amplitude and a flag (`RefinedPeriod`).
- `spelunker.periodogram.store`: `series_from_model`, the seven PSF
  parameters of a fit table (flagged frames left out, errors as weights)
  and the light curve's flux; `run_periodogram`, all of it on a model
  (fitting first if it has no fit table), one periodogram per visit and
  guide star (`periodogram_groups`), the computation behind the step (the
  table stored at 2 points per peak, the peaks found at 5);
  `store_periodogram`, `periodogram_table`, `periodogram_peaks_table`: the
  model's ``periodogram`` and ``periodogram_peaks`` tables.
"""

from spelunker.periodogram.engines import ENGINES, PeriodogramResult, frequency_grid, lomb_scargle
from spelunker.periodogram.engines import MAX_MEMORY, MIN_POINTS  # noqa: F401 (module constants)
from spelunker.periodogram.peaks import find_peaks
from spelunker.periodogram.refine import RefinedPeriod, refine_period
from spelunker.periodogram.store import (
    FIT_PARAMETERS,
    PERIODOGRAM_SERIES,
    periodogram_groups,
    periodogram_peaks_table,
    periodogram_table,
    run_periodogram,
    series_from_model,
    store_periodogram,
)

__all__ = [
    "PERIODOGRAM_SERIES",
    "FIT_PARAMETERS",
    "ENGINES",
    "PeriodogramResult",
    "frequency_grid",
    "lomb_scargle",
    "find_peaks",
    "RefinedPeriod",
    "refine_period",
    "series_from_model",
    "store_periodogram",
    "periodogram_table",
    "periodogram_peaks_table",
    "run_periodogram",
    "periodogram_groups",
]
