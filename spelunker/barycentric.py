"""Barycentric times: BJD_TDB of UTC times, JWST's ephemeris, and back to UTC.

Barycentric times (BJD_TDB: when the light would have reached the
solar-system barycentre, in TDB) come by two routes:

- `bjd_from_int_times`: the science product's own ``INT_TIMES`` table
  (UTC and BJD_TDB of every integration, computed by the STScI pipeline)
  interpolated onto other UTC times, e.g. the guide-star frames.  The
  preferred route: it reproduces the pipeline's numbers.
- `barycentric_times`: ``TDB(t) + r . n / c`` from the observer's
  barycentric position ``r``: JWST's `Ephemeris` (the product's ``JWST_X``
  ... keywords, `Ephemeris.from_header`), a place on the Earth, the
  geocentre, or positions given as a Quantity.  `utc_from_barycentric` is
  its inverse.

Times given by a user are read by `spelunker.times.as_utc_time`.

Accuracy, measured, in milliseconds of BJD_TDB.  The Ephemeris rows are
``|r_error| / c`` (the worst direction on the sky); "test target" is RA 286,
Dec -41.3; the INT_TIMES rows are against the orbit that made the table
(tables of 60 s and of 6 h, 1 us MJD rounding)::

    route                                    |  error (ms)
    -----------------------------------------+------------------------------------
    INT_TIMES, inside the table              |  0.0006 (the file's MJD rounding);
                                             |  0.000000 at the table's own points
    INT_TIMES, extrapolated 0.5/1/3/6 h      |  0.04 / 0.13 / 1.0 / 4.0
      (two-point end slope instead)          |  (0.7-2.3 / 1.5-4.7 / 5-15 / 12-32)
    Ephemeris at +-1 h/6 h/12 h/1 d/2 d/3 d: |
      vs an integrated gravitational orbit   |  0.00004 / 0.007 / 0.06 / 0.46 / 3.6 / 12
      vs the synthetic L2 orbit of datasets  |  0.0011 / 0.04 / 0.18 / 0.87 / 5.0 / 15
      without the acceleration term          |  0.13 / 4.8 / 19 / 77 / 308 / 692
    EPH_TIME read as TDB instead of UTC      |  3.4 (test target, Dec 2022); worst 7.1
    grids: TDB-TT (1 h), geocentre (30 s),   |  0.0000001 / 0.000002 / 0.000001
      a place on the Earth (10 s)            |
    Shapiro delay of the Sun (left out)      |  -0.001 to 0.005 over JWST's field of regard
    observer's TDB-TT term (left out)        |  0.008 on an orbit along the Sun line;
                                             |  at most |v_earth| |r - r_earth| / c^2 = 0.5
    utc_from_barycentric round trip          |  0.0000002

The Ephemeris numbers are over five to twelve epochs through a year: the
first row integrates the Sun, Earth, Moon, Venus, Mars, Jupiter and Saturn
from the header state, the second is the kinematic orbit of
`spelunker.datasets` (Earth + 1.5e6 km away from the Sun, not a free
orbit).  A million times take ~0.2 s from an `Ephemeris` or the geocentre
(~0.55 s from a place on the Earth, 0.3 s for the inverse, 0.03 s for
`bjd_from_int_times`); astropy's own ``Time.tdb`` alone takes ~8 s.
"""

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import erfa
import numpy as np
from astropy import constants
from astropy import units as u
from astropy.coordinates import (CartesianRepresentation, EarthLocation, SkyCoord,
                                 UnitSphericalRepresentation, get_body_barycentric)
from astropy.io import fits
from astropy.time import Time

from spelunker._validate import check_positive_int
from spelunker.errors import ParameterError, ScienceInputError
from spelunker.times import _finite_mjd, as_utc_time

__all__ = [
    "EPHEMERIS_VALID_SECONDS",
    "INT_TIMES_COLUMNS",
    "INT_TIMES_EXTRAPOLATION_SECONDS",
    "Ephemeris",
    "barycentric_times",
    "bjd_from_int_times",
    "utc_from_barycentric",
]

log = logging.getLogger(__name__)

#: Seconds per day.
_DAY = 86400.0

#: TT - TAI (seconds), exact by definition.
_TT_MINUS_TAI = 32.184

#: Speed of light (km/s).
_C_KM_S = constants.c.to_value(u.km / u.s)

#: Earth/Moon mass ratio (IAU 2009 system of astronomical constants); astropy
#: has no lunar GM, so the Moon's is GM_earth divided by it.
_EARTH_MOON_MASS_RATIO = 81.30056907

#: Bodies whose Newtonian pull makes `Ephemeris.acceleration`: GM (km^3/s^2)
#: and radius (km; no pull is counted from inside a body).
_GRAVITY = (
    ("sun", constants.GM_sun.to_value(u.km**3 / u.s**2), constants.R_sun.to_value(u.km)),
    ("earth", constants.GM_earth.to_value(u.km**3 / u.s**2), constants.R_earth.to_value(u.km)),
    ("moon", constants.GM_earth.to_value(u.km**3 / u.s**2) / _EARTH_MOON_MASS_RATIO, 1737.4),
)

#: Seconds from its epoch beyond which `Ephemeris.position_at` warns.
EPHEMERIS_VALID_SECONDS = _DAY

#: Seconds beyond the INT_TIMES table beyond which `bjd_from_int_times` warns.
INT_TIMES_EXTRAPOLATION_SECONDS = 3600.0

#: Span (s) at each end of an INT_TIMES table over which the slope used to
#: extrapolate is fitted (least squares): a slope from the last two points,
#: a fraction of a second apart, carries the 0.6 us rounding of the file's
#: MJD numbers (measured: 1.5-4.7 ms off an hour later, against 0.13 ms).
_SLOPE_SPAN = 600.0

#: Grid steps (s) on which slowly varying terms are sampled and linearly
#: interpolated for long arrays: TDB - TT (bounded by ~1e-10 s) and the
#: light time of a place on or at the centre of the Earth (a few ns).
_TDB_TT_STEP = 3600.0
_EARTH_STEP = 30.0
_GROUND_STEP = 10.0

#: Convergence of `utc_from_barycentric` (seconds).
_INVERSE_TOLERANCE = 1e-9

#: Header keywords of JWST's barycentric ephemeris, and the model attributes
#: (``meta.<group>.<name>``) that hold them.
_POSITION_KEYWORDS = ("JWST_X", "JWST_Y", "JWST_Z")
_VELOCITY_KEYWORDS = ("JWST_DX", "JWST_DY", "JWST_DZ")
_EPOCH_KEYWORDS = ("EPH_TIME", "MJD-AVG", "EXPMID")
_MODEL_ATTRIBUTES = {
    "JWST_X": ("ephemeris", "spatial_x_bary"),
    "JWST_Y": ("ephemeris", "spatial_y_bary"),
    "JWST_Z": ("ephemeris", "spatial_z_bary"),
    "JWST_DX": ("ephemeris", "velocity_x_bary"),
    "JWST_DY": ("ephemeris", "velocity_y_bary"),
    "JWST_DZ": ("ephemeris", "velocity_z_bary"),
    "EPH_TIME": ("ephemeris", "time"),
    "EXPMID": ("exposure", "mid_time"),
}
_MODEL_EPOCH_KEYWORDS = ("EPH_TIME", "EXPMID")

#: The columns `bjd_from_int_times` reads.
#: The columns of a science product's ``INT_TIMES`` table (stdatamodels ``int_times``);
#: the BJD_TDB columns hold MJD-form numbers (BJD - 2400000.5).
INT_TIMES_COLUMNS = ("integration_number", "int_start_MJD_UTC", "int_mid_MJD_UTC",
                     "int_end_MJD_UTC", "int_start_BJD_TDB", "int_mid_BJD_TDB",
                     "int_end_BJD_TDB")
_INT_TIMES_UTC = INT_TIMES_COLUMNS[1:4]
_INT_TIMES_BJD = INT_TIMES_COLUMNS[4:]


def _tai_parts(utc):
    """Two-part TAI Julian dates (flattened float arrays) of UTC times."""
    tai = utc.tai
    return np.ravel(tai.jd1).astype(float), np.ravel(tai.jd2).astype(float)


def _seconds_between(jd1, jd2, ref1, ref2):
    """Seconds from (ref1, ref2) to (jd1, jd2), two-part dates of one uniform scale."""
    return ((jd1 - ref1) + (jd2 - ref2)) * _DAY


def _sampled(function, jd1, jd2, step):
    """``function(jd1, jd2)`` at every time, or interpolated from a grid of ``step`` s.

    The grid is used when it has less than a quarter as many points as there
    are times (linear interpolation; the callers choose ``step`` so that the
    error is at the ns level or below).
    """
    n = jd1.size
    if n == 0:
        return np.zeros(0)
    seconds = _seconds_between(jd1, jd2, jd1[0], jd2[0])
    low, high = float(seconds.min()), float(seconds.max())
    points = int(np.ceil((high - low) / step)) + 1
    if n < 64 or 4 * points > n:
        return np.asarray(function(jd1, jd2), dtype=float)
    grid = np.linspace(low, high, max(points, 2))
    values = np.asarray(function(np.full(grid.size, jd1[0]), jd2[0] + grid / _DAY), dtype=float)
    return np.interp(seconds, grid, values)


def _tdb_minus_tt(tt1, tt2):
    """TDB - TT (s) at the Earth's centre (as astropy's ``Time.tdb`` without a location)."""
    return _sampled(lambda jd1, jd2: erfa.dtdb(jd1, jd2, 0.0, 0.0, 0.0, 0.0), tt1, tt2,
                    _TDB_TT_STEP)


def _target_direction(target):
    """Unit vector (ICRS) towards ``target``: a SkyCoord or (ra, dec) in degrees."""
    if isinstance(target, SkyCoord):
        if not target.isscalar:
            msg = f"target={target!r} must be one sky position, not {target.shape}"
            raise ParameterError(msg)
        try:
            icrs = target.icrs
        except Exception as exc:  # noqa: BLE001 - any frame that cannot reach ICRS
            msg = f"target={target!r} cannot be transformed to ICRS ({exc})"
            raise ParameterError(msg) from None
        xyz = icrs.represent_as(UnitSphericalRepresentation).to_cartesian().xyz.value
        return np.asarray(xyz, dtype=float)
    try:
        ra, dec = (v.to_value(u.deg) if isinstance(v, u.Quantity) else float(v)
                   for v in target)
    except (TypeError, ValueError, u.UnitsError):
        msg = (f"target={target!r} is neither a SkyCoord nor an (ra, dec) pair of ICRS "
               "coordinates in degrees")
        raise ParameterError(msg) from None
    if not (np.isfinite(ra) and np.isfinite(dec) and -90.0 <= dec <= 90.0):
        msg = f"target={target!r}: (ra, dec) = ({ra!r}, {dec!r}) deg is not a sky position"
        raise ParameterError(msg)
    ra, dec = np.radians(ra), np.radians(dec)
    return np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


# --------------------------------------------------------------------------
# JWST's ephemeris


@dataclass(frozen=True, eq=False)
class Ephemeris:
    """JWST's barycentric position and velocity at one epoch, and its orbit near it.

    Science products carry one state vector of JWST (``JWST_X``... in km,
    ``JWST_DX``... in km/s, barycentric, EME2000 = ICRS axes) at one epoch
    (``EPH_TIME``); `position_at` extends it to other times with the
    Newtonian acceleration of the Sun, the Earth and the Moon at the epoch
    (`acceleration`): good to 0.01 ms of BJD within a few hours of the
    epoch, 0.06-0.2 ms at 12 h, ~0.5 ms (t / 1 day)^3 beyond (the table in
    `spelunker.barycentric`).

    Parameters
    ----------
    time : astropy.time.Time, float or str
        The epoch (a Time in any scale, or MJD/ISO in UTC); kept in UTC.
    position : astropy.units.Quantity
        Barycentric position, shape (3,), a length (plain numbers: km).
    velocity : astropy.units.Quantity
        Barycentric velocity, shape (3,), a speed (plain numbers: km/s).
    source : str, optional
        Where it came from (a file name), for messages and logs.

    Raises
    ------
    spelunker.errors.ParameterError
        A time, position or velocity that is not one finite epoch or
        3-vector of the right unit.

    Examples
    --------
    >>> import astropy.units as u
    >>> from spelunker.barycentric import Ephemeris
    >>> ephemeris = Ephemeris(60000.5, [-1.383e8, 5.511e7, 2.392e7] * u.km,
    ...                       [-12.57, -25.41, -11.01] * u.km / u.s, "example")
    >>> ephemeris.acceleration.to(u.mm / u.s**2).round(3)
    <Quantity [ 5.595, -2.254, -0.976] mm / s2>
    >>> (ephemeris.position_at(60000.5 + 1 / 24) - ephemeris.position).round(0)
    <Quantity [-45216., -91491., -39642.] km>
    """

    time: Time
    position: u.Quantity
    velocity: u.Quantity
    source: str = "ephemeris"

    def __post_init__(self):
        epoch = as_utc_time(self.time, name="Ephemeris time")
        if not epoch.isscalar:
            msg = f"Ephemeris time must be one epoch, got shape {epoch.shape}"
            raise ParameterError(msg)
        object.__setattr__(self, "time", epoch)
        for name, unit in (("position", u.km), ("velocity", u.km / u.s)):
            value = getattr(self, name)
            try:
                quantity = u.Quantity(value, unit, dtype=float)
            except (TypeError, ValueError, u.UnitsError) as exc:
                msg = f"Ephemeris {name}={value!r} is not a vector in {unit} ({exc})"
                raise ParameterError(msg) from None
            if quantity.shape != (3,) or not np.all(np.isfinite(quantity.value)):
                msg = f"Ephemeris {name}={value!r} must be 3 finite numbers ({unit})"
                raise ParameterError(msg)
            object.__setattr__(self, name, quantity)
        object.__setattr__(self, "source", str(self.source))

    @cached_property
    def _epoch_tai(self):
        tai = self.time.tai
        return float(tai.jd1), float(tai.jd2)

    @cached_property
    def acceleration(self):
        """Newtonian acceleration (km/s^2, shape (3,)) at `position` at the epoch.

        The pull of the Sun, the Earth and the Moon (astropy's built-in
        ephemeris, offline; GM_sun and GM_earth of `astropy.constants`, the
        Moon's from the IAU 2009 Earth/Moon mass ratio).  The planets,
        left out, pull with at most 4.4e-10 km/s^2 (Jupiter 3.6e-10; measured
        over 2022-2024 near L2): at most 5.5 us of BJD a day from the epoch.
        """
        tdb = self.time.tdb
        here = self.position.to_value(u.km)
        total = np.zeros(3)
        for body, gm, radius in _GRAVITY:
            there = get_body_barycentric(body, tdb, ephemeris="builtin").xyz.to_value(u.km)
            separation = there - here
            distance = float(np.linalg.norm(separation))
            if distance > radius:
                total += gm * separation / distance**3
        return total * (u.km / u.s**2)

    def _position_km(self, tai1, tai2, *, warn=True):
        """Positions (km, shape (3, n)) at two-part TAI dates."""
        dt = _seconds_between(tai1, tai2, *self._epoch_tai)
        if warn and dt.size and np.max(np.abs(dt)) > EPHEMERIS_VALID_SECONDS:
            log.warning("%s: the ephemeris of %s is used %.2f days from its epoch; "
                        "beyond a day its error grows as ~0.5 ms (t / 1 day)^3 of BJD "
                        "(see spelunker.barycentric)", self.source, self.time.isot,
                        np.max(np.abs(dt)) / _DAY)
        position = self.position.to_value(u.km)[:, None]
        velocity = self.velocity.to_value(u.km / u.s)[:, None]
        acceleration = self.acceleration.to_value(u.km / u.s**2)[:, None]
        return position + velocity * dt + 0.5 * acceleration * dt**2

    def position_at(self, times):
        """JWST's barycentric position at ``times``.

        ``position + velocity * dt + acceleration * dt**2 / 2``, with ``dt``
        the seconds from the epoch.  A warning is logged for times more
        than a day from the epoch.

        Parameters
        ----------
        times : astropy.time.Time, float, array_like or str
            Anything `as_utc_time` reads.

        Returns
        -------
        astropy.units.Quantity
            km, shape (3,) for one time, else ``(3,) + times.shape``.

        Examples
        --------
        >>> import astropy.units as u
        >>> from spelunker.barycentric import Ephemeris
        >>> ephemeris = Ephemeris(60000.5, [1.0, 2.0, 3.0] * u.au, [0, 0, 0] * u.km / u.s)
        >>> ephemeris.position_at([60000.5, 60000.5]).shape
        (3, 2)
        """
        utc = as_utc_time(times, name="times")
        tai1, tai2 = _tai_parts(utc)
        return self._position_km(tai1, tai2).reshape((3, *utc.shape)) * u.km

    @classmethod
    def from_header(cls, source):
        """JWST's ephemeris from a science product's keywords.

        Reads ``JWST_X``, ``JWST_Y``, ``JWST_Z`` (km) and ``JWST_DX``,
        ``JWST_DY``, ``JWST_DZ`` (km/s), barycentric on EME2000 (= ICRS)
        axes, at the epoch ``EPH_TIME`` (MJD), or when it is missing
        ``MJD-AVG`` then ``EXPMID`` (for a model: ``meta.ephemeris.time``
        then ``meta.exposure.mid_time``).

        The epoch is read as UTC: the products' ``TIMESYS`` says UTC, but
        STScI does not document the time scale of ``EPH_TIME``.  Read as TDB
        instead, the epoch moves by 69.2 s (TDB - UTC), i.e. JWST by 69 s of
        its ~30 km/s barycentric motion (~2100 km), which moves BJD_TDB by
        ``v . n / c * 69.2 s``: up to 7.1 ms (measured: 3.4 ms for a target
        at RA 286, Dec -41.3 in December 2022).  So when a product has an
        ``INT_TIMES`` table, its own BJD_TDB (`bjd_from_int_times`) is the
        better route.

        Parameters
        ----------
        source : astropy.io.fits.Header, str, os.PathLike, HDUList or stdatamodels model
            A header; a FITS file or open HDUList (its primary header, then
            its SCI extension header, where JWST products keep these
            keywords: a keyword of SCI wins); or an open model
            (``meta.ephemeris.spatial_x_bary``, ...).

        Returns
        -------
        Ephemeris
            ``source`` is the file name (or ``'header'``).

        Raises
        ------
        spelunker.errors.ScienceInputError
            A file that does not exist or is not FITS, or missing or
            non-finite keywords (named, with the file).

        Examples
        --------
        >>> from astropy.io import fits
        >>> from spelunker.barycentric import Ephemeris
        >>> header = fits.Header({"JWST_X": -1.39e8, "JWST_Y": 4.99e7, "JWST_Z": 2.16e7,
        ...                       "JWST_DX": -11.0, "JWST_DY": -25.6, "JWST_DZ": -11.1,
        ...                       "EPH_TIME": 60000.5})
        >>> ephemeris = Ephemeris.from_header(header)
        >>> ephemeris.time.isot, ephemeris.position[0]
        ('2023-02-25T12:00:00.000', <Quantity -1.39e+08 km>)
        """
        if isinstance(source, fits.Header):
            name = str(source.get("FILENAME") or "header")
            return cls._from_lookup(source.get, _EPOCH_KEYWORDS, name, lambda key: key)
        if isinstance(source, (str, os.PathLike)):
            return cls._from_file(source)
        if isinstance(source, fits.HDUList):
            headers = _ephemeris_headers(source)
            name = str(headers[-1].get("FILENAME") or "HDUList")
            return cls._from_lookup(_first_of(headers), _EPOCH_KEYWORDS, name, lambda key: key)
        meta = getattr(source, "meta", None)
        if meta is not None:
            name = str(getattr(meta, "filename", None) or type(source).__name__)

            def lookup(key):
                group, attribute = _MODEL_ATTRIBUTES[key]
                return getattr(getattr(meta, group, None), attribute, None)

            def describe(key):
                group, attribute = _MODEL_ATTRIBUTES[key]
                return f"{key} (meta.{group}.{attribute})"

            return cls._from_lookup(lookup, _MODEL_EPOCH_KEYWORDS, name, describe)
        msg = (f"Ephemeris.from_header: source={source!r} is neither a FITS header, a path "
               "nor a stdatamodels model")
        raise ScienceInputError(msg)

    @classmethod
    def _from_file(cls, path):
        path = Path(path)
        if not path.is_file():
            msg = f"science product {str(path)!r} does not exist"
            raise ScienceInputError(msg)
        try:
            with fits.open(path, memmap=False) as hdulist:
                headers = _ephemeris_headers(hdulist)
        except (OSError, ValueError, TypeError) as exc:
            msg = f"{path.name}: cannot read it as a FITS file ({exc})"
            raise ScienceInputError(msg) from None
        return cls._from_lookup(_first_of(headers), _EPOCH_KEYWORDS, path.name,
                                lambda key: key)

    @classmethod
    def _from_lookup(cls, lookup, epoch_keywords, name, describe):
        values = {key: _finite_number(lookup(key))
                  for key in (*_POSITION_KEYWORDS, *_VELOCITY_KEYWORDS)}
        missing = [describe(key) for key, value in values.items() if value is None]
        epoch = next((value for value in map(_finite_number, map(lookup, epoch_keywords))
                      if value is not None), None)
        if epoch is None:
            missing.append(" or ".join(describe(key) for key in epoch_keywords))
        if missing:
            msg = (f"{name}: no usable JWST ephemeris: missing or non-finite "
                   f"{', '.join(missing)}")
            raise ScienceInputError(msg)
        ephemeris = cls(Time(epoch, format="mjd", scale="utc"),
                        [values[key] for key in _POSITION_KEYWORDS] * u.km,
                        [values[key] for key in _VELOCITY_KEYWORDS] * (u.km / u.s), name)
        log.debug("%s: JWST ephemeris at %s (UTC)", name, ephemeris.time.isot)
        return ephemeris


def _ephemeris_headers(hdulist):
    """The headers to search, in order: SCI (when present), then primary."""
    headers = [hdulist[0].header]
    if "SCI" in hdulist:
        headers.append(hdulist["SCI"].header)
    return [header.copy() for header in reversed(headers)]


def _first_of(headers):
    def lookup(key):
        for header in headers:
            if key in header:
                return header[key]
        return None

    return lookup


def _finite_number(value):
    """``value`` as a finite float, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


# --------------------------------------------------------------------------
# UTC -> BJD_TDB


def _delay_function(observer, direction, shape):
    """``f(tai1, tai2) -> r . n / c`` (s) of ``observer`` at flattened TAI dates."""
    if isinstance(observer, Ephemeris):
        def ephemeris_delay(tai1, tai2, warn=True):
            return direction @ observer._position_km(tai1, tai2, warn=warn) / _C_KM_S
        return ephemeris_delay
    if isinstance(observer, str):
        if observer != "geocenter":
            msg = (f"observer={observer!r}: the only observer named by a string is "
                   "'geocenter'")
            raise ParameterError(msg)
        observer = EarthLocation.from_geocentric(0.0, 0.0, 0.0, unit=u.m)
    if isinstance(observer, EarthLocation):
        return _earth_delay(observer, direction)
    if isinstance(observer, u.Quantity):
        return _fixed_delay(observer, direction, shape)
    msg = (f"observer={observer!r} is none of an Ephemeris, an EarthLocation, 'geocenter' "
           "or a Quantity of barycentric positions")
    raise ParameterError(msg)


def _earth_delay(location, direction):
    """Light time of a place on (or at the centre of) the Earth, in astropy's way."""
    geocentric = np.array([location.x.to_value(u.m), location.y.to_value(u.m),
                           location.z.to_value(u.m)], dtype=float)
    if geocentric.ndim == 1 and not np.any(geocentric):
        # The geocentre: Earth's barycentric position, exactly what astropy's
        # light_travel_time gives there, without Earth-rotation (IERS) tables.
        def earth(tt1, tt2):
            when = Time(tt1, tt2, format="jd", scale="tt")
            position = get_body_barycentric("earth", when, ephemeris="builtin")
            return direction @ position.xyz.to_value(u.km) / _C_KM_S
        step = _EARTH_STEP
        function = earth
    else:
        target = SkyCoord(CartesianRepresentation(*direction), frame="icrs")

        def function(tt1, tt2):
            when = Time(tt1, tt2, format="jd", scale="tt")
            return when.light_travel_time(target, kind="barycentric",
                                          location=location).to_value(u.s)
        step = _GROUND_STEP
        if geocentric.ndim > 1:  # one place per time: no grid
            step = np.inf

    def delay(tai1, tai2, warn=True):
        tt2 = tai2 + _TT_MINUS_TAI / _DAY
        if not np.isfinite(step):
            return np.asarray(function(tai1, tt2), dtype=float).ravel()
        return _sampled(function, tai1, tt2, step)

    return delay


def _fixed_delay(position, direction, shape):
    """Light time of given barycentric positions (3,) or (3, n)."""
    if position.unit.physical_type != "length":
        msg = f"observer={position!r} must be barycentric positions in a length unit"
        raise ParameterError(msg)
    km = position.to_value(u.km)
    size = int(np.prod(shape))
    if km.shape == (3,):
        km = np.broadcast_to(km[:, None], (3, size))
    elif km.shape in ((3, *shape), (3, size)):
        km = km.reshape(3, size)
    else:
        msg = (f"observer: barycentric positions must have shape (3,) or (3, {size}) for "
               f"{size} time(s), not {km.shape}")
        raise ParameterError(msg)
    if not np.all(np.isfinite(km)):
        msg = "observer: the barycentric positions are not all finite"
        raise ParameterError(msg)
    light = direction @ km / _C_KM_S

    def delay(tai1, tai2, warn=True):
        return light

    return delay


def _bjd_parts(tai1, tai2, delay, *, warn=True):
    """BJD_TDB two-part dates of flattened TAI dates: TDB + r . n / c."""
    tt2 = tai2 + _TT_MINUS_TAI / _DAY
    seconds = _tdb_minus_tt(tai1, tt2) + delay(tai1, tai2, warn=warn)
    return tai1, tt2 + seconds / _DAY


def _as_tdb_mjd(jd1, jd2, shape):
    result = Time(jd1.reshape(shape), jd2.reshape(shape), format="jd", scale="tdb")
    result.format = "mjd"
    return result


def barycentric_times(times, target, *, observer):
    """BJD_TDB of UTC times: when light from ``target`` reaches the barycentre.

    ``BJD_TDB = TDB(t) + r . n / c``, where ``r`` is the observer's
    barycentric position at ``t`` and ``n`` the unit vector towards the
    target: the Roemer delay only, as astropy's ``Time.light_travel_time``.
    The Shapiro delay of the Sun (a few us: -1 to +5 us over JWST's field of
    regard) is left out, and TDB is astropy's geocentric TDB (``Time.tdb``
    without a location): the observer's own TDB - TT term
    ``v_earth . (r - r_earth) / c**2`` (2 us on the ground, 8 us on an L2
    orbit along the Sun line, at most 0.5 ms at 1.5e6 km) is not applied.

    Parameters
    ----------
    times : astropy.time.Time, float, array_like or str
        Anything `as_utc_time` reads (MJD numbers and ISO strings are UTC).
    target : astropy.coordinates.SkyCoord or (float, float)
        One sky position; a pair is (ra, dec) in degrees, ICRS.
    observer : Ephemeris, astropy.coordinates.EarthLocation, 'geocenter' or Quantity
        Where the light was recorded: JWST's `Ephemeris` (`Ephemeris.position_at`),
        a place on the Earth (astropy's ``Time.light_travel_time``), the
        Earth's centre, or barycentric ICRS positions (any length unit) of
        shape (3,) or (3, n) for n times.

    Returns
    -------
    astropy.time.Time
        Scale ``tdb``, format ``mjd``, the shape of ``times``.

    Raises
    ------
    spelunker.errors.ParameterError
        An unusable ``times``, ``target`` or ``observer`` (named).

    Notes
    -----
    Arrays are vectorised: TDB - TT, and the light time of a place on the
    Earth or of its centre, are sampled on a grid (1 h; 10 s, 30 s) and
    interpolated when that is cheaper (errors of 0.1 ns; 1-2 ns); a million
    times from an `Ephemeris` take ~0.2 s.

    Examples
    --------
    >>> from spelunker.barycentric import barycentric_times
    >>> bjd = barycentric_times("2023-02-25T12:00:00", (286.0, -41.3), observer="geocenter")
    >>> bjd.scale, bjd.format
    ('tdb', 'mjd')
    >>> print(f"{bjd.mjd:.8f}")
    60000.49758170
    """
    utc = as_utc_time(times, name="times")
    direction = _target_direction(target)
    delay = _delay_function(observer, direction, utc.shape)
    tai1, tai2 = _tai_parts(utc)
    return _as_tdb_mjd(*_bjd_parts(tai1, tai2, delay), utc.shape)


def utc_from_barycentric(bjd, target, *, observer, max_iterations=5):
    """UTC times whose BJD_TDB (`barycentric_times`) is ``bjd``: the inverse.

    Fixed-point iteration from ``bjd`` read as TT: each step removes the
    residual ``bjd - barycentric_times(utc)``, which shrinks by ~1e-4 per
    step (the observer's speed over c), so four steps bring 500 s to below
    a nanosecond.

    Parameters
    ----------
    bjd : astropy.time.Time, float or array_like
        Barycentric times: a Time (its scale is respected, e.g. ``tdb``) or
        MJD numbers read as TDB (BJD_TDB - 2400000.5).
    target : astropy.coordinates.SkyCoord or (float, float)
        As in `barycentric_times`.
    observer : Ephemeris, astropy.coordinates.EarthLocation, 'geocenter' or Quantity
        As in `barycentric_times`.
    max_iterations : int, optional
        Steps at most; the iteration stops earlier once every residual is
        below 1 ns (a warning is logged if it is not by then).

    Returns
    -------
    astropy.time.Time
        Scale ``utc``, the shape of ``bjd``.

    Raises
    ------
    spelunker.errors.ParameterError
        An unusable ``bjd``, ``target``, ``observer`` or ``max_iterations``.

    Examples
    --------
    >>> from spelunker.barycentric import barycentric_times, utc_from_barycentric
    >>> bjd = barycentric_times(60000.5, (286.0, -41.3), observer="geocenter")
    >>> utc = utc_from_barycentric(bjd, (286.0, -41.3), observer="geocenter")
    >>> utc.scale, abs(float((utc.mjd - 60000.5) * 86400)) < 1e-6
    ('utc', True)
    """
    if isinstance(bjd, Time):
        tdb = bjd.tdb
    else:
        tdb = Time(_finite_mjd(bjd, "bjd", "an astropy Time nor MJD (TDB) numbers"),
                   format="mjd", scale="tdb")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    shape = tdb.shape
    direction = _target_direction(target)
    delay = _delay_function(observer, direction, shape)
    goal1 = np.ravel(tdb.jd1).astype(float)
    goal2 = np.ravel(tdb.jd2).astype(float)
    tai1, tai2 = goal1, goal2 - _TT_MINUS_TAI / _DAY
    residual = _seconds_between(goal1, goal2, *_bjd_parts(tai1, tai2, delay, warn=False))
    for _ in range(max_iterations):
        tai2 = tai2 + residual / _DAY
        residual = _seconds_between(goal1, goal2, *_bjd_parts(tai1, tai2, delay, warn=False))
        if residual.size == 0 or np.max(np.abs(residual)) < _INVERSE_TOLERANCE:
            break
    else:
        log.warning("utc_from_barycentric: not converged after %d iterations (largest "
                    "residual %.3g s)", max_iterations, np.max(np.abs(residual)))
    if isinstance(observer, Ephemeris):
        delay(tai1, tai2, warn=True)  # the warning of times far from the epoch, once
    tai = Time(tai1.reshape(shape), tai2.reshape(shape), format="jd", scale="tai")
    utc = tai.utc
    utc.format = "mjd"
    return utc


# --------------------------------------------------------------------------
# BJD_TDB from a science product's INT_TIMES


def _int_times_points(int_times):
    """Sorted, distinct (UTC MJD, BJD_TDB - MJD_UTC seconds) of an INT_TIMES table."""
    if hasattr(int_times, "meta") and hasattr(int_times, "hasattr"):  # a stdatamodels model
        name = getattr(int_times.meta, "filename", None) or type(int_times).__name__
        table = int_times.int_times if int_times.hasattr("int_times") else None
        if table is None:
            msg = f"{name}: the model has no INT_TIMES table (int_times)"
            raise ScienceInputError(msg)
    else:
        name, table = "the INT_TIMES table", int_times
    names = (getattr(table, "colnames", None)
             or getattr(getattr(table, "dtype", None), "names", None)
             or (list(table) if isinstance(table, dict) else ()))
    missing = [column for column in (*_INT_TIMES_UTC, *_INT_TIMES_BJD) if column not in names]
    if missing:
        msg = f"{name}: the INT_TIMES table lacks the column(s) {', '.join(missing)}"
        raise ScienceInputError(msg)
    try:
        utc = np.concatenate([np.ravel(np.asarray(table[c], dtype=float)) for c in _INT_TIMES_UTC])
        bjd = np.concatenate([np.ravel(np.asarray(table[c], dtype=float)) for c in _INT_TIMES_BJD])
    except (TypeError, ValueError) as exc:
        msg = f"{name}: the INT_TIMES columns are not numbers ({exc})"
        raise ScienceInputError(msg) from None
    if utc.size == 0:
        msg = f"{name}: the INT_TIMES table is empty"
        raise ScienceInputError(msg)
    if utc.shape != bjd.shape or not (np.all(np.isfinite(utc)) and np.all(np.isfinite(bjd))):
        msg = f"{name}: the INT_TIMES times are not all finite"
        raise ScienceInputError(msg)
    offset = (bjd - utc) * _DAY  # exact difference of close numbers, then seconds
    order = np.argsort(utc, kind="stable")
    utc, offset = utc[order], offset[order]
    utc, first = np.unique(utc, return_index=True)
    if utc.size < 2:
        msg = f"{name}: the INT_TIMES table has fewer than two distinct times"
        raise ScienceInputError(msg)
    return name, utc, offset[first]


def _end_slope(seconds, offset, end):
    """Least-squares slope over `_SLOPE_SPAN` seconds at one end (-1 or 0)."""
    if end == 0:
        near = seconds <= seconds[0] + _SLOPE_SPAN
    else:
        near = seconds >= seconds[-1] - _SLOPE_SPAN
    if np.count_nonzero(near) < 2:
        near = np.zeros(seconds.size, bool)
        near[[0, 1] if end == 0 else [-2, -1]] = True
    x = seconds[near] - seconds[near].mean()
    return float(np.sum(x * (offset[near] - offset[near].mean())) / np.sum(x * x))


def bjd_from_int_times(times, int_times):
    """BJD_TDB of UTC times from a science product's own INT_TIMES relation.

    The product's ``BJD_TDB - MJD_UTC`` (seconds) at every start, mid and
    end point of its integrations is interpolated linearly onto ``times``,
    and extrapolated beyond the table along straight lines whose slopes
    are fitted over the table's last (and first) 10 minutes; a warning is
    logged for times more than an hour beyond the table.  The result is
    exact at the table's points (to the file's 1 us) and agrees with the
    pipeline's own BJD_TDB to well under 1 ms inside it.

    Parameters
    ----------
    times : astropy.time.Time, float, array_like or str
        Anything `as_utc_time` reads (e.g. guide-star frame mid-times).
    int_times : astropy.table.Table, numpy structured array or stdatamodels model
        With columns ``int_start_MJD_UTC``, ``int_mid_MJD_UTC``,
        ``int_end_MJD_UTC`` and ``int_start_BJD_TDB``, ``int_mid_BJD_TDB``,
        ``int_end_BJD_TDB`` (BJD - 2400000.5); or a model with ``int_times``.

    Returns
    -------
    astropy.time.Time
        BJD_TDB (scale ``tdb``, format ``mjd``), one per time of ``times``.

    Raises
    ------
    spelunker.errors.ScienceInputError
        Missing columns, an empty table, non-finite times or fewer than two
        distinct times.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from spelunker.barycentric import barycentric_times, bjd_from_int_times
    >>> edges = 60000.5 + np.arange(4) * 10 / 86400
    >>> bjd = barycentric_times(edges, (286.0, -41.3), observer="geocenter").mjd
    >>> table = Table({"int_start_MJD_UTC": edges[:-1], "int_end_MJD_UTC": edges[1:],
    ...                "int_mid_MJD_UTC": 0.5 * (edges[:-1] + edges[1:]),
    ...                "int_start_BJD_TDB": bjd[:-1], "int_end_BJD_TDB": bjd[1:],
    ...                "int_mid_BJD_TDB": 0.5 * (bjd[:-1] + bjd[1:])})
    >>> frames = 60000.5 + np.array([3.0, 17.0]) / 86400
    >>> result = bjd_from_int_times(frames, table)
    >>> truth = barycentric_times(frames, (286.0, -41.3), observer="geocenter")
    >>> result.scale, bool(np.all(np.abs((result - truth).to_value("s")) < 1e-6))
    ('tdb', True)
    """
    utc = as_utc_time(times, name="times")
    name, points, offset = _int_times_points(int_times)
    reference = points[0]
    seconds = (points - reference) * _DAY
    jd1 = np.ravel(utc.jd1).astype(float)
    jd2 = np.ravel(utc.jd2).astype(float)
    at = ((jd1 - 2400000.5 - reference) + jd2) * _DAY
    values = np.interp(at, seconds, offset)
    before, after = at < seconds[0], at > seconds[-1]
    if np.any(before):
        values[before] = offset[0] + _end_slope(seconds, offset, 0) * (at[before] - seconds[0])
    if np.any(after):
        values[after] = offset[-1] + _end_slope(seconds, offset, -1) * (at[after]
                                                                        - seconds[-1])
    beyond = np.maximum(seconds[0] - at, at - seconds[-1])
    if beyond.size and np.max(beyond) > INT_TIMES_EXTRAPOLATION_SECONDS:
        log.warning("%s: %d time(s) up to %.2f h outside its INT_TIMES (MJD %.6f to %.6f "
                    "UTC) extrapolated linearly; the error grows as ~0.1 ms (t / 1 h)^2",
                    name, int(np.count_nonzero(beyond > INT_TIMES_EXTRAPOLATION_SECONDS)),
                    np.max(beyond) / 3600.0, points[0], points[-1])
    return _as_tdb_mjd(jd1, jd2 + values / _DAY, utc.shape)
