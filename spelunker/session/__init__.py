"""The notebook API: ``spk = spelunker.load(pid=1534)``, a drop-in for the original tool.

A `Spelunker` session holds one `~spelunker.GuideStarModel` and offers the
names of the original notebook tool.  Every computation is the function the
pipeline steps call, run on the session's model, so a notebook and
``strun`` give the same numbers; each method's docstring names that
function.  The session delegates only; its rooms:

- `spelunker.session.core`: `load`, the session's data and the original's
  arrays (``fg_array``, ``fg_time``, ``fg_flux``), ``select``, ``save``;
- `spelunker.session.data`: ``download``, ``readfile``;
- `spelunker.session.analysis`: fits, photometry, periodograms, events,
  flares, dips and variability (``find_flares``, ``flares``, ``dips``,
  ``variability``), science binning;
- `spelunker.session.figures`: figures (``plot_variability`` and the
  time-domain figures too), telemetry, animation, report;
- `spelunker.session.args`: the original tool's argument conventions;
- `spelunker.session.files`: the files the original tool wrote.
"""

from spelunker.session.core import (
    DEFAULT_DIRECTORY,
    FILTER_KEYWORDS,
    ORIGINAL_DIRECTORY,
    Spelunker,
    load,
)

__all__ = ["load", "Spelunker", "DEFAULT_DIRECTORY", "FILTER_KEYWORDS", "ORIGINAL_DIRECTORY"]
