"""Dask's worker variables (``OMP_NUM_THREADS=1``, ...), read without importing distributed.

`worker_environment` gives the variables a `distributed.Nanny` sets before it
starts a worker process, as the survey's workers have them (`LEFT_OUT`
aside).  The survey's fork server (`spelunker.survey.workers`) imports this
module first (`~spelunker.survey.workers.PRELOAD`), with
``SPELUNKER_SURVEY_WARM=1``: there it sets them in its own environment,
before anything loads numpy (BLAS reads its thread count then, OpenMP when
it loads), and every worker forked from it inherits them.  Imported anywhere
else it only defines them.  It imports dask (its configuration) and PyYAML,
not distributed (0.4 s more).
"""

import importlib.util
import os
from pathlib import Path

import dask
import yaml

from spelunker.survey.workers import WARM_VARIABLE, hash_seed

__all__ = ["LEFT_OUT", "nanny_overrides", "worker_environment"]

#: Dask's configuration key of the variables set before a worker process starts.
_ENVIRON_KEY = "distributed.nanny.pre-spawn-environ"

#: Dask's worker variables the survey's workers do without, unless this process's
#: environment sets them: ``MALLOC_TRIM_THRESHOLD_`` (Dask's 65536) fixes glibc's
#: thresholds, so that every array over 128 kB is mapped afresh and faulted in page by
#: page; with glibc's own (adaptive) thresholds a 20,000-frame visit runs in 0.35 s
#: instead of 0.44 s.  A worker holds one visit at a time, and the memory it keeps
#: between visits is what the next one reuses.
LEFT_OUT = ("MALLOC_TRIM_THRESHOLD_",)


def _left_out():
    """The names of `LEFT_OUT` this process's environment does not set: those left out."""
    return [name for name in LEFT_OUT if name not in os.environ]


def nanny_overrides():
    """Dask configuration keeping a Nanny from setting the `LEFT_OUT` variables in a worker.

    A forked worker has its fork server's environment, in which they are
    not set (`worker_environment`); the Nanny would set Dask's values in the
    worker after it starts, where glibc no longer reads them.

    Returns
    -------
    dict
        Dask configuration key -> None (Dask's way of unsetting a variable).

    Examples
    --------
    >>> from spelunker.survey.environment import nanny_overrides
    >>> nanny_overrides()  # doctest: +SKIP
    {'distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_': None}
    """
    return {f"{_ENVIRON_KEY}.{name}": None for name in _left_out()}


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
    >>> from spelunker.survey.environment import worker_environment
    >>> worker_environment()["OMP_NUM_THREADS"]  # doctest: +SKIP
    '1'
    """
    # The user's configuration (dask's files, DASK_* variables) over distributed's defaults.
    config = dask.config.merge(_distributed_default(_ENVIRON_KEY),
                               dask.config.get(_ENVIRON_KEY, default=None) or {})
    left_out = _left_out()
    variables = {name: os.environ.get(name, str(value)) for name, value in config.items()
                 if value is not None and name not in left_out}
    variables["PYTHONHASHSEED"] = hash_seed(variables.get("PYTHONHASHSEED",
                                                         os.environ.get("PYTHONHASHSEED")))
    return variables


if os.environ.get(WARM_VARIABLE) == "1":  # the fork server, before it loads numpy
    os.environ.update(worker_environment())
