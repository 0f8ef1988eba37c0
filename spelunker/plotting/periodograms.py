"""The periodogram figure: Lomb-Scargle power against period for every series, peaks marked.

`periodogram_plot` draws the ``periodogram`` and ``periodogram_peaks``
tables of a model (`~spelunker.PeriodogramStep`): one panel per series, one
curve per visit and guide star (the model's grouping,
`spelunker.datamodels.guidestar.group_rows`), labelled here.
"""

import numpy as np
from astropy import units as u

from spelunker._validate import check_positive_int
from spelunker.datamodels.guidestar import group_rows
from spelunker.errors import GuideStarInputError
from spelunker.periodogram import PERIODOGRAM_SERIES, periodogram_peaks_table, periodogram_table
from spelunker.plotting._canvas import new_figure
from spelunker.plotting._model import guidestar_names

__all__ = ["periodogram_plot"]

#: Most points drawn per periodogram curve (longer curves are max-pooled).
_MAX_PERIODOGRAM_POINTS = 100_000


def periodogram_plot(model, *, fig=None, max_points=_MAX_PERIODOGRAM_POINTS, n_peaks=3):
    """Lomb-Scargle power against period for every series, with the strongest peaks.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``periodogram`` table (`~spelunker.PeriodogramStep`);
        peaks come from its ``periodogram_peaks`` table.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new one when None.
    max_points : int or None, optional
        Longer curves are reduced to about this many points by keeping the
        highest power of each run of neighbouring frequencies (peaks
        survive); shorter curves are drawn exactly.  None draws every point.
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
    spelunker.errors.GuideStarInputError
        For a model without a periodogram, or one where every series is NaN.
    spelunker.errors.ParameterError
        For a ``max_points`` or ``n_peaks`` that is not a positive integer.

    Examples
    --------
    The whole pipeline (fit, photometry, periodograms, events) gives the
    periodograms and their peaks:

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import periodogram_plot
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=1)], seed=3)
    >>> fig = periodogram_plot(GuideStarPipeline.call(visit.files,
    ...                                               steps={"fit": {"method": "quick"}}))
    >>> [ax.get_title() for ax in fig.axes][:3], fig.axes[0].get_xscale()
    (['amplitude', 'x_mean', 'y_mean'], 'log')
    """
    if max_points is not None:
        max_points = check_positive_int(max_points, "max_points")
    n_peaks = check_positive_int(n_peaks, "n_peaks")
    table = periodogram_table(model)
    names = [name for name in PERIODOGRAM_SERIES
             if name in table.colnames and np.any(np.isfinite(np.asarray(table[name])))]
    if not names:
        msg = "every series of the periodogram table is NaN: nothing to plot"
        raise GuideStarInputError(msg)
    peaks = periodogram_peaks_table(model) if model.hasattr("periodogram_peaks") else None
    groups = _periodogram_groups(table, peaks, model)

    fig = new_figure(fig, (11, 2.4 * ((len(names) + 1) // 2) + 0.6))
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
    """``[(label, rows, peaks)]`` of each periodogram (visit and guide star) of a model.

    ``label`` is None when the table holds one periodogram; ``peaks`` the
    rows of ``peaks`` of that visit and guide star (None without peaks).
    """
    groups = group_rows(table["visit_index"], table["guidestar_index"])
    labelled = len(groups) > 1
    return [(_group_label(model, visit_index, star) if labelled else None, rows,
             None if peaks is None else peaks[(peaks["visit_index"] == visit_index)
                                              & (peaks["guidestar_index"] == star)])
            for visit_index, star, rows in groups]


def _group_label(model, visit_index, star):
    """``'obs 1 visit 2, <gs_id>'`` of one periodogram (indices where the model has no name)."""
    visits, stars = model.visits(), guidestar_names(model)
    visit = visits[visit_index] if visit_index < len(visits) else None
    label = f"obs {visit[1]} visit {visit[2]}" if visit else f"visit {visit_index}"
    return label + (f", {stars[star]}" if star < len(stars) else f", star {star}")


def _reduce_curve(x, y, max_points):
    """Max-pool (x, y) to about ``max_points`` points; unchanged when short enough."""
    if max_points is None or len(y) <= max_points:
        return x, y
    step = int(np.ceil(len(y) / max_points))
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
