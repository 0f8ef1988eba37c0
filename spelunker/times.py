"""Times: the one conversion of user-given times to astropy `~astropy.time.Time`.

Frame times are UTC (``io.frame_mid_times`` decides them); every function
that takes a time from a user (telemetry ranges, plot overlays) reads it
with `as_utc_time`.
"""

import numpy as np
from astropy.time import Time

__all__ = ["as_utc_time"]


def as_utc_time(value, *, name="time"):
    """Convert a time to an `~astropy.time.Time` in UTC.

    Parameters
    ----------
    value : astropy.time.Time, float, array_like of float or str
        A Time (any scale), MJD (UTC) numbers, or ISO strings (UTC).
    name : str, optional
        Name used in error messages.

    Returns
    -------
    astropy.time.Time
        Scale ``utc``.

    Raises
    ------
    ValueError
        When ``value`` cannot be read as a time, or is not finite.

    Examples
    --------
    >>> from spelunker.times import as_utc_time
    >>> as_utc_time(60000.5).isot
    '2023-02-25T12:00:00.000'
    >>> float(as_utc_time("2023-02-25T12:00:00").mjd)
    60000.5
    """
    if isinstance(value, Time):
        return value.utc
    try:
        if isinstance(value, str) or (np.ndim(value) > 0
                                      and np.asarray(value).dtype.kind in "USO"):
            return Time(value, scale="utc")
        mjd = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"{name}={value!r} is neither an astropy Time, an MJD number nor an ISO time ({exc})"
        raise ValueError(msg) from None
    if not np.all(np.isfinite(mjd)):
        msg = f"{name}={value!r} is not finite"
        raise ValueError(msg)
    return Time(mjd, format="mjd", scale="utc")
