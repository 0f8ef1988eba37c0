"""An L2-like JWST orbit from astropy alone: positions and barycentric times.

The synthetic science product (`spelunker.datasets.science_product`) needs
barycentric times and a header ephemeris that do not come from
`spelunker.barycentric`, so that they are an independent truth for it: JWST is
placed at ``r = r_earth + L2_DISTANCE_KM * unit(r_earth - r_sun)``
(astropy's built-in ephemeris, no download) and
``BJD_TDB = TDB(t) + r . n / c`` with ``n`` the unit vector towards the
target.

Examples
--------
>>> from astropy.time import Time
>>> from spelunker.datasets.orbit import jwst_barycentric_km
>>> jwst_barycentric_km(Time(["2022-12-04T01:36:00"], scale="utc")).shape
(3, 1)
"""

import astropy.units as u
import numpy as np
from astropy import constants
from astropy.coordinates import get_body_barycentric
from astropy.time import Time

from spelunker._validate import check_finite_float, check_float_array
from spelunker.errors import ParameterError

__all__ = ["L2_DISTANCE_KM", "VELOCITY_STEP", "bjd_tdb_mjd", "ephemeris", "jwst_barycentric_km"]

#: Distance (km) of the synthetic JWST orbit from the Earth, on the anti-Sun side.
L2_DISTANCE_KM = 1.5e6

#: Seconds either side of MJD-AVG for the header velocity (central difference).
VELOCITY_STEP = 60.0


def _check_time(time, where):
    if not isinstance(time, Time):
        msg = f"{where}: time={time!r:.60} must be an astropy Time"
        raise ParameterError(msg)
    return time


def jwst_barycentric_km(time):
    """Barycentric position (km, shape (3, n)) of an L2-like JWST orbit at ``time``.

    The orbit is the Earth plus `L2_DISTANCE_KM` along the Sun-Earth line,
    away from the Sun (astropy's built-in ephemeris, no download).

    Parameters
    ----------
    time : astropy.time.Time
        The times.

    Returns
    -------
    numpy.ndarray
        x, y, z (km, ICRS axes) of each time.

    Raises
    ------
    spelunker.errors.ParameterError
        ``time`` is not a `~astropy.time.Time`.
    """
    tdb = _check_time(time, "jwst_barycentric_km").tdb
    earth = get_body_barycentric("earth", tdb, ephemeris="builtin").xyz.to_value(u.km)
    sun = get_body_barycentric("sun", tdb, ephemeris="builtin").xyz.to_value(u.km)
    away = earth - sun
    away = away / np.linalg.norm(away, axis=0)
    return earth + L2_DISTANCE_KM * away


def bjd_tdb_mjd(time, direction):
    """Barycentric TDB (MJD-form numbers) of UTC ``time`` seen towards ``direction``.

    Parameters
    ----------
    time : astropy.time.Time
        The times (UTC).
    direction : numpy.ndarray
        Unit vector (3,) towards the target, ICRS axes.

    Returns
    -------
    numpy.ndarray
        The barycentric times as MJD numbers in TDB.

    Raises
    ------
    spelunker.errors.ParameterError
        ``time`` is not a `~astropy.time.Time`, or ``direction`` not three
        numbers.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from spelunker.datasets.orbit import bjd_tdb_mjd
    >>> bjd_tdb_mjd(Time([59917.07], format="mjd"), [0.0, 0.0, 1.0]).shape
    (1,)
    """
    time = _check_time(time, "bjd_tdb_mjd")
    direction = check_float_array(direction, "direction", shape=(3,),
                                  needed="a unit vector (3,)", where="bjd_tdb_mjd")
    position = jwst_barycentric_km(time)
    delay = direction @ position / constants.c.to_value(u.km / u.s)
    return (time.tdb + delay * u.s).mjd


def ephemeris(mjd):
    """The header ephemeris of the orbit at ``mjd`` (UTC): position and velocity.

    Parameters
    ----------
    mjd : float
        The time (MJD, UTC), the exposure's MJD-AVG.

    Returns
    -------
    dict
        ``time`` (= ``mjd``), ``reference_frame``, ``type``,
        ``spatial_x_bary``, ``spatial_y_bary``, ``spatial_z_bary`` (km) and
        ``velocity_x_bary``, ``velocity_y_bary``, ``velocity_z_bary``
        (km/s, by central difference of +-`VELOCITY_STEP` seconds).

    Raises
    ------
    spelunker.errors.ParameterError
        ``mjd`` is not a finite number.

    Examples
    --------
    >>> from spelunker.datasets.orbit import ephemeris
    >>> sorted(ephemeris(59917.07))[:3]
    ['reference_frame', 'spatial_x_bary', 'spatial_y_bary']
    """
    mjd = check_finite_float(mjd, "mjd", where="ephemeris")
    mid_time = Time(mjd, format="mjd", scale="utc")
    around = mid_time + np.array([-VELOCITY_STEP, 0.0, VELOCITY_STEP]) * u.s
    position = jwst_barycentric_km(around)
    velocity = (position[:, 2] - position[:, 0]) / (2.0 * VELOCITY_STEP)
    result = {"time": float(mjd), "reference_frame": "EME2000", "type": "PREDICTED"}
    for k, axis in enumerate("xyz"):
        result[f"spatial_{axis}_bary"] = float(position[k, 1])
    for k, axis in enumerate("xyz"):
        result[f"velocity_{axis}_bary"] = float(velocity[k])
    return result
