"""Access to the archives that hold guide-star data.

`spelunker.archive.mast`: find guide-star products at MAST
(`find_guidestar_products`), download them (`download_products`) and point
astroquery at a mirror (`mast_server`).
"""

from spelunker.archive.mast import (
    download_products,
    find_guidestar_products,
    mast_server,
)
from spelunker.errors import ArchiveError, ArchiveQueryError, AuthenticationError, DownloadError

__all__ = [
    "ArchiveError",
    "ArchiveQueryError",
    "AuthenticationError",
    "DownloadError",
    "download_products",
    "find_guidestar_products",
    "mast_server",
]
