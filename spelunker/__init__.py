"""spelunker: JWST Fine Guidance Sensor guide-star data.

Read guider products with `read_guidestar` into a `GuideStarModel`;
`GuideStarFitStep` fits the PSF of every frame (also ``strun spelunker_fit``);
`spelunker.datasets` makes synthetic visits with known truth.

The names below are imported when first used (PEP 562), so that a command
such as ``spelunker-jitter --help`` answers without loading jwst or the
compiled kernels; ``from spelunker import GuideStarModel`` works as before.
"""

from spelunker._jit import use_writable_cache
from spelunker._lazy import lazy_exports
from spelunker._version import __version__

# numba (spelunker's kernels) caches on disk: where its folders cannot be written,
# a private one, before numba is first imported (see spelunker._jit).
use_writable_cache()

#: Public name -> the module that owns it (imported on first use).
_OWNERS = {
    "GuideStarModel": "spelunker.datamodels",
    "SpelunkerError": "spelunker.errors",
    "ParameterError": "spelunker.errors",
    "read_guidestar": "spelunker.io",
    "load": "spelunker.session",
    "Spelunker": "spelunker.session",
    "GuideStarFitStep": "spelunker.stpipe",
    "PhotometryOptimizeStep": "spelunker.stpipe",
    "PeriodogramStep": "spelunker.stpipe",
    "GuideStarEventStep": "spelunker.stpipe",
    "GuideStarVariabilityStep": "spelunker.stpipe",
    "GuideStarPipeline": "spelunker.stpipe",
}

__all__ = ["__version__", *_OWNERS]

__getattr__, __dir__ = lazy_exports(__name__, _OWNERS, __all__)
