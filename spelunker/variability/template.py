"""The flare template: Davenport et al. (2014)'s empirical shape, its area and its edges.

One owner for the shape shared by the flare fit of
`spelunker.variability.flares` and the injected flares of
`spelunker.datasets.Flare`.  In units of the full width at half maximum
``t_1/2``, ``x = (t - t_peak) / t_1/2``: a quartic rise
``1 + 1.941 x - 0.175 x**2 - 2.246 x**3 - 1.125 x**4`` for ``-1 <= x <= 0``
(zero before) and a decay ``0.6890 exp(-1.600 x) + 0.3030 exp(-0.2783 x)``
for ``x > 0`` (Davenport et al. 2014, ApJ 797, 122, eqs. 1 and 4: the
classical flare built from 885 Kepler flares of GJ 1243).  As published it
is 0.913 ``t_1/2`` wide at half its maximum (from ``-0.271`` to ``+0.642``).
"""

import math

import numpy as np

from spelunker._validate import check_finite_float, check_float_array
from spelunker.errors import ParameterError

__all__ = ["FLARE_AREA", "FLARE_EDGE", "FLARE_RISE_EDGE", "FLARE_DECAY_EDGE", "RISE_AREA",
           "flare_area", "flare_template", "template_edges"]

# Davenport et al. (2014), eqs. 1 and 4: the rise (a quartic in x, -1 <= x <= 0) and the
# decay (two exponentials, x >= 0).
_RISE = (1.0, 1.941, -0.175, -2.246, -1.125)  # coefficients of x**0 .. x**4
_DECAY = ((0.6890, 1.600), (0.3030, 0.2783))  # (weight, rate) pairs

#: Integral of the rise quartic over -1 <= x <= 0 (0.5233).
RISE_AREA = sum(c * (-(-1.0) ** (k + 1)) / (k + 1) for k, c in enumerate(_RISE))
#: Integral of the template over x (analytic: the rise quartic plus the two decays), 1.8270:
#: a flare's equivalent duration is ``FLARE_AREA * amplitude * t_1/2``.
FLARE_AREA = RISE_AREA + sum(weight / rate for weight, rate in _DECAY)

#: Fraction of the peak that bounds a flare's extent (``start``, ``stop``).
FLARE_EDGE = 0.01


def _check_fraction(value, name, where, *, closed):
    """``value`` as a float in (0, 1] (``closed``) or (0, 1); ParameterError otherwise."""
    value = check_finite_float(value, name, where=where)
    if not (0.0 < value <= 1.0 if closed else 0.0 < value < 1.0):
        msg = f"{where}: {name}={value!r} must be in (0, 1{']' if closed else ')'}"
        raise ParameterError(msg)
    return value


def flare_area(rise=1.0):
    """Integral over x of `flare_template` with rise fraction ``rise`` (`FLARE_AREA` at 1).

    Examples
    --------
    >>> from spelunker.variability.template import flare_area
    >>> round(flare_area(), 4), round(flare_area(0.1), 4)
    (1.827, 1.5501)
    """
    rise = _check_fraction(rise, "rise", "flare_area", closed=True)
    return rise * RISE_AREA + FLARE_AREA - RISE_AREA


def flare_template(x, rise=1.0):
    """Davenport's template at ``x = (t - t_peak) / t_1/2``: 0 before ``x = -1``, 1 at the peak.

    ``rise`` (0 < rise <= 1) shortens the rise to ``rise * t_1/2`` (the
    quartic at ``x / rise``; 1 is Davenport's template): the flare fit of
    `spelunker.variability.flares` frees it, so a flare rising faster than
    the template is timed at its peak.

    Examples
    --------
    >>> from spelunker.variability.template import flare_template
    >>> flare_template([-2.0, 0.0, 1.0]).round(4).tolist()
    [0.0, 1.0, 0.3685]
    >>> flare_template([-0.5, -0.05], rise=0.1).round(4).tolist()
    [0.0, 0.1962]
    """
    x = check_float_array(x, "x", where="flare_template")
    rise = _check_fraction(rise, "rise", "flare_template", closed=True)
    scaled = x / rise
    rise = np.polynomial.polynomial.polyval(scaled, _RISE)
    decay = sum(weight * np.exp(-rate * np.clip(x, 0.0, None)) for weight, rate in _DECAY)
    return np.where(scaled < -1.0, 0.0, np.where(x <= 0.0, rise, decay))


def template_edges(level):
    """Where the template crosses ``level`` (0 < level < 1) on the rise and on the decay (in x).

    Examples
    --------
    >>> from spelunker.variability.template import template_edges
    >>> [round(x, 3) for x in template_edges(0.5)]
    [-0.271, 0.642]
    """
    level = _check_fraction(level, "level", "template_edges", closed=False)
    roots = np.polynomial.polynomial.polyroots((_RISE[0] - level, *_RISE[1:]))
    real = roots[(np.abs(roots.imag) < 1e-9) & (roots.real >= -1.0) & (roots.real <= 0.0)].real
    rise = float(np.max(real)) if real.size else -1.0
    decay = 0.0
    for _ in range(100):   # Newton on the decreasing, convex decay
        value = sum(weight * math.exp(-rate * decay) for weight, rate in _DECAY) - level
        slope = -sum(weight * rate * math.exp(-rate * decay) for weight, rate in _DECAY)
        step = value / slope
        decay -= step
        if abs(step) < 1e-12:
            break
    return rise, decay


#: Rise and decay ``x`` where the template is `FLARE_EDGE` of its peak (-0.908, 12.26).
FLARE_RISE_EDGE, FLARE_DECAY_EDGE = template_edges(FLARE_EDGE)
