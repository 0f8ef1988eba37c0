"""Time-domain science on guide stars: flares, dips, periods, noise and classes.

Model level (a `~spelunker.GuideStarModel` in, QTables out), one job per module:

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
from spelunker.variability.lightcurve import VisitLightCurve, visit_lightcurve
from spelunker.variability.origin import ORIGINS, assign_origin

__all__ = [
    "CLASSES",
    "classify",
    "ORIGINS",
    "assign_origin",
    "VisitLightCurve",
    "visit_lightcurve",
    "VariabilityResult",
    "find_variability",
    "store_variability",
    "flares_table",
    "dips_table",
    "variability_table",
]
