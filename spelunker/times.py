"""Times given by a user, read as astropy `~astropy.time.Time` in UTC.

Frame times are UTC (``io.frame_mid_times`` decides them); every function
that takes a time from a user (telemetry ranges, plot overlays, the
barycentric conversions) reads it with `as_utc_time`;
`seconds_since_first` counts seconds from the first of some times.

The barycentric conversions (BJD_TDB, JWST's ephemeris) are in
`spelunker.barycentric`.
"""

import numpy as np
from astropy import units as u
from astropy.time import Time

from spelunker.errors import ParameterError

__all__ = [
    "as_utc_time",
    "seconds_since_first",
]


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
    spelunker.errors.ParameterError
        When ``value`` cannot be read as a time (booleans are refused), or
        is not finite.

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
    what = "an astropy Time, an MJD number nor an ISO time"
    try:
        if isinstance(value, str) or (np.ndim(value) > 0
                                      and np.asarray(value).dtype.kind in "USO"):
            return Time(value, scale="utc")
    except (TypeError, ValueError) as exc:
        msg = f"{name}={value!r} is neither {what} ({exc})"
        raise ParameterError(msg) from None
    return Time(_finite_mjd(value, name, what), format="mjd", scale="utc")


def _finite_mjd(value, name, what):
    """``value`` as finite MJD numbers (a float array), or a ParameterError naming ``name``."""
    try:
        mjd = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    else:
        problem = ("a boolean" if np.asarray(value).dtype.kind == "b"
                   else None if np.all(np.isfinite(mjd)) else "not finite")
    if problem is not None:
        msg = f"{name}={value!r} is neither {what} ({problem})"
        raise ParameterError(msg)
    return mjd


def seconds_since_first(times):
    """Seconds since the first of some times (the original notebook tool's ``time_to_sec``).

    Parameters
    ----------
    times : astropy.time.Time, array_like of float or of str
        Times as `as_utc_time` reads them: Times, MJD (UTC) numbers or ISO
        strings (UTC).

    Returns
    -------
    numpy.ndarray
        float64 seconds, 0 at the first time (leap seconds counted).

    Examples
    --------
    >>> from spelunker.times import seconds_since_first
    >>> seconds_since_first([60000.0, 60000.5]).tolist()
    [0.0, 43200.0]
    >>> seconds_since_first(60000.0).tolist()       # one time: one value
    [0.0]
    """
    times = as_utc_time(times)
    flat = times.reshape(-1)  # one time (a scalar Time) or several, in their order
    if flat.size == 0:
        return np.zeros(times.shape, dtype=float)
    seconds = (flat - flat[0]).to_value(u.s).reshape(times.shape)
    return np.atleast_1d(seconds).astype(float)
