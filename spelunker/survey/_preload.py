"""Warm the survey workers' fork server: load once what a visit loads on first use.

multiprocessing's fork server imports its preload modules by name and
calls nothing, so `spelunker.survey.workers.start_fork_server` lists this
module and starts the server with ``SPELUNKER_SURVEY_WARM=1``; imported
there, it imports the pipeline (`spelunker.survey.execution`) and runs
`warm_up`: the ASDF extensions (read with the quick-look parameter file)
and the FGS SIAF numbers (from spelunker's cache, or pysiaf the first
time, see `spelunker.instrument`); with numba, imported here too, loaded
once for every worker forked after (the kernels themselves load from
numba's cache on their first call).
Imported anywhere else (the variable unset, e.g. by the doctest
collection) it only imports.  Nothing here starts a thread: the fork
server must have only one when it forks.
"""

import logging
import os

import asdf
import numba  # noqa: F401 - the kernels' compiler (0.3 s), imported once for all workers

import spelunker.survey.execution  # noqa: F401 - the pipeline, imported once for all workers
from spelunker.instrument import pixel_scales
from spelunker.stpipe import parameter_file
from spelunker.survey.workers import WARM_VARIABLE

__all__ = ["warm_up"]

log = logging.getLogger(__name__)



def warm_up():
    """Load the ASDF extensions and the FGS SIAF numbers, as a visit's first use would.

    A failure is logged (DEBUG) and left to the visits, which meet it
    again and report it in their rows: the fork server must start anyway.

    Examples
    --------
    >>> from spelunker.survey._preload import warm_up
    >>> warm_up()
    """
    try:
        with asdf.open(parameter_file("quicklook")):
            pass
        for detector in ("GUIDER1", "GUIDER2"):
            pixel_scales(detector)
    except Exception as exc:  # noqa: BLE001 - the visits report it; the server must start
        log.debug("The fork server's warm-up failed: %s", exc)


if os.environ.get(WARM_VARIABLE) == "1":
    warm_up()
