"""Entry point of spelunker's steps for stpipe (``strun``, ``stpipe list``)."""

__all__ = ["get_steps"]


def get_steps():
    """Return the stpipe Step and Pipeline classes this package provides.

    Registered as the ``spelunker`` entry point of the ``stpipe.steps``
    group in ``pyproject.toml``.  stpipe only warns when an entry is wrong,
    so ``tests/test_stpipe.py`` checks this list against the classes.
    Nothing is imported here, to keep ``strun`` and ``stpipe list`` fast.

    Returns
    -------
    list of tuple (str, str, bool)
        Fully qualified class name, alias (prefixed ``spelunker_``:
        aliases are global across installed packages) and whether the
        class is a Pipeline.
    """
    return [
        ("spelunker.stpipe.GuideStarFitStep", "spelunker_fit", False),
        ("spelunker.stpipe.PhotometryOptimizeStep", "spelunker_photometry", False),
        ("spelunker.stpipe.PeriodogramStep", "spelunker_periodogram", False),
        ("spelunker.stpipe.GuideStarEventStep", "spelunker_events", False),
        ("spelunker.stpipe.GuideStarVariabilityStep", "spelunker_variability", False),
        ("spelunker.stpipe.GuideStarPipeline", "spelunker_pipeline", True),
    ]
