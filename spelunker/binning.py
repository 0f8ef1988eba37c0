"""Time bins: the one definition every binned quantity uses.

Bin ``k`` of a series holds the samples with
``k <= (t - t_first) / bin_size < k + 1``, ``t_first`` being the earliest
time.  The aperture metric of `spelunker.photometry`, the binned light
curves of `spelunker.plotting` and the report all bin this way.
"""

from collections import namedtuple

import numpy as np

from spelunker._validate import check_float_array, check_int_range, check_positive_float
from spelunker.errors import ParameterError

__all__ = ["DEFAULT_BIN_SIZE", "BinnedSeries", "bin_series", "bin_size_of_frames", "check_times",
           "time_bin_index"]

#: Default time bin (seconds) of the light curve whose scatter chooses the aperture,
#: and of the binned light-curve figures.  At 16-19 frames/s a bin holds 160-190
#: frames, so the white noise of a bin mean is ~13x below that of one frame and
#: the slow variations that matter in light curves dominate; a 20-minute segment
#: still gives over 100 bins.
DEFAULT_BIN_SIZE = 10.0


#: Result of `bin_series`: one entry per non-empty bin, in time order.  ``time``: mean
#: time of the values in each bin; ``value``: their mean; ``error``: standard error of
#: the mean (NaN for a bin of one value); ``count``: number of values; ``bin``: ``k``.
BinnedSeries = namedtuple("BinnedSeries", ["time", "value", "error", "count", "bin"])


def check_times(times, *, name="times"):
    """Return ``times`` as a 1-D float64 array of finite values: the one check of a time axis.

    Parameters
    ----------
    times : array_like
        Sample times (any unit).
    name : str, optional
        Parameter name for the message.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    spelunker.errors.ParameterError
        For times that are not numbers, not 1-D or not all finite.

    Examples
    --------
    >>> from spelunker.binning import check_times
    >>> check_times([0, 1.5]).tolist()
    [0.0, 1.5]
    >>> check_times([0.0, float("nan")], name="t")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: t holds 1 non-finite value(s)
    """
    try:
        values = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        values = None
    if values is None:
        problem = f"must be numbers, got {type(times).__name__}"
    elif values.ndim != 1:
        problem = f"must be 1-D, got shape {values.shape}"
    elif not np.all(np.isfinite(values)):
        problem = f"holds {np.count_nonzero(~np.isfinite(values))} non-finite value(s)"
    else:
        return values
    msg = f"{name} {problem}"
    raise ParameterError(msg)


def time_bin_index(times, bin_size):
    """The bin number ``k = floor((t - t_first) / bin_size)`` of every time.

    Parameters
    ----------
    times : array_like
        ``(n,)`` finite times (any unit, e.g. seconds).
    bin_size : float
        Bin width, in the unit of ``times``.

    Returns
    -------
    numpy.ndarray
        int64 ``(n,)``; 0 for the earliest time.

    Raises
    ------
    spelunker.errors.ParameterError
        For non-1-D or non-finite times or a ``bin_size`` that is not a
        finite number > 0.

    Examples
    --------
    >>> from spelunker.binning import time_bin_index
    >>> time_bin_index([3.0, 4.9, 5.0, 9.0], 2.0).tolist()
    [0, 0, 1, 3]
    """
    times = check_times(times)
    size = check_positive_float(bin_size, "bin_size", unit="seconds")
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.floor((times - times.min()) / size).astype(np.int64)


def bin_series(times, values, bin_size):
    """Mean of ``values`` in time bins of ``bin_size`` (see the module for the bins).

    Non-finite values are left out; bins with no finite value are dropped.

    Parameters
    ----------
    times : array_like
        ``(n,)`` finite times (any unit, e.g. seconds).
    values : array_like
        ``(n,)`` values.
    bin_size : float
        Bin width, in the unit of ``times``.

    Returns
    -------
    BinnedSeries

    Raises
    ------
    spelunker.errors.ParameterError
        For mismatched or non-1-D inputs, non-finite times, or a
        non-positive ``bin_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.binning import bin_series
    >>> binned = bin_series(np.arange(6.0), [1.0, 3.0, np.nan, 5.0, 7.0, 9.0], 2.0)
    >>> binned.time.tolist(), binned.value.tolist(), binned.count.tolist()
    ([0.5, 3.0, 4.5], [2.0, 5.0, 8.0], [2, 1, 2])
    """
    times = check_times(times)
    values = check_float_array(values, "values", shape=times.shape,
                               needed=f"one value per time, as times (equal length: {times.shape})")
    index = time_bin_index(times, bin_size)
    good = np.isfinite(values)
    if not good.any():
        empty = np.zeros(0)
        return BinnedSeries(empty, empty.copy(), empty.copy(), np.zeros(0, dtype=np.int64),
                            np.zeros(0, dtype=np.int64))
    # Number the occupied bins only: gaps of days cost nothing.
    labels, inverse = np.unique(index[good], return_inverse=True)
    inverse = inverse.ravel()
    kept = values[good]
    count = np.bincount(inverse, minlength=labels.size)
    mean = np.bincount(inverse, kept, minlength=labels.size) / count
    mean_time = np.bincount(inverse, times[good], minlength=labels.size) / count
    squares = np.bincount(inverse, (kept - mean[inverse]) ** 2, minlength=labels.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(count > 1, np.sqrt(squares / np.maximum(count - 1, 1) / count), np.nan)
    return BinnedSeries(mean_time, mean, error, count.astype(np.int64), labels.astype(np.int64))


def bin_size_of_frames(n_frames, frame_interval, *, name="n_frames", where=None):
    """The time bin (seconds) of ``n_frames`` frames: ``n_frames`` times the frame interval.

    The original notebook tool gave bins in frames (``n_bin``, ``n_bins``);
    spelunker bins in time, so a bin of ``n`` frames is ``n`` times the
    median interval between frames
    (`spelunker.GuideStarModel.frame_interval`).

    Parameters
    ----------
    n_frames : int
        Frames per bin (>= 1).
    frame_interval : float
        Seconds between frames (> 0).
    name, where : str, optional
        The caller's names of ``n_frames`` and of itself, for the message.

    Returns
    -------
    float

    Raises
    ------
    spelunker.errors.ParameterError
        ``n_frames`` is not an integer >= 1, or ``frame_interval`` not a
        number > 0.

    Examples
    --------
    >>> from spelunker.binning import bin_size_of_frames
    >>> bin_size_of_frames(160, 0.0625)
    10.0
    """
    count = check_int_range(n_frames, name, 1, 10**9, where=where)
    return count * check_positive_float(frame_interval, "frame_interval", unit="seconds",
                                        where=where)
