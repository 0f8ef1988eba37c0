"""Detector to sky: fine-guide window pixels to the FGS ideal frame and to V2/V3.

Frames (JWST-STScI-001550, the SIAF's definitions, implemented by pysiaf):

- **window**: 0-based (column ``x``, row ``y``) position in the 8x8 frame
  ``data[row, column]`` of a product (the fit table's ``x_mean``,
  ``y_mean``); the centre of the first pixel is (0, 0).
- **science** ("sci", the DMS orientation of the products): 1-based pixel
  of the full 2048x2048 guider, the centre of the first pixel at (1, 1).
  The window's first pixel is the product's SUBSTRT1/SUBSTRT2 (datamodel
  ``meta.subarray.xstart/ystart``, e.g. 1226, 209 in a real GUIDER1
  product), so ``sci = start + window`` (`window_to_science`).
- **ideal** ("idl", arcsec): the distortion-corrected tangent plane of the
  aperture ``FGS1_FULL`` / ``FGS2_FULL``: a 2-D polynomial of the science
  position relative to the aperture's reference pixel (the SIAF's
  Sci2Idl coefficients).
- **telescope** (V2/V3, arcsec): ``idl`` rotated by V3IdlYAngle with the
  parity VIdlParity and shifted to (V2Ref, V3Ref): pysiaf's default
  planar approximation (error about 1.7 mas at 10' from the reference
  point, constant over a window's few pixels, so offsets in mas are exact).

The on-board centroids (CENTROID packets) are in the ideal frame of the
on-board apertures ``FGS1_FULL_OSS`` / ``FGS2_FULL_OSS``, whose x has the
opposite sign; `ideal_to_telescope` converts either.

The coefficients are read from pysiaf once per detector (cached on disk by
`spelunker.instrument.aperture_numbers`) and evaluated here
with numpy (Horner-like, about 40 ms for a million positions; pysiaf's
astropy models take longer); ``tests/test_pointing.py`` checks the results
against pysiaf's own transforms to 1e-6 arcsec.

Examples
--------
>>> from spelunker.pointing import window_to_sky
>>> sky = window_to_sky(3.5, 3.5, detector="GUIDER1", xstart=1226, ystart=209)
>>> round(float(sky.idl_x), 3), round(float(sky.idl_y), 3)
(14.02, -57.039)
"""

import functools
import logging
from dataclasses import dataclass

import numpy as np

from spelunker._validate import check_choice
from spelunker.errors import ParameterError
from spelunker.instrument import aperture_numbers, guider_name

__all__ = [
    "SkyPosition",
    "ideal_to_telescope",
    "science_to_ideal",
    "telescope_offsets_mas",
    "telescope_to_ideal",
    "window_jacobian",
    "window_to_science",
    "window_to_sky",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkyPosition:
    """Positions in the FGS ideal frame and in V2/V3, all arcsec (numpy arrays)."""

    idl_x: np.ndarray
    idl_y: np.ndarray
    v2: np.ndarray
    v3: np.ndarray


@dataclass(frozen=True)
class _Transform:
    """One aperture's sci -> idl polynomial and idl -> tel rotation."""

    degree: int
    x_ref: float
    y_ref: float
    coeff_x: np.ndarray  # [(i, j) pairs in SIAF order]: coefficient of x**(i-j) * y**j
    coeff_y: np.ndarray
    powers: tuple
    v2_ref: float
    v3_ref: float
    parity: float
    cos_angle: float
    sin_angle: float


def _transform_of(numbers):
    """The transform of an aperture's SIAF numbers (`spelunker.instrument.aperture_numbers`)."""
    degree = int(numbers["Sci2IdlDeg"])
    powers = tuple((i - j, j) for i in range(degree + 1) for j in range(i + 1))
    coeff_x = np.array([numbers[f"Sci2IdlX{i + j}{j}"] for i, j in powers])
    coeff_y = np.array([numbers[f"Sci2IdlY{i + j}{j}"] for i, j in powers])
    angle = np.deg2rad(numbers["V3IdlYAngle"])
    return _Transform(degree, numbers["XSciRef"], numbers["YSciRef"], coeff_x, coeff_y,
                      powers, numbers["V2Ref"], numbers["V3Ref"],
                      numbers["VIdlParity"], float(np.cos(angle)), float(np.sin(angle)))


@functools.cache
def _science_transform(detector):
    return _transform_of(aperture_numbers(detector))


@functools.cache
def _onboard_transform(detector):
    return _transform_of(aperture_numbers(detector, frame="onboard"))


def _float_array(value, name, where):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # numpy's conversion errors
        msg = f"{where}: {name} must be numbers (an array of positions), got {type(value).__name__}"
        raise ParameterError(msg) from None
    return array


def _start(value, name, where):
    start = _float_array(value, name, where)
    if start.size and not np.all(np.isfinite(start)):
        msg = f"{where}: {name} must be finite (the 1-based science-frame corner of the window)"
        raise ParameterError(msg)
    if start.size and np.any(start < 1):
        msg = (f"{where}: {name} must be >= 1 (the 1-based science-frame corner of the window, "
               f"SUBSTRT1/SUBSTRT2), got {start.min()}")
        raise ParameterError(msg)
    return start


def window_to_science(x, y, *, xstart, ystart):
    """Science-frame pixel of a 0-based 8x8-window position.

    Parameters
    ----------
    x, y : float or array_like
        Column and row in the window, 0-based (the centre of the first
        pixel is 0), e.g. the fit table's ``x_mean``, ``y_mean``.
    xstart, ystart : int or array_like
        The window's first pixel in the 1-based science frame (the
        product's SUBSTRT1 and SUBSTRT2, FILES columns ``xstart``,
        ``ystart``); arrays broadcast against ``x``, ``y`` (one per frame).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``xstart + x``, ``ystart + y``: 1-based, the first pixel's centre at 1.

    Raises
    ------
    spelunker.errors.ParameterError
        For non-numeric input or a start below 1.

    Examples
    --------
    >>> [float(v) for v in window_to_science(0.0, 7.0, xstart=1226, ystart=209)]
    [1226.0, 216.0]
    """
    where = "window_to_science"
    x, y = _float_array(x, "x", where), _float_array(y, "y", where)
    return (_start(xstart, "xstart", where) + x, _start(ystart, "ystart", where) + y)


def _polynomial(transform, dx, dy):
    """Evaluate the Sci2Idl polynomials at offsets from the reference pixel (Horner's rule)."""
    # sum_j dy**j * P_j(dx), P_j a polynomial in dx of degree (degree - j), both by Horner.
    degree = transform.degree
    index = {power: k for k, power in enumerate(transform.powers)}
    outputs = []
    for coefficients in (transform.coeff_x, transform.coeff_y):
        total = None
        for j in range(degree, -1, -1):
            inner = np.full_like(dx, coefficients[index[(degree - j, j)]])
            for i in range(degree - j - 1, -1, -1):
                inner *= dx
                inner += coefficients[index[(i, j)]]
            if total is None:
                total = inner
            else:
                total *= dy
                total += inner
        outputs.append(total)
    return outputs[0], outputs[1]


def _rotate(transform, idl_x, idl_y):
    """pysiaf's planar ideal -> V2/V3 transform."""
    px = transform.parity * idl_x
    v2 = transform.v2_ref + px * transform.cos_angle + idl_y * transform.sin_angle
    v3 = transform.v3_ref - px * transform.sin_angle + idl_y * transform.cos_angle
    return v2, v3


def science_to_ideal(x_sci, y_sci, *, detector):
    """Ideal-frame position (arcsec) of a science-frame pixel of a guider (distortion included).

    Parameters
    ----------
    x_sci, y_sci : float or array_like
        1-based science-frame pixel (`window_to_science`).
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Ideal x and y (arcsec) of ``FGS1_FULL`` / ``FGS2_FULL``, as pysiaf's
        ``sci_to_idl``.

    Raises
    ------
    spelunker.errors.ParameterError
        For a detector that is not a guider or non-numeric input.

    Examples
    --------
    >>> [round(float(v), 3) for v in science_to_ideal(1024.5, 1024.5, detector="GUIDER1")]
    [0.0, 0.0]
    """
    where = "science_to_ideal"
    transform = _science_transform(guider_name(detector, where=where))
    x_sci, y_sci = np.broadcast_arrays(_float_array(x_sci, "x_sci", where),
                                       _float_array(y_sci, "y_sci", where))
    return _polynomial(transform, x_sci - transform.x_ref, y_sci - transform.y_ref)


def ideal_to_telescope(idl_x, idl_y, *, detector, frame="onboard"):
    """V2/V3 (arcsec) of positions in a guider's ideal frame.

    Parameters
    ----------
    idl_x, idl_y : float or array_like
        Ideal-frame position (arcsec).
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').
    frame : {'onboard', 'science'}, optional
        Whose ideal frame: ``'onboard'`` (default) that of the on-board
        software (apertures ``FGSn_FULL_OSS``), in which the CENTROID
        packets' ``guide_star_position_x/y`` are given; ``'science'`` that of
        ``FGSn_FULL`` (`science_to_ideal`, `window_to_sky`).  The two differ
        in the sign of x.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        V2, V3 (arcsec), as pysiaf's ``idl_to_tel`` (planar approximation).

    Raises
    ------
    spelunker.errors.ParameterError
        For a detector that is not a guider, an unknown frame or
        non-numeric input.

    Examples
    --------
    >>> [round(float(v), 3) for v in ideal_to_telescope(0.0, 0.0, detector="GUIDER1")]
    [206.407, -697.765]
    """
    where = "ideal_to_telescope"
    detector = guider_name(detector, where=where)
    frame = check_choice(frame, "frame", ("onboard", "science"), where=where)
    transform = (_onboard_transform if frame == "onboard" else _science_transform)(detector)
    idl_x, idl_y = np.broadcast_arrays(_float_array(idl_x, "idl_x", where),
                                       _float_array(idl_y, "idl_y", where))
    return _rotate(transform, idl_x, idl_y)


def telescope_to_ideal(v2, v3, *, detector, frame="onboard"):
    """A guider's ideal-frame position (arcsec) of V2/V3 positions: `ideal_to_telescope` inverted.

    Parameters
    ----------
    v2, v3 : float or array_like
        arcsec.
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').
    frame : {'onboard', 'science'}, optional
        As for `ideal_to_telescope`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Ideal x, y (arcsec), as pysiaf's ``tel_to_idl`` (planar approximation).

    Raises
    ------
    spelunker.errors.ParameterError
        For a detector that is not a guider, an unknown frame or non-numeric input.

    Examples
    --------
    >>> [round(float(v), 6) for v in telescope_to_ideal(206.407, -697.765, detector="FGS1")]
    [0.0, 0.0]
    """
    where = "telescope_to_ideal"
    detector = guider_name(detector, where=where)
    frame = check_choice(frame, "frame", ("onboard", "science"), where=where)
    transform = (_onboard_transform if frame == "onboard" else _science_transform)(detector)
    v2, v3 = np.broadcast_arrays(_float_array(v2, "v2", where), _float_array(v3, "v3", where))
    d2, d3 = v2 - transform.v2_ref, v3 - transform.v3_ref
    idl_x = transform.parity * (d2 * transform.cos_angle - d3 * transform.sin_angle)
    idl_y = d2 * transform.sin_angle + d3 * transform.cos_angle
    return idl_x, idl_y


def window_to_sky(x, y, *, detector, xstart, ystart):
    """Ideal-frame and V2/V3 positions (arcsec) of 0-based 8x8-window positions.

    Parameters
    ----------
    x, y : float or array_like
        Column and row in the window, 0-based (fit table ``x_mean``, ``y_mean``).
    detector : str
        'GUIDER1' or 'GUIDER2' (or 'FGS1', 'FGS2').
    xstart, ystart : int or array_like
        The window's 1-based science-frame corner (SUBSTRT1, SUBSTRT2);
        arrays broadcast (one per frame).

    Returns
    -------
    SkyPosition
        ``idl_x``, ``idl_y`` (ideal frame of ``FGSn_FULL``), ``v2``, ``v3``.

    Raises
    ------
    spelunker.errors.ParameterError
        For a detector that is not a guider, non-numeric input or a start below 1.

    Examples
    --------
    >>> sky = window_to_sky([3.5, 4.5], [3.5, 3.5], detector="GUIDER2", xstart=1086, ystart=1058)
    >>> round(float(sky.v2[1] - sky.v2[0]) * 1000, 1)  # one pixel along x, in mas
    -67.9
    """
    where = "window_to_sky"
    transform = _science_transform(guider_name(detector, where=where))
    x_sci, y_sci = window_to_science(x, y, xstart=xstart, ystart=ystart)
    x_sci, y_sci = np.broadcast_arrays(x_sci, y_sci)
    idl_x, idl_y = _polynomial(transform, x_sci - transform.x_ref, y_sci - transform.y_ref)
    v2, v3 = _rotate(transform, idl_x, idl_y)
    return SkyPosition(idl_x, idl_y, v2, v3)


def window_jacobian(x, y, *, detector, xstart, ystart, step=0.01):
    """Derivatives of V2/V3 (arcsec per pixel) with respect to the window's x and y.

    Central differences of `window_to_sky`; used to carry the fit's pixel
    errors to V2/V3.

    Parameters
    ----------
    x, y, detector, xstart, ystart
        As for `window_to_sky`.
    step : float, optional
        Difference step (pixels).

    Returns
    -------
    tuple of numpy.ndarray
        ``(dv2_dx, dv2_dy, dv3_dx, dv3_dy)``.

    Examples
    --------
    >>> jac = window_jacobian(3.5, 3.5, detector="GUIDER1", xstart=1226, ystart=209)
    >>> [round(float(v), 4) for v in jac]
    [-0.0688, -0.0016, 0.0007, 0.0717]
    """
    x = _float_array(x, "x", "window_jacobian")
    y = _float_array(y, "y", "window_jacobian")
    options = {"detector": detector, "xstart": xstart, "ystart": ystart}
    right = window_to_sky(x + step, y, **options)
    left = window_to_sky(x - step, y, **options)
    up = window_to_sky(x, y + step, **options)
    down = window_to_sky(x, y - step, **options)
    scale = 1.0 / (2.0 * step)
    return ((right.v2 - left.v2) * scale, (up.v2 - down.v2) * scale,
            (right.v3 - left.v3) * scale, (up.v3 - down.v3) * scale)


def telescope_offsets_mas(v2, v3, good=None):
    """V2/V3 offsets (mas) from the mean of the ``good`` positions.

    Parameters
    ----------
    v2, v3 : array_like
        Positions (arcsec).
    good : array_like of bool, optional
        The positions that define the mean (all finite ones by default).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(v2 - mean) * 1000``, ``(v3 - mean) * 1000``; NaN where the input is.

    Examples
    --------
    >>> [v.round(6).tolist() for v in telescope_offsets_mas([1.0, 1.002], [2.0, 2.0])]
    [[-1.0, 1.0], [0.0, 0.0]]
    """
    v2 = _float_array(v2, "v2", "telescope_offsets_mas")
    v3 = _float_array(v3, "v3", "telescope_offsets_mas")
    use = np.isfinite(v2) & np.isfinite(v3)
    if good is not None:
        use &= np.asarray(good, dtype=bool)
    if not np.any(use):
        return np.full_like(v2, np.nan), np.full_like(v3, np.nan)
    # Subtract the first good position first, so the mas offsets keep full precision.
    anchor2, anchor3 = v2[use][0], v3[use][0]
    d2 = (v2 - anchor2) * 1000.0
    d3 = (v3 - anchor3) * 1000.0
    return d2 - np.mean(d2[use]), d3 - np.mean(d3[use])
