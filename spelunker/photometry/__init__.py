"""Optimal-aperture photometry of fine-guide frames.

The light curve of a guide star is the sum of the pixels of an aperture in
every frame (DN/s).  The sum of all 64 pixels (`full_frame_flux`) carries the
read noise and background of every pixel; a smaller aperture of the brightest
pixels usually gives a steadier light curve.  `optimize_aperture` tries every
aperture made of the N brightest pixels of the median frame and keeps the N
whose light curve, binned in time, scatters least.

The package's modules, one job each (every public name is imported here):

- `spelunker.photometry.sums`: `aperture_flux` (the one summing routine),
  `full_frame_flux`, `usable_pixels` and `reference_frame`, on plain arrays;
- `spelunker.photometry.scatter`: `binned_scatter`, the metric;
- `spelunker.photometry.search`: `optimize_aperture` and its
  `ApertureResult`;
- `spelunker.photometry.store`: `run_photometry` runs the search on a
  `~spelunker.GuideStarModel`, `store_photometry` and `lightcurve_table`
  convert between a result and the model, `read_aperture_mask` reads a
  user aperture (`spelunker.stpipe.PhotometryOptimizeStep` and the
  notebook API share them).

The method, step by step:

1. **Reference frame.**  The NaN-safe median of the frames (pixels that are
   non-finite or carry a bad DQ bit left out), taken over at most
   ``reference_frames`` evenly spaced frames (20,000 by default: the median
   of a million frames costs seconds and moves by far less than the
   differences between pixels).
2. **Ranking.**  Pixels sorted by their median value, brightest first (ties
   by pixel number, pixels with no finite median last).  The aperture of
   size N is the first N pixels.
3. **Metric.**  For each N, the light curve is binned in time bins of
   ``bin_size`` seconds (bin k holds the frames with
   ``k <= (t - t_first) / bin_size < k + 1``).  A bin is used when at least
   half as many frames as in a typical (median) bin have a finite flux for
   that aperture; emptier bins (gaps, the partial bins at the ends, runs of
   bad frames) are dropped.  The metric is the relative scatter of the bin
   means: their sample standard deviation (``ddof=1``) divided by their
   mean.  An N with fewer than `MIN_BINS` usable bins, or a non-positive
   mean, gets NaN and cannot be chosen.
4. **Choice.**  The N with the smallest metric (the smallest N among
   equals).

Bad data are never summed as zeros: a frame whose aperture contains a
non-finite pixel, or a pixel with one of the ``bad_dq_bits`` set, has a NaN
flux for that aperture and drops out of its bins.  The baseline reported
with every search, and with a user aperture (``full_frame_scatter``), is
the metric of the sum of the *usable* pixels: those not flagged in every
frame and with a finite reference value.

All N are evaluated at once, in chunks of frames: per chunk the pixel
values of the frames are summed per time bin, and a cumulative sum over the
ranked pixels of those bin sums gives the bin sums of every aperture.
Frames with bad pixels are grouped by the rank of their first bad pixel and
contribute only to the apertures smaller than that rank.  The search on a
million frames takes a fraction of a second and never holds more than one
chunk of frames in float64.
"""

from spelunker.photometry.scatter import MIN_BIN_FRACTION, MIN_BINS, binned_scatter
from spelunker.photometry.search import DEFAULT_REFERENCE_FRAMES, ApertureResult, optimize_aperture
from spelunker.photometry.store import (
    APERTURE_KINDS,
    lightcurve_table,
    read_aperture_mask,
    run_photometry,
    store_photometry,
)
from spelunker.photometry.sums import aperture_flux, full_frame_flux, reference_frame, usable_pixels

__all__ = [
    "ApertureResult",
    "optimize_aperture",
    "aperture_flux",
    "full_frame_flux",
    "usable_pixels",
    "binned_scatter",
    "reference_frame",
    "run_photometry",
    "read_aperture_mask",
    "store_photometry",
    "lightcurve_table",
    "DEFAULT_REFERENCE_FRAMES",
    "MIN_BINS",
    "MIN_BIN_FRACTION",
    "APERTURE_KINDS",
]
