"""spelunker's cache folder: ``$SPELUNKER_CACHE`` or ``~/.cache/spelunker``.

One folder for what spelunker keeps between runs, each kind in a
sub-folder of its own: the sample visit (`spelunker.datasets`), the Guide
Star Catalog replies (`spelunker.archive.catalog`), the FGS SIAF numbers
(`spelunker.instrument`).  Its callers create what they need and treat a
folder they cannot write as a cache miss.

Examples
--------
>>> from spelunker._cache import cache_folder
>>> cache_folder("gsc").name
'gsc'
"""

import os
from pathlib import Path

__all__ = ["CACHE_ENVIRONMENT", "cache_folder"]

#: Environment variable naming spelunker's cache folder.
CACHE_ENVIRONMENT = "SPELUNKER_CACHE"


def cache_folder(name):
    """The sub-folder ``name`` of spelunker's cache folder (not created here).

    Parameters
    ----------
    name : str
        The kind of cached thing (``'gsc'``, ``'siaf'``, ...).

    Returns
    -------
    pathlib.Path
        ``$SPELUNKER_CACHE/<name>`` when the variable is set (``~`` expanded),
        else ``~/.cache/spelunker/<name>``.

    Examples
    --------
    >>> from spelunker._cache import cache_folder
    >>> cache_folder("siaf").name
    'siaf'
    """
    root = os.environ.get(CACHE_ENVIRONMENT)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "spelunker"
    return base / name
