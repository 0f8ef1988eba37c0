"""spelunker: JWST Fine Guidance Sensor guide-star data.

Read guider products with `read_guidestar` into a `GuideStarModel`;
`GuideStarFitStep` fits the PSF of every frame (also ``strun spelunker_fit``);
`spelunker.datasets` makes synthetic visits with known truth.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spelunker")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from spelunker.datamodels import GuideStarModel  # noqa: E402
from spelunker.errors import SpelunkerError  # noqa: E402
from spelunker.io import read_guidestar  # noqa: E402
from spelunker.session import Spelunker, load  # noqa: E402
from spelunker.stpipe import (  # noqa: E402
    GuideStarFitStep,
    GuideStarPipeline,
    PeriodogramStep,
    PhotometryOptimizeStep,
)

__all__ = ["__version__", "GuideStarModel", "SpelunkerError", "read_guidestar", "load", "Spelunker",
           "GuideStarFitStep", "PhotometryOptimizeStep", "PeriodogramStep", "GuideStarPipeline"]
