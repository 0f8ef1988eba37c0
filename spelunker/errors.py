"""Every exception (and warning) spelunker raises, in one place.

Every error spelunker raises about its input, its parameters or the
services it talks to is a `SpelunkerError`, so callers can catch the whole
family; the subclasses say what kind of problem it was.  Messages always
name the file (or parameter, or service) and the problem.  The hierarchy::

    SpelunkerError
    +-- ParameterError (also ValueError)       a bad argument or step parameter
    |   +-- StepParameterError                 a step parameter refused by its spec
    |                                          (also stpipe's ValidationError)
    +-- GuideStarInputError (also ValueError)  an input that is not usable guide-star data
    |   +-- WrongProductError                  another product type, level or shape
    |   +-- CorruptFileError                   not FITS/ASDF, truncated, damaged
    |   +-- MissingKeywordError                a header keyword the reader needs
    |   +-- EmptySelectionError                a path, glob or folder selecting nothing
    |   +-- InconsistentVisitError             segments that cannot be stitched
    +-- ArchiveError                           a service could not give what was asked
        +-- ArchiveQueryError                  a MAST query failed or found nothing
        +-- AuthenticationError                MAST rejected the token
        +-- DownloadError                      products could not be downloaded
        +-- CatalogError                       the Guide Star Catalog gave no row
        +-- EngdbError                         the engineering database failed
        +-- SkyImageError                      the sky-image service gave no image
    +-- SurveyError                            a survey cannot start (nothing to run,
    |                                          output or scheduler unusable)
    +-- ScienceInputError (also ValueError)    a science product or set of integration
                                               times that cannot be used

Warnings: `CatalogFallbackWarning` (header values used where the catalog
had none), `OrientationAssumedWarning` (a sky figure drawn without PA_V3).
"""


__all__ = [
    "SpelunkerError",
    "ParameterError",
    "StepParameterError",  # noqa: F822 (made on first use, by the module's __getattr__)
    "GuideStarInputError",
    "WrongProductError",
    "CorruptFileError",
    "MissingKeywordError",
    "EmptySelectionError",
    "InconsistentVisitError",
    "ArchiveError",
    "ArchiveQueryError",
    "AuthenticationError",
    "DownloadError",
    "CatalogError",
    "EngdbError",
    "SkyImageError",
    "SurveyError",
    "ScienceInputError",
    "CatalogFallbackWarning",
    "OrientationAssumedWarning",
]


class SpelunkerError(Exception):
    """Base class of every error spelunker raises about its input."""


class ParameterError(SpelunkerError, ValueError):
    """A parameter of a function, step or session method has an unusable value.

    The message names the parameter, the value given and what is allowed.
    It is a `ValueError` too, so code written for the standard exception
    keeps working.
    """


def _step_parameter_error():
    """Make `StepParameterError`, a subclass of stpipe's ``ValidationError``.

    Made on first use (module ``__getattr__``): importing stpipe costs about
    0.5 s, which a command's ``--help`` and every other error need not pay.
    """
    from stpipe.exceptions import ValidationError  # heavy: stpipe costs ~0.5 s to import

    class StepParameterError(ParameterError, ValidationError):
        """A step or pipeline parameter that its ``spec`` refuses.

        Raised by every spelunker step and pipeline (``Step.call``, ``strun``,
        ``Step(...)``) instead of stpipe's bare spec error.  The message names
        the step, the parameter, the value given and the allowed values or
        range.  It is a `ParameterError` (catch that), and also stpipe's
        ``ValidationError``, so code and ``strun`` written for stpipe keep
        working.
        """

    StepParameterError.__module__ = __name__
    StepParameterError.__qualname__ = "StepParameterError"
    return StepParameterError


def __getattr__(name):
    if name == "StepParameterError":
        globals()[name] = error = _step_parameter_error()
        return error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class ArchiveError(SpelunkerError):
    """An archive service could not give what was asked for."""


class ArchiveQueryError(ArchiveError):
    """A MAST query failed or found no product.

    Attributes
    ----------
    reason : str
        ``'unreachable'`` (no answer: connection refused, name resolution,
        timeout), ``'http'`` (an error status), ``'bad_reply'`` (not the
        service's reply), ``'service'`` (the service reported an error) or
        ``'not_found'`` (no product for the selection).
    """

    def __init__(self, message, *, reason="service"):
        super().__init__(message)
        self.reason = reason


class AuthenticationError(ArchiveError):
    """MAST rejected the API token (the message never contains the token)."""


class DownloadError(ArchiveError):
    """Products could not be downloaded.

    Attributes
    ----------
    failures : dict
        File name -> reason, for every product that failed.
    paths : list of pathlib.Path
        The products that are complete on disk (downloaded or cached).
    """

    def __init__(self, message, *, failures=None, paths=None):
        super().__init__(message)
        self.failures = dict(failures or {})
        self.paths = list(paths or [])


class CatalogError(ArchiveError):
    """The Guide Star Catalog could not give a row for a guide star.

    Attributes
    ----------
    gs_id : str or None
        The guide-star id asked for.
    reason : str
        ``'timeout'``, ``'connection'``, ``'http'``, ``'empty'`` (empty
        reply), ``'no_row'`` (no row for that id) or ``'bad_reply'``.
    url : str or None
        The service queried.
    """

    def __init__(self, message, *, gs_id=None, reason="bad_reply", url=None):
        super().__init__(message)
        self.gs_id = gs_id
        self.reason = reason
        self.url = url


class EngdbError(ArchiveError):
    """The engineering database cannot be used.

    The message says what is missing or wrong: the MAST token (absent or
    rejected), the server (unreachable, or not answering like MAST), the
    mnemonic (unknown) or the reply (not the MAST CSV).  Local plots and
    `spelunker.events` do not need the database.
    """


class SkyImageError(ArchiveError):
    """The sky-image service (hips2fits) gave no image for `spelunker.plotting.sky`.

    Attributes
    ----------
    reason : str
        ``'timeout'``, ``'connection'`` (unreachable), ``'http'`` (an error
        status) or ``'bad_reply'`` (not a FITS image).
    url : str
        The service queried.
    """

    def __init__(self, message, *, reason="bad_reply", url=None):
        super().__init__(message)
        self.reason = reason
        self.url = url


class SurveyError(SpelunkerError):
    """A survey (`spelunker.survey.run_survey`) cannot run.

    Raised before any visit runs (and before any folder is created), e.g.
    for an input folder that is not a folder or holds no selected
    fine-guide product, or a Dask scheduler that does not answer.  A visit that fails
    during a survey does not raise: its row in the survey table has
    ``status='error'`` and the reason.
    """


class ScienceInputError(SpelunkerError, ValueError):
    """A science product or set of integration times that cannot be used.

    Raised for a science product without an ``INT_TIMES`` table (or with
    times that are not finite or not increasing), for integrations whose end
    is not after their start, and for barycentric times asked without the
    target direction or JWST's position.
    """


class CatalogFallbackWarning(UserWarning):
    """Catalog values were unavailable; header values were used instead."""


class OrientationAssumedWarning(UserWarning):
    """No PA_V3 was given or found: the FGS aperture is drawn at an assumed orientation."""
