"""Write a file or a folder so that it appears whole or not at all.

Every save in spelunker (products, tables, downloads, caches, synthetic
files, survey products) goes through this module: the content is written to
a temporary name beside the destination, in the same folder and so on the
same file system, and renamed onto the destination only when the writer
returned without an error.  A crash, a ``KeyboardInterrupt`` or a killed
process leaves at most a temporary entry whose name starts with
`TEMPORARY_PREFIX`; `remove_stale_temporaries` deletes those left by an
earlier run.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from spelunker.atomic import atomic_file
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_file(folder / "table.ecsv") as temporary:
...     _ = temporary.write_text("# %ECSV 1.0\\n")
>>> sorted(p.name for p in folder.iterdir())
['table.ecsv']
"""

import contextlib
import logging
import os
import secrets
import shutil

from spelunker._validate import check_path
from spelunker.errors import ParameterError

__all__ = [
    "TEMPORARY_PREFIX",
    "atomic_file",
    "atomic_folder",
    "is_temporary",
    "remove_stale_temporaries",
]

log = logging.getLogger(__name__)

#: Every temporary file or folder written by spelunker starts with this.
TEMPORARY_PREFIX = ".spelunker-partial-"


def is_temporary(path):
    """Whether ``path`` names a temporary entry of this module.

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder name; nothing is looked at on disk.

    Raises
    ------
    spelunker.errors.ParameterError
        ``path`` is not a path.

    Examples
    --------
    >>> is_temporary(".spelunker-partial-1f2e3d4c-visit.fits")
    True
    >>> is_temporary("visit.fits")
    False
    """
    return check_path(path, "path", where="is_temporary").name.startswith(TEMPORARY_PREFIX)


def _temporary_name(destination):
    return f"{TEMPORARY_PREFIX}{secrets.token_hex(4)}-{destination.name}"


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _check_destination(destination, *, overwrite, folder):
    if not destination.parent.is_dir():
        msg = f"{destination}: the folder {destination.parent} does not exist"
        raise ParameterError(msg)
    if destination.exists() or destination.is_symlink():
        if not overwrite:
            msg = f"{destination} exists; pass overwrite=True to replace it"
            raise ParameterError(msg)
        if folder != destination.is_dir():
            kind, other = ("a folder", "a file") if destination.is_dir() else ("a file", "a folder")
            msg = f"{destination} is {kind}; it cannot be replaced by {other}"
            raise ParameterError(msg)


@contextlib.contextmanager
def atomic_file(path, *, overwrite=True, keep_name=False):
    """Write a file to a temporary name, then rename it onto ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination.  Its folder must exist.
    overwrite : bool, optional
        Replace an existing file at ``path`` (default).  If False, an
        existing file is a `~spelunker.errors.ParameterError` raised before
        anything is written.
    keep_name : bool, optional
        Yield ``<temporary folder>/<name of path>`` instead of a temporary
        file name, for writers that record their own file name (a datamodel
        keeps it in ``meta.filename``).

    Yields
    ------
    pathlib.Path
        Where to write.  It ends with the destination's name, so writers
        that choose a format by suffix see the destination's suffix.

    Raises
    ------
    spelunker.errors.ParameterError
        ``path`` is not a path, the folder does not exist, or ``path``
        exists and ``overwrite`` is False, or ``path`` is a folder.

    Notes
    -----
    If the block raises, or writes nothing, the temporary entry is removed
    and ``path`` is left as it was.
    """
    destination = check_path(path, "path", where="atomic_file")
    _check_destination(destination, overwrite=overwrite, folder=False)
    temporary = destination.parent / _temporary_name(destination)
    if keep_name:
        temporary.mkdir()
        written = temporary / destination.name
    else:
        written = temporary
    try:
        yield written
        if not written.exists():
            msg = f"{destination}: the writer wrote nothing"
            raise ParameterError(msg)
        os.replace(written, destination)
    finally:
        _remove(temporary)


@contextlib.contextmanager
def atomic_folder(path, *, overwrite=False):
    """Fill a temporary folder, then rename it onto ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination folder.  Its parent must exist.
    overwrite : bool, optional
        Replace an existing folder at ``path``: the old folder is moved to a
        temporary name, the new one renamed in, then the old one removed.

    Yields
    ------
    pathlib.Path
        The temporary folder to fill.

    Raises
    ------
    spelunker.errors.ParameterError
        ``path`` is not a path, the parent does not exist, or ``path``
        exists and ``overwrite`` is False, or ``path`` is a file.
    """
    destination = check_path(path, "path", kind="folder", where="atomic_folder")
    _check_destination(destination, overwrite=overwrite, folder=True)
    temporary = destination.parent / _temporary_name(destination)
    temporary.mkdir()
    old = None
    try:
        yield temporary
        if destination.exists():
            old = destination.parent / _temporary_name(destination)
            os.replace(destination, old)
        os.replace(temporary, destination)
    finally:
        _remove(temporary)
        if old is not None:
            _remove(old)


def remove_stale_temporaries(folder):
    """Remove the temporary entries an interrupted write left in ``folder``.

    Call it before a run starts writing into ``folder`` (never while another
    process writes there).

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    list of pathlib.Path
        The entries removed (none if ``folder`` does not exist).

    Raises
    ------
    spelunker.errors.ParameterError
        ``folder`` is not a path.
    """
    folder = check_path(folder, "folder", kind="folder", where="remove_stale_temporaries")
    if not folder.is_dir():
        return []
    removed = [entry for entry in folder.iterdir() if is_temporary(entry)]
    for entry in removed:
        _remove(entry)
        log.info("removed %s, left by an interrupted run", entry)
    return removed
