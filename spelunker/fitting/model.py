"""The 2-D Gaussian PSF model shared by the fitter and the simulator.

Convention
----------
The model follows `astropy.modeling.functional_models.Gaussian2D`::

    f(x, y) = A exp(-(a dx**2 + b dx dy + c dy**2)) + offset

    a = cos(theta)**2 / (2 sx**2) + sin(theta)**2 / (2 sy**2)
    b = sin(2 theta) / (2 sx**2) - sin(2 theta) / (2 sy**2)
    c = sin(theta)**2 / (2 sx**2) + cos(theta)**2 / (2 sy**2)

with ``dx = x - x_mean`` and ``dy = y - y_mean`` in pixels.  ``x`` is the
column index and ``y`` the row index of a frame ``data[row, column]``; pixel
centres sit at integer coordinates, so an 8x8 frame spans -0.5 .. 7.5.
``theta`` is in radians, counter-clockwise from +x towards +y (astropy's
sign).  The model is sampled at pixel centres.

Canonical form
--------------
``(sx, sy, theta)``, ``(sy, sx, theta + pi/2)`` and ``(sx, sy, theta + pi)``
describe the same ellipse.  spelunker always reports the canonical form
given by :func:`canonical_shape`: ``x_stddev >= y_stddev`` (``x_stddev`` is
the major axis) and ``-pi/2 <= theta < pi/2`` (``theta`` is the position
angle of the major axis).  Guider PSFs are elongated by about 10 percent
with the major axis some 0.2-0.7 rad from +x, well inside the interval, so
the three series stay continuous for a stable PSF.  For a near-round PSF
(``x_stddev`` ~ ``y_stddev``) theta is undetermined: the model barely
depends on it, so its value is arbitrary (it may jump by up to pi/2 from
frame to frame as the major axis swaps) and its uncertainty ``theta_err``
is large.
"""

import numpy as np

from spelunker.errors import ParameterError

__all__ = ["gaussian2d", "canonical_shape", "PARAMETER_NAMES"]

#: Order of the seven model parameters everywhere in spelunker.
PARAMETER_NAMES = (
    "amplitude",
    "x_mean",
    "y_mean",
    "x_stddev",
    "y_stddev",
    "theta",
    "offset",
)


def _check_numbers(**values):
    """A ParameterError naming the first value that is not real numbers (nothing converted)."""
    for name, value in values.items():
        try:
            kind = np.asarray(value).dtype.kind
        except (TypeError, ValueError):  # ragged sequences
            kind = "O"
        if kind not in "iuf":
            msg = f"{name}={value!r} must be real numbers"
            raise ParameterError(msg)


def gaussian2d(x, y, amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset):
    """Evaluate the 2-D Gaussian plus constant (NumPy broadcasting).

    Parameters
    ----------
    x, y : array_like
        Pixel coordinates (column, row).
    amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset : array_like
        Model parameters in the convention of the module docstring.

    Returns
    -------
    numpy.ndarray
        The model values, broadcast over all inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.fitting.model import gaussian2d
    >>> y, x = np.mgrid[0:8, 0:8]
    >>> frame = gaussian2d(x, y, 100.0, 3.5, 3.5, 0.7, 0.6, 0.4, 10.0)
    >>> frame.shape
    (8, 8)
    """
    _check_numbers(x=x, y=y, amplitude=amplitude, x_mean=x_mean, y_mean=y_mean,
                   x_stddev=x_stddev, y_stddev=y_stddev, theta=theta, offset=offset)
    cos2 = np.cos(theta) ** 2
    sin2 = np.sin(theta) ** 2
    sin2t = np.sin(2.0 * theta)
    inv_x2 = 1.0 / np.square(x_stddev)
    inv_y2 = 1.0 / np.square(y_stddev)
    a = 0.5 * (cos2 * inv_x2 + sin2 * inv_y2)
    b = 0.5 * sin2t * (inv_x2 - inv_y2)
    c = 0.5 * (sin2 * inv_x2 + cos2 * inv_y2)
    dx = np.asarray(x) - x_mean
    dy = np.asarray(y) - y_mean
    return amplitude * np.exp(-(a * dx * dx + b * dx * dy + c * dy * dy)) + offset


def canonical_shape(x_stddev, y_stddev, theta):
    """Put Gaussian widths and angle in spelunker's canonical form.

    Parameters
    ----------
    x_stddev, y_stddev : array_like
        Widths (pixels); signs are ignored.
    theta : array_like
        Angle (radians), any value.

    Returns
    -------
    x_stddev, y_stddev, theta : numpy.ndarray
        ``x_stddev >= y_stddev`` and ``-pi/2 <= theta < pi/2``, describing
        the same ellipse as the input.

    Examples
    --------
    >>> from spelunker.fitting.model import canonical_shape
    >>> sx, sy, th = canonical_shape(0.6, 0.7, 0.4)
    >>> float(sx), float(sy), round(float(th), 6)
    (0.7, 0.6, -1.170796)
    """
    _check_numbers(x_stddev=x_stddev, y_stddev=y_stddev, theta=theta)
    sx = np.abs(np.asarray(x_stddev, dtype=float))
    sy = np.abs(np.asarray(y_stddev, dtype=float))
    th = np.asarray(theta, dtype=float)
    swap = sy > sx
    major = np.where(swap, sy, sx)
    minor = np.where(swap, sx, sy)
    th = np.where(swap, th + 0.5 * np.pi, th)
    th = (th + 0.5 * np.pi) % np.pi - 0.5 * np.pi
    return major, minor, th
