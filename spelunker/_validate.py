"""Argument checks shared by the whole package (the one place they are written).

Every check returns the value in its canonical type or raises
`spelunker.errors.ParameterError` (a `ValueError` and a
`~spelunker.errors.SpelunkerError`) whose message names the parameter
(``name``), the value given and what is allowed.  ``where`` (a step or
function name) prefixes the message when given.

The module is private in the manner of photutils' ``_utils``: its functions
are for spelunker's own modules, not for users.
"""

import math
import os
from pathlib import Path

import numpy as np

from spelunker.errors import ParameterError

__all__ = [
    "available_cpus",
    "check_bool",
    "check_choice",
    "check_cpus",
    "check_finite_float",
    "check_float_array",
    "check_frames",
    "check_int_range",
    "check_output_dir",
    "check_output_file",
    "check_path",
    "check_positive_float",
    "check_positive_int",
    "check_table",
    "check_usable",
    "parse_dq_bits",
]


def _fail(where, text):
    msg = f"{where}: {text}" if where else text
    raise ParameterError(msg)


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def check_bool(value, name, *, where=None):
    """Return ``value`` as a bool; it must be True or False (numpy's too).

    Examples
    --------
    >>> from spelunker._validate import check_bool
    >>> check_bool(True, "dashboard")
    True
    >>> check_bool("yes", "dashboard", where="run_survey")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: run_survey: dashboard='yes' must be True or False
    """
    if not _is_bool(value):
        _fail(where, f"{name}={value!r:.60} must be True or False")
    return bool(value)


def check_positive_int(value, name, *, where=None):
    """Return ``value`` as an ``int >= 1``.

    Examples
    --------
    >>> from spelunker._validate import check_positive_int
    >>> check_positive_int(3, "n_peaks")
    3
    """
    if _is_bool(value) or not isinstance(value, (int, np.integer)) or value < 1:
        _fail(where, f"{name}={value!r} must be an integer >= 1")
    return int(value)


def check_int_range(value, name, low, high, *, where=None):
    """Return ``value`` as an int in ``low..high`` (inclusive).

    Examples
    --------
    >>> from spelunker._validate import check_int_range
    >>> check_int_range(8, "max_pixels", 1, 64)
    8
    """
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        _fail(where, f"{name}={value!r} must be an integer between {low} and {high}")
    if not low <= value <= high:
        _fail(where, f"{name}={value!r} must be between {low} and {high}")
    return int(value)


def check_finite_float(value, name, *, minimum=None, where=None):
    """Return ``value`` as a finite float (booleans refused), ``>= minimum`` when given.

    Examples
    --------
    >>> from spelunker._validate import check_finite_float
    >>> check_finite_float(2, "maximum_frequency")
    2.0
    >>> check_finite_float(0, "backoff", minimum=0)
    0.0
    """
    if _is_bool(value):
        _fail(where, f"{name}={value!r} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        _fail(where, f"{name}={value!r} must be a number")
    if not math.isfinite(number):
        _fail(where, f"{name}={value!r} must be finite")
    if minimum is not None and number < minimum:
        _fail(where, f"{name}={value!r} must be >= {minimum:g}")
    return number


def check_float_array(value, name, *, shape=None, needed=None, where=None, keep_float32=False):
    """Return ``value`` (an array-like or a Quantity's value) as a float array.

    Parameters
    ----------
    value : array-like or astropy.units.Quantity
        Numbers (a Quantity gives its value in its own unit).
    name : str
        The argument's name in the message.
    shape : tuple of int, optional
        The shape required.
    needed : str, optional
        What the argument must hold, for the messages (e.g. ``"one value per
        integration"``).
    keep_float32 : bool, optional
        Return a float32 array as it is (e.g. a fit table's column of
        uncertainties, read in place) instead of a float64 copy of it.

    Raises
    ------
    spelunker.errors.ParameterError
        Not numbers, or not of ``shape``.

    Examples
    --------
    >>> from spelunker._validate import check_float_array
    >>> check_float_array([1, 2], "flux", shape=(2,)).tolist()
    [1.0, 2.0]
    >>> check_float_array(["a"], "flux", needed="one value per integration")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: flux must be numbers, one value per integration; got list
    >>> import numpy as np
    >>> errors = np.ones(3, dtype=np.float32)
    >>> check_float_array(errors, "errors", keep_float32=True) is errors
    True
    """
    hint = f", {needed}" if needed else ""
    value = getattr(value, "value", value)
    kept = keep_float32 and isinstance(value, np.ndarray) and value.dtype == np.float32
    try:
        array = value if kept else np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        _fail(where, f"{name} must be numbers{hint}; got {type(value).__name__}")
    if shape is not None and array.shape != tuple(shape):
        _fail(where, f"{name} has shape {array.shape}; {needed or f'shape {tuple(shape)}'} "
                     "is needed")
    return array


def check_positive_float(value, name, *, unit=None, where=None, parse_text=False):
    """Return ``value`` as a finite float > 0.

    Parameters
    ----------
    value : object
        The value given.
    name : str
        Parameter name for the message.
    unit : str, optional
        Unit named in the message (``"seconds"``).
    where : str, optional
        Prefix of the message.
    parse_text : bool, optional
        Accept numbers written as text (``"2.5"``), e.g. from environment
        variables or configuration files.

    Examples
    --------
    >>> from spelunker._validate import check_positive_float
    >>> check_positive_float("2.5", "timeout", unit="seconds", parse_text=True)
    2.5
    """
    what = f"a number of {unit} > 0" if unit else "a finite number > 0"
    number = math.nan
    if not _is_bool(value) and (parse_text or not isinstance(value, (str, bytes))):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    if not (math.isfinite(number) and number > 0):
        _fail(where, f"{name}={value!r} must be {what}")
    return number


def check_choice(value, name, options, *, where=None):
    """Return ``value`` (stripped, lower case) if it is one of ``options``.

    Examples
    --------
    >>> from spelunker._validate import check_choice
    >>> check_choice(" Gauss", "method", ("gauss", "quick"))
    'gauss'
    """
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in options:
        _fail(where, f"{name}={value!r} is not one of {list(options)}")
    return text


def available_cpus():
    """Number of CPUs this process may run on (its affinity mask where there is one).

    Examples
    --------
    >>> from spelunker._validate import available_cpus
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def thread_count(threads, *, most):
    """Threads to start for at most ``most`` tasks at once: ``threads``, None meaning
    `available_cpus`, kept within 1..``most``.

    The one rule of every thread pool of the package; ``threads`` is a
    value already checked (`check_cpus`) or None.

    Examples
    --------
    >>> from spelunker._validate import thread_count
    >>> thread_count(1, most=2), thread_count(8, most=2), thread_count(None, most=1)
    (1, 2, 1)
    """
    return max(1, min(available_cpus() if threads is None else int(threads), most))


def check_cpus(value, *, name="ncpus", where=None, log=None):
    """Return a thread count: ``value`` capped at `available_cpus`, None meaning all.

    Strings of digits are accepted (``"2"``, as a notebook user may type),
    other values must be integers >= 1.  ``log`` (a logger) gets a warning
    when the value is capped.

    Examples
    --------
    >>> from spelunker._validate import available_cpus, check_cpus
    >>> check_cpus(None) == available_cpus()
    True
    """
    available = available_cpus()
    if value is None:
        return available
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    count = check_positive_int(value, name, where=where)
    if count > available:
        if log is not None:
            log.warning("%s%s=%d but only %d CPU(s) are available; using %d",
                        f"{where}: " if where else "", name, count, available, available)
        count = available
    return count


def parse_dq_bits(value, *, name="bad_dq_bits", where=None):
    """Turn a ``bad_dq_bits`` parameter into an integer bit mask.

    Parameters
    ----------
    value : int, str or None
        An integer, or JWST DQ names (`stdatamodels.jwst.datamodels.dqflags`)
        joined by ``+`` or ``,``, optionally preceded by ``~`` (every bit
        except those).  None, ``''`` and ``'0'`` mean no bit.
    name, where : str, optional
        For the message.

    Returns
    -------
    int
        Non-negative 32-bit mask.

    Examples
    --------
    >>> from spelunker._validate import parse_dq_bits
    >>> parse_dq_bits("DO_NOT_USE+SATURATED")
    3
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return 0
    if _is_bool(value):
        _fail(where, f"{name}={value!r}: give an integer or DQ flag names, not a boolean")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            _fail(where, f"{name}={value!r} must be >= 0")
        return int(value) & 0xFFFFFFFF
    # heavy: astropy.nddata and stdatamodels cost ~1 s to import; only DQ names need them
    from astropy.nddata.bitmask import interpret_bit_flags
    from stdatamodels.jwst.datamodels import dqflags

    try:
        mask = interpret_bit_flags(str(value).strip(), flag_name_map=dqflags.pixel)
    except (KeyError, ValueError, TypeError) as exc:
        names = ", ".join(sorted(dqflags.pixel)[:6])
        _fail(where, f"{name}={value!r} is not an integer or a combination of JWST DQ flag "
                     f"names ({names}, ...): {exc}")
    return (0 if mask is None else int(mask)) & 0xFFFFFFFF


def check_path(value, name, *, kind="file", where=None):
    """Return ``value``, a non-empty str or os.PathLike, as an expanded `~pathlib.Path`.

    Nothing is looked at on disk; ``kind`` (``'file'``, ``'folder'``) names
    what is expected in the message.

    Examples
    --------
    >>> from spelunker._validate import check_path
    >>> check_path("~/guidestars", "directory", kind="folder").name
    'guidestars'
    """
    if _is_bool(value) or not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        _fail(where, f"{name}={value!r} must be a {kind} path")
    return Path(value).expanduser()


def check_output_file(value, name, *, suffixes=None, where=None):
    """Return ``value`` as a `~pathlib.Path` a file can be written to, before any work.

    The path must not be a folder, its folder must exist and be writable,
    and (with ``suffixes``) its ending must be one of them.  Nothing is
    created.  ``value`` is a str or os.PathLike; ``suffixes``, if given, the
    allowed endings, lower case with the dot (``(".gif", ".mp4")``).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker._validate import check_output_file
    >>> folder = tempfile.mkdtemp()
    >>> check_output_file(folder + "/movie.gif", "filename", suffixes=(".gif",)).name
    'movie.gif'
    >>> check_output_file(folder, "filename")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: filename=...: is a folder; give a file name
    """
    path = check_path(value, name, kind="file", where=where)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        _fail(where, f"{name}={str(path)!r}: the file must end in one of {list(suffixes)}")
    if path.is_dir():
        _fail(where, f"{name}={str(path)!r}: is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        _fail(where, f"{name}={str(path)!r}: the folder {str(folder)!r} {what}; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        _fail(where, f"{name}={str(path)!r}: the folder {str(folder)!r} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        _fail(where, f"{name}={str(path)!r}: the file exists and is not writable")
    return path


def check_output_dir(value, name, *, create=True, where=None):
    """Return ``value`` (a str or os.PathLike) as the `~pathlib.Path` of a writable folder.

    Checked before any work; with ``create`` (the default) a missing folder
    is created with its parents, else it is an error.

    Examples
    --------
    >>> import os, tempfile
    >>> from spelunker._validate import check_output_dir
    >>> folder = os.path.join(tempfile.mkdtemp(), "report")
    >>> check_output_dir(folder, "directory").is_dir()
    True
    """
    path = check_path(value, name, kind="folder", where=where)
    if path.exists() and not path.is_dir():
        _fail(where, f"{name}={str(path)!r}: is a file, not a folder")
    if not path.exists():
        if not create:
            _fail(where, f"{name}={str(path)!r}: the folder does not exist")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(where, f"{name}={str(path)!r}: the folder cannot be created "
                         f"({exc.strerror or exc})")
    if not os.access(path, os.W_OK | os.X_OK):
        _fail(where, f"{name}={str(path)!r}: the folder is not writable")
    return path


def check_table(value, name, *, where=None):
    """Return ``value`` if it is an `astropy.table.Table` (a QTable or TimeSeries too).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from spelunker._validate import check_table
    >>> len(check_table(QTable({"a": [1, 2]}), "table"))
    2
    >>> check_table(5, "table", where="write_table")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: write_table: table=5 must be an astropy Table
    """
    from astropy.table import Table  # heavy: ~0.2 s to import; only this check needs it

    if not isinstance(value, Table):
        _fail(where, f"{name}={value!r:.60} must be an astropy Table")
    return value


def check_frames(value, name, *, shape, where=None):
    """Return ``value`` as frames of ``shape``: a float array ``(n, *shape)`` (one frame -> n=1).

    ``shape`` is the frame's (rows, columns): `spelunker.instrument.FRAME_SHAPE`
    for FGS frames (this module stays below the instrument's).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker._validate import check_frames
    >>> check_frames(np.zeros((8, 8)), "fg_array", shape=(8, 8)).shape
    (1, 8, 8)
    >>> check_frames(np.zeros((3, 4)), "fg_array", shape=(8, 8))
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: fg_array of shape (3, 4) is not frames (n, 8, 8)
    """
    expected = "(n, " + ", ".join(str(size) for size in shape) + ")"
    try:
        frames = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        _fail(where, f"{name} must be frames {expected} of numbers; got {type(value).__name__}")
    if frames.ndim == len(shape):
        frames = frames[np.newaxis]
    if frames.shape[1:] != tuple(shape) or not len(frames):
        _fail(where, f"{name} of shape {np.shape(value)} is not frames {expected}")
    return frames


def check_usable(value, series, shape, *, name="usable", where=None):
    """Return ``value`` (a mapping of series name to booleans) as a dict of boolean arrays.

    The samples of each named series that may be used: a caller reading a
    table's column in place passes its flagged rows here instead of
    writing NaN into a copy.  ``series`` are the names allowed, ``shape``
    the samples' shape.  None gives ``{}`` (every sample of every series).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker._validate import check_usable
    >>> check_usable({"x": [True, False]}, ["x", "y"], (2,))["x"].tolist()
    [True, False]
    >>> check_usable({"z": [True, False]}, ["x", "y"], (2,))
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: usable names 'z', which is not one of the series ['x', 'y']
    """
    if value is None:
        return {}
    if not hasattr(value, "items"):
        _fail(where, f"{name} must be a mapping of series name to booleans, not "
                     f"{type(value).__name__}")
    checked = {}
    for key, flags in value.items():
        if key not in series:
            _fail(where, f"{name} names {key!r}, which is not one of the series {list(series)}")
        flags = np.asarray(flags)
        if flags.dtype != bool or flags.shape != tuple(shape):
            _fail(where, f"{name}[{key!r}] must be booleans of the times' shape "
                         f"{tuple(shape)}; got {flags.dtype} of shape {flags.shape}")
        checked[key] = flags
    return checked
