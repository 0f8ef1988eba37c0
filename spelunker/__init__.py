"""spelunker: JWST Fine Guidance Sensor guide-star data.

Read guider products with `read_guidestar` into a `GuideStarModel`;
`GuideStarFitStep` fits the PSF of every frame (also ``strun spelunker_fit``);
`spelunker.datasets` makes synthetic visits with known truth.
"""

from spelunker._version import __version__
from spelunker.datamodels import GuideStarModel
from spelunker.errors import ParameterError, SpelunkerError
from spelunker.io import read_guidestar
from spelunker.session import Spelunker, load
from spelunker.stpipe import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarPipeline,
    GuideStarVariabilityStep,
    PeriodogramStep,
    PhotometryOptimizeStep,
)

__all__ = ["__version__", "GuideStarModel", "SpelunkerError", "ParameterError", "read_guidestar",
           "load", "Spelunker",
           "GuideStarFitStep", "PhotometryOptimizeStep", "PeriodogramStep", "GuideStarEventStep",
           "GuideStarVariabilityStep", "GuideStarPipeline"]
