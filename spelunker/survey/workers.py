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
nanny, forks from it at once.  This module imports only dask (0.1 s, not
distributed: 0.4 s more), so the command starts the server first thing.
"""

import importlib.util
import logging
import multiprocessing
import os
from multiprocessing import forkserver
from pathlib import Path

import dask
import yaml

__all__ = ["LEFT_OUT", "PRELOAD", "START_METHOD", "WARM_VARIABLE", "start_fork_server",
           "worker_environment"]

log = logging.getLogger(__name__)

#: How the survey's LocalCluster starts its worker processes.
START_METHOD = "forkserver"

#: The modules the fork server imports before it forks the first worker: the survey's
#: execution module (the pipeline, jwst datamodels, stpipe, Dask), through the module
#: that also loads what a visit loads on first use (`spelunker.survey._preload`).
PRELOAD = ("spelunker.survey._preload",)

#: The variable `start_fork_server` sets for the fork server: importing
#: `spelunker.survey._preload` there warms it up.
WARM_VARIABLE = "SPELUNKER_SURVEY_WARM"

#: Dask's configuration key of the variables set before a worker process starts.
_ENVIRON_KEY = "distributed.nanny.pre-spawn-environ"

#: Dask's worker variables the survey's workers do without, unless this process's
#: environment sets them: ``MALLOC_TRIM_THRESHOLD_`` (Dask's 65536) fixes glibc's
#: thresholds, so that every array over 128 kB is mapped afresh and faulted in page by
#: page; with glibc's own (adaptive) thresholds a 20,000-frame visit runs in 0.35 s
#: instead of 0.44 s.  A worker holds one visit at a time, and the memory it keeps
#: between visits is what the next one reuses.
LEFT_OUT = ("MALLOC_TRIM_THRESHOLD_",)


def _distributed_default(key):
    """distributed's default value of the configuration ``key``, read from its
    ``distributed.yaml`` as distributed registers it on import, without importing it."""
    spec = importlib.util.find_spec("distributed")
    with open(Path(spec.origin).with_name("distributed.yaml"), encoding="utf-8") as file:
        value = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for part in key.split("."):
        value = value[part]
    return value


def worker_environment():
    """The variables Dask sets before it starts a worker process (``OMP_NUM_THREADS=1``, ...).

    As `distributed.Nanny` does: ``distributed.nanny.pre-spawn-environ``
    where this process's environment does not set them, and Dask's fixed
    ``PYTHONHASHSEED`` unless one is set; but not `LEFT_OUT` (glibc's
    malloc thresholds) unless this process's environment sets it.

    Returns
    -------
    dict
        Variable name -> value (str).

    Examples
    --------
    >>> from spelunker.survey.workers import worker_environment
    >>> worker_environment()["OMP_NUM_THREADS"]  # doctest: +SKIP
    '1'
    """
    # The user's configuration (dask's files, DASK_* variables) over distributed's defaults.
    config = dask.config.merge(_distributed_default(_ENVIRON_KEY),
                               dask.config.get(_ENVIRON_KEY, default=None) or {})
    variables = {name: os.environ.get(name, str(value)) for name, value in config.items()
                 if value is not None and (name not in LEFT_OUT or name in os.environ)}
    if variables.get("PYTHONHASHSEED") in (None, "0"):
        variables["PYTHONHASHSEED"] = "6640"  # Dask's value: the workers hash alike
    return variables


def start_fork_server():
    """Start the fork server of the survey's workers, unless it runs already.

    It imports `PRELOAD` while this process goes on (the call returns at
    once) and warms up (`spelunker.survey._preload`); the first worker forked
    from it waits for that.  It starts with
    the variables Dask sets for a worker process (`worker_environment`): a
    forked worker inherits the fork server's environment, and BLAS reads
    its thread count when numpy loads.  This process's environment is left
    as it was.  A running server is left as it is (multiprocessing keeps
    one per process).

    Examples
    --------
    >>> from spelunker.survey.workers import start_fork_server
    >>> start_fork_server()  # doctest: +SKIP
    """
    multiprocessing.get_context(START_METHOD).set_forkserver_preload(list(PRELOAD))
    variables = {**worker_environment(), WARM_VARIABLE: "1"}
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
