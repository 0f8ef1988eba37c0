"""asdf entry point: makes spelunker's schemas known to asdf."""

import importlib.resources

from asdf.resource import DirectoryResourceMapping

__all__ = ["get_resource_mappings", "SCHEMA_URI_PREFIX"]

#: URI prefix of every spelunker schema.
SCHEMA_URI_PREFIX = "http://spelunker.readthedocs.io/schemas/"


def get_resource_mappings():
    """Return the resource mapping of spelunker's schema directory.

    Registered with the ``asdf.resource_mappings`` entry point in
    ``pyproject.toml``.

    Returns
    -------
    list of asdf.resource.DirectoryResourceMapping
    """
    root = importlib.resources.files("spelunker.datamodels") / "schemas"
    return [DirectoryResourceMapping(root, SCHEMA_URI_PREFIX)]
