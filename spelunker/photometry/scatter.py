"""The binned scatter of a light curve: the metric an aperture is chosen by.

The light curve is binned in time bins of ``bin_size`` seconds
(`spelunker.binning.time_bin_index`); a bin is used when it holds at least
`MIN_BIN_FRACTION` of a typical bin's frames, and the metric is the sample
standard deviation of the usable bin means divided by their mean (NaN with
fewer than `MIN_BINS` usable bins).  `spelunker.photometry.optimize_aperture`
minimises it; `binned_scatter` gives it for any light curve.
"""

import logging
import math

import numpy as np

from spelunker._validate import check_positive_float
from spelunker.binning import DEFAULT_BIN_SIZE, check_times, time_bin_index
from spelunker.errors import GuideStarInputError, ParameterError

__all__ = ["binned_scatter", "MIN_BINS", "MIN_BIN_FRACTION"]

log = logging.getLogger(__name__)

#: Fewest usable time bins for a binned scatter.
MIN_BINS = 4

#: A bin is used when it holds at least this fraction of a typical bin's frames.
MIN_BIN_FRACTION = 0.5


def binned_scatter(flux, times, *, bin_size=DEFAULT_BIN_SIZE):
    """Relative scatter of a light curve binned in time: the metric of an aperture search.

    Parameters
    ----------
    flux : array_like
        ``(n_frames,)`` light curve; non-finite values are left out.
    times : array_like
        ``(n_frames,)`` times in seconds.
    bin_size : float, optional
        Time bin in seconds.

    Returns
    -------
    float
        Sample standard deviation of the means of the usable bins divided by
        their mean; NaN with fewer than `MIN_BINS` usable bins or a
        non-positive mean.

    Raises
    ------
    spelunker.errors.ParameterError
        For mismatched lengths, non-finite times, a non-positive
        ``bin_size`` or one that holds fewer than 2 frames per bin.
    spelunker.errors.GuideStarInputError
        For a light curve of fewer than 2 frames.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import binned_scatter
    >>> times = np.arange(400.0)
    >>> flux = np.where(times < 200, 99.0, 101.0)
    >>> round(binned_scatter(flux, times, bin_size=100.0), 4)
    0.0115
    """
    try:
        flux = np.asarray(flux, dtype=float)
    except (TypeError, ValueError):
        flux = None
    if flux is None or flux.ndim != 1:
        msg = f"flux must be a one-dimensional array of numbers, got {np.shape(flux)}"
        raise ParameterError(msg)
    times = _check_times(times, flux.size)
    bin_size = check_positive_float(bin_size, "bin_size", unit="seconds")
    bins, n_bins, min_count = _time_bins(times, bin_size, where="", strict=False)
    if not n_bins:
        return float("nan")
    finite = np.isfinite(flux)
    sums = np.bincount(bins[finite], flux[finite], minlength=n_bins)[:, None]
    counts = np.bincount(bins[finite], minlength=n_bins)[:, None]
    return float(_relative_scatter(sums, counts, min_count)[0])


def _relative_scatter(sums, counts, min_count):
    """Relative scatter (std ddof=1 / mean) of the usable bin means, per column."""
    usable = counts >= min_count
    n_usable = usable.sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros(sums.shape), where=usable)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = means.sum(axis=0) / n_usable
        deviation = np.where(usable, means - centre, 0.0)
        variance = (deviation**2).sum(axis=0) / (n_usable - 1)
        scatter = np.sqrt(variance) / centre
    bad = (n_usable < MIN_BINS) | ~(centre > 0) | ~np.isfinite(scatter)
    scatter[bad] = np.nan
    return scatter


def _bin_layout(times, bin_size):
    """``(bins, n_bins, min_count, n_usable, typical)`` of ``times`` in ``bin_size`` bins."""
    raw = time_bin_index(times, bin_size)
    if raw.max() >= times.size:  # more bins than frames: number the occupied ones only
        _, bins = np.unique(raw, return_inverse=True)
        bins = bins.astype(np.int64).ravel()
    else:
        bins = raw
    n_bins = int(bins.max()) + 1
    total = np.bincount(bins, minlength=n_bins)
    typical = float(np.median(total[total > 0]))
    min_count = max(2, math.ceil(MIN_BIN_FRACTION * typical))
    n_usable = int(np.count_nonzero(total >= min_count))
    return bins, n_bins, min_count, n_usable, typical


def _time_bins(times, bin_size, *, where, strict):
    """Bin index of every frame, the number of bins and the usable-bin threshold.

    ``strict``: raise when the series is too short for `MIN_BINS` bins;
    otherwise warn and return ``n_bins = 0``.
    """
    n = times.size
    if n == 0:
        msg = f"no frames{where}: the light curve is empty"
        raise GuideStarInputError(msg)
    bins, n_bins, min_count, n_usable, typical = _bin_layout(times, bin_size)
    span = float(times.max() - times.min())
    cadence = float(np.median(np.diff(np.sort(times)))) if n > 1 else float("nan")
    largest = span / (2.5 * MIN_BINS)  # the largest bin giving MIN_BINS usable bins
    if (typical < 2 or n_usable < MIN_BINS) and not largest >= 2 * cadence:
        # No bin size works: a bin must hold 2 frames and MIN_BINS bins must fit.
        needed = int(np.ceil(5 * MIN_BINS)) + 1
        msg = (f"the light curve{where} is too short to bin: {n} frame(s) over {span:.4g} s; "
               f"the scatter of the binned light curve needs {MIN_BINS} usable bins of at "
               f"least 2 frames, i.e. a series of at least {needed} frames")
        if strict or n < 2:
            raise GuideStarInputError(msg)
        log.warning("%s; no binned scatter computed", msg)
        return bins, 0, min_count
    if typical < 2:
        msg = (f"bin_size={bin_size:g} s holds {typical:g} frame per bin{where} (median); at "
               f"least 2 are needed: use a bin_size of a few seconds (the frames are "
               f"{cadence:.3g} s apart)")
        raise ParameterError(msg)
    if n_usable < MIN_BINS:
        msg = (f"the light curve{where} spans {span:.4g} s ({n} frames): bin_size={bin_size:g} "
               f"s gives {n_usable} usable bin(s), at least {MIN_BINS} are needed; use a "
               f"smaller bin_size (at most {span / (2.5 * MIN_BINS):.3g} s)")
        if strict:
            raise ParameterError(msg)
        log.warning("%s; no binned scatter computed", msg)
        return bins, 0, min_count
    return bins, n_bins, min_count


def _bin_size_for_spans(times, groups, bin_size):
    """``bin_size``, or a smaller one (with a warning) when a series is too short for it.

    The search needs `MIN_BINS` usable bins in every series (each guide
    star's with ``groups``); when one is too short (a short visit or
    guide-star interval), the bin becomes the largest that gives them, as
    long as a bin still holds a few frames.
    """
    series = [times] if groups is None else [times[groups == label] for label in
                                              np.unique(groups)]
    if all(s.size > 1 and _bin_layout(s, bin_size)[3] >= MIN_BINS for s in series):
        return bin_size
    shortest = min(float(np.ptp(s)) if s.size else 0.0 for s in series)
    limit = shortest / (2.5 * MIN_BINS)
    cadence = float(np.median(np.diff(np.sort(times)))) if times.size > 1 else np.inf
    if limit >= bin_size or limit < 4 * cadence:
        return bin_size  # no bin size helps: optimize_aperture says why
    log.warning("the shortest light curve (guide star interval) spans %.4g s: bin_size "
                "reduced from %g s to %.3g s so that it gives %d usable bins", shortest,
                bin_size, limit, MIN_BINS)
    return limit


def _check_times(times, n_frames):
    """``times`` checked by `spelunker.binning.check_times`, one per frame."""
    times = check_times(times)
    if times.shape != (n_frames,):
        msg = f"times has shape {times.shape}; expected ({n_frames},), one per frame"
        raise ParameterError(msg)
    return times
