"""Sphinx configuration for spelunker (builds offline, warnings as errors)."""

import spelunker

project = "spelunker"
author = "spelunker developers"
copyright = "2026, spelunker developers"
version = release = spelunker.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_typehints = "none"
default_role = "obj"
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
