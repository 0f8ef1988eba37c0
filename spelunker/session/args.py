"""The original notebook tool's argument conventions, as `spelunker.session` reads them.

The original's defaults (the string ``'None'``, the ``./spelunker_outputs``
folder), its file filters of ``load``, its ``calib_level``, a program ID
given where a file was expected, and its habit of drawing on the current
pyplot Axes.  Argument plumbing only: every computation is the function
a session method names in its docstring.
"""

import logging
import os
import sys
from pathlib import Path

import numpy as np

from spelunker.errors import ParameterError
from spelunker.times import as_utc_time

__all__ = [
    "DEFAULT_DIRECTORY",
    "FILTER_KEYWORDS",
    "ORIGINAL_DIRECTORY",
    "calib_level",
    "current_axes",
    "default_directory",
    "detached_figure",
    "file_filters",
    "given",
    "interactive",
    "is_program",
    "mjd_list",
]

log = logging.getLogger(__name__)

#: Where `spelunker.load` downloads products when no ``dir`` is given (as the original tool).
DEFAULT_DIRECTORY = "spelunker_results"

#: The original tool's download folder (``./spelunker_outputs``), used when it exists and
#: `DEFAULT_DIRECTORY` does not.
ORIGINAL_DIRECTORY = "spelunker_outputs"

#: The original tool's filter keywords of `spelunker.load` and `Spelunker.download`, and
#: the `spelunker.filetable.fg_table` column each one filters on.
FILTER_KEYWORDS = {
    "visit_group": "visit_group",
    "parallel_sequence_id": "parallel_sequence",
    "activity_number": "activity",
    "exposure_number": "exposure",
    "dir_seg": "segment",
    "guider": "detector",
}


def default_directory():
    """``./spelunker_results``, or the original tool's ``./spelunker_outputs`` if only it exists."""
    if not os.path.isdir(DEFAULT_DIRECTORY) and os.path.isdir(ORIGINAL_DIRECTORY):
        log.info("using the original tool's download folder %s (no %s here)",
                 ORIGINAL_DIRECTORY, DEFAULT_DIRECTORY)
        return Path(ORIGINAL_DIRECTORY)
    return Path(DEFAULT_DIRECTORY)


def given(value):
    """Whether an argument was given: the original tool's default was the string 'None'.

    Examples
    --------
    >>> from spelunker.session.args import given
    >>> given("None"), given(None), given(0)
    (False, False, True)
    """
    return value is not None and not (isinstance(value, str) and value.strip() == "None")


def interactive():
    """Whether Python runs interactively (Jupyter/IPython kernel, a REPL or a terminal)."""
    if "ipykernel" in sys.modules or hasattr(sys, "ps1"):
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def calib_level(value):
    """The original's ``calib_level``: 2 (calibrated) or 1 (uncalibrated), also as text.

    Examples
    --------
    >>> from spelunker.session.args import calib_level
    >>> calib_level("1"), calib_level(2)
    (1, 2)
    """
    if isinstance(value, str) and value.strip() in ("1", "2"):
        value = int(value)
    if value not in (1, 2):
        msg = f"calib_level={value!r} must be 2 (calibrated) or 1 (uncalibrated)"
        raise ParameterError(msg)
    return value


def is_program(value):
    """Whether a ``readfile`` argument names a program (an integer, or digits naming no path).

    Only which kind of argument it is: the number itself is read by
    `spelunker.names.id_number`.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and value.strip().isdigit() and not os.path.exists(value)


def file_filters(**values):
    """The original tool's file filters given, as ``{fg_table column: value}``.

    The keywords are those of `FILTER_KEYWORDS`; the result is what
    `spelunker.GuideStarModel.select_files` takes.

    Examples
    --------
    >>> from spelunker.session.args import file_filters
    >>> file_filters(dir_seg="2", guider="guider1", visit_group="None")
    {'segment': 2, 'detector': 'GUIDER1'}
    """
    filters = {}
    for keyword, value in values.items():
        if not given(value):
            continue
        column = FILTER_KEYWORDS[keyword]
        text = str(value).strip().upper()
        if keyword == "guider" and text.startswith("GUIDER"):
            text = text[len("GUIDER"):]
        if not text.isdigit():
            msg = f"{keyword}={value!r} must be a number (or digits)"
            raise ParameterError(msg)
        filters[column] = f"GUIDER{int(text)}" if keyword == "guider" else int(text)
    return filters


def mjd_list(times):
    """MJD (UTC) floats of a time column, as the original's ``(times, values)`` tuples.

    The times are read by `spelunker.times.as_utc_time`.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from spelunker.session.args import mjd_list
    >>> mjd_list(Time(["2023-01-01T00:00:00"], scale="utc")), mjd_list([])
    ([59945.0], [])
    """
    return [float(x) for x in np.atleast_1d(as_utc_time(times, name="times").mjd)]


def detached_figure():
    """A figure outside pyplot (saved, never shown)."""
    from matplotlib.figure import Figure  # matplotlib loads only when a figure is drawn

    return Figure(figsize=(11, 10), layout="constrained")


def current_axes(ax):
    """As the original notebook tool: draw on the current pyplot Axes unless told otherwise."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot loads only when a figure is drawn

    return plt.gca()
