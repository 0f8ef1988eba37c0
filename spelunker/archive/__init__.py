"""Access to the archives that hold guide-star data.

- `spelunker.archive.mast`: find guide-star products at MAST
  (`find_guidestar_products`) and point astroquery at a mirror
  (`mast_server`);
- `spelunker.archive.download`: download them (`download_products`);
- `spelunker.archive.tokens`: the MAST API token (`~spelunker.archive.tokens.resolve_token`,
  masking in messages and logs);
- `spelunker.archive.catalog`: the Guide Star Catalog;
- `spelunker.archive.engdb`: the engineering database (telemetry).

The errors are those of `spelunker.errors`.
"""

from spelunker.archive.download import download_products
from spelunker.archive.mast import find_guidestar_products, mast_server
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
