"""spelunker: JWST Fine Guidance Sensor guide-star data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spelunker")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
