"""Packages whose public names are imported on first use (PEP 562).

``import spelunker`` and ``import spelunker.plotting`` load none of their
submodules: each public name is imported from the submodule that owns it
when it is first used, so a command's ``--help`` or the pipeline's log
summary pays only for what it touches (issue 23).
"""

import importlib
import importlib.util
import sys

__all__ = ["lazy_exports"]


def lazy_exports(package, owners, public):
    """``__getattr__`` and ``__dir__`` for ``package``: names imported from ``owners`` on use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    owners : dict of str to str
        Public name -> the module that owns it.
    public : list of str
        The package's ``__all__``.

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)``, to be bound at the package's top level.
        A name is cached in the package once imported; a submodule is
        returned as an eager import would have exposed it; anything else is
        an `AttributeError` (Python's protocol for a missing attribute).

    Examples
    --------
    >>> from spelunker._lazy import lazy_exports
    >>> getattr_, dir_ = lazy_exports("spelunker", {"ParameterError": "spelunker.errors"}, [])
    >>> getattr_("ParameterError").__name__
    'ParameterError'
    """
    def __getattr__(name):
        owner = owners.get(name)
        if owner is not None:
            value = getattr(importlib.import_module(owner), name)
            setattr(sys.modules[package], name, value)
            return value
        if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
