"""The survey's LocalCluster workers: forked from a fork server that imported the pipeline once.

`start_fork_server` starts multiprocessing's fork server (a process of its
own, started clean with one thread) and has it import `PRELOAD`: the
pipeline, jwst datamodels, stpipe and Dask.  Each worker of the survey's
`~distributed.LocalCluster` (``distributed.worker.multiprocessing-method``
`START_METHOD`) is then forked from it with all of that imported, and ends
without the interpreter's shut-down.  Spawned workers each imported the
package themselves (1-2 s of CPU each, and as long again at the cluster's
close to tear it down); forking them from the survey's own process, which
runs Dask's event-loop threads, is not safe (it hung under pytest-xdist).

The command (`spelunker.survey.cli`) starts the fork server as soon as its
arguments are parsed, so that it imports the pipeline while the command
imports its own modules and plans the visits; `run_survey` starts it (if
it is not running yet) just before the cluster.  It lives as long as the
process that started it: a second survey, or a worker restarted by its
nanny, forks from it at once.  This module imports nothing beyond the
standard library, so the command starts the server first thing: the server
itself then sets Dask's worker variables (`spelunker.survey.environment`,
the first module of `PRELOAD`) before it loads numpy.
"""

import logging
import multiprocessing
import os
from multiprocessing import forkserver

__all__ = ["HASH_SEED", "PRELOAD", "START_METHOD", "WARM_VARIABLE", "hash_seed",
           "start_fork_server"]

log = logging.getLogger(__name__)

#: How the survey's LocalCluster starts its worker processes.
START_METHOD = "forkserver"

#: The modules the fork server imports, in order, before it forks the first worker:
#: Dask's worker variables (`spelunker.survey.environment`, which sets them there), then
#: the survey's execution module (the pipeline, jwst datamodels, stpipe, Dask), through
#: the module that also loads what a visit loads on first use (`spelunker.survey._preload`).
PRELOAD = ("spelunker.survey.environment", "spelunker.survey._preload")

#: The variable `start_fork_server` sets for the fork server: importing the modules of
#: `PRELOAD` there sets Dask's worker variables and warms it up.
WARM_VARIABLE = "SPELUNKER_SURVEY_WARM"

#: Dask's fixed hash seed of its worker processes (Python reads it as it starts).
HASH_SEED = "6640"


def hash_seed(seed):
    """The workers' ``PYTHONHASHSEED``: ``seed`` (a value set), or `HASH_SEED` if unset or "0".

    Dask's rule: the workers hash alike.

    Examples
    --------
    >>> from spelunker.survey.workers import hash_seed
    >>> hash_seed(None), hash_seed("0"), hash_seed("12")
    ('6640', '6640', '12')
    """
    return HASH_SEED if seed in (None, "0") else seed


def start_fork_server():
    """Start the fork server of the survey's workers, unless it runs already.

    It imports `PRELOAD` while this process goes on (the call returns at
    once) and warms up (`spelunker.survey._preload`); the first worker forked
    from it waits for that.  It starts with Dask's hash seed (`HASH_SEED`,
    unless ``PYTHONHASHSEED`` is set: Python reads it as it starts) and
    sets the other variables Dask sets for a worker process itself, before
    it loads numpy (`spelunker.survey.environment`): a forked worker
    inherits the fork server's environment, and BLAS reads its thread count
    when numpy loads.  This process's environment is left as it was.  A
    running server is left as it is (multiprocessing keeps one per process).

    Examples
    --------
    >>> from spelunker.survey.workers import start_fork_server
    >>> start_fork_server()  # doctest: +SKIP
    """
    multiprocessing.get_context(START_METHOD).set_forkserver_preload(list(PRELOAD))
    variables = {WARM_VARIABLE: "1", "PYTHONHASHSEED": hash_seed(os.environ.get("PYTHONHASHSEED"))}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    log.debug("The survey workers' fork server runs (preloading %s)", ", ".join(PRELOAD))
