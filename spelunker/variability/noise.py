"""Noise model of a relative light curve: white noise, binned rms against bin size, red-noise beta.

Also the shared checks of the variability array functions (times, flux, mask)
and the contiguous stretches of a series, used by the detrending and the
searches of this package.

The white noise is ``1.4826 MAD / sqrt(2)`` of the differences of adjacent
valid frames (robust to flares, dips and slow trends).  The binned rms at a
bin of ``n`` frames is the rms of the means of consecutive ``n``-frame bins
lying fully inside one contiguous stretch (no gap longer than
`STRETCH_GAP` seconds or 10 frame intervals) and holding at least half their
frames valid; the white-noise expectation is ``white_noise / sqrt(frames per
bin)`` and beta their ratio (Winn et al. 2008; Pont et al. 2006).
"""

import logging
import math
from dataclasses import dataclass

import numpy as np

from spelunker._validate import check_float_array, check_positive_float
from spelunker.binning import check_times
from spelunker.errors import ParameterError

__all__ = ["BETA_BIN_SIZES", "STRETCH_GAP", "NoiseModel", "noise_model"]

log = logging.getLogger(__name__)

#: Gap (seconds) that ends a contiguous stretch: bins and running boxes never span
#: one.  The actual limit is the larger of this and 10 median frame intervals.
STRETCH_GAP = 1.0

#: Bin sizes (s) of the ``rms_*`` and ``beta_*`` fields: 1 min, 10 min, 1 h.
BETA_BIN_SIZES = (60.0, 600.0, 3600.0)

# a bin needs this fraction of its frames valid to count
_MIN_FILL = 0.5
# fewer bins than this give NaN rms/beta
_MIN_BINS = 3
# at most about this many values enter a median or an rms (evenly spread subsample)
_MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class NoiseModel:
    """Noise of a relative light curve (see `noise_model`).

    Attributes
    ----------
    white_noise : float
        Relative rms per frame from the point-to-point scatter.
    cadence : float
        Median frame interval (s).
    bin_size : numpy.ndarray
        Bin sizes (s), geometric from one frame to the longest stretch.
    rms : numpy.ndarray
        Relative rms of the binned series at each bin size (NaN with fewer than 3 bins).
    expected : numpy.ndarray
        ``white_noise / sqrt(frames per bin)``.
    n_bins : numpy.ndarray
        Number of bins that entered each rms.
    rms_1min, rms_10min, rms_1h : float
        Binned rms at 60, 600 and 3600 s (NaN with fewer than 3 bins).
    beta_1min, beta_10min, beta_1h : float
        ``rms / expected`` at those sizes (1 for white noise).
    """

    white_noise: float
    cadence: float
    bin_size: np.ndarray
    rms: np.ndarray
    expected: np.ndarray
    n_bins: np.ndarray
    rms_1min: float
    rms_10min: float
    rms_1h: float
    beta_1min: float
    beta_10min: float
    beta_1h: float


def check_series(times, flux, mask, *, where, short_ok=False):
    """Checked ``(times, flux, valid)``: 1-D increasing times, flux of their shape, valid frames.

    ``valid`` is True where the flux is finite and the mask (True = not used)
    is False.  Raises `~spelunker.errors.ParameterError` naming the argument;
    fewer than 2 frames, or 2 valid ones, too unless ``short_ok`` (the
    searches, which find nothing in them).
    """
    times = check_times(times)
    if times.size < 2 and not short_ok:
        msg = f"{where}: times must hold at least 2 frames, got {times.size}"
        raise ParameterError(msg)
    if np.any(np.diff(times) <= 0):
        msg = f"{where}: times must be strictly increasing"
        raise ParameterError(msg)
    flux = check_float_array(flux, "flux", shape=times.shape, needed="one value per time",
                             where=where)
    valid = np.isfinite(flux)
    if mask is not None:
        try:
            mask_array = np.asarray(mask)
        except (TypeError, ValueError):
            mask_array = None
        if mask_array is None or mask_array.dtype != bool or mask_array.shape != times.shape:
            msg = (f"{where}: mask must be a boolean array of shape {times.shape} "
                   "(True = frame not used)")
            raise ParameterError(msg)
        valid &= ~mask_array
    if np.count_nonzero(valid) < 2 and not short_ok:
        msg = f"{where}: flux holds fewer than 2 valid frames (finite and not masked)"
        raise ParameterError(msg)
    return times, flux, valid


def _pairs(size):
    """Positions ``i`` of about `_MAX_SAMPLES` evenly spread pairs of frames ``(i, i + 1)``."""
    return np.arange(0, size - 1, max(1, (size - 1) // _MAX_SAMPLES))


def cadence_of(times):
    """Median frame interval (s) of increasing ``times`` (from at most ~10^5 pairs)."""
    pairs = _pairs(times.size)
    return float(np.median(times[pairs + 1] - times[pairs]))


def stretch_bounds(times, cadence, *, gap=None):
    """``(starts, stops)`` frame positions of the contiguous stretches (stop exclusive).

    A stretch ends at a time step longer than ``gap`` (default: the larger of
    `STRETCH_GAP` and 10 frame intervals).
    """
    limit = max(STRETCH_GAP, 10.0 * cadence) if gap is None else gap
    breaks = np.flatnonzero(np.diff(times) > limit) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [times.size]))
    return starts, stops


def white_noise_of(flux, valid, times, cadence):
    """Relative rms per frame: 1.4826 MAD / sqrt(2) of differences of adjacent valid frames.

    At most ~10^5 evenly spread pairs of adjacent frames (both valid, no gap
    between them) enter (0.4 % precision).
    """
    pairs = _pairs(times.size)
    keep = (valid[pairs] & valid[pairs + 1]
            & (times[pairs + 1] - times[pairs] <= max(STRETCH_GAP, 10.0 * cadence)))
    steps = flux[pairs + 1][keep] - flux[pairs][keep]
    if steps.size == 0:
        return math.nan
    return float(1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2.0))


def _binned_rms(csum, ccount, starts, stops, n):
    """rms and count of the means of ``n``-frame bins lying inside one stretch."""
    firsts = [np.arange(a, b - n + 1, n) for a, b in zip(starts, stops) if b - a >= n]
    if not firsts:
        return math.nan, 0, math.nan
    first = np.concatenate(firsts)
    if first.size > _MAX_SAMPLES:
        first = first[::first.size // _MAX_SAMPLES]
    counts = ccount[first + n] - ccount[first]
    sums = csum[first + n] - csum[first]
    good = counts >= max(1, _MIN_FILL * n)
    if np.count_nonzero(good) < _MIN_BINS:
        return math.nan, int(np.count_nonzero(good)), math.nan
    means = sums[good] / counts[good]
    return float(np.std(means, ddof=1)), int(means.size), float(np.mean(counts[good]))


def noise_model(times, flux, *, mask=None, bin_sizes=None):
    """White noise, binned rms against bin size and red-noise factor beta of a light curve.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Relative flux (median ~1); NaN frames are ignored.
    mask : array_like of bool, optional
        True for frames not used.
    bin_sizes : array_like, optional
        Bin sizes (s); default geometric (ratio ~1.4) from one frame to the
        longest contiguous stretch.  Each is rounded to a whole number of frames.

    Returns
    -------
    NoiseModel

    Raises
    ------
    spelunker.errors.ParameterError
        Bad times, flux, mask or bin sizes.

    Notes
    -----
    Bins are ``n`` consecutive frames inside one contiguous stretch (the
    guider cadence is regular inside a stretch, so this is a time bin of
    ``n`` x cadence); a bin counts when at least half its frames are valid.
    The ``rms`` is taken about the mean of all bins (not detrended), so a
    slow trend or a long event shows as red noise.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability import noise_model
    >>> rng = np.random.default_rng(1)
    >>> times = np.arange(200_000) * 0.0538
    >>> model = noise_model(times, 1 + rng.normal(0, 0.004, times.size))
    >>> round(model.white_noise, 4), round(model.cadence, 4)
    (0.004, 0.0538)
    >>> bool(abs(model.beta_1min - 1) < 0.1), bool(abs(model.beta_10min - 1) < 0.3)
    (True, True)
    >>> bool(np.isnan(model.beta_1h))  # 3 h: fewer than 3 one-hour bins
    True
    """
    where = "noise_model"
    times, flux, valid = check_series(times, flux, mask, where=where)
    cadence = cadence_of(times)
    starts, stops = stretch_bounds(times, cadence)
    longest = int(np.max(stops - starts))
    if bin_sizes is None:
        frames = np.unique(np.round(np.geomspace(1, longest, max(
            2, int(math.log(longest) / math.log(1.4)) + 1))).astype(np.int64))
    else:
        sizes = check_float_array(bin_sizes, "bin_sizes", where=where).ravel()
        for size in sizes:
            check_positive_float(size, "bin_sizes", unit="seconds", where=where)
        frames = np.maximum(1, np.round(sizes / cadence)).astype(np.int64)
    white = white_noise_of(flux, valid, times, cadence)
    values = np.where(valid, flux, 0.0)
    csum = np.concatenate(([0.0], np.cumsum(values)))
    ccount = np.concatenate(([0], np.cumsum(valid)))

    def measure(n):
        rms, n_bins, per_bin = _binned_rms(csum, ccount, starts, stops, int(n))
        expected = white / math.sqrt(per_bin) if n_bins >= _MIN_BINS else white / math.sqrt(n)
        return rms, expected, n_bins

    rows = [measure(n) for n in frames]
    named = [measure(max(1, round(size / cadence))) for size in BETA_BIN_SIZES]
    rms = [row[0] for row in named]
    beta = [row[0] / row[1] if row[1] > 0 else math.nan for row in named]
    log.debug("%s: white noise %.3g per frame, beta %s", where, white, beta)
    return NoiseModel(
        white_noise=white, cadence=cadence, bin_size=frames * cadence,
        rms=np.array([row[0] for row in rows]), expected=np.array([row[1] for row in rows]),
        n_bins=np.array([row[2] for row in rows], dtype=np.int64),
        rms_1min=rms[0], rms_10min=rms[1], rms_1h=rms[2],
        beta_1min=beta[0], beta_10min=beta[1], beta_1h=beta[2])
