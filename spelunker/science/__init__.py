"""Guide-star series on the science cadence, in barycentric time.

The guide star's 16 Hz series (the fitted PSF parameters, the photometry,
the on-board centroids and the POINTING jitter) are binned onto the
integrations of a JWST time-series observation, so they can be compared with,
or regressed against, the science light curve:

- `integration_times` reads the integrations of a science product
  (its ``INT_TIMES`` table, e.g. ``*_rateints.fits``, ``*_calints.fits``,
  ``*_x1dints.fits``) or of arrays of start and end times, and
  `science_light_curve` sums each of its integrations
  (`spelunker.science.reading`);
- `bin_to_integrations` gives an `~astropy.timeseries.TimeSeries`, one row
  per integration, whose ``time`` is the mid-integration time in BJD_TDB,
  and `frame_times_bjd` gives every frame's time in BJD_TDB
  (`spelunker.science.binning`);
- `design_matrix` turns that table into standardised regressors
  (`Regressors`: an array and names, an astropy table, a lightkurve
  ``DesignMatrix``) (`spelunker.science.regressors`);
- `to_timeseries`, `to_lightkurve` and `write_table` export the guide-star
  series (`spelunker.science.export`).

The modules import one way: ``reading`` < ``binning`` < ``regressors`` <
``export``.  A frame belongs to integration ``k`` when its mid-time ``t``
(UTC) satisfies ``start_k <= t < end_k``.  A frame is *flagged* when its fit
has a nonzero flag (`spelunker.fitting.flags`); flagged frames, and
non-finite values, are left out of every statistic of that frame's series
and counted in ``flagged_fraction``.  The barycentric conversions are in
`spelunker.barycentric`.
"""

from spelunker.barycentric import INT_TIMES_COLUMNS
from spelunker.science.binning import bin_to_integrations, frame_times_bjd, guidestar_series
from spelunker.science.export import to_lightkurve, to_timeseries, write_table
from spelunker.science.reading import IntegrationTimes, integration_times, science_light_curve
from spelunker.science.regressors import DEFAULT_REGRESSORS, Regressors, design_matrix

__all__ = [
    "DEFAULT_REGRESSORS",
    "INT_TIMES_COLUMNS",
    "IntegrationTimes",
    "Regressors",
    "bin_to_integrations",
    "design_matrix",
    "frame_times_bjd",
    "guidestar_series",
    "integration_times",
    "science_light_curve",
    "to_lightkurve",
    "to_timeseries",
    "write_table",
]
