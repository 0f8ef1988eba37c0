"""Figures on the detector's pixel grid: a frame image and the guide-star centre track.

- `frame_plot`: one fine-guide frame, or the median frame of a guide star,
  with the photometric aperture outlined (`aperture_outline`, also used by
  the animation).
- `position_plot`: the guide-star centre from the fit, frame by frame,
  coloured by time.
"""

import numpy as np
from astropy import units as u
from astropy.time import Time

from spelunker._validate import check_float_array, check_int_range
from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.photometry import DEFAULT_REFERENCE_FRAMES, reference_frame
from spelunker.plotting._canvas import new_axes
from spelunker.plotting._model import (
    aperture_of,
    frame_fit_table,
    guidestar_names,
    guidestar_of_frames,
)
from spelunker.plotting.timeaxis import TimeAxis, first_frame_time

__all__ = ["frame_plot", "position_plot", "aperture_outline"]


def frame_plot(model, index=None, *, ax=None, show_aperture=True, guidestar=None):
    """One fine-guide frame, or the median frame, with the aperture outlined.

    Parameters
    ----------
    model : GuideStarModel
        A read model (the aperture comes from ``aperture_mask`` when
        present).
    index : int, optional
        Frame number (negative counts from the end); None shows the median
        frame of one guide star (the median of `spelunker.photometry`'s
        aperture search: at most 20,000 evenly spaced frames, bad pixels
        left out).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    show_aperture : bool, optional
        Outline the aperture pixels (collection ``gid='aperture'``).
    guidestar : int, optional
        Row of ``guidestars`` whose median frame to show (``index=None``);
        default the guide star of the first frame.

    Returns
    -------
    matplotlib.axes.Axes
        The image (``ax.images[0]``, ``origin='lower'``: x is the column,
        y the row, as in the fits) with a colorbar in DN/s.  A single frame
        also shows its fitted centre when its fit is clean.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frames.
    spelunker.errors.ParameterError
        For a ``model`` that is not a GuideStarModel, an ``ax`` that is not
        an Axes, an index outside the frames or an unused guide star.

    Examples
    --------
    The median frame of a visit whose aperture was chosen by
    `~spelunker.PhotometryOptimizeStep`, outlined in white:

    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> from spelunker import PhotometryOptimizeStep, datasets
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> with_aperture = PhotometryOptimizeStep.call(visit.files, bin_size=5.0)
    >>> from spelunker.plotting import frame_plot
    >>> ax = frame_plot(with_aperture, ax=Figure().add_subplot())
    >>> ax.images[0].get_array().shape, ax.images[0].colorbar.ax.get_ylabel()
    ((8, 8), 'DN/s')
    >>> [c.get_gid() for c in ax.collections]
    ['aperture']
    """
    from matplotlib.collections import LineCollection  # matplotlib loads only when drawing

    check_model(model, where="frame_plot")
    image, mask, title, _ = _frame_image(model, index, guidestar)
    ax = new_axes(ax, figsize=(5.5, 4.5))
    shown = ax.imshow(image, origin="lower", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(shown, ax=ax, label="DN/s")
    if show_aperture and mask is not None:
        outline = LineCollection(aperture_outline(mask), colors="white", linewidths=1.5,
                                 label=f"aperture ({int(mask.sum())} pixels)", gid="aperture")
        ax.add_collection(outline)
    if index is not None:
        centre = _clean_centre(model, int(index) % len(model.data))
        if centre is not None:
            ax.plot([centre[0]], [centre[1]], "+", color="red", markersize=10,
                    label="fitted centre", gid="centre")
    ax.set_xlabel("x (column, pix)")
    ax.set_ylabel("y (row, pix)")
    ax.set_title(title, fontsize="medium")
    return ax


def _clean_centre(model, index):
    for name in ("gauss_fit", "quick_fit"):
        if model.hasattr(name) and len(getattr(model, name)) > index:
            row = getattr(model, name)
            if int(np.asarray(row["flags"])[index]) == 0:
                return float(row["x_mean"][index]), float(row["y_mean"][index])
    return None


def position_plot(model, *, ax=None, fit="auto"):
    """The guide-star centre from the fit, frame by frame, coloured by time.

    Parameters
    ----------
    model : GuideStarModel
        A model with a fit table.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    fit : {'auto', 'gauss', 'quick'}, optional
        Fit table to use (``'auto'`` prefers the 2-D Gaussian fit).

    Returns
    -------
    matplotlib.axes.Axes
        A scatter (``ax.collections[0]``, ``gid='positions'``) of
        ``(x_mean, y_mean)`` of the frames with clean fits (flags 0), the
        median position as a cross, equal pixel scales and a colorbar of the
        time since the first frame.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without a fit table, a fit table whose length differs
        from the number of frames, or no clean fit.
    spelunker.errors.ParameterError
        For a bad ``fit``.

    Examples
    --------
    The centre of every cleanly fitted frame (`~spelunker.GuideStarFitStep`):

    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> from spelunker import GuideStarFitStep, datasets
    >>> from spelunker.plotting import position_plot
    >>> files = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)],
    ...     seed=3).files
    >>> ax = position_plot(GuideStarFitStep.call(files, method="quick"),
    ...                    ax=Figure().add_subplot())
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('x_mean (pix)', 'y_mean (pix)')
    """
    name, table, seconds = frame_fit_table(model, fit)
    clean = np.asarray(table["flags"]) == 0
    if not clean.any():
        msg = f"{name} has no clean fit (every frame is flagged)"
        raise GuideStarInputError(msg)
    axis = TimeAxis.for_span(first_frame_time(model), float(np.ptp(seconds)))
    x = table["x_mean"].to_value(u.pix)[clean]
    y = table["y_mean"].to_value(u.pix)[clean]
    ax = new_axes(ax, figsize=(6, 5))
    points = ax.scatter(x, y, c=axis.from_seconds(seconds[clean], first_frame_time(model)), s=2,
                        cmap="viridis", rasterized=True, gid="positions")
    ax.figure.colorbar(points, ax=ax, label=axis.label)
    ax.plot([np.median(x)], [np.median(y)], "x", color="red", markersize=10,
            label="median", gid="median")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x_mean (pix)")
    ax.set_ylabel("y_mean (pix)")
    ax.set_title(f"centre from {name} ({int(clean.sum())} of {len(clean)} "
                 "frames clean)", fontsize="medium")
    return ax


def _frame_image(model, index, guidestar):
    """The image, its aperture plane and a title for `frame_plot` and the animation."""
    model.require_frames("a frame image")
    data = model.data
    n_frames = len(data)
    groups = guidestar_of_frames(model, n_frames)
    names = guidestar_names(model)
    if index is not None:
        index = check_int_range(index, "index", -n_frames, n_frames - 1) % n_frames
        group = int(groups[index])
        image = np.asarray(data[index], dtype=float)
        when = ""
        if model.hasattr("frames") and len(model.frames) == n_frames:
            mjd = float(model.frames["mid_time_mjd"][index])
            when = f", {Time(mjd, format='mjd', scale='utc').isot} UTC"
        title = f"frame {index}{when}"
    else:
        if guidestar is None:
            group = int(groups[0])
        else:
            n_stars = max(len(names), int(groups.max(initial=0)) + 1)
            group = check_int_range(guidestar, "guidestar", 0, n_stars - 1)
        members = np.flatnonzero(groups == group)
        if members.size == 0:
            msg = f"guidestar={guidestar!r}: no frame of the model uses that guide star"
            raise ParameterError(msg)
        select = slice(int(members[0]), int(members[-1]) + 1) \
            if members[-1] - members[0] + 1 == members.size else members
        dq = np.asarray(model.dq) if model.hasattr("dq") and np.shape(model.dq) == np.shape(data) \
            else None
        image = reference_frame(np.asarray(data), dq, 1, select, DEFAULT_REFERENCE_FRAMES)
        image = image.reshape(np.shape(data)[1:])
        used = min(members.size, DEFAULT_REFERENCE_FRAMES)
        title = f"median of {used} frames"
    if names and group < len(names):
        title += f" (guide star {names[group]})"
    return image, aperture_of(model, group), title, group


def aperture_outline(mask):
    """Line segments along the outer edges of the pixels of a mask.

    Parameters
    ----------
    mask : array_like of bool
        ``(rows, columns)``; pixel ``[row, column]`` is centred on
        ``(x, y) = (column, row)``.

    Returns
    -------
    list of numpy.ndarray
        One ``[[x0, y0], [x1, y1]]`` per pixel edge between a pixel in the
        mask and one outside it (or the frame border).

    Raises
    ------
    spelunker.errors.ParameterError
        When ``mask`` is not a 2-D array of booleans or numbers (non-zero:
        in the aperture).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.plotting.frames import aperture_outline
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[3:5, 3:5] = True
    >>> len(aperture_outline(mask))
    8
    """
    values = check_float_array(mask, "mask", needed="a (rows, columns) mask",
                               where="aperture_outline")
    if values.ndim != 2:
        msg = (f"aperture_outline: mask has shape {values.shape}; a (rows, columns) mask is "
               "needed")
        raise ParameterError(msg)
    mask = values != 0
    rows, columns = mask.shape
    segments = []
    for row, column in zip(*np.nonzero(mask), strict=True):
        left, right, bottom, top = column - 0.5, column + 0.5, row - 0.5, row + 0.5
        if column == 0 or not mask[row, column - 1]:
            segments.append(np.array([[left, bottom], [left, top]]))
        if column == columns - 1 or not mask[row, column + 1]:
            segments.append(np.array([[right, bottom], [right, top]]))
        if row == 0 or not mask[row - 1, column]:
            segments.append(np.array([[left, bottom], [right, bottom]]))
        if row == rows - 1 or not mask[row + 1, column]:
            segments.append(np.array([[left, top], [right, top]]))
    return segments
