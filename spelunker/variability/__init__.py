"""Time-domain science on guide stars: noise, flares, dips, periods and classes.

Two levels, one job per module.

Arrays (times in seconds, relative flux, optional mask):

- `spelunker.variability.noise`: `noise_model` (white noise, binned rms
  against bin size, the red-noise factor beta);
- `spelunker.variability.detrend`: `detrend`, `trend_window`,
  `sliding_biweight` (a sliding robust biweight);
- `spelunker.variability.search`: `box_search`, the matched-box search
  shared by flares and dips;
- `spelunker.variability.template`: `flare_template` (Davenport et al.
  2014), its area and edges: the one owner of the flare shape;
- `spelunker.variability.flares`: `find_flares` (a template fit gives the
  peak, amplitude and equivalent duration);
- `spelunker.variability.dips`: `find_dips` (first and last contact from a
  trapezoid fit), `periodic_dips`;
- `spelunker.variability.transients`: `find_transients`, flares and dips
  from one joint search (each trend leaves out the events found).

Model level (a `~spelunker.GuideStarModel` in, QTables out):

- `spelunker.variability.lightcurve`: the relative light curve of one
  visit and guide star, its masked frames and its PSF series;
- `spelunker.variability.origin`: technical or astrophysical, for each
  flare and dip;
- `spelunker.variability.classes`: the classes of a star in a visit and
  their rule;
- `spelunker.variability.core`: `find_variability`, `store_variability`
  and the model's ``flares``, ``dips`` and ``variability`` tables.
"""

from spelunker.variability.classes import CLASSES, classify
from spelunker.variability.core import (
    VariabilityResult,
    dips_table,
    find_variability,
    flares_table,
    store_variability,
    variability_table,
)
from spelunker.variability.detrend import (TREND_WINDOW_FACTOR, detrend, sliding_biweight,
                                           trend_window)
from spelunker.variability.dips import DIP_THRESHOLD, PeriodicDips, find_dips, periodic_dips
from spelunker.variability.flares import FLARE_THRESHOLD, find_flares
from spelunker.variability.lightcurve import VisitLightCurve, visit_lightcurve
from spelunker.variability.noise import BETA_BIN_SIZES, NoiseModel, noise_model
from spelunker.variability.origin import ORIGINS, assign_origin
from spelunker.variability.search import BoxSearchResult, box_search, duration_grid
from spelunker.variability.template import FLARE_AREA, flare_template
from spelunker.variability.transients import find_transients

__all__ = [
    "BETA_BIN_SIZES",
    "CLASSES",
    "DIP_THRESHOLD",
    "FLARE_AREA",
    "FLARE_THRESHOLD",
    "ORIGINS",
    "TREND_WINDOW_FACTOR",
    "BoxSearchResult",
    "NoiseModel",
    "PeriodicDips",
    "VariabilityResult",
    "VisitLightCurve",
    "assign_origin",
    "box_search",
    "classify",
    "detrend",
    "dips_table",
    "duration_grid",
    "find_dips",
    "find_flares",
    "find_transients",
    "find_variability",
    "flare_template",
    "flares_table",
    "noise_model",
    "periodic_dips",
    "sliding_biweight",
    "store_variability",
    "trend_window",
    "variability_table",
    "visit_lightcurve",
]
