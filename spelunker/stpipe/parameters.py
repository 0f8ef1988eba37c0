"""The ASDF parameter files shipped with spelunker."""

import importlib.resources

from spelunker.errors import ParameterError

__all__ = ["parameter_file", "PARAMETER_FILES"]

#: Shipped parameter files: profile name -> file name in spelunker/resources/parameters.
PARAMETER_FILES = {
    "pipeline": "spelunker_pipeline.asdf",
    "quicklook": "spelunker_pipeline_quicklook.asdf",
    "fit": "spelunker_fit.asdf",
    "photometry": "spelunker_photometry.asdf",
    "periodogram": "spelunker_periodogram.asdf",
    "events": "spelunker_events.asdf",
    "variability": "spelunker_variability.asdf",
}


def parameter_file(profile="pipeline"):
    """Path of a shipped ASDF parameter file.

    Parameters
    ----------
    profile : str
        ``"pipeline"`` (GuideStarPipeline defaults: 2-D Gaussian fit),
        ``"quicklook"`` (GuideStarPipeline with the moments fit), or one
        step's defaults: ``"fit"``, ``"photometry"``, ``"periodogram"``,
        ``"events"``, ``"variability"``.

    Returns
    -------
    str
        A path usable as ``strun <path> <input>`` or
        ``Step.from_config_file(path)``.

    Examples
    --------
    >>> from spelunker.stpipe import parameter_file
    >>> parameter_file("quicklook").endswith("spelunker_pipeline_quicklook.asdf")
    True
    """
    if not isinstance(profile, str) or profile not in PARAMETER_FILES:
        msg = f"profile={profile!r} is not one of {sorted(PARAMETER_FILES)}"
        raise ParameterError(msg)
    root = importlib.resources.files("spelunker.resources") / "parameters"
    return str(root / PARAMETER_FILES[profile])
