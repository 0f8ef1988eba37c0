"""A frame's time: the mid-frame UTC times of the frames of one guider product.

Guider products have no per-integration time table: `frame_mid_times`
takes the FGS centroid packet's times when it has one per frame,
consistent with DATASTRT..DATAEND, and otherwise spreads the frames evenly
over that interval.  `iso_to_mjd` turns the packet's ISO strings into MJD.
"""

import logging

import numpy as np

from spelunker._validate import check_finite_float, check_positive_int
from spelunker.errors import ParameterError

__all__ = ["frame_mid_times", "iso_to_mjd"]

log = logging.getLogger(__name__)


def frame_mid_times(data_start, data_end, n_frames, *, centroid_times=None, name="product"):
    """Mid-frame times (MJD, UTC) of the frames of one guider product.

    Guider products have no per-integration time table.  When the FGS
    centroid packet table has exactly one time per frame, consistent with
    the product's DATASTRT..DATAEND interval, those times are used.
    Otherwise frame ``i`` of ``n`` is placed at
    ``DATASTRT + (i + 0.5) * (DATAEND - DATASTRT) / n``: frames are taken to
    fill the interval evenly, so the frame time is measured per file
    rather than assumed.

    Parameters
    ----------
    data_start, data_end : float
        DATASTRT and DATAEND (MJD, UTC).
    n_frames : int
        Number of frames in the product.
    centroid_times : numpy.ndarray, optional
        The centroid packet's ``centroid_time`` column as MJD (UTC), see
        `iso_to_mjd`.
    name : str
        File name used in log messages.

    Returns
    -------
    mid_times : numpy.ndarray
        float64 MJD (UTC), one per frame.
    source : str
        ``"centroid_packet"`` or ``"datastrt_dataend"``.

    Raises
    ------
    spelunker.errors.ParameterError
        For start or end times that are not finite numbers, a frame count
        that is not an integer >= 1, or centroid times that are not a 1-D
        array of numbers.

    Examples
    --------
    >>> from spelunker.io import frame_mid_times
    >>> t, source = frame_mid_times(60000.0, 60000.0 + 4 * 0.0538 / 86400, 4)
    >>> source, round(float(t[1] - t[0]) * 86400, 4)
    ('datastrt_dataend', 0.0538)
    """
    data_start = check_finite_float(data_start, "data_start")
    data_end = check_finite_float(data_end, "data_end")
    n_frames = check_positive_int(n_frames, "n_frames")
    mjd = None
    if centroid_times is not None:
        try:
            mjd = np.asarray(centroid_times, dtype=np.float64)
        except (TypeError, ValueError):
            mjd = np.zeros((0, 0))
        if mjd.ndim != 1:
            msg = f"centroid_times={centroid_times!r:.60} must be a 1-D array of MJD values"
            raise ParameterError(msg)
    frame = (data_end - data_start) / n_frames
    if mjd is not None and len(mjd) == n_frames:
        inside = (mjd >= data_start - frame) & (mjd <= data_end + frame)
        if np.all(np.isfinite(mjd)) and np.all(np.diff(mjd) > 0) and np.all(inside):
            return mjd.astype(np.float64), "centroid_packet"
        log.warning("%s: centroid packet has one time per frame but they are not increasing "
                    "within DATASTRT..DATAEND; using the DATASTRT/DATAEND mid-frame formula", name)
    return data_start + (np.arange(n_frames) + 0.5) * frame, "datastrt_dataend"


def _centroid_times(product):
    """The centroid packet's ``centroid_time`` as MJD (UTC) when it has one per frame."""
    table = product.tables.get("centroid_table")
    if table is None or len(table) != product.n_frames:
        return None
    names = {n.lower(): n for n in table.dtype.names}
    if "centroid_time" not in names:
        return None
    mjd = iso_to_mjd(table[names["centroid_time"]])
    if not np.all(np.isfinite(mjd)):
        log.warning("%s: centroid_time values are not ISO times; ignoring them", product.name)
        return None
    return mjd


def iso_to_mjd(values):
    """MJD (float64, same scale) of ISO time strings such as ``2022-05-22 18:12:17.320``.

    Parameters
    ----------
    values : array_like of str or bytes
        ISO 8601 date-times (space or ``T`` between date and time).

    Returns
    -------
    numpy.ndarray
        float64 MJD; NaN for values that are not ISO times (in an array of
        other objects, NaN for each one that is not a string).

    Raises
    ------
    spelunker.errors.ParameterError
        ``values`` are numbers or booleans, not text (``5`` would otherwise
        be read as the year 5).

    Examples
    --------
    >>> from spelunker.io import iso_to_mjd
    >>> iso_to_mjd(["1858-11-18 00:00:00.000", "not a time"]).tolist()
    [1.0, nan]
    """
    values = np.asarray(values)
    if values.dtype.kind in "biufcmV" and values.size:
        msg = (f"iso_to_mjd: values={values!r:.60} must be ISO time strings (str or bytes), "
               f"not {values.dtype}")
        raise ParameterError(msg)
    if values.dtype.kind == "O":
        values = np.array([value.decode("ascii", "replace") if isinstance(value, bytes)
                           else value if isinstance(value, str) else ""
                           for value in values.ravel()], dtype=object).reshape(values.shape)
    if values.dtype.kind not in "SU":
        values = values.astype(str)
    # numpy parses bytes directly: decoding a million FITS strings first
    # would cost more than the parsing itself.
    values = np.char.strip(values)
    epoch = np.datetime64("1858-11-17T00:00:00", "us")
    try:
        return (values.astype("datetime64[us]") - epoch) / np.timedelta64(86400, "s")
    except ValueError:
        out = np.full(values.shape, np.nan)
        for index, value in enumerate(values.ravel()):
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            try:
                out.flat[index] = (np.datetime64(text, "us") - epoch) / np.timedelta64(86400, "s")
            except ValueError:
                pass
        return out
