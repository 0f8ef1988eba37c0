"""Facts about the Fine Guidance Sensor that the whole package uses.

One owner for the instrument's numbers: the synthetic generator
(`spelunker.datasets`), the pointing analysis (`spelunker.pointing`), the
survey columns in milliarcseconds and the figures read them from here,
never from each other.

- `PIXEL_SCALE`, `MAS_PER_PIXEL`: the nominal 0.069 "/px plate scale of
  the synthetic generator (real conversions use the SIAF below).
- `FRAME_SHAPE`: the 8x8 fine-guide window.
- `GUIDER_APERTURES`, `ONBOARD_APERTURES`, `guider_aperture`,
  `aperture_numbers`, `pixel_scales`: the FGS1/FGS2 apertures of STScI's
  Science Instrument Aperture File (pysiaf, which ships the SIAF, so this
  works offline), the numbers of theirs spelunker computes with, and the
  per-detector pixel scales they give.

The numbers (`aperture_numbers`) are read from pysiaf once per pysiaf
version and kept in spelunker's cache folder (``$SPELUNKER_CACHE/siaf``,
default ``~/.cache/spelunker/siaf``): importing pysiaf costs about 0.45 s
(its own import of matplotlib.pyplot), which every survey worker and
pointing analysis paid to read a few dozen numbers.  Where the folder
cannot be written, they are read from pysiaf in each process.

Examples
--------
>>> from spelunker.instrument import PIXEL_SCALE, MAS_PER_PIXEL
>>> PIXEL_SCALE, MAS_PER_PIXEL
(0.069, 69.0)
>>> from spelunker.instrument import guider_name, pixel_scales
>>> guider_name("fgs2")
'GUIDER2'
>>> [round(scale, 5) for scale in pixel_scales("GUIDER1")]
[0.06839, 0.06993]
"""

import functools
import importlib.metadata
import json
import logging
import threading
import types

from spelunker._cache import cache_folder
from spelunker.atomic import atomic_file
from spelunker.errors import ParameterError

__all__ = [
    "FRAME_SHAPE",
    "GUIDER_APERTURES",
    "MAS_PER_PIXEL",
    "ONBOARD_APERTURES",
    "PIXEL_SCALE",
    "SIAF_FIELDS",
    "aperture_numbers",
    "guider_aperture",
    "guider_name",
    "pixel_scales",
]

log = logging.getLogger(__name__)

#: FGS pixel scale (arcsec per pixel) of the synthetic generator; nominal.
#: Real conversions use `pixel_scales` (0.0684 x 0.0699 "/px for GUIDER1).
PIXEL_SCALE = 0.069

#: FGS pixel scale (milliarcseconds per pixel) of the synthetic generator.
MAS_PER_PIXEL = PIXEL_SCALE * 1000.0

#: Shape (rows, columns) of one fine-guide frame.
FRAME_SHAPE = (8, 8)

#: The SIAF aperture of each guider's full detector in the science (DMS)
#: frame: the frame of the products' pixels and their SUBSTRT1/2 keywords
#: (APERNAME of the real fine-guide products).
GUIDER_APERTURES = {"GUIDER1": "FGS1_FULL", "GUIDER2": "FGS2_FULL"}

#: The on-board software's aperture of each guider: its ideal frame is the
#: one of the CENTROID packets' ``guide_star_position_x/y`` and of the
#: SA_ZFGGSPOSX/Y telemetry (x of opposite sign to the science ideal frame).
ONBOARD_APERTURES = {"GUIDER1": "FGS1_FULL_OSS", "GUIDER2": "FGS2_FULL_OSS"}

#: The SIAF fields of an aperture in `aperture_numbers`, besides its science -> ideal
#: polynomial coefficients ``Sci2IdlX<i><j>``, ``Sci2IdlY<i><j>`` (0 <= j <= i <= Sci2IdlDeg).
SIAF_FIELDS = ("XSciRef", "YSciRef", "XSciScale", "YSciScale", "V2Ref", "V3Ref",
               "V3IdlYAngle", "VIdlParity", "Sci2IdlDeg")

#: The four apertures of `aperture_numbers`, as kept in the cache file.
_FGS_APERTURES = (*GUIDER_APERTURES.values(), *ONBOARD_APERTURES.values())

_ALIASES = {"GUIDER1": "GUIDER1", "FGS1": "GUIDER1", "GUIDER2": "GUIDER2", "FGS2": "GUIDER2"}

_SIAF_LOCK = threading.Lock()


def guider_name(detector, *, name="detector", where=None):
    """The DETECTOR name ('GUIDER1' or 'GUIDER2') of a guider given in any usual form.

    Parameters
    ----------
    detector : str
        'GUIDER1', 'GUIDER2', 'FGS1' or 'FGS2' (any case, surrounding blanks ignored).
    name : str, optional
        The caller's name of the parameter, for the message.
    where : str, optional
        The caller, for the message.

    Returns
    -------
    str

    Raises
    ------
    spelunker.errors.ParameterError
        For anything else (the message names the parameter).

    Examples
    --------
    >>> guider_name(" Guider1 ")
    'GUIDER1'
    >>> guider_name("NRS1")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: detector='NRS1' is not a guider
    ('GUIDER1', 'GUIDER2', 'FGS1', 'FGS2')
    """
    key = detector.strip().upper() if isinstance(detector, str) else None
    if key not in _ALIASES:
        text = f"{name}={detector!r:.60} is not a guider ('GUIDER1', 'GUIDER2', 'FGS1', 'FGS2')"
        raise ParameterError(f"{where}: {text}" if where else text)
    return _ALIASES[key]


class _PrdCheckFilter(logging.Filter):
    """Drop pysiaf's import-time 'PRD version cannot be checked' warning."""

    def filter(self, record):
        return "PRD VERSION" not in record.getMessage()


def _offline_get(*args, **kwargs):
    import requests  # already imported by pysiaf's __init__ when this is called

    raise requests.ConnectionError("spelunker: pysiaf's online PRD version check is skipped")


def _siaf_module():
    """Import pysiaf without its online check of the SIAF version.

    pysiaf's ``__init__`` asks github.com for the newest PRD version with a
    ``requests.get`` that has no timeout (a hang without network) and logs a
    warning when it fails.  The installed SIAF is the one spelunker tests
    against, so the check is skipped: ``requests.get`` raises at once while
    pysiaf is first imported (under a lock), and the warning is filtered.
    """
    import sys

    if "pysiaf" in sys.modules:
        return sys.modules["pysiaf"]
    with _SIAF_LOCK:
        import requests  # a dependency of spelunker.archive and of pysiaf

        siaf_log = logging.getLogger("pysiaf")
        quiet = _PrdCheckFilter()
        original = requests.get
        siaf_log.addFilter(quiet)
        requests.get = _offline_get
        try:
            import pysiaf  # heavy: pysiaf costs ~0.45 s to import (its matplotlib.pyplot)
        finally:
            requests.get = original
            siaf_log.removeFilter(quiet)
    return pysiaf


@functools.lru_cache(maxsize=1)
def _fgs_siaf():
    return _siaf_module().Siaf("FGS")


@functools.cache
def _aperture(aperture_name):
    return _fgs_siaf()[aperture_name]


def _aperture_name(detector, frame, *, where):
    """The SIAF name of a guider's full-detector aperture in ``frame`` (both checked)."""
    detector = guider_name(detector, where=where)
    if frame not in ("science", "onboard"):
        msg = f"{where}: frame={frame!r:.40} is not 'science' or 'onboard'"
        raise ParameterError(msg)
    names = GUIDER_APERTURES if frame == "science" else ONBOARD_APERTURES
    return names[detector]


def guider_aperture(detector, *, frame="science"):
    """The SIAF aperture (`pysiaf.JwstAperture`) of a guider's full detector.

    Parameters
    ----------
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').
    frame : {'science', 'onboard'}, optional
        ``'science'``: ``FGS1_FULL`` / ``FGS2_FULL``, whose "sci" frame is
        the frame of the products' pixels (1-based, the first pixel's centre
        at (1, 1)); ``sci_to_idl``, ``idl_to_tel`` give the ideal frame and
        V2/V3 (arcsec).  ``'onboard'``: the on-board software's
        ``FGS1_FULL_OSS`` / ``FGS2_FULL_OSS``, whose ideal frame is that of
        the CENTROID packets' ``guide_star_position_x/y``; same V2Ref, V3Ref
        and V3IdlYAngle, opposite VIdlParity (its ideal x is minus the
        science ideal x).

    Returns
    -------
    pysiaf.aperture.JwstAperture
        Cached: the same object each call.

    Raises
    ------
    spelunker.errors.ParameterError
        ``detector`` is not a guider, or an unknown ``frame``.

    Examples
    --------
    >>> guider_aperture("GUIDER2").AperName
    'FGS2_FULL'
    >>> guider_aperture("FGS1", frame="onboard").AperName
    'FGS1_FULL_OSS'
    """
    return _aperture(_aperture_name(detector, frame, where="guider_aperture"))


def _coefficient_names(degree):
    return [f"Sci2Idl{axis}{i}{j}" for axis in "XY" for i in range(degree + 1)
            for j in range(i + 1)]


def _numbers_of(aperture):
    """The `aperture_numbers` of a pysiaf aperture, as a dict of floats."""
    numbers = {field: float(getattr(aperture, field)) for field in SIAF_FIELDS}
    for name in _coefficient_names(int(aperture.Sci2IdlDeg)):
        numbers[name] = float(getattr(aperture, name))
    return numbers


def _usable(cached):
    """Whether a cache file's content holds the numbers of every FGS aperture."""
    if not isinstance(cached, dict) or sorted(cached) != sorted(_FGS_APERTURES):
        return False
    for numbers in cached.values():
        if not isinstance(numbers, dict) or not all(
                isinstance(numbers.get(field), float) for field in SIAF_FIELDS):
            return False
        degree = numbers["Sci2IdlDeg"]
        if not 1 <= degree <= 9 or degree != int(degree) or not all(
                isinstance(numbers.get(name), float) for name in _coefficient_names(int(degree))):
            return False
    return True


@functools.cache
def _fgs_numbers():
    """{aperture name: its numbers} of the four FGS apertures: from the cache, else pysiaf."""
    path = cache_folder("siaf") / f"fgs-pysiaf-{importlib.metadata.version('pysiaf')}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable or not JSON: read pysiaf again
        cached = None
    if _usable(cached):
        return cached
    numbers = {name: _numbers_of(_aperture(name)) for name in _FGS_APERTURES}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as partial:
            partial.write_text(json.dumps(numbers, indent=1), encoding="utf-8")
    except OSError as exc:
        log.debug("The FGS SIAF numbers are not cached (%s): %s", path, exc)
    return numbers


def aperture_numbers(detector, *, frame="science"):
    """The SIAF numbers of a guider's full-detector aperture that spelunker computes with.

    The fields `SIAF_FIELDS` (reference pixel XSciRef/YSciRef, pixel
    scales XSciScale/YSciScale in arcsec per pixel, V2Ref/V3Ref in arcsec,
    V3IdlYAngle in degrees, VIdlParity, Sci2IdlDeg) and the science ->
    ideal polynomial coefficients ``Sci2IdlX<i><j>``, ``Sci2IdlY<i><j>``,
    as pysiaf gives them for the aperture `guider_aperture` names, without
    importing pysiaf once they are cached (see the module).

    Parameters
    ----------
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').
    frame : {'science', 'onboard'}, optional
        The aperture, as in `guider_aperture`.

    Returns
    -------
    mapping
        Read-only: field name -> float.

    Raises
    ------
    spelunker.errors.ParameterError
        As `guider_aperture` (the message names this function).

    Examples
    --------
    >>> numbers = aperture_numbers("GUIDER1")
    >>> numbers["V2Ref"], numbers["VIdlParity"]
    (206.407, -1.0)
    >>> aperture_numbers("FGS1", frame="onboard")["VIdlParity"]
    1.0
    """
    name = _aperture_name(detector, frame, where="aperture_numbers")
    return types.MappingProxyType(_fgs_numbers()[name])


def pixel_scales(detector):
    """The SIAF pixel scales of a guider, ``(x, y)`` in arcsec per pixel.

    The scales at the aperture's reference point (SIAF XSciScale,
    YSciScale), along the science frame's x (columns) and y (rows); the
    distortion changes them by -2.7 % to +3.9 % across the detector, which
    `spelunker.pointing.window_to_sky` includes.

    Parameters
    ----------
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').

    Returns
    -------
    tuple of float

    Raises
    ------
    spelunker.errors.ParameterError
        ``detector`` is not a guider.

    Examples
    --------
    >>> [round(scale, 5) for scale in pixel_scales("GUIDER2")]
    [0.06788, 0.06976]
    """
    numbers = _fgs_numbers()[_aperture_name(detector, "science", where="pixel_scales")]
    return numbers["XSciScale"], numbers["YSciScale"]
