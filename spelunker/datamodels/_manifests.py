"""asdf's extension manifests parsed with libyaml: 0.3 s less at the first model of a process.

The first `GuideStarModel` of a process (or the first ASDF file it opens:
a parameter file, a product) makes asdf load every installed extension,
and asdf parses each extension's manifest (about 50 of them: asdf-astropy,
stdatamodels, gwcs, the transform and coordinate schemas) with
``yaml.safe_load``, PyYAML's pure-Python parser: 0.5-0.6 s of CPU, in the
read stage of every pipeline run and in every survey worker.  asdf reads
its trees and schemas with libyaml's ``yaml.CSafeLoader`` when PyYAML has
it; only the manifests are not.  `use_libyaml_for_manifests` gives asdf's
manifest module a ``yaml`` whose ``safe_load`` is that loader: the same
documents, parsed by the C scanner and built by the same safe constructor
into the same objects (tested), in half the time.  When PyYAML has no
libyaml, or asdf no longer parses its manifests this way, nothing is
changed.
"""

import importlib
import logging

import yaml

__all__ = ["use_libyaml_for_manifests"]

log = logging.getLogger(__name__)

#: asdf's module that parses the manifests with ``yaml.safe_load`` (asdf 3 to 5).
_MANIFEST_MODULE = "asdf.extension._manifest"


class _LibyamlSafe:
    """PyYAML, with ``safe_load`` by libyaml (`yaml.CSafeLoader`); every other name is PyYAML's."""

    @staticmethod
    def safe_load(stream):
        return yaml.load(stream, Loader=yaml.CSafeLoader)  # the safe loader, in C

    def __getattr__(self, name):
        return getattr(yaml, name)


def use_libyaml_for_manifests():
    """Have asdf parse its extension manifests with libyaml; whether it now does.

    Idempotent.  Does nothing (returns False) when PyYAML was built
    without libyaml or asdf's manifest module no longer reads them with
    ``yaml.safe_load``.

    Returns
    -------
    bool
        True when asdf's manifests are parsed by `yaml.CSafeLoader`.

    Examples
    --------
    >>> from spelunker.datamodels._manifests import use_libyaml_for_manifests
    >>> import yaml
    >>> use_libyaml_for_manifests() == bool(yaml.__with_libyaml__)
    True
    """
    try:
        module = importlib.import_module(_MANIFEST_MODULE)
    except ImportError:  # another asdf layout: its own parser stays
        return False
    current = getattr(module, "yaml", None)
    if isinstance(current, _LibyamlSafe):
        return True
    if current is not yaml or not getattr(yaml, "__with_libyaml__", False):
        log.debug("asdf's manifests keep their parser (%s has no yaml.safe_load to replace, "
                  "or PyYAML has no libyaml)", _MANIFEST_MODULE)
        return False
    module.yaml = _LibyamlSafe()
    return True
