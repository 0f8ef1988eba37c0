"""Quality flags of the per-frame fits.

A fit is *clean* when its flags are 0: every parameter is then finite, and
so is every uncertainty of the 2-D Gaussian fit (the moments "quick" fit
gives uncertainties for the centre and background only; the others are
NaN).  Any set bit means the row should not be trusted blindly (its values
may be NaN).  The quick fit cannot see cosmic rays (it never sets
CHI2_OUTLIER); use the Gaussian fit where that matters.  The bits are
stored as ``uint32`` in result tables.
"""

import enum

import numpy as np

from spelunker.errors import ParameterError

__all__ = ["FitFlag"]


class FitFlag(enum.IntFlag):
    """Bitmask describing problems with one frame's fit (0 = clean fit).

    Examples
    --------
    >>> from spelunker.fitting import FitFlag
    >>> flags = FitFlag.EDGE | FitFlag.AT_BOUND
    >>> int(flags)
    12
    >>> FitFlag.EDGE in FitFlag(12)
    True
    >>> [f.name for f in FitFlag(12)]
    ['AT_BOUND', 'EDGE']
    >>> FitFlag("EDGE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: FitFlag('EDGE'): ... a flag by name is FitFlag['EDGE']
    """

    #: The fit ended away from a verified optimum: the optimiser stopped
    #: (``max_iterations`` reached, then also ITERATION_CAP, or no step could
    #: reduce chi-square) before meeting its convergence criterion, and the
    #: projected scaled gradient at the final point is not negligible
    #: either.
    NOT_CONVERGED = 1
    #: Fewer than 10 usable pixels, or fewer pixels than parameters + 1
    #: (degrees of freedom < 1).  Parameters are NaN.
    TOO_FEW_PIXELS = 2
    #: A parameter ended on one of its bounds (centre at the edge of its
    #: allowed range, width at 0.2 or 4 px, amplitude at 0).
    AT_BOUND = 4
    #: The centre lies within 1 px of the frame's outer edge, or outside it.
    EDGE = 8
    #: Chi-square is improbably high for its degrees of freedom
    #: (p-value below ``chi2_pvalue``): cosmic ray, second star or a frame
    #: that is not a star.  Only tested when uncertainties are given.
    CHI2_OUTLIER = 16
    #: A parameter, uncertainty or chi-square is not finite.
    NONFINITE = 32
    #: The normal matrix J^T W J is singular at the optimum: uncertainties
    #: are NaN.
    SINGULAR = 64
    #: No significant star: flat, empty or negative frame, zero amplitude,
    #: or a flux (2 pi A sx sy, or the background-subtracted sum for the
    #: moments fit) below 5 times its uncertainty.
    NO_SIGNAL = 128
    #: The optimiser used all ``max_iterations`` steps without meeting its
    #: convergence criterion (``iterations == max_iterations``).  Set
    #: whatever the final point looks like: NOT_CONVERGED is added only
    #: when that point also fails the projected-gradient test, so
    #: ITERATION_CAP alone means "stopped by the cap at an apparent
    #: optimum" and ITERATION_CAP | NOT_CONVERGED "stopped short".  Either
    #: way the row is not clean; raise ``max_iterations`` if it is common.
    ITERATION_CAP = 256

    @classmethod
    def _missing_(cls, value):
        """Bit masks that combine flags; else a ParameterError (a ValueError)."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return super()._missing_(int(value))
        hint = f"; a flag by name is FitFlag[{value!r}]" if isinstance(value, str) else ""
        msg = f"FitFlag({value!r:.40}): flags are integers (bit masks){hint}"
        raise ParameterError(msg)
