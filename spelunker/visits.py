"""Visits: the unit of analysis of guide-star data.

A visit is (program, observation, visit).  `spelunker.GuideStarModel.visits`
lists those a model holds and `spelunker.GuideStarModel.select_visit` cuts
one out; `split_visits` gives one model per visit with its own results,
periodograms, events and variability tables included (a periodogram never spans several visits:
`spelunker.periodogram.periodogram_groups`).
"""

import logging

import numpy as np

from spelunker.datamodels import check_model


__all__ = ["split_visits"]

log = logging.getLogger(__name__)


def split_visits(model, *, keep_results=True):
    """One model per visit of ``model``, in time order, each with its own results.

    Per-frame results (fit tables, light curve) and the apertures are cut to
    each visit (`spelunker.GuideStarModel.select_visit`); the periodograms,
    flares, dips and variability rows, which are computed per visit and
    guide star (`spelunker.periodogram.periodogram_groups`), and the events
    follow their visit, their frame rows counted from the visit's first.
    Nothing is computed again.

    Parameters
    ----------
    model : GuideStarModel
        Not modified.
    keep_results : bool, optional
        Carry the results over.

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
    keys = check_model(model, where="split_visits").visits()
    if len(keys) <= 1:
        return [model]
    parts = []
    for position, key in enumerate(keys):
        part = model.select_visit(*key, keep_results=keep_results)
        if keep_results:
            _carry_periodograms(model, part, position)
        parts.append(part)
    return parts


#: Result tables with a row per visit and guide star (their ``visit_index``
#: and ``guidestar_index`` columns), and frame rows in ``frame_*`` columns.
_PER_GROUP_TABLES = ("periodogram", "periodogram_peaks", "flares", "dips", "variability")


def _carry_periodograms(model, part, position):
    """Give ``part`` (visit ``position`` of ``model``) its periodograms, events and variability."""
    if model.hasattr("events"):
        _carry_events(model, part, position)
    first_frame = int(np.flatnonzero(model.frame_visits() == position)[0])
    stars = np.unique(np.asarray(model.frames["guidestar_index"])[
        model.frame_visits() == position]).astype(np.int64)
    star_map = np.full(int(stars.max()) + 1, -1, dtype=np.int64)
    star_map[stars] = np.arange(stars.size)
    with part.trusted_assignment():
        for name in _PER_GROUP_TABLES:
            if not model.hasattr(name):
                continue
            table = np.array(getattr(model, name))
            table = table[table["visit_index"] == position]
            table["guidestar_index"] = star_map[table["guidestar_index"]]
            table["visit_index"] = 0
            for column in table.dtype.names:
                if column.startswith("frame_"):
                    table[column] -= first_frame
            setattr(part, name, table)
    if not model.hasattr("periodogram"):
        return
    for field in ("periodogram_source", "periodogram_samples_per_peak"):
        value = getattr(model.meta.spelunker, field, None)
        if value is not None:
            setattr(part.meta.spelunker, field, value)


def _carry_events(model, part, position):
    """The events within visit ``position``, their frames counted from its first.

    A gap to the next visit and the change of star at a visit's first frame
    are boundaries between visits, not events of either.
    """
    frames = np.flatnonzero(model.frame_visits() == position)
    events = np.array(model.events)
    kinds = np.char.strip(np.asarray(events["kind"]).astype(str))
    inside = (events["frame_start"] >= frames[0]) & (events["frame_end"] <= frames[-1])
    inside &= ~((kinds == "guide_star_change") & (events["frame_start"] == frames[0]))
    events = events[inside]
    events["frame_start"] -= frames[0]
    events["frame_end"] = np.clip(events["frame_end"] - frames[0], 0, frames.size - 1)
    with part.trusted_assignment():
        part.events = events
