"""Facts about the Fine Guidance Sensor that the whole package uses.

One owner for the instrument's numbers: the synthetic generator
(`spelunker.datasets`), the pointing analysis (`spelunker.pointing`), the
survey columns in milliarcseconds and the figures read them from here,
never from each other.

- `PIXEL_SCALE`, `MAS_PER_PIXEL`: the nominal 0.069 "/px plate scale of
  the synthetic generator (real conversions use the SIAF below).
- `FRAME_SHAPE`: the 8x8 fine-guide window.
- `GUIDER_APERTURES`, `ONBOARD_APERTURES`, `guider_aperture`,
  `pixel_scales`: the FGS1/FGS2 apertures of STScI's Science Instrument
  Aperture File (pysiaf, which ships the SIAF, so this works offline), and
  the per-detector pixel scales they give.

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
import logging
import threading

from spelunker.errors import ParameterError

__all__ = [
    "FRAME_SHAPE",
    "GUIDER_APERTURES",
    "MAS_PER_PIXEL",
    "ONBOARD_APERTURES",
    "PIXEL_SCALE",
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
            import pysiaf  # heavy: pysiaf costs ~1.5 s to import
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
    detector = guider_name(detector, where="guider_aperture")
    if frame not in ("science", "onboard"):
        msg = f"guider_aperture: frame={frame!r:.40} is not 'science' or 'onboard'"
        raise ParameterError(msg)
    names = GUIDER_APERTURES if frame == "science" else ONBOARD_APERTURES
    return _aperture(names[detector])


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
    aperture = guider_aperture(detector)
    return float(aperture.XSciScale), float(aperture.YSciScale)
