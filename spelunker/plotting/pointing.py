"""The jitter figure: pointing offsets in mas with the 15 s rms band, their spectrum, excursions.

Draws what `spelunker.pointing` measures for one visit and guide star (a
`~spelunker.pointing.PointingSeries`, or any object with its ``seconds``,
``dv2_mas``, ``dv3_mas`` and optionally ``good`` and ``mjd`` arrays):

- the V2 and V3 offsets (mas) of every frame against time, their 15 s
  averages (`spelunker.pointing.STABILITY_INTERVAL`) and a band of plus or
  minus JWST's stability metric, the rms of those averages
  (`spelunker.pointing.stability_metrics`);
- the Welch power spectrum (mas^2/Hz, `spelunker.pointing.jitter_spectrum`)
  with its strongest lines (`spelunker.pointing.spectral_lines`) marked;
- the 2-D histogram of excursions (`spelunker.pointing.excursion_histogram`).

`pointing_figure` draws it for one visit and guide star of a fitted model
(`spelunker.pointing.pointing_series`); `pointing_section` is the report's
pointing section (the figure and the metrics of
`spelunker.pointing.pointing_stability`).
"""

import html
import logging

import numpy as np
from astropy.time import Time

from spelunker._validate import check_float_array
from spelunker.datamodels import check_model
from spelunker.errors import ParameterError
from spelunker.names import visit_id
from spelunker.plotting._canvas import new_figure
from spelunker.plotting._model import guidestar_names, require_frames_table
from spelunker.plotting._page import html_table, saved_figure
from spelunker.plotting.timeaxis import TimeAxis, set_time_axis
from spelunker.pointing import (
    STABILITY_COLUMNS,
    STABILITY_INTERVAL,
    excursion_histogram,
    interval_averages,
    jitter_spectrum,
    pointing_series,
    pointing_stability,
    spectral_lines,
    stability_metrics,
)

__all__ = ["jitter_plot", "pointing_figure", "pointing_section", "JITTER_STYLES",
           "JITTER_CAPTION"]

log = logging.getLogger(__name__)

#: Axis -> colour and label of its curves (``gid``: the artists' ids, for tests and SVG).
JITTER_STYLES = {
    "v2": {"color": "C0", "label": "V2"},
    "v3": {"color": "C3", "label": "V3"},
    "line": {"color": "0.3", "linestyle": ":", "gid": "spectral_line"},
}

#: Caption of the report's jitter figure.
JITTER_CAPTION = ("Guide-star offsets from their mean in V2 and V3 (mas; fitted centroids "
                  "through the SIAF distortion), their 15 s averages, and a band of plus or "
                  "minus the rms of those averages (JWST's stability metric); the Welch "
                  "power spectrum "
                  "(mas^2/Hz) with its strongest lines marked (frequency, semi-amplitude); "
                  "the 2-D histogram of the excursions.")


def _series_arrays(series, *, where):
    """``(seconds, dv2, dv3, good, mjd)`` of a PointingSeries-like object."""
    try:
        seconds, dv2, dv3 = series.seconds, series.dv2_mas, series.dv3_mas
    except AttributeError:
        msg = (f"{where}: series={series!r:.60} must be a PointingSeries "
               "(spelunker.pointing.pointing_series) or have seconds, dv2_mas and dv3_mas")
        raise ParameterError(msg) from None
    seconds = check_float_array(seconds, "series.seconds", where=where)
    dv2 = check_float_array(dv2, "series.dv2_mas", shape=seconds.shape, where=where)
    dv3 = check_float_array(dv3, "series.dv3_mas", shape=seconds.shape, where=where)
    good = getattr(series, "good", None)
    good = (np.ones(seconds.shape, dtype=bool) if good is None
            else np.asarray(good, dtype=bool).reshape(seconds.shape))
    good &= np.isfinite(seconds) & np.isfinite(dv2) & np.isfinite(dv3)
    if np.count_nonzero(good) < 2:
        msg = f"{where}: the series has fewer than 2 good frames to draw"
        raise ParameterError(msg)
    mjd = getattr(series, "mjd", None)
    return seconds, dv2, dv3, good, None if mjd is None else np.asarray(mjd, dtype=float)


def jitter_plot(series, *, spectrum=None, lines=None, histogram=None, fig=None,
                interval=STABILITY_INTERVAL, title=None):
    """Offsets in mas against time with the 15 s rms band, the spectrum, the excursion histogram.

    Parameters
    ----------
    series : spelunker.pointing.PointingSeries
        Or any object with ``seconds`` (since the first frame), ``dv2_mas``,
        ``dv3_mas`` and optionally ``good`` (frames to use) and ``mjd``
        (UTC; the time axis then names the first frame's time).
    spectrum : spelunker.pointing.JitterSpectrum, optional
        Default `spelunker.pointing.jitter_spectrum` of the good frames.
    lines : astropy.table.Table, optional
        Lines to mark (``frequency_hz``, ``amplitude_mas``); default
        `spelunker.pointing.spectral_lines` of the spectrum.
    histogram : tuple, optional
        ``(counts, v2_edges_mas, v3_edges_mas)``, counts of shape
        ``(n_v3, n_v2)``; default
        `spelunker.pointing.excursion_histogram` of the good frames.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new pyplot figure when None.
    interval : float, optional
        Interval of the averages whose rms is the band (s); JWST's metric uses 15 s.
    title : str, optional
        Title of the time panel (default: the 15 s stability per axis).

    Returns
    -------
    matplotlib.figure.Figure
        Three Axes: offsets against time (top), spectrum (bottom left),
        excursion histogram (bottom right, with a colour bar).  The marked
        lines are the artists with ``gid='spectral_line'``; the bands have
        ``gid='rms_band_v2'`` / ``'rms_band_v3'``.

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``series`` without the arrays, of mismatched lengths or with
        fewer than 2 good frames, or a ``fig`` that is not a Figure.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting.pointing import jitter_plot
    >>> t = np.arange(0, 300, 0.0625)
    >>> rng = np.random.default_rng(1)
    >>> series = SimpleNamespace(seconds=t, dv2_mas=2 * np.sin(2 * np.pi * 0.5 * t)
    ...                          + rng.normal(0, 1, t.size), dv3_mas=rng.normal(0, 1, t.size))
    >>> fig = jitter_plot(series, fig=Figure())
    >>> [ax.get_xlabel() for ax in fig.axes[:3]]
    ['time since the first frame (s)', 'frequency (Hz)', 'ΔV2 (mas)']
    """
    where = "jitter_plot"
    seconds, dv2, dv3, good, mjd = _series_arrays(series, where=where)
    # frames not used are NaN, as `spelunker.pointing.series_spectrum` leaves them out
    x2, x3 = np.where(good, dv2, np.nan), np.where(good, dv3, np.nan)
    if spectrum is None:
        spectrum = jitter_spectrum(seconds, x2, x3)
    if lines is None:
        lines = spectral_lines(spectrum)
    if histogram is None:
        histogram = excursion_histogram(x2, x3)
    fig = new_figure(fig, (11, 8))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.0, 1.1))
    time_ax = fig.add_subplot(grid[0, :])
    _time_panel(time_ax, seconds, x2, x3, good, mjd, interval=interval, title=title)
    _spectrum_panel(fig.add_subplot(grid[1, 0]), spectrum, lines)
    _histogram_panel(fig, fig.add_subplot(grid[1, 1]), histogram)
    return fig


def _time_panel(ax, seconds, dv2, dv3, good, mjd, *, interval, title):
    """Frames, their ``interval`` averages, and the band of +- the stability metric."""
    if mjd is not None and np.isfinite(mjd[good]).any():
        first = int(np.flatnonzero(good)[0])
        origin = Time(mjd[first] - seconds[first] / 86400.0, format="mjd", scale="utc")
        axis = TimeAxis.for_span(origin, float(np.nanmax(seconds) - np.nanmin(seconds)))
        set_time_axis(ax, axis)
        per_unit = axis.seconds_per_unit
    else:
        per_unit = 1.0
        ax.set_xlabel("time since the first frame (s)")
    metrics = stability_metrics(seconds, dv2, dv3, interval=interval)
    averages = interval_averages(seconds, dv2, dv3, interval=interval)
    edges = np.column_stack([np.asarray(averages["start_s"], float),
                             np.asarray(averages["stop_s"], float)]).ravel() / per_unit
    span = [np.nanmin(seconds[good]) / per_unit, np.nanmax(seconds[good]) / per_unit]
    for key, values in (("v2", dv2), ("v3", dv3)):
        style = JITTER_STYLES[key]
        ax.plot(seconds[good] / per_unit, values[good], ".", markersize=1.5, alpha=0.3,
                color=style["color"], rasterized=True, gid=f"frames_{key}")
        level = metrics[f"stability_{key}_mas"]
        ax.fill_between(span, -level, level, color=style["color"], alpha=0.2, linewidth=0,
                        gid=f"rms_band_{key}",
                        label=f"Δ{style['label']}: ±{level:.3g} mas ({interval:g} s rms)")
        ax.plot(edges, np.repeat(np.asarray(averages[f"d{key}_mas"], float), 2),
                color=style["color"], linewidth=1.2, gid=f"mean_{key}",
                label=f"Δ{style['label']}: {interval:g} s averages")
    ax.axhline(0.0, color="0.5", linewidth=0.6)
    ax.set_ylabel("offset from mean (mas)")
    ax.legend(loc="upper right", fontsize="small", ncols=2)
    if title is None:
        title = (f"{interval:g} s stability: V2 {metrics['stability_v2_mas']:.3g} mas, "
                 f"V3 {metrics['stability_v3_mas']:.3g} mas, radial "
                 f"{metrics['stability_mas']:.3g} mas (rms of {interval:g} s averages)")
    ax.set_title(title, fontsize="medium")


def _spectrum_panel(ax, spectrum, lines):
    frequency = np.asarray(spectrum.frequency_hz, dtype=float)
    keep = frequency > 0
    for key in ("v2", "v3"):
        style = JITTER_STYLES[key]
        ax.loglog(frequency[keep], np.asarray(getattr(spectrum, f"psd_{key}"))[keep],
                  color=style["color"], linewidth=0.9, label=style["label"], gid=f"psd_{key}")
    line_style = JITTER_STYLES["line"]
    for rank, row in enumerate(lines if lines is not None else []):
        f = float(row["frequency_hz"])
        ax.axvline(f, color=line_style["color"], linestyle=line_style["linestyle"],
                   linewidth=1.0, gid=line_style["gid"],
                   label="spectral lines" if rank == 0 else None)
        ax.annotate(f"{f:.3g} Hz\n{float(row['amplitude_mas']):.2g} mas", (f, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(3, -3 - 22 * (rank % 3)),
                    textcoords="offset points", fontsize="x-small", va="top",
                    gid="spectral_line_label")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power spectral density (mas²/Hz)")
    ax.set_title(f"Welch spectrum (resolution {float(spectrum.resolution_hz):.2g} Hz)",
                 fontsize="medium")
    ax.legend(loc="lower left", fontsize="small")


def _histogram_panel(fig, ax, histogram):
    try:
        counts, v2_edges, v3_edges = histogram
    except (TypeError, ValueError):
        msg = (f"jitter_plot: histogram={histogram!r:.60} must be (counts, v2_edges_mas, "
               "v3_edges_mas) (spelunker.pointing.excursion_histogram)")
        raise ParameterError(msg) from None
    shown = np.ma.masked_equal(np.asarray(counts), 0)  # rows along V3, columns along V2
    mesh = ax.pcolormesh(np.asarray(v2_edges, float), np.asarray(v3_edges, float), shown,
                         cmap="viridis", gid="excursion_histogram")
    fig.colorbar(mesh, ax=ax, label="frames")
    ax.set_xlabel("ΔV2 (mas)")
    ax.set_ylabel("ΔV3 (mas)")
    ax.set_aspect("equal")
    ax.set_title("excursions", fontsize="medium")


def _groups(model, visit_index, guidestar_index, *, where):
    """The (visit, guide star) groups of the model to draw: all, or the one named."""
    groups = [(visit, star) for visit, star, _ in model.frame_groups()]
    if visit_index is None and guidestar_index is None:
        return groups
    chosen = [(visit, star) for visit, star in groups
              if (visit_index is None or visit == visit_index)
              and (guidestar_index is None or star == guidestar_index)]
    if not chosen:
        held = ", ".join(f"({visit}, {star})" for visit, star in groups) or "none"
        msg = (f"{where}: the model has no frame of visit_index={visit_index!r}, "
               f"guidestar_index={guidestar_index!r}; (visit, guide star) held: {held}")
        raise ParameterError(msg)
    return chosen


def pointing_figure(model, *, visit_index=None, guidestar_index=None, fig=None,
                    mask_events=True):
    """`jitter_plot` of one visit and guide star of a fitted model.

    Parameters
    ----------
    model : GuideStarModel
        With a fit table (`~spelunker.GuideStarFitStep`).
    visit_index, guidestar_index : int, optional
        The visit (position in `~spelunker.GuideStarModel.visits`) and guide
        star (row of the guide-star table); default the first group.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new pyplot figure when None.
    mask_events : bool, optional
        Leave the frames of technical events out (`spelunker.pointing.pointing_series`).

    Returns
    -------
    matplotlib.figure.Figure
        As `jitter_plot`, titled with the visit and guide star.

    Raises
    ------
    spelunker.errors.SpelunkerError
        As `spelunker.pointing.pointing_series` (no fit, no frames), or a
        `~spelunker.errors.ParameterError` for a visit or guide star the
        model does not hold.
    """
    where = "pointing_figure"
    require_frames_table(check_model(model, where=where))
    visit, star = _groups(model, visit_index, guidestar_index, where=where)[0]
    series = pointing_series(model, visit_index=visit, guidestar_index=star,
                             mask_events=mask_events)
    fig = jitter_plot(series, fig=fig)
    top = fig.axes[0]
    top.set_title(f"{_group_label(model, visit, star)}: {top.get_title()}", fontsize="medium")
    return fig


def _group_label(model, visit, star):
    """``'jw01534001001, guide star <id> (GUIDER1)'`` of a visit and guide star."""
    visits = model.visits()
    name = visit_id(*visits[visit]) if visit < len(visits) else f"visit {visit}"
    stars = guidestar_names(model)
    return f"{name}, guide star {stars[star] if star < len(stars) else star}"


def _format(value, unit):
    try:
        number = float(value.value if hasattr(value, "value") else value)
    except (TypeError, ValueError):  # a text or masked cell
        return str(value)
    if not np.isfinite(number):
        return "-"
    text = f"{int(number)}" if isinstance(value, (int, np.integer)) else f"{number:.4g}"
    return f"{text} {unit}".strip()


def pointing_section(model, directory, *, stem, dpi):
    """The report's pointing section: per visit and guide star, the jitter figure and metrics.

    Parameters
    ----------
    model : GuideStarModel
        One visit (a page of `~spelunker.plotting.write_visit_report`).
    directory : pathlib.Path
        Where the PNGs are written: ``<stem>_jitter.png``, or
        ``<stem>_jitter_<visit>_<star>.png`` for several groups.
    stem : str
        The page's file stem.
    dpi : float
        Resolution of the PNGs.

    Returns
    -------
    html : str
        The section's HTML (figures embedded; a paragraph saying why when
        the model has no fit).
    paths : list of pathlib.Path
        The PNGs written.
    """
    from matplotlib.figure import Figure  # matplotlib loads only when a report is drawn

    if not (check_model(model, where="pointing_section").hasattr("gauss_fit")
            or model.hasattr("quick_fit")):
        return "<p>No fit table (run GuideStarFitStep): no pointing offsets.</p>", []
    try:
        table = pointing_stability(model)
    except ValueError as exc:
        log.info("report: pointing section left out: %s", exc)
        return f'<p class="note">{html.escape(f"pointing left out: {exc}")}</p>', []
    parts, paths = [], []
    several = len(table) > 1
    for row in table:
        visit, star = int(row["visit_index"]), int(row["guidestar_index"])
        parts.append(f"<h3>{html.escape(_group_label(model, visit, star))}: pointing</h3>")
        name = f"jitter_{visit}_{star}" if several else "jitter"
        try:
            figure = pointing_figure(model, visit_index=visit, guidestar_index=star,
                                     fig=Figure(figsize=(11, 8), layout="constrained"))
        except ValueError as exc:
            parts.append(f'<p class="note">{html.escape(f"jitter figure left out: {exc}")}</p>')
            log.info("report: jitter figure of visit %d, star %d left out: %s", visit, star, exc)
        else:
            part, path = saved_figure(figure, directory, stem=stem, name=name,
                                      caption=JITTER_CAPTION, dpi=dpi, wide=True)
            parts.append(part)
            paths.append(path)
        rows = [(description, _format(row[column], unit))
                for column, unit, description in STABILITY_COLUMNS if column in row.colnames]
        parts.append(html_table(["quantity", "value"], rows, numeric=(1,)))
    return "\n".join(parts), paths
