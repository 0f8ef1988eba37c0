"""Visits: the unit of analysis of guide-star data.

A visit is (program, observation, visit).  `spelunker.GuideStarModel.visits`
lists those a model holds and `spelunker.GuideStarModel.select_visit` cuts
one out; `split_visits` gives one model per visit with its own results,
periodograms included (a periodogram never spans several visits).
"""

import logging

import numpy as np

from spelunker.periodogram import run_periodogram

__all__ = ["split_visits"]

log = logging.getLogger(__name__)


def split_visits(model, *, keep_results=True):
    """One model per visit of ``model``, in time order, each with its own results.

    Per-frame results (fit tables, light curve) and the apertures are cut to
    each visit (`spelunker.GuideStarModel.select`).  A model with
    periodograms gets them computed again on each visit's frames alone,
    with the model's oversampling, highest frequency and number of peaks.

    Parameters
    ----------
    model : GuideStarModel
        Not modified.
    keep_results : bool, optional
        Carry the results over (and recompute the periodograms).

    Returns
    -------
    list of GuideStarModel
        ``[model]`` itself when it holds one visit (or has no files table).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.visits import split_visits
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=1),
    ...                                 datasets.VisitSpec(visit=2, n_frames=200, n_segments=1)],
    ...     seed=1)
    >>> [len(part.data) for part in split_visits(read_guidestar(visit.files))]
    [300, 200]
    """
    keys = model.visits()
    if len(keys) <= 1:
        return [model]
    parts = [model.select_visit(*key, keep_results=keep_results) for key in keys]
    if keep_results and model.hasattr("periodogram"):
        for part in parts:
            _visit_periodogram(model, part)
    return parts


def _visit_periodogram(model, part):
    """The periodograms of a visit's frames, on the model's oversampling and top frequency."""
    source = getattr(model.meta.spelunker, "periodogram_source", None)
    fit = source if source in ("gauss_fit", "quick_fit") and part.hasattr(source) else "auto"
    samples_per_peak = getattr(model.meta.spelunker, "periodogram_samples_per_peak", None) or 5.0
    frequency = np.asarray(model.periodogram["frequency"], dtype=float)
    n_peaks = 5
    if model.hasattr("periodogram_peaks") and len(model.periodogram_peaks):
        n_peaks = int(np.max(np.asarray(model.periodogram_peaks["rank"])))
    try:
        run_periodogram(part, fit_table=fit, samples_per_peak=samples_per_peak,
                        maximum_frequency=float(np.nanmax(frequency)), n_peaks=n_peaks)
    except ValueError as exc:
        log.info("no periodogram of the visit's frames: %s", exc)
