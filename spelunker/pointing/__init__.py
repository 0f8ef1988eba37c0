"""The guide star on the sky: V2/V3 offsets in mas, pointing-stability metrics, jitter spectrum.

- `sky`: window pixels -> science frame -> FGS ideal frame -> V2/V3
  (`window_to_science`, `window_to_sky`, `ideal_to_telescope`), with the
  SIAF of `spelunker.instrument`.
- `stability`: NEA, JWST's 15 s stability metric, rms, drift, 3-second
  averages and the excursion histogram, on arrays (`stability_metrics`,
  `interval_averages`, `excursion_histogram`).
- `spectrum`: the Welch jitter spectrum and its strongest lines
  (`jitter_spectrum`, `spectral_lines`).
- `core`: the same on a `~spelunker.GuideStarModel` with a fit table
  (`pointing_series`, `pointing_stability`).

``docs/pointing.rst`` defines the frames and the metrics, with sources and
measured accuracy.

Examples
--------
>>> from spelunker.pointing import STABILITY_INTERVAL, STABILITY_WINDOW
>>> STABILITY_INTERVAL, STABILITY_WINDOW
(15.0, 10000.0)
"""

from spelunker.pointing import core, sky, spectrum, stability
from spelunker.pointing.core import (MASKED_EVENT_KINDS, STABILITY_COLUMNS, OnboardCentroids,
                                     PointingSeries, pointing_series, pointing_stability,
                                     series_metrics, series_spectrum)
from spelunker.pointing.sky import (SkyPosition, ideal_to_telescope, science_to_ideal,
                                    telescope_offsets_mas, telescope_to_ideal,
                                    window_jacobian, window_to_science,
                                    window_to_sky)
from spelunker.pointing.spectrum import (LINE_HALF_WIDTH, MAX_MISSING, SEGMENT_S,
                                         JitterSpectrum, jitter_spectrum, spectral_lines)
from spelunker.pointing.stability import (AVERAGE_INTERVAL, FULL_INTERVAL, METRIC_COLUMNS,
                                          STABILITY_INTERVAL,
                                          STABILITY_WINDOW, excursion_histogram,
                                          expected_stability, interval_averages,
                                          stability_metrics)

# The public names of the four modules, re-exported.
__all__ = sorted([*core.__all__, *sky.__all__, *spectrum.__all__, *stability.__all__])
