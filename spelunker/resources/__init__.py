"""Data files shipped with spelunker: the ASDF parameter files of its steps and pipeline.

No code lives here.  ``parameters/*.asdf`` are the defaults of each step
(``spelunker_fit.asdf``, ``spelunker_photometry.asdf``, ...) and of the
pipeline (``spelunker_pipeline.asdf``, the quick-look
``spelunker_pipeline_quicklook.asdf``); `spelunker.stpipe.parameter_file`
gives their paths (``strun <path> <input>``).
"""

__all__ = []
