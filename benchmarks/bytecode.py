"""Byte-compile a source tree before it is timed, as an installed package is.

pip compiles an installed package's modules; a source tree on PYTHONPATH
has ``.pyc`` files only once Python has written them, and never where
``PYTHONDONTWRITEBYTECODE`` is set (as on the machines these benchmarks ran
on): every process would compile spelunker's modules from source (0.04-0.08
s per command).  The start-up, pipeline and survey benchmarks compile each
tree they time, the baseline's too, so that both are timed as installed.
"""

import compileall
from pathlib import Path


def compile_tree(tree):
    """Write the ``.pyc`` files of ``<tree>/spelunker`` (quietly; existing ones are kept)."""
    package = Path(tree) / "spelunker"
    if package.is_dir() and not compileall.compile_dir(package, quiet=1):
        raise SystemExit(f"cannot byte-compile {package}")
