"""Time-domain science on guide-star light curves: noise, flares, dips, variability.

The array algorithms (times in seconds, relative flux, optional mask) are
`noise_model`, `detrend`/`trend_window`, `box_search`, `find_flares`,
`find_dips` and `periodic_dips`.
"""

from spelunker.variability.detrend import TREND_WINDOW_FACTOR, detrend, trend_window
from spelunker.variability.dips import DIP_THRESHOLD, PeriodicDips, find_dips, periodic_dips
from spelunker.variability.flares import FLARE_THRESHOLD, find_flares
from spelunker.variability.noise import BETA_BIN_SIZES, NoiseModel, noise_model
from spelunker.variability.search import BoxSearchResult, box_search, duration_grid

__all__ = [
    "BETA_BIN_SIZES",
    "DIP_THRESHOLD",
    "FLARE_THRESHOLD",
    "TREND_WINDOW_FACTOR",
    "BoxSearchResult",
    "NoiseModel",
    "PeriodicDips",
    "box_search",
    "detrend",
    "duration_grid",
    "find_dips",
    "find_flares",
    "noise_model",
    "periodic_dips",
    "trend_window",
]
