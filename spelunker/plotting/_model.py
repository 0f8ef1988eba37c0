"""What the figures read from a model: its frames' guide stars, their names, the fit of the frames.

Shared by the figure modules of `spelunker.plotting` (not for users).
"""

import numpy as np

from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError
from spelunker.fitting import fit_table

__all__ = ["guidestar_of_frames", "guidestar_names", "require_frames_table", "frame_fit_table"]


def guidestar_of_frames(model, n_frames):
    """Row of the guide-star table used by each frame (0 for all without a frames table).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting._model import guidestar_of_frames
    >>> guidestar_of_frames(GuideStarModel(), 3).tolist()
    [0, 0, 0]
    """
    if model.hasattr("frames") and len(model.frames) == n_frames:
        return np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    return np.zeros(n_frames, dtype=np.int64)


def guidestar_names(model):
    """The ``gs_id`` of every row of the model's guide-star table (empty without one).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting._model import guidestar_names
    >>> guidestar_names(GuideStarModel())
    []
    """
    if not model.hasattr("guidestars") or len(model.guidestars) == 0:
        return []
    return [str(name) for name in model.table("guidestars")["gs_id"]]


def require_frames_table(model):
    """Raise `~spelunker.errors.GuideStarInputError` for a model without frame times."""
    if not check_model(model).hasattr("frames") or len(model.frames) == 0:
        msg = "the model has no frames table (frame times): read it with spelunker.read_guidestar"
        raise GuideStarInputError(msg)


def frame_fit_table(model, fit):
    """``(table name, fit QTable, frame seconds)`` of a model whose fit table matches its frames.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frame times or fit table, or a fit table of
        another length than the frames.
    """
    require_frames_table(model)
    name = model.fit_table_name(fit)
    table = fit_table(model, name, time=False)
    seconds = model.frame_seconds()
    if len(table) != len(seconds):
        msg = (f"{name} has {len(table)} rows but the model has {len(seconds)} "
               "frames: the fit does not belong to these frames (fit them again with "
               "GuideStarFitStep)")
        raise GuideStarInputError(msg)
    return name, table, seconds

