"""How a figure reads a model: the guide star of each frame and the tables the figure needs.

Shared by the figure modules of `spelunker.plotting` (not for users): the
guide star of each frame, its name and aperture, and the frames and fit
tables a figure refuses to draw without.  A model without a frames table of
its frames' length counts as one guide star (row 0).
"""

import numpy as np

from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError
from spelunker.fitting import fit_table

__all__ = ["guidestar_of_frames", "frames_by_guidestar", "guidestar_names", "aperture_of",
           "require_frames_table", "frame_fit_table"]


def _has_frames_table(model, n_frames):
    return model.hasattr("frames") and len(model.frames) == n_frames


def guidestar_of_frames(model, n_frames):
    """Row of the guide-star table used by each frame (0 for all without a frames table).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting._model import guidestar_of_frames
    >>> guidestar_of_frames(GuideStarModel(), 3).tolist()
    [0, 0, 0]
    """
    if _has_frames_table(model, n_frames):
        return np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    return np.zeros(n_frames, dtype=np.int64)


def frames_by_guidestar(model, n_frames):
    """The frames of each guide star: `~spelunker.GuideStarModel.guidestar_frames`.

    Without a frames table of ``n_frames`` rows, every frame is guide star 0.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting._model import frames_by_guidestar
    >>> [(star, frames.tolist()) for star, frames in frames_by_guidestar(GuideStarModel(), 3)]
    [(0, [0, 1, 2])]
    """
    if _has_frames_table(model, n_frames):
        return model.guidestar_frames()
    return [(0, np.arange(n_frames))]


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


def aperture_of(model, guidestar):
    """The photometric aperture of one guide star, or None.

    Parameters
    ----------
    model : GuideStarModel
    guidestar : int
        Row of ``guidestars`` (the frames' ``guidestar_index``).

    Returns
    -------
    numpy.ndarray or None
        Boolean ``(rows, columns)`` mask: the model's single aperture plane,
        or the plane of that guide star when there is one per star; None
        without ``aperture_mask`` or for an empty plane.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting._model import aperture_of
    >>> model = GuideStarModel()
    >>> print(aperture_of(model, 0))
    None
    >>> model.aperture_mask = np.eye(8, dtype=np.uint8)[None]  # one plane for every star
    >>> int(aperture_of(model, 0).sum())
    8
    """
    if not model.hasattr("aperture_mask"):
        return None
    planes = np.asarray(model.aperture_mask)
    if planes.ndim == 2:
        planes = planes[None]
    plane = 0 if planes.shape[0] == 1 else int(guidestar)
    if 0 <= plane < planes.shape[0] and planes[plane].any():
        return planes[plane] != 0
    return None


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

