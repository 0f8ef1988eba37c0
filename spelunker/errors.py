"""Exceptions raised by spelunker.

Every error about unusable input is a `SpelunkerError`, so callers can catch
the whole family; the subclasses say what kind of problem it was.  Messages
always name the file (or parameter) and the problem.
"""

__all__ = [
    "SpelunkerError",
    "GuideStarInputError",
    "WrongProductError",
    "CorruptFileError",
    "MissingKeywordError",
    "EmptySelectionError",
    "InconsistentVisitError",
]


class SpelunkerError(Exception):
    """Base class of every error spelunker raises about its input."""


class GuideStarInputError(SpelunkerError, ValueError):
    """An input cannot be used as guide-star data."""


class WrongProductError(GuideStarInputError):
    """The file is a readable JWST product, but not a calibrated fine-guide one.

    Raised for other EXP_TYPEs (ACQ1, ACQ2, TRACK, ID-IMAGE, ID-STACK), for
    uncalibrated products, and for science arrays of the wrong shape.
    """


class CorruptFileError(GuideStarInputError):
    """The file cannot be read: it is not FITS, is truncated, or is damaged."""


class MissingKeywordError(GuideStarInputError):
    """A header keyword that the reader needs is absent or unusable."""


class EmptySelectionError(GuideStarInputError):
    """The paths, glob, directory or association selected no product."""


class InconsistentVisitError(GuideStarInputError):
    """The selected products cannot be stitched into one series.

    Raised for overlapping segments and for mixed detectors within one
    guide-star interval.
    """
