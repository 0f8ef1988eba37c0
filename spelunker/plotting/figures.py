"""Quick-look figures of a `~spelunker.GuideStarModel`.

Plain functions: each takes a model (or tables), draws into the matplotlib
``ax`` (or ``fig``) it is given or into a new one, and returns the Axes (the
Figure for multi-panel plots).  They never modify the model.

- `timeseries_binned_plot`: relative flux of every frame and its time-binned
  mean.
- `timeseries_list_plot`: the seven PSF parameters of a fit and the flux in
  stacked panels sharing the time axis; flagged fits hidden and marked.
- `periodogram_plot`: Lomb-Scargle power against period for every series,
  with the strongest peaks.
- `frame_plot`: one frame, or the median frame, with the photometric
  aperture outlined.
- `position_plot`: the guide-star centre track from the fit.

**Time axes.**  Time-series plots use time since the first frame in s, min
or h (chosen from the span, `TimeAxis.for_span`), labelled with the UTC time
of the first frame.  The plot records its `TimeAxis` on the Axes, and every
overlay (`spelunker.plotting.telemetry`: telemetry from
`spelunker.archive.engdb.mnemonics`, events from `spelunker.events`) converts its times with
`to_axis_time`, so telemetry lands at the right place.  On Axes without a
`TimeAxis` (a plot made with matplotlib directly), overlays use MJD (UTC),
as the original spelunker did.

**Binning.**  The plots bin with `spelunker.binning.bin_series` (also
exported here): bin ``k`` holds the frames with
``k <= (t - t_first) / bin_size < k + 1``, the same bins as the aperture
metric of `spelunker.photometry`.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from spelunker.binning import DEFAULT_BIN_SIZE, BinnedSeries, bin_series
from spelunker.events import events_table
from spelunker.fitting import fit_table
from spelunker.periodogram import (
    FIT_PARAMETERS,
    PERIODOGRAM_SERIES,
    periodogram_peaks_table,
    periodogram_table,
)
from spelunker.photometry import DEFAULT_REFERENCE_FRAMES, full_frame_flux, reference_frame
from spelunker.plotting.styles import EVENT_STYLES
from spelunker.times import as_utc_time as as_time

__all__ = [
    "timeseries_binned_plot",
    "timeseries_list_plot",
    "periodogram_plot",
    "frame_plot",
    "position_plot",
    "bin_series",
    "BinnedSeries",
    "relative_flux",
    "TimeAxis",
    "time_axis",
    "set_time_axis",
    "to_axis_time",
    "as_time",
    "DEFAULT_BIN_SIZE",
    "plot_events",
    "plot_intervals",
    "plot_event_table",
]

log = logging.getLogger(__name__)

#: Seconds per unit of the time axes.
_SECONDS_PER = {"s": 1.0, "min": 60.0, "h": 3600.0}

#: Above this span (s) the time axis is in minutes, and above `_HOURS_FROM` in hours.
_MINUTES_FROM = 120.0
_HOURS_FROM = 2 * 3600.0

#: Attribute of a matplotlib Axes holding its TimeAxis.
_TIME_AXIS_ATTRIBUTE = "_spelunker_time_axis"

#: Most points drawn per periodogram curve (longer curves are max-pooled).
_MAX_PERIODOGRAM_POINTS = 100_000


# --------------------------------------------------------------------------
# Times and time axes


@dataclass(frozen=True)
class TimeAxis:
    """A time axis in a unit of time since a reference time (UTC).

    Parameters
    ----------
    reference : astropy.time.Time
        Time of the axis origin (scalar), normally the first frame.
    unit : {'s', 'min', 'h'}
        Unit of the axis.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from spelunker.plotting import TimeAxis
    >>> axis = TimeAxis.for_span(Time(60000.0, format="mjd"), 600.0)
    >>> axis.unit, axis.label
    ('min', 'time since 2023-02-25T00:00:00.000 UTC (min)')
    >>> round(float(axis.to_axis(60000.0 + 90.0 / 86400.0)[0]), 6)
    1.5
    """

    reference: Time
    unit: str

    def __post_init__(self):
        if self.unit not in _SECONDS_PER:
            msg = f"TimeAxis.unit={self.unit!r} is not one of {list(_SECONDS_PER)}"
            raise ValueError(msg)
        object.__setattr__(self, "reference", as_time(self.reference, name="reference"))

    @classmethod
    def for_span(cls, reference, span):
        """The axis for data spanning ``span`` seconds: s below 2 min, min below 2 h, else h."""
        span = float(span)
        if span < _MINUTES_FROM:
            unit = "s"
        elif span < _HOURS_FROM:
            unit = "min"
        else:
            unit = "h"
        return cls(reference, unit)

    @property
    def seconds_per_unit(self):
        """Seconds in one unit of the axis."""
        return _SECONDS_PER[self.unit]

    @property
    def label(self):
        """Axis label naming the reference time (UTC) and the unit."""
        return f"time since {self.reference.isot} UTC ({self.unit})"

    def to_axis(self, times):
        """Axis coordinates of ``times`` (Time, MJD numbers or ISO strings).

        Returns
        -------
        numpy.ndarray
            float64, at least 1-D.
        """
        times = as_time(times)
        seconds = np.atleast_1d((times - self.reference).to_value(u.s))
        return seconds / self.seconds_per_unit

    def from_seconds(self, seconds, origin):
        """Axis coordinates of ``seconds`` counted from the time ``origin``."""
        shift = float((as_time(origin, name="origin") - self.reference).to_value(u.s))
        return (np.asarray(seconds, dtype=float) + shift) / self.seconds_per_unit


def time_axis(ax):
    """The `TimeAxis` recorded on a matplotlib Axes by the spelunker plots, or None."""
    return getattr(ax, _TIME_AXIS_ATTRIBUTE, None)


def set_time_axis(ax, axis, *, label=True):
    """Record ``axis`` (a `TimeAxis`) on the Axes ``ax`` and label its x axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    axis : TimeAxis
    label : bool, optional
        Set the x-axis label to ``axis.label``.
    """
    setattr(ax, _TIME_AXIS_ATTRIBUTE, axis)
    if label:
        ax.set_xlabel(axis.label)


def to_axis_time(ax, times):
    """x coordinates of ``times`` on the Axes ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An Axes drawn by a spelunker plot (with a `TimeAxis`) or any other.
    times : astropy.time.Time, float or array_like
        Times (Time, MJD in UTC or ISO strings).

    Returns
    -------
    numpy.ndarray
        Time since the axis reference in the axis unit; MJD (UTC) when the
        Axes has no `TimeAxis`.
    """
    axis = time_axis(ax)
    if axis is not None:
        return axis.to_axis(times)
    return np.atleast_1d(as_time(times).mjd).astype(float)


def _model_time_axis(model, ax, seconds):
    """The TimeAxis to draw ``model`` on ``ax``: the one already there, or a new one."""
    existing = time_axis(ax) if ax is not None else None
    if existing is not None:
        return existing
    span = float(np.nanmax(seconds) - np.nanmin(seconds)) if len(seconds) else 0.0
    return TimeAxis.for_span(_first_time(model), span)


def _first_time(model):
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    return Time(mjd.min(), format="mjd", scale="utc")


# --------------------------------------------------------------------------
# Marks at times: events and telemetry overlays


class KeepXlim:
    """Context manager: restore the x limits after drawing overlays on an Axes with data.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting.figures import KeepXlim
    >>> ax = Figure().add_subplot()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> with KeepXlim(ax):
    ...     _ = ax.axvline(5.0)
    >>> bool(ax.get_xlim()[1] < 5)
    True
    """

    def __init__(self, ax):
        self.ax = ax
        self.limits = None

    def __enter__(self):
        self.limits = self.ax.get_xlim() if self.ax.has_data() else None
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.ax.set_xlim(self.limits)
        return False


def plot_intervals(ax, intervals, *, label, color, gid):
    """Shade each ``start``-``stop`` interval of a table on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target.
    intervals : astropy.table.Table
        ``start`` and ``stop`` columns (Time or MJD), e.g. from
        `spelunker.events.hga_intervals`.
    label : str
        Legend label (on the first span only).
    color : str
        Matplotlib colour.
    gid : str
        Group id of the patches (to find them in the figure).

    Returns
    -------
    list of matplotlib.patches.Polygon
        The spans.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import plot_intervals
    >>> ax = Figure().add_subplot()
    >>> moves = Table({"start": [60000.1], "stop": [60000.2]})
    >>> len(plot_intervals(ax, moves, label="HGA", color="C1", gid="HGA"))
    1
    """
    if len(intervals) == 0:
        return []
    starts = to_axis_time(ax, intervals["start"])
    stops = to_axis_time(ax, intervals["stop"])
    patches = []
    with KeepXlim(ax):
        for k, (x0, x1) in enumerate(zip(starts, stops, strict=True)):
            patches.append(ax.axvspan(x0, x1, color=color, alpha=0.25, linewidth=0,
                                      label=label if k == 0 else None, gid=gid))
    return patches


def plot_events(ax, times, *, label, color, gid, linestyle="--"):
    """Draw a vertical line on ``ax`` at each time.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target.
    times : astropy.time.Time or array_like of float
        Times (or MJD).
    label : str
        Legend label (on the first line only).
    color : str
        Matplotlib colour.
    gid : str
        Group id of the lines.
    linestyle : str, optional
        Matplotlib line style.

    Returns
    -------
    list of matplotlib.lines.Line2D
        The lines.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import plot_events
    >>> ax = Figure().add_subplot()
    >>> len(plot_events(ax, [60000.1, 60000.2], label="file start", color="0.4",
    ...                 gid="FILENAME"))
    2
    """
    if len(times) == 0:
        return []
    lines = []
    with KeepXlim(ax):
        for k, x in enumerate(to_axis_time(ax, times)):
            lines.append(ax.axvline(x, color=color, linestyle=linestyle, linewidth=1.0,
                                    label=label if k == 0 else None, gid=gid))
    return lines


#: Kinds drawn as shaded spans (the others are lines at their start).
_SPAN_KINDS = ("flux_excursion", "hga_move", "gap")


def plot_event_table(ax, events):
    """Draw the events of `spelunker.events.find_events` on a time-series plot, with a legend.

    Lines at tilts, centroid jumps and guide-star changes; shaded spans over
    flux excursions, HGA moves and gaps; one legend entry per kind.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A plot of `spelunker.plotting` (its time axis) or any Axes (MJD).
    events : astropy.table.Table
        The events table.

    Returns
    -------
    list of matplotlib.artist.Artist

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astropy.time import Time
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import plot_event_table
    >>> events = QTable({"kind": ["tilt"], "start": Time([60000.5], format="mjd"),
    ...                  "end": Time([60000.5], format="mjd")})
    >>> len(plot_event_table(Figure().add_subplot(), events))
    1
    """
    artists = []
    kinds = list(dict.fromkeys(str(kind) for kind in events["kind"]))
    for kind in kinds:
        style = EVENT_STYLES.get(kind, {"label": kind, "color": "k", "gid": kind})
        mine = events[np.asarray(events["kind"]).astype(str) == kind]
        if kind in _SPAN_KINDS:
            spans = QTable({"start": mine["start"], "stop": mine["end"]})
            artists.extend(plot_intervals(ax, spans, label=style["label"], color=style["color"],
                                          gid=style["gid"]))
        else:
            artists.extend(plot_events(ax, mine["start"], **style))
    return artists


# --------------------------------------------------------------------------
# Binning and light curves


def _break_at_gaps(binned):
    """x and y of binned values, NaN between non-adjacent bins (no line across gaps)."""
    gaps = np.flatnonzero(np.diff(binned.bin) > 1) + 1
    return (np.insert(binned.time.astype(float), gaps, np.nan),
            np.insert(binned.value.astype(float), gaps, np.nan))


def relative_flux(model, *, frames=None):
    """The light curve of a model divided by its median, per guide star.

    The optimised-aperture ``lightcurve`` when the model has one (see
    `~spelunker.stpipe.PhotometryOptimizeStep`), else the sum of all pixels
    (`spelunker.photometry.full_frame_flux`).  Each guide star is divided by
    the median of its own frames (different stars have different count
    rates; one star is never split by file).

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
    if model.hasattr("lightcurve"):
        n_frames = len(model.lightcurve)
        index = np.arange(n_frames) if frames is None else np.arange(n_frames)[frames]
        flux = np.asarray(model.lightcurve["flux"], dtype=float)[index]
        source = "optimised aperture"
    else:
        model.require_frames("the full-frame flux")
        n_frames = len(model.data)
        index = np.arange(n_frames) if frames is None else np.arange(n_frames)[frames]
        # A slice selects a view, a list of frames copies only those frames.
        selection = slice(None) if frames is None else frames
        dq = np.asarray(model.dq)[selection] \
            if model.hasattr("dq") and np.shape(model.dq) == np.shape(model.data) else None
        flux, _ = full_frame_flux(np.asarray(model.data)[selection], dq=dq)
        source = "full frame"
    relative = np.full(flux.shape, np.nan)
    groups = guidestar_of_frames(model, n_frames)[index]
    for group in np.unique(groups):
        members = groups == group
        finite = members & np.isfinite(flux)
        if finite.any():
            relative[members] = flux[members] / np.median(flux[finite])
    return relative, flux, source


def guidestar_of_frames(model, n_frames):
    """Row of the guide-star table used by each frame (0 for all when the model has no frames table).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting.figures import guidestar_of_frames
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
    >>> from spelunker.plotting.figures import guidestar_names
    >>> guidestar_names(GuideStarModel())
    []
    """
    if not model.hasattr("guidestars") or len(model.guidestars) == 0:
        return []
    return [str(name) for name in model.table("guidestars")["gs_id"]]


def _require_frames(model):
    if not model.hasattr("frames") or len(model.frames) == 0:
        msg = "the model has no frames table (frame times): read it with spelunker.read_guidestar"
        raise ValueError(msg)


def _new_axes(ax, **subplot_kw):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    _, ax = plt.subplots(**subplot_kw)
    return ax


def _new_figure(fig, figsize):
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    return plt.figure(figsize=figsize, layout="constrained")


# --------------------------------------------------------------------------
# Plots


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
    ValueError
        For a model without frames or a bad ``bin_size``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import timeseries_binned_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> ax = timeseries_binned_plot(model, bin_size=5.0)
    >>> ax.get_xlabel()
    'time since 2022-12-04T01:35:36.027 UTC (s)'
    >>> ax.get_ylabel()
    'relative flux (optimised aperture)'
    """
    _require_frames(model)
    seconds = model.frame_seconds()
    relative, _, source = relative_flux(model)
    binned = bin_series(seconds, relative, bin_size)
    axis = _model_time_axis(model, ax, seconds)
    ax = _new_axes(ax, figsize=(10, 4))
    origin = _first_time(model)
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


def _frame_fit_table(model, fit):
    """``(table name, fit QTable, frame seconds)`` of a model whose fit table matches its frames."""
    _require_frames(model)
    name = model.fit_table_name(fit)
    table = fit_table(model, name, time=False)
    seconds = model.frame_seconds()
    if len(table) != len(seconds):
        msg = (f"{name} has {len(table)} rows but the model has {len(seconds)} "
               "frames: the fit does not belong to these frames (fit them again with "
               "GuideStarFitStep)")
        raise ValueError(msg)
    return name, table, seconds


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
    ValueError
        For a model without a fit table or frames, or a bad option.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import timeseries_list_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> fig = timeseries_list_plot(model)
    >>> [ax.get_ylabel().replace("\\n", " ") for ax in fig.axes[:2]]
    ['amplitude (DN/s)', 'x_mean (pix)']
    """
    from matplotlib import transforms  # matplotlib loads only when a figure is drawn

    if flagged not in ("mark", "hide"):
        msg = f"flagged={flagged!r} is not one of ['mark', 'hide']"
        raise ValueError(msg)
    table_name, table, seconds = _frame_fit_table(model, fit)
    bad = np.asarray(table["flags"]) != 0
    relative, flux, source = relative_flux(model)
    del relative

    fig = _new_figure(fig, (10, 13))
    axes = fig.subplots(len(FIT_PARAMETERS) + 1, 1, sharex=True)
    axis = TimeAxis.for_span(_first_time(model), float(np.ptp(seconds)) if len(seconds) else 0)
    x = axis.from_seconds(seconds, _first_time(model))
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
            ax.plot(axis.from_seconds(bin_x, _first_time(model)), bin_y, "-",
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


def periodogram_plot(model, *, fig=None, max_points=_MAX_PERIODOGRAM_POINTS, n_peaks=3):
    """Lomb-Scargle power against period for every series, with the strongest peaks.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``periodogram`` table (`~spelunker.PeriodogramStep`);
        peaks come from its ``periodogram_peaks`` table.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new one when None.
    max_points : int, optional
        Longer curves are reduced to about this many points by keeping the
        highest power of each run of neighbouring frequencies (peaks
        survive); shorter curves are drawn exactly.
    n_peaks : int, optional
        Peaks marked per series (by rank); the strongest is labelled.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per series that has a periodogram (the seven fit parameters
        and the flux, in `spelunker.periodogram.PERIODOGRAM_SERIES` order),
        period (s) on a log axis; each periodogram (one per visit and guide
        star, labelled when there are several) is a line ``gid='power'`` and
        the peaks are ``gid='peaks'``.

    Raises
    ------
    ValueError
        For a model without a periodogram, or one where every series is NaN.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import periodogram_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> fig = periodogram_plot(model)
    >>> [ax.get_title() for ax in fig.axes][:3], fig.axes[0].get_xscale()
    (['amplitude', 'x_mean', 'y_mean'], 'log')
    """

    table = periodogram_table(model)
    names = [name for name in PERIODOGRAM_SERIES
             if name in table.colnames and np.any(np.isfinite(np.asarray(table[name])))]
    if not names:
        msg = "every series of the periodogram table is NaN: nothing to plot"
        raise ValueError(msg)
    peaks = periodogram_peaks_table(model) if model.hasattr("periodogram_peaks") else None
    groups = _periodogram_groups(table, peaks, model)

    fig = _new_figure(fig, (11, 2.4 * ((len(names) + 1) // 2) + 0.6))
    n_rows = (len(names) + 1) // 2
    axes = np.atleast_1d(fig.subplots(n_rows, 2, sharex=True, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=False):
        for colour, (label, rows, group_peaks) in enumerate(groups):
            frequency = table["frequency"][rows].to_value(u.Hz)
            positive = frequency > 0
            power = np.asarray(table[name][rows], dtype=float)[positive]
            x, y = _reduce_curve(1.0 / frequency[positive], power, max_points)
            ax.plot(x, y, "-", color=f"C{colour % 10}", linewidth=0.7,
                    label=label or name, gid="power")
            if group_peaks is None:
                continue
            mine = group_peaks[(group_peaks["series"] == name)
                               & (group_peaks["rank"] <= n_peaks)]
            if len(mine):
                periods = mine["period"].to_value(u.s)
                ax.plot(periods, np.asarray(mine["power"], dtype=float), "v", color="C3",
                        markersize=5, label="peaks" if colour == 0 else None, gid="peaks")
                best = int(np.argmin(np.asarray(mine["rank"])))
                ax.annotate(f"{periods[best]:.4g} s", (periods[best], float(mine["power"][best])),
                            textcoords="offset points", xytext=(4, 2), fontsize="x-small",
                            color="C3")
        ax.set_xscale("log")
        ax.set_title(name, fontsize="medium")
        ax.set_ylabel("power")
        if len(groups) > 1:
            ax.legend(loc="upper right", fontsize="x-small")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    for ax in axes[max(0, len(names) - 2):len(names)]:
        ax.set_xlabel("period (s)")
        ax.xaxis.set_tick_params(labelbottom=True)
    source = table.meta.get("source")
    fig.suptitle("Lomb-Scargle periodograms" + (f" ({source})" if source else ""),
                 fontsize="medium")
    return fig


def _periodogram_groups(table, peaks, model):
    """``[(label, rows, peaks)]`` of each periodogram (visit and guide star) of a model."""
    keys = np.stack([np.asarray(table["visit_index"]), np.asarray(table["guidestar_index"])], 1)
    unique, first = np.unique(keys, axis=0, return_index=True)
    unique = unique[np.argsort(first)]
    visits, stars = model.visits(), guidestar_names(model)
    groups = []
    for visit_index, star in unique:
        rows = np.flatnonzero((keys[:, 0] == visit_index) & (keys[:, 1] == star))
        label = None
        if len(unique) > 1:
            visit = visits[visit_index] if visit_index < len(visits) else None
            label = (f"obs {visit[1]} visit {visit[2]}" if visit else f"visit {visit_index}")
            label += f", {stars[star]}" if star < len(stars) else f", star {star}"
        mine = None
        if peaks is not None:
            mine = peaks[(peaks["visit_index"] == visit_index)
                         & (peaks["guidestar_index"] == star)]
        groups.append((label, rows, mine))
    return groups


def _reduce_curve(x, y, max_points):
    """Max-pool (x, y) to about ``max_points`` points; unchanged when short enough."""
    if max_points is None or len(y) <= int(max_points):
        return x, y
    step = int(np.ceil(len(y) / int(max_points)))
    n_full = len(y) // step * step
    pooled = np.where(np.isfinite(y), y, -np.inf)
    keep = []
    if n_full:
        blocks = pooled[:n_full].reshape(-1, step)
        keep.append(np.arange(0, n_full, step) + np.argmax(blocks, axis=1))
    if n_full < len(y):
        keep.append(np.array([n_full + int(np.argmax(pooled[n_full:]))]))
    index = np.concatenate(keep)
    return x[index], y[index]


def _frame_image(model, index, guidestar):
    """The image, its aperture plane and a title for `frame_plot` and the animation."""
    model.require_frames("a frame image")
    data = model.data
    n_frames = len(data)
    groups = guidestar_of_frames(model, n_frames)
    names = guidestar_names(model)
    if index is not None:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            msg = f"index={index!r} must be an integer frame number"
            raise ValueError(msg)
        if not -n_frames <= index < n_frames:
            msg = f"index={index} is outside the {n_frames} frames of the model"
            raise ValueError(msg)
        index = int(index) % n_frames
        group = int(groups[index])
        image = np.asarray(data[index], dtype=float)
        when = ""
        if model.hasattr("frames") and len(model.frames) == n_frames:
            mjd = float(model.frames["mid_time_mjd"][index])
            when = f", {Time(mjd, format='mjd', scale='utc').isot} UTC"
        title = f"frame {index}{when}"
    else:
        group = int(groups[0]) if guidestar is None else int(guidestar)
        members = np.flatnonzero(groups == group)
        if members.size == 0:
            msg = f"guidestar={guidestar!r}: no frame of the model uses that guide star"
            raise ValueError(msg)
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

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.plotting.figures import aperture_outline
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[3:5, 3:5] = True
    >>> len(aperture_outline(mask))
    8
    """
    mask = np.asarray(mask, dtype=bool)
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
    ValueError
        For an index outside the frames or an unused guide star.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import frame_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> ax = frame_plot(model)
    >>> ax.images[0].get_array().shape, ax.images[0].colorbar.ax.get_ylabel()
    ((8, 8), 'DN/s')
    """
    from matplotlib.collections import LineCollection  # matplotlib loads only when drawing

    image, mask, title, _ = _frame_image(model, index, guidestar)
    ax = _new_axes(ax, figsize=(5.5, 4.5))
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
    ValueError
        For a model without a fit table, a fit table whose length differs
        from the number of frames, or no clean fit.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import position_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> ax = position_plot(model)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('x_mean (pix)', 'y_mean (pix)')
    """
    name, table, seconds = _frame_fit_table(model, fit)
    clean = np.asarray(table["flags"]) == 0
    if not clean.any():
        msg = f"{name} has no clean fit (every frame is flagged)"
        raise ValueError(msg)
    axis = TimeAxis.for_span(_first_time(model), float(np.ptp(seconds)))
    x = table["x_mean"].to_value(u.pix)[clean]
    y = table["y_mean"].to_value(u.pix)[clean]
    ax = _new_axes(ax, figsize=(6, 5))
    points = ax.scatter(x, y, c=axis.from_seconds(seconds[clean], _first_time(model)), s=2,
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
