"""Surveys: one pipeline run per visit over programs, or the archive, on Dask.

`run_survey` (and the console script ``spelunker-survey``) takes programs,
observations or visits at MAST, or a folder of products already on disk,
and maps one task per visit onto a ``dask.distributed`` cluster: a
`~distributed.LocalCluster` by default, or any running cluster given its
scheduler address.  Each task (`run_visit`) downloads that visit's products
(`spelunker.archive.download_products`, which reuses complete cached files),
runs `~spelunker.GuideStarPipeline` with a parameter file (the quick-look
profile by default), writes the visit's product and returns one summary row
(`visit_summary`).  The rows gather into the survey table, written as
``survey.ecsv`` and ``survey.parquet`` in the output folder, and their
guide stars into the guide-star catalogue (`guidestar_catalogue`, one row
per guide star over all its visits: noise, flares, dips, best period,
classes), written as ``guidestars.ecsv`` and ``guidestars.parquet``.

The package, one job per module
    `spelunker.survey.planning` (the visits to run, `plan_survey`),
    `spelunker.survey.summary` (the table's `COLUMNS` and a visit's row,
    `visit_summary`), `spelunker.survey.guidestars` (the guide-star
    catalogue, `guidestar_catalogue`), `spelunker.survey.execution` (`run_survey` on Dask,
    `run_visit`, the files written, resume), `spelunker.survey.workers` (the
    fork server the LocalCluster's workers fork from, warm) and
    `spelunker.survey.cli` (the ``spelunker-survey`` command, `main`).  The names below are
    imported from their modules on first use, so ``spelunker-survey --help``
    answers without loading Dask, jwst or the compiled kernels.

The output folder
    ``products/``: one ``jw<ppppp><ooo><vvv>_gs-fg_<stamp>_gspipe.fits`` per
    visit; ``rows/``: one ``jw<ppppp><ooo><vvv>.json`` per visit (its row,
    written by the task after the product); ``downloads/``: the MAST
    products (unless ``download_dir`` says otherwise); ``survey.ecsv``,
    ``survey.parquet``, ``guidestars.ecsv``, ``guidestars.parquet``.  Every
    file is written under a temporary name and renamed (`spelunker.atomic`),
    so a killed survey never leaves a partial product, row or table under a
    final name; the next run removes the temporary entries it left.

Resuming
    A visit whose row says ``ok``, whose product is on disk with the size the
    row records and whose parameter file is the same is skipped; every other
    visit (failed, never run, interrupted) runs again.  A failing visit
    (corrupt file, MAST error, a worker that died) gives a row with
    ``status='error'`` and the reason in ``error``; the survey goes on.
    The tables are rebuilt from every visit's row, so a resumed survey's
    catalogue holds all the visits, those of earlier runs too.

Memory
    One task holds one visit: a `~distributed.LocalCluster` is started with
    one thread per worker, so a worker's peak memory is that of one visit
    (2.2 GB for a 1,000,000-frame visit with the quick-look profile, see
    ``docs/survey.rst``).  On an existing cluster, start the workers with
    ``--nthreads 1`` (or give each thread that much memory).
"""

from spelunker._lazy import lazy_exports
from spelunker.survey.cli import main

#: Public name -> the module that owns it, imported on first use (PEP 562): the
#: command (`main`) answers ``--help`` without loading Dask, jwst or the kernels.
_OWNERS = {
    "run_survey": "spelunker.survey.execution",
    "run_visit": "spelunker.survey.execution",
    "CATALOGUE_COLUMNS": "spelunker.survey.guidestars",
    "guidestar_catalogue": "spelunker.survey.guidestars",
    "VisitTask": "spelunker.survey.planning",
    "plan_survey": "spelunker.survey.planning",
    "COLUMNS": "spelunker.survey.summary",
    "POINTING_COLUMNS": "spelunker.survey.summary",
    "SCATTER_BIN": "spelunker.survey.summary",
    "VARIABILITY_COLUMNS": "spelunker.survey.summary",
    "visit_summary": "spelunker.survey.summary",
}

__all__ = ["main", *_OWNERS]

__getattr__, __dir__ = lazy_exports(__name__, _OWNERS, __all__)
