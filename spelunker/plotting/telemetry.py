"""Draw telemetry and events over spelunker's time-series plots.

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

from spelunker.events import HGA_MNEMONIC, check_kind, hga_intervals
from spelunker.plotting.figures import (
    KeepXlim,
    plot_events,
    plot_intervals,
    set_time_axis,
    time_axis,
    to_axis_time,
)

__all__ = ["plot_local_events", "plot_mnemonic"]

log = logging.getLogger(__name__)

#: Style of each kind of `spelunker.events.local_events` (drawn by `plot_local_events`).
_LOCAL_STYLES = {
    "GUIDESTAR": {"label": "guide-star change", "color": "C3", "gid": "GUIDESTAR"},
    "FILENAME": {"label": "file start", "color": "0.4", "gid": "FILENAME", "linestyle": ":"},
    "HGA": {"label": "HGA moving (POINTING)", "color": "C1", "gid": "HGA"},
}


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
    kind = check_kind(kind)
    style = _LOCAL_STYLES[kind]
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
    name = (mnemonic or table.meta.get("mnemonic") or "telemetry").upper()
    values = np.asarray(table["value"])
    if name == HGA_MNEMONIC or (values.dtype.kind in "US" and values.size and np.all(
            np.isin(np.char.upper(np.char.strip(values.astype(str))), ["MOVING", "FINISHED"]))):
        plot_intervals(ax, hga_intervals(table), label=f"HGA moving ({name})", color="C1",
                       gid=name)
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
