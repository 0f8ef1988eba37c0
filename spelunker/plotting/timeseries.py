"""Time-series figures of a model: the relative flux binned in time, and the fit parameters.

- `timeseries_binned_plot`: relative flux of every frame and its time-binned
  mean.
- `timeseries_list_plot`: the seven PSF parameters of a fit and the flux in
  stacked panels sharing the time axis; flagged fits hidden and marked.
- `relative_flux`: the light curve they draw, divided by its median per
  guide star.

Both plots draw on a time axis since the first frame
(`spelunker.plotting.timeaxis`) and mark the model's technical events
(`spelunker.plotting.telemetry.plot_event_table`).  They bin with
`spelunker.binning.bin_series`: bin ``k`` holds the frames with
``k <= (t - t_first) / bin_size < k + 1``, the same bins as the aperture
metric of `spelunker.photometry`.
"""

import logging

import numpy as np
from astropy import units as u

from spelunker._validate import check_choice
from spelunker.binning import DEFAULT_BIN_SIZE, bin_series
from spelunker.datamodels import check_model
from spelunker.errors import ParameterError
from spelunker.events import events_table
from spelunker.periodogram import FIT_PARAMETERS
from spelunker.photometry import full_frame_flux
from spelunker.plotting._canvas import new_axes, new_figure
from spelunker.plotting._model import (
    frame_fit_table,
    frames_by_guidestar,
    guidestar_names,
    require_frames_table,
)
from spelunker.plotting.telemetry import plot_event_table
from spelunker.plotting.timeaxis import (
    TimeAxis,
    first_frame_time,
    model_time_axis,
    set_time_axis,
)

__all__ = ["timeseries_binned_plot", "timeseries_list_plot", "relative_flux"]

log = logging.getLogger(__name__)


def timeseries_binned_plot(model, *, bin_size=DEFAULT_BIN_SIZE, ax=None, show_frames=True,
                           events=True):
    """Relative flux of every frame and its mean in time bins.

    Parameters
    ----------
    model : GuideStarModel
        A read model; its ``lightcurve`` (optimised aperture) is used when
        present, else the full-frame sum (`relative_flux`).
    bin_size : float, optional
        Bin width in seconds (`bin_size` of `bin_series`).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.  When the Axes already
        carries a `TimeAxis`, it is reused.
    show_frames : bool, optional
        Draw the single frames (grey dots) under the bins.
    events : bool, optional
        Mark the model's technical events (its ``events`` table, from
        `~spelunker.GuideStarEventStep`) with `plot_event_table`.

    Returns
    -------
    matplotlib.axes.Axes
        With the lines ``gid='frames'`` (if drawn) and ``gid='bins'``; the
        x axis is time since the first frame (`TimeAxis`).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frames.
    spelunker.errors.ParameterError
        For a bad ``bin_size``.

    Examples
    --------
    The frames as read (no photometry yet: the full-frame sum), in 5 s bins:

    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.plotting import timeseries_binned_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> ax = timeseries_binned_plot(read_guidestar(visit.files), bin_size=5.0,
    ...                             ax=Figure().add_subplot())
    >>> ax.get_xlabel()
    'time since 2022-12-04T01:35:36.027 UTC (s)'
    >>> ax.get_ylabel()
    'relative flux (full frame)'
    """
    require_frames_table(model)
    seconds = model.frame_seconds()
    relative, _, source = relative_flux(model)
    binned = bin_series(seconds, relative, bin_size)
    axis = model_time_axis(model, ax, seconds)
    ax = new_axes(ax, figsize=(10, 4))
    origin = first_frame_time(model)
    if show_frames:
        ax.plot(axis.from_seconds(seconds, origin), relative, ".", color="0.65", markersize=1.5,
                alpha=0.6, rasterized=True, label="frames", gid="frames")
    bin_x, bin_y = _break_at_gaps(binned)
    ax.plot(axis.from_seconds(bin_x, origin), bin_y, "-o", color="C0",
            markersize=3, linewidth=1.2, label=f"{float(bin_size):g} s bins", gid="bins")
    set_time_axis(ax, axis)
    if events and model.hasattr("events"):
        plot_event_table(ax, events_table(model))
    ax.set_ylabel(f"relative flux ({source})")
    names = guidestar_names(model)
    if names:
        ax.set_title("guide star " + ", ".join(names))
    ax.legend(loc="best", fontsize="small")
    log.debug("binned plot: %d frames in %d bins of %g s", len(seconds), len(binned.value),
              float(bin_size))
    return ax


def _unit_label(unit):
    if unit is None or unit == u.dimensionless_unscaled:
        return ""
    return unit.to_string("generic").replace(" / ", "/")


def timeseries_list_plot(model, *, fit="auto", fig=None, flagged="mark", bin_size=None,
                         events=True):
    """The seven PSF parameters and the flux in stacked panels sharing the time axis.

    Parameters
    ----------
    model : GuideStarModel
        A model with a fit table (`~spelunker.GuideStarFitStep`).
    fit : {'auto', 'gauss', 'quick'}, optional
        Fit table to show (``'gauss_fit'`` and ``'quick_fit'`` are accepted
        too); ``'auto'`` prefers the 2-D Gaussian fit.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new one when None.
    flagged : {'mark', 'hide'}, optional
        Frames whose fit flags are not 0 are never drawn as values (their
        parameters are not trustworthy); ``'mark'`` shows their times as red
        ticks along the bottom of each parameter panel (line
        ``gid='flagged'``).
    bin_size : float, optional
        Also draw the means in bins of this many seconds (`bin_series`).
    events : bool, optional
        Mark the model's technical events on every panel (`plot_event_table`;
        legend on the top panel).

    Returns
    -------
    matplotlib.figure.Figure
        Eight Axes, top to bottom amplitude, x_mean, y_mean, x_stddev,
        y_stddev, theta, offset and flux; each with its values as line
        ``gid='values'``, y labels with units (DN/s, pix, rad).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frames or fit table, or a fit of other frames.
    spelunker.errors.ParameterError
        For a bad option.

    Examples
    --------
    The frames fitted with image moments (`~spelunker.GuideStarFitStep`)
    are all the figure needs:

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarFitStep, datasets
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> fitted = GuideStarFitStep.call(visit.files, method="quick")
    >>> from spelunker.plotting import timeseries_list_plot
    >>> fig = timeseries_list_plot(fitted)
    >>> [ax.get_ylabel().replace("\\n", " ") for ax in fig.axes[:2]]
    ['amplitude (DN/s)', 'x_mean (pix)']
    """
    from matplotlib import transforms  # matplotlib loads only when a figure is drawn

    flagged = check_choice(flagged, "flagged", ("mark", "hide"))
    table_name, table, seconds = frame_fit_table(model, fit)
    bad = np.asarray(table["flags"]) != 0
    relative, flux, source = relative_flux(model)
    del relative

    fig = new_figure(fig, (10, 13))
    axes = fig.subplots(len(FIT_PARAMETERS) + 1, 1, sharex=True)
    axis = TimeAxis.for_span(first_frame_time(model), float(np.ptp(seconds)) if len(seconds) else 0)
    x = axis.from_seconds(seconds, first_frame_time(model))
    panels = [(name, np.array(table[name].value, dtype=float), table[name].unit, True)
              for name in FIT_PARAMETERS]
    panels.append(("flux", flux, u.DN / u.s, False))
    for ax, (name, values, unit, from_fit) in zip(axes, panels, strict=True):
        shown = values.copy()
        if from_fit:
            shown[bad] = np.nan
        ax.plot(x, shown, ".", color="C0", markersize=1.5, rasterized=True, label=name,
                gid="values")
        if bin_size is not None:
            bin_x, bin_y = _break_at_gaps(bin_series(seconds, shown, bin_size))
            ax.plot(axis.from_seconds(bin_x, first_frame_time(model)), bin_y, "-",
                    color="C1", linewidth=1.0, label=f"{float(bin_size):g} s bins", gid="bins")
        if from_fit and flagged == "mark" and bad.any():
            blend = transforms.blended_transform_factory(ax.transData, ax.transAxes)
            ax.plot(x[bad], np.full(np.count_nonzero(bad), 0.03), "|", color="red",
                    markersize=6, transform=blend, label="flagged fit", gid="flagged")
        unit_text = _unit_label(unit)
        ax.set_ylabel(f"{name} ({unit_text})" if unit_text else name, fontsize="small")
        set_time_axis(ax, axis, label=False)
    axes[-1].text(0.01, 0.95, source, transform=axes[-1].transAxes, va="top",
                  fontsize="x-small", color="0.3")
    axes[-1].set_xlabel(axis.label)
    n_bad = int(np.count_nonzero(bad))
    names = guidestar_names(model)
    title = f"{table_name}: {len(bad) - n_bad} of {len(bad)} fits clean"
    if n_bad and flagged == "mark":
        title += f", {n_bad} flagged (red ticks, values hidden)"
    elif n_bad:
        title += f", {n_bad} flagged (hidden)"
    if names:
        title = f"guide star {', '.join(names)} - {title}"
    axes[0].set_title(title, fontsize="medium")
    if events and model.hasattr("events") and len(model.events):
        table = events_table(model)
        for ax in axes:
            plot_event_table(ax, table)
        axes[0].legend(loc="upper right", fontsize="x-small")
    fig.align_ylabels(axes)
    return fig


def relative_flux(model, *, frames=None):
    """The light curve of a model divided by its median, per guide star.

    The optimised-aperture ``lightcurve`` when the model has one (see
    `~spelunker.stpipe.PhotometryOptimizeStep`), else the sum of all pixels
    (`spelunker.photometry.full_frame_flux`).  Each guide star is divided by
    the median of its own frames (different stars have different count
    rates; one star is never split by file or visit:
    `~spelunker.GuideStarModel.guidestar_frames`).

    Parameters
    ----------
    model : GuideStarModel
    frames : slice or array_like of int, optional
        Only these frames: the flux is computed for them alone (a clip of
        a long visit does not sum every frame) and each guide star is
        divided by the median of its frames among them.  Default: all.

    Returns
    -------
    relative : numpy.ndarray
        float64 ``(n_selected,)``, NaN for frames without a flux.
    flux : numpy.ndarray
        The flux itself (DN/s).
    source : str
        ``'optimised aperture'`` or ``'full frame'``.

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``model`` that is not a GuideStarModel, or ``frames`` that do
        not select frames of the model.
    spelunker.errors.GuideStarInputError
        For a model without ``lightcurve`` and without frames.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.plotting import relative_flux
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=300, n_segments=1)], seed=3)
    >>> relative, flux, source = relative_flux(read_guidestar(visit.files), frames=slice(10, 20))
    >>> relative.shape, source
    ((10,), 'full frame')
    """
    check_model(model, where="relative_flux")
    if model.hasattr("lightcurve"):
        n_frames = len(model.lightcurve)
        index = _selected_frames(frames, n_frames)
        flux = np.asarray(model.lightcurve["flux"], dtype=float)[index]
        source = "optimised aperture"
    else:
        model.require_frames("the full-frame flux")
        n_frames = len(model.data)
        index = _selected_frames(frames, n_frames)
        # A slice selects a view, a list of frames copies only those frames.
        selection = slice(None) if frames is None else frames
        dq = np.asarray(model.dq)[selection] \
            if model.hasattr("dq") and np.shape(model.dq) == np.shape(model.data) else None
        flux, _ = full_frame_flux(np.asarray(model.data)[selection], dq=dq)
        source = "full frame"
    relative = np.full(flux.shape, np.nan)
    for _, star_frames in frames_by_guidestar(model, n_frames):
        members = np.isin(index, star_frames)
        finite = members & np.isfinite(flux)
        if finite.any():
            relative[members] = flux[members] / np.median(flux[finite])
    return relative, flux, source


def _selected_frames(frames, n_frames):
    """The frame numbers ``frames`` (a slice, frame numbers or a mask) selects; all for None."""
    every = np.arange(n_frames)
    if frames is None:
        return every
    try:
        index = every[frames]
    except (IndexError, TypeError, ValueError):
        index = None
    if index is None or index.ndim != 1:
        msg = (f"relative_flux: frames={frames!r:.60} must be a slice or frame numbers "
               f"(-{n_frames} to {n_frames - 1}) of the model's {n_frames} frames")
        raise ParameterError(msg)
    return index


def _break_at_gaps(binned):
    """x and y of binned values, NaN between non-adjacent bins (no line across gaps)."""
    gaps = np.flatnonzero(np.diff(binned.bin) > 1) + 1
    return (np.insert(binned.time.astype(float), gaps, np.nan),
            np.insert(binned.value.astype(float), gaps, np.nan))
