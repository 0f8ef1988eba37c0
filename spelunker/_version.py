"""The installed version of spelunker (one place, importable without the package's API)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("spelunker")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
