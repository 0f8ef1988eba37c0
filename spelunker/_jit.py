"""numba compilation for spelunker's kernels: on first call, cached on disk where it can be.

`njit` is numba's decorator with two differences, so that ``import
spelunker`` is fast and works for every user:

- numba itself is imported, and the functions of a module compiled (or
  loaded from numba's on-disk cache), only when one of them is first
  called: importing a module of kernels costs nothing.
- ``cache=True`` never fails.  numba writes its cache beside the source
  (``__pycache__``), else in the user's cache folder (``~/.cache/numba``),
  else in ``NUMBA_CACHE_DIR`` when set; where none of them can be written (a
  read-only install, no writable home, a container or Dask worker under
  another uid), `use_writable_cache` (run by ``import spelunker``) points
  numba at a private folder of this user under the temporary directory,
  which later processes reuse; if even that cannot be made, the kernels are
  compiled in memory.  Either way one INFO line says so.  Set
  ``NUMBA_CACHE_DIR`` to choose the folder.

This module imports nothing heavy; the kernels live in
`spelunker.fitting._kernels`, `spelunker.science.binning`,
`spelunker.changepoints`, `spelunker.periodogram.zoom` and
`spelunker.variability.detrend`.
"""

import functools
import importlib
import logging
import os
import sys
import tempfile
import threading

__all__ = ["njit", "use_writable_cache"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
#: Module name -> its deferred functions not compiled yet.
_PENDING = {}
_REPORTED = []


def _writable_folder(path):
    """Whether ``path`` is (or can be made) a folder this process can write into."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _private_folder():
    """``<tmp>/spelunker-numba-<uid>``, this user's own (mode 0700), or None."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"spelunker-numba-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    # numba's cache holds pickled code: never use a folder someone else owns or can write.
    if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != uid \
            or info.st_mode & 0o022:
        return None
    return path if _writable_folder(path) else None


def _report(text, *args):
    if not _REPORTED:
        _REPORTED.append(True)
        log.info(text, *args)


def use_writable_cache():
    """Point numba at a writable cache folder when its own would fail; the folder or None.

    Does nothing (returns None) when ``NUMBA_CACHE_DIR`` is set or numba's
    user cache folder (``$XDG_CACHE_HOME/numba``, ``~/.cache/numba``) can be
    written.  Otherwise sets ``NUMBA_CACHE_DIR`` (inherited by child
    processes, such as Dask workers) to this user's private folder under the
    temporary directory, and numba's configuration too if numba is already
    imported, with one INFO line.  Cheap: a few file-system calls.

    Returns
    -------
    str or None
        The folder now used, or None when numba's own choice stands (or no
        folder could be made: the kernels are then compiled in memory).

    Examples
    --------
    >>> from spelunker._jit import use_writable_cache
    >>> folder = use_writable_cache()  # None where ~/.cache/numba is writable
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    if _writable_folder(os.path.join(home_cache, "numba")):
        return None
    folder = _private_folder()
    if folder is None:
        return None
    os.environ["NUMBA_CACHE_DIR"] = folder
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:
        numba_config.CACHE_DIR = folder
    _report("numba cannot write its cache beside the kernels nor in %s: compiled kernels are "
            "cached in %s (set NUMBA_CACHE_DIR to choose the folder)", home_cache, folder)
    return folder


def _compile(numba, function, options):
    """numba's dispatcher of ``function``; in memory when no cache folder can be written."""
    try:
        return numba.njit(**options)(function)
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        if not options.get("cache") or "no locator" not in str(exc):
            raise
    _report("numba has no writable cache folder (set NUMBA_CACHE_DIR to one): spelunker's "
            "kernels are compiled in memory in this process")
    return numba.njit(**{**options, "cache": False})(function)


def _materialize(module_name):
    """Compile every deferred function of ``module_name`` and put them in its namespace."""
    with _LOCK:
        pending = _PENDING.pop(module_name, None)
        if pending is None:
            return
        use_writable_cache()
        # heavy: numba (0.2-0.5 s) is imported on the first call of a kernel, not at import.
        numba = importlib.import_module("numba")
        module = sys.modules[module_name]
        for deferred in pending:
            dispatcher = _compile(numba, deferred.py_func, deferred.options)
            # The kernels call each other by their module's globals: numba must find its own
            # dispatchers there when it compiles them.
            if getattr(module, deferred.__name__, None) is deferred:
                setattr(module, deferred.__name__, dispatcher)
            deferred.dispatcher = dispatcher


class _Deferred:
    """A function compiled by numba on the first call of any function of its module."""

    def __init__(self, function, options):
        self.py_func = function
        self.options = options
        self.dispatcher = None
        functools.update_wrapper(self, function)
        _PENDING.setdefault(function.__module__, []).append(self)

    def _compiled(self):
        if self.dispatcher is None:
            _materialize(self.py_func.__module__)
        return self.dispatcher

    def __call__(self, *args, **kwargs):
        return self._compiled()(*args, **kwargs)

    def __getattr__(self, name):
        # numba's dispatcher attributes (signatures, inspect_types, ...), once compiled.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._compiled(), name)


def njit(function=None, **options):
    """numba's ``njit``, compiled on first call; ``cache=True`` never fails (see the module).

    Parameters
    ----------
    function : callable, optional
        The function (``@njit``); without it, a decorator (``@njit(...)``).
    **options
        numba's options (``cache``, ``nogil``, ``fastmath``, ...).

    Returns
    -------
    callable
        Calls the compiled function; its numba dispatcher replaces it in its
        module's namespace on the first call of any function of the module.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker._jit import njit
    >>> @njit(nogil=True)
    ... def total(values):
    ...     return values.sum()
    >>> float(total(np.arange(4.0)))
    6.0
    """
    if function is None:
        return functools.partial(njit, **options)
    return _Deferred(function, options)
