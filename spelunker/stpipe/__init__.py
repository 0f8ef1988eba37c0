"""spelunker's JWST pipeline (stpipe) steps.

Run them with ``strun <alias> <input>``, an ASDF parameter file, or
``Step.call``; they need no CRDS configuration and make no network
connection (see `spelunker.stpipe.core`).
"""

from .core import SpelunkerPipeline, SpelunkerStep
from .event_step import GuideStarEventStep
from .guide_star_fit_step import GuideStarFitStep
from .guidestar_pipeline import GuideStarPipeline
from .parameters import parameter_file
from .periodogram_step import PeriodogramStep
from .photometry_optimize_step import PhotometryOptimizeStep
from .variability_step import GuideStarVariabilityStep

__all__ = [
    "SpelunkerStep",
    "SpelunkerPipeline",
    "GuideStarFitStep",
    "PhotometryOptimizeStep",
    "PeriodogramStep",
    "GuideStarEventStep",
    "GuideStarVariabilityStep",
    "GuideStarPipeline",
    "parameter_file",
]
