"""Draw telemetry and events over spelunker's time-series plots.

- `plot_event_table`: the technical events of `spelunker.events.find_events`
  (a model's ``events`` table), in the styles of
  `spelunker.plotting.styles.EVENT_STYLES`;
- `plot_mnemonic`: engineering telemetry from
  `spelunker.archive.engdb.mnemonics` (``SA_ZHGAUPST``: shaded
  high-gain-antenna moves; numeric mnemonics such as ``INIS_FWMTRCURR``: a
  line on a twin y axis; other strings: a vertical line at each change);
- `plot_local_events`: the tables of `spelunker.events.local_events`
  (guide-star changes, file starts, HGA moves from the POINTING table);
- `plot_events`, `plot_intervals`: vertical lines and shaded spans at given
  times.

Times land on the plot's time axis (`~spelunker.plotting.TimeAxis`, via
`~spelunker.plotting.to_axis_time`), MJD on other Axes; the x limits of an
Axes that already shows data are kept.
"""

import logging

import numpy as np
from astropy.table import QTable, Table

from spelunker.errors import ParameterError
from spelunker.events import HGA_MNEMONIC, check_kind, hga_intervals
from spelunker.plotting._canvas import check_axes
from spelunker.plotting.styles import EVENT_STYLES, LOCAL_EVENT_STYLES
from spelunker.plotting.timeaxis import KeepXlim, set_time_axis, time_axis, to_axis_time

__all__ = ["plot_events", "plot_intervals", "plot_event_table", "plot_local_events",
           "plot_mnemonic"]

log = logging.getLogger(__name__)


def _check_table(table, name, columns, *, where, source):
    """Refuse anything but an astropy Table with ``columns`` (made by ``source``)."""
    if not isinstance(table, Table) or not set(columns) <= set(table.colnames):
        needed = " and ".join(repr(column) for column in columns)
        msg = (f"{where}: {name}={table!r:.60} must be an astropy Table with {needed} "
               f"column{'s' if len(columns) > 1 else ''} ({source})")
        raise ParameterError(msg)
    return table


def _check_style(color, linestyle=None, *, where):
    """Refuse a colour or line style matplotlib cannot draw, before anything is drawn."""
    # matplotlib loads only when drawing.
    from matplotlib.colors import is_color_like
    from matplotlib.lines import Line2D

    if not is_color_like(color):
        msg = f"{where}: color={color!r:.60} is not a matplotlib colour ('C1', '0.4', 'red', ...)"
        raise ParameterError(msg)
    try:
        Line2D([], [], linestyle=linestyle)
    except ValueError:
        msg = (f"{where}: linestyle={linestyle!r:.60} is not a matplotlib line style "
               "('-', '--', ':', '-.', ...)")
        raise ParameterError(msg) from None


def plot_intervals(ax, intervals, *, label, color, gid):
    """Shade each ``start``-``stop`` interval of a table on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target.
    intervals : astropy.table.Table
        ``start`` and ``stop`` columns (Time or MJD), e.g. from
        `spelunker.events.hga_intervals`.
    label, color, gid : str
        The style of the spans (the keys of a style of
        `~spelunker.plotting.styles.EVENT_STYLES`): legend label (on the
        first span only), matplotlib colour, and group id of the patches (to
        find them in the figure).

    Returns
    -------
    spans : list of matplotlib.patches.Polygon
        One per interval, the first labelled.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``ax`` is not an Axes, ``intervals`` not a Table with
        ``start`` and ``stop``, or ``color`` not a colour.

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
    where = "plot_intervals"
    check_axes(ax, where=where)
    _check_table(intervals, "intervals", ("start", "stop"), where=where,
                 source="e.g. spelunker.events.hga_intervals")
    _check_style(color, where=where)
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
    label, color, gid, linestyle : str
        The style of the lines (a style of
        `~spelunker.plotting.styles.EVENT_STYLES`): legend label (on the
        first line only), matplotlib colour, group id of the lines and,
        optionally, their line style (default dashed).

    Returns
    -------
    list of matplotlib.lines.Line2D
        The lines.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``ax`` is not an Axes, ``times`` not times, or ``color`` or
        ``linestyle`` not a matplotlib style.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import plot_events
    >>> ax = Figure().add_subplot()
    >>> len(plot_events(ax, [60000.1, 60000.2], label="file start", color="0.4",
    ...                 gid="FILENAME"))
    2
    """
    where = "plot_events"
    check_axes(ax, where=where)
    _check_style(color, linestyle, where=where)
    try:
        if len(times) == 0:
            return []
    except TypeError:  # a single time (or not a time: to_axis_time says so)
        pass
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
        The events table (``kind``, ``start`` and ``end`` columns).

    Returns
    -------
    list of matplotlib.artist.Artist

    Raises
    ------
    spelunker.errors.ParameterError
        When ``ax`` is not an Axes or ``events`` not an events table.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astropy.time import Time
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import plot_event_table
    >>> events = QTable({"kind": ["tilt"], "start": Time([60000.5], format="mjd"),
    ...                  "end": Time([60000.5], format="mjd")})
    >>> len(plot_event_table(Figure().add_subplot(), events))
    1
    """
    where = "plot_event_table"
    check_axes(ax, where=where)
    _check_table(events, "events", ("kind", "start", "end"), where=where,
                 source="spelunker.events.find_events or events_table")
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


def plot_local_events(ax, table, kind):
    """Draw a table of `spelunker.events.local_events` on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target.
    table : astropy.table.Table
        The events of ``kind``.
    kind : {'GUIDESTAR', 'FILENAME', 'HGA'}
        Dashed vertical lines (GUIDESTAR: ``gid='GUIDESTAR'``), dotted
        ones (FILENAME: ``gid='FILENAME'``) at ``time``, or shaded spans
        (HGA: ``gid='HGA'``) from ``start`` to ``stop``.

    Returns
    -------
    list of matplotlib.artist.Artist
        The lines or spans.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.events import local_events
    >>> from spelunker.plotting import timeseries_binned_plot
    >>> from spelunker.plotting.telemetry import plot_local_events
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=600, n_segments=2)], seed=3)
    >>> model = read_guidestar(visit.files)
    >>> ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    >>> len(plot_local_events(ax, local_events(model, "FILENAME"), "FILENAME"))
    2
    """
    where = "plot_local_events"
    kind = check_kind(kind)
    check_axes(ax, where=where)
    _check_table(table, "table", ("start", "stop") if kind == "HGA" else ("time",), where=where,
                 source=f"spelunker.events.local_events(model, {kind!r})")
    style = LOCAL_EVENT_STYLES[kind]
    if kind == "HGA":
        return plot_intervals(ax, table, **style)
    return plot_events(ax, table["time"], **style)


def plot_mnemonic(table, ax, *, mnemonic=None):
    """Draw telemetry from `spelunker.archive.engdb.mnemonics` on ``ax``.

    Parameters
    ----------
    table : astropy.table.Table
        ``time`` and ``value`` columns.
    ax : matplotlib.axes.Axes
        Target; times are converted with `spelunker.plotting.to_axis_time`
        (the plot's time axis, or MJD).  Its x limits are kept when it
        already shows data.
    mnemonic : str, optional
        Name for labels; default ``table.meta['mnemonic']``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: ``ax`` for shaded HGA intervals (patches
        ``gid='SA_ZHGAUPST'``) and string events, the new twin Axes (y label
        = mnemonic, line ``gid=<mnemonic>``) for numeric values.  The twin
        shares the x axis and the `~spelunker.plotting.TimeAxis` of ``ax``,
        so overlays drawn on it land at the same times.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting.telemetry import plot_mnemonic
    >>> ax = Figure().add_subplot()
    >>> current = Table({"time": [60000.0, 60000.001], "value": [0.1, 0.3]},
    ...                 meta={"mnemonic": "INIS_FWMTRCURR"})
    >>> plot_mnemonic(current, ax).get_ylabel()
    'INIS_FWMTRCURR'
    """
    where = "plot_mnemonic"
    _check_table(table, "table", ("time", "value"), where=where,
                 source="spelunker.archive.engdb.mnemonics")
    check_axes(ax, where=where)
    if mnemonic is not None and not isinstance(mnemonic, str):
        msg = f"{where}: mnemonic={mnemonic!r:.60} must be a string (a mnemonic's name) or None"
        raise ParameterError(msg)
    name = (mnemonic or table.meta.get("mnemonic") or "telemetry").upper()
    values = np.asarray(table["value"])
    if name == HGA_MNEMONIC or (values.dtype.kind in "US" and values.size and np.all(
            np.isin(np.char.upper(np.char.strip(values.astype(str))), ["MOVING", "FINISHED"]))):
        plot_intervals(ax, hga_intervals(table), label=f"HGA moving ({name})",
                       color=EVENT_STYLES["hga_move"]["color"], gid=name)
        return ax
    if values.dtype.kind in "fiu":
        twin = ax.twinx()
        axis = time_axis(ax)
        if axis is not None:  # further overlays on the twin land at the same times
            set_time_axis(twin, axis, label=False)
        with KeepXlim(ax):
            twin.plot(to_axis_time(ax, table["time"]) if len(table) else [],
                      values.astype(float), "-", color="C2", linewidth=0.9, label=name, gid=name)
        twin.set_ylabel(name, color="C2")
        twin.tick_params(axis="y", colors="C2")
        return twin
    text = values.astype(str)
    changed = np.concatenate(([True], text[1:] != text[:-1])) if text.size else np.zeros(0, bool)
    times = table["time"][changed]
    lines = plot_events(ax, times, label=name, color="C4", gid=name, linestyle=":")
    for line, value in zip(lines, text[changed], strict=True):
        ax.annotate(value, (line.get_xdata()[0], 1.0), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="right", fontsize="x-small", color="C4")
    return ax
