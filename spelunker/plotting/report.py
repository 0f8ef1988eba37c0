"""A self-contained HTML quick-look report of each visit, and their index page.

The report only reads models: a model of several visits is split with
`spelunker.visits.split_visits`, which owns the per-visit results.
"""

import html
import logging
from collections import namedtuple

import numpy as np
from astropy.time import Time

from spelunker._validate import (
    check_output_dir,
    check_path,
    check_positive_float,
    check_positive_int,
)
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.datamodels import FIT_TABLES, check_model
from spelunker.errors import ParameterError
from spelunker.events import events_table, local_events
from spelunker.fitting import FitFlag
from spelunker.names import parse_visit_id, program_stem, visit_id
from spelunker.periodogram import periodogram_peaks_table
from spelunker.plotting._canvas import check_dpi
from spelunker.plotting._model import guidestar_names, require_frames_table
from spelunker.plotting._page import html_figure, html_table, png_bytes
from spelunker.plotting.frames import frame_plot, position_plot
from spelunker.plotting.periodograms import periodogram_plot
from spelunker.plotting.pointing import pointing_section
from spelunker.plotting.telemetry import plot_local_events
from spelunker.plotting.timedomain import time_domain_section
from spelunker.plotting.timeseries import timeseries_binned_plot, timeseries_list_plot
from spelunker.visits import split_visits

__all__ = ["write_visit_report", "write_report_index", "report_entry", "ReportEntry",
           "REPORT_FIGURES"]

log = logging.getLogger(__name__)

#: The standard figures of a report: name, caption.
REPORT_FIGURES = {
    "lightcurve": "Relative flux of every frame and its binned mean, with file starts, "
                  "guide-star changes and high-gain-antenna moves from the POINTING table.",
    "parameters": "PSF parameters of every frame (flagged fits hidden, their times as red "
                  "ticks) and the flux.",
    "periodogram": "Lomb-Scargle periodograms of every series, strongest peaks marked.",
    "frame": "Median frame with the photometric aperture outlined.",
    "position": "Guide-star centre from the fit, coloured by time.",
}

#: Figures that span both columns of the page.
_WIDE_FIGURES = ("lightcurve",)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 1.5em auto; max-width: 1250px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 7px; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; align-items: start; }
figure { margin: 0; }
figure.wide { grid-column: 1 / span 2; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
.note { color: #a33; font-size: 0.9em; }
"""


def write_visit_report(model, directory, *, title=None, bin_size=None, n_peaks=3, dpi=100):
    """Write the standard figures (PNG) and one self-contained HTML page per visit.

    A page embeds every figure as a base64 ``data:`` URI and uses no
    external file, style sheet or script, so it can be mailed or archived
    alone.  It shows the files and guide stars, the fit success rate (and
    the flags of the flagged fits), the aperture, the local events (file
    starts, guide-star changes, HGA moves from the POINTING table), the
    strongest periodogram peaks, the time-domain section and the pointing
    section (the jitter figure and the stability metrics in mas of each
    visit and guide star, `spelunker.plotting.pointing.pointing_section`).
    Figures that need a missing table (no fit,
    no periodogram) are left out with a note.  The figures are drawn on
    `matplotlib.figure.Figure` objects, never through pyplot, so the report
    works under ``strun``, in threads and with any matplotlib backend.

    A model of several visits (program, observation, visit of its files),
    or a list of visit models, gets one page per visit, each with the
    figures, tables and periodograms of that visit's frames alone
    (`spelunker.visits.split_visits` cuts the model and computes each
    visit's periodograms with the model's oversampling and highest
    frequency), and an index page linking them.

    Parameters
    ----------
    model : GuideStarModel or list of GuideStarModel
        One or more visits, ideally after `~spelunker.GuideStarPipeline`.
        Not modified.
    directory : str or os.PathLike
        Output folder (created if missing); a file, or a folder that cannot
        be created or written, raises `~spelunker.errors.ParameterError`
        before anything is drawn.
    title : str, optional
        Page title; default ``"Guide-star report <stem>"`` (with several
        visits, each visit page is titled ``"<title> <stem>"``).
    bin_size : float, optional
        Bin of the light-curve figure (s); default the model's
        ``meta.spelunker.photometry_bin_size``, else
        `spelunker.binning.DEFAULT_BIN_SIZE`.
    n_peaks : int, optional
        Periodogram peaks listed per series.
    dpi : float, optional
        Resolution of the PNG figures (at least 10 dots per inch).

    Returns
    -------
    pathlib.Path
        The page to open.  One visit: its page ``<stem>_report.html``,
        ``<stem>`` being ``jw<program><observation><visit>`` of the files;
        the PNGs are ``<stem>_<figure>.png`` next to it (figures of
        `REPORT_FIGURES`, and ``<stem>_jitter.png`` of the pointing section,
        `spelunker.plotting.pointing.pointing_section`, when the model has
        a fit).  Several visits: the index page
        ``jw<program>_report.html`` (``spelunker_report.html`` for several
        programs) linking the visit pages ``<stem>_report.html`` written
        next to it, each with its own ``<stem>_<figure>.png``.

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``model`` that is not a GuideStarModel (or a list of them), a
        ``title`` that is not a string, a ``bin_size`` that is not a number
        > 0, a ``dpi`` below 10, an ``n_peaks`` that is not an integer >= 1,
        or an unusable ``directory``; raised before anything is written.

    Examples
    --------
    The report draws on pyplot-free figures (no backend to choose):

    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import write_visit_report
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> page = write_visit_report(model, tempfile.mkdtemp())
    >>> page.name, sorted(p.name for p in page.parent.glob("*.png"))[:2]
    ('jw01534001001_report.html', ['jw01534001001_frame.png', 'jw01534001001_jitter.png'])
    """
    where = "write_visit_report"
    if isinstance(model, (list, tuple)):
        parts = [check_model(part, f"model[{k}]", where=where) for k, part in enumerate(model)]
        if not parts:
            msg = f"{where}: model=[] holds no GuideStarModel: there is no visit to report"
            raise ParameterError(msg)
    else:
        parts = None  # cut by visit once every argument is checked
        check_model(model, where=where)
    title = _check_title(title, where=where)
    options = dict(
        bin_size=None if bin_size is None else check_positive_float(
            bin_size, "bin_size", unit="seconds", where=where),
        n_peaks=check_positive_int(n_peaks, "n_peaks", where=where),
        dpi=check_dpi(dpi, where=where))
    directory = check_output_dir(directory, "directory", where=where)
    if parts is None:
        parts = split_visits(model)  # each part holds its visit's variability tables
    if len(parts) == 1:
        return _write_page(parts[0], directory, stem=_stem(parts), title=title, **options)

    entries = []
    for part in parts:
        stem = _stem([part])
        page = _write_page(part, directory, stem=stem,
                           title=None if title is None else f"{title} {stem}", **options)
        entries.append(report_entry(part, page))
    return write_report_index(entries, directory, title=title)


def _write_page(model, directory, *, stem, title, bin_size, n_peaks, dpi):
    """The figures and the self-contained page of one visit (or of a model without files)."""
    if bin_size is None:
        bin_size = _meta(model, "photometry_bin_size") or DEFAULT_BIN_SIZE
    title = title if title is not None else f"Guide-star report {stem}"

    drawn, notes = [], []
    for name, caption in REPORT_FIGURES.items():
        try:
            png = _render(name, model, bin_size=float(bin_size), dpi=dpi)
        except ValueError as exc:
            notes.append(f"{name} figure left out: {exc}")
            log.info("report: %s figure left out: %s", name, exc)
            continue
        path = directory / f"{stem}_{name}.png"
        path.write_bytes(png)
        drawn.append((name, caption, path, png))

    time_domain, _ = time_domain_section(model, directory, stem=stem, dpi=dpi)
    pointing, _ = pointing_section(model, directory, stem=stem, dpi=dpi)
    page = directory / f"{stem}_report.html"
    page.write_text(_html(model, title, drawn, notes, n_peaks=n_peaks, time_domain=time_domain,
                          pointing=pointing), encoding="utf-8")
    log.info("report: wrote %s with %d figure(s)", page, len(drawn))
    return page


#: One line of a report index: a visit page and what it shows.
ReportEntry = namedtuple("ReportEntry", ["stem", "page", "n_frames", "start", "stop", "stars"])


def report_entry(model, page):
    """The `ReportEntry` of a visit page written by `write_visit_report` for ``model``.

    Parameters
    ----------
    model : GuideStarModel
        The visit the page shows.
    page : pathlib.Path
        The page.

    Returns
    -------
    ReportEntry

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``model`` that is not a GuideStarModel or a ``page`` that is
        not a path.
    spelunker.errors.GuideStarInputError
        For a model without frames.

    Examples
    --------
    The line of the index page for one visit (its page need not exist yet):

    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.plotting.report import report_entry
    >>> files = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=3).files
    >>> entry = report_entry(read_guidestar(files), "jw01534001001_report.html")
    >>> entry.stem, entry.n_frames
    ('jw01534001001', 6000)
    """
    check_model(model, where="report_entry")
    page = check_path(page, "page", where="report_entry")
    require_frames_table(model)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    stars = ", ".join(guidestar_names(model))
    return ReportEntry(_stem([model]), page, len(mjd), _iso(mjd.min()), _iso(mjd.max()), stars)


def write_report_index(entries, directory, *, title=None):
    """Write the index page linking visit pages (each of which is self-contained).

    Parameters
    ----------
    entries : list of ReportEntry
        The visit pages (`report_entry`), in the order to list them.
    directory : str or os.PathLike
        Folder of the pages (it must exist and be writable).
    title : str, optional
        Page title; default ``"Guide-star reports <jwPPPPP>"``.

    Returns
    -------
    pathlib.Path
        ``jw<program>_report.html`` (``spelunker_report.html`` for several
        programs).

    Raises
    ------
    spelunker.errors.ParameterError
        For ``entries`` that are not ReportEntry, a ``directory`` that is
        not a writable folder or a ``title`` that is not a string.
    """
    if (isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__")
            or not all(isinstance(entry, ReportEntry) for entry in entries)):
        msg = (f"write_report_index: entries={entries!r:.60} must be a list of ReportEntry "
               "(spelunker.plotting.report.report_entry)")
        raise ParameterError(msg)
    directory = check_output_dir(directory, "directory", create=False, where="write_report_index")
    title = _check_title(title, where="write_report_index")
    programs = {_program_of_stem(entry.stem) for entry in entries}
    stem = programs.pop() if len(programs) == 1 else "spelunker"
    title = title if title is not None else f"Guide-star reports {stem}"
    escaped = html.escape(title)
    rows = []
    for entry in entries:
        link = f'<a href="{html.escape(entry.page.name)}">{html.escape(entry.stem)}</a>'
        cells = [link, html.escape(str(entry.n_frames)), html.escape(entry.start),
                 html.escape(entry.stop), html.escape(entry.stars)]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{name}</th>" for name in ("visit", "frames", "first frame (UTC)",
                                                      "last frame (UTC)", "guide stars"))
    index = directory / f"{stem}_report.html"
    index.write_text("\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{escaped}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{escaped}</h1>",
        f"<p>{len(entries)} visits; each page holds the figures and tables of one visit.</p>",
        f"<table><tr>{header}</tr>", *rows, "</table>", "</body>", "</html>", ""]),
        encoding="utf-8")
    log.info("report: wrote %s linking %d visit pages", index, len(entries))
    return index


# --------------------------------------------------------------------------
# Figures


def _render(name, model, *, bin_size, dpi):
    """Draw one standard figure on a pyplot-free Figure and return its PNG bytes."""
    from matplotlib.figure import Figure  # matplotlib loads only when a report is drawn

    if name == "lightcurve":
        fig = Figure(figsize=(11, 4.2))
        ax = fig.add_subplot()
        timeseries_binned_plot(model, bin_size=bin_size, ax=ax)
        kinds = ("FILENAME",) if model.hasattr("events") else ("FILENAME", "GUIDESTAR", "HGA")
        for kind in kinds:
            try:
                plot_local_events(ax, local_events(model, kind), kind)
            except ValueError as exc:  # e.g. no POINTING table
                log.debug("report: no %s events: %s", kind, exc)
        ax.legend(loc="best", fontsize="small")
    elif name == "parameters":
        fig = Figure(figsize=(11, 14), layout="constrained")
        timeseries_list_plot(model, fig=fig)
    elif name == "periodogram":
        fig = Figure(figsize=(11, 10), layout="constrained")
        periodogram_plot(model, fig=fig)
    elif name == "frame":
        fig = Figure(figsize=(5.5, 4.5))
        frame_plot(model, ax=fig.add_subplot())
    elif name == "position":
        fig = Figure(figsize=(6.5, 5))
        position_plot(model, ax=fig.add_subplot())
    else:  # pragma: no cover
        # internal invariant: the report draws only the names of REPORT_FIGURES, which this
        # function covers; no argument of a user reaches here.
        msg = f"unknown report figure {name!r}"
        raise ValueError(msg)
    return png_bytes(fig, dpi)


# --------------------------------------------------------------------------
# Page


def _meta(model, name):
    try:
        value = getattr(model.meta.spelunker, name)
    except AttributeError:
        return None
    return value


def _stem(models):
    """``jw<program><observation><visit>`` of one visit, ``jw<program>`` of several."""
    visits = {key for model in models for key in model.visits()}
    if not visits:
        return "spelunker"
    programs = {visit[0] for visit in visits}
    if len(visits) == 1:
        return visit_id(*visits.pop())
    if len(programs) == 1:
        return program_stem(programs.pop())
    return "spelunker"


def _program_of_stem(stem):
    """``jw<program>`` of a visit stem; any other stem (``jw<program>``, ``spelunker``) as is."""
    try:
        program, _, _ = parse_visit_id(stem)
    except ParameterError:  # not a visit id: a page of several visits, or without files
        return stem
    return program_stem(program)


def _check_title(title, *, where):
    """``title`` if it is a string or None (the default title)."""
    if title is not None and not isinstance(title, str):
        msg = f"{where}: title={title!r:.60} must be a string (the page title) or None"
        raise ParameterError(msg)
    return title


def _iso(mjd):
    return Time(float(mjd), format="mjd", scale="utc").isot


def _summary(model):
    items = []
    if model.hasattr("frames") and len(model.frames):
        mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
        first, last = Time(mjd[[mjd.argmin(), mjd.argmax()]], format="mjd", scale="utc")
        span = (last - first).to_value("s")
        items.append(f"{len(mjd)} frames over {span:.1f} s ({span / 60:.2f} min), "
                     f"{first.isot} to {last.isot} UTC (mid-frame times)")
    source = _meta(model, "time_source")
    if source:
        items.append(f"frame times from: {source}")
    version = _meta(model, "version")
    if version:
        items.append(f"spelunker version: {version}")
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def _files_section(model):
    if not model.hasattr("files") or len(model.files) == 0:
        return "<p>No files table.</p>"
    files = model.table("files")
    rows = [(k, row["file_name"], row["detector"], row["gs_id"], _iso(row["data_start_mjd"]),
             _iso(row["data_end_mjd"]), int(row["n_frames"]), row["time_source"])
            for k, row in enumerate(files)]
    return html_table(["#", "file", "detector", "guide star", "DATASTRT (UTC)", "DATAEND (UTC)",
                   "frames", "frame times"], rows, numeric=(0, 6))


def _guidestars_section(model):
    if not model.hasattr("guidestars") or len(model.guidestars) == 0:
        return "<p>No guide-star table.</p>"
    stars = model.table("guidestars")
    rows = [(k, row["gs_id"], f"{row['gs_ra']:.6f}", f"{row['gs_dec']:.6f}",
             f"{row['gs_mag']:.2f}", row["detector"], _iso(row["start_mjd"]),
             _iso(row["stop_mjd"]), int(row["n_files"]), int(row["n_frames"]))
            for k, row in enumerate(stars)]
    return html_table(["#", "guide star", "RA (deg)", "Dec (deg)", "FGS mag", "detector",
                   "start (UTC)", "stop (UTC)", "files", "frames"], rows,
                  numeric=(0, 2, 3, 4, 8, 9))


def _fit_section(model):
    rows = []
    for method, name in FIT_TABLES.items():
        if not model.hasattr(name):
            continue
        flags = np.asarray(getattr(model, name)["flags"]).astype(np.int64)
        total = len(flags)
        clean = int(np.count_nonzero(flags == 0))
        counts = [f"{flag.name} {int(np.count_nonzero(flags & int(flag)))}" for flag in FitFlag
                  if np.any(flags & int(flag))]
        rate = 100.0 * clean / total if total else float("nan")
        rows.append((name, method, total, clean, f"{rate:.2f}%", ", ".join(counts) or "none"))
    if not rows:
        return "<p>No fit table (run GuideStarFitStep).</p>"
    return html_table(["table", "method", "frames", "clean fits", "success rate", "flags set"],
                  rows, numeric=(2, 3, 4))


def _aperture_section(model):
    if not model.hasattr("aperture_mask"):
        return "<p>No aperture (run PhotometryOptimizeStep); the figures use the full frame.</p>"
    planes = np.asarray(model.aperture_mask)
    if planes.ndim == 2:
        planes = planes[None]
    kind = _meta(model, "photometry_aperture") or "unknown"
    bin_size = _meta(model, "photometry_bin_size")
    parts = [f"<p>Aperture: {html.escape(str(kind))}"
             + (f", chosen on {bin_size:g} s bins" if bin_size else "") + ".</p>"]
    rows = []
    search = np.asarray(model.aperture_search) if model.hasattr("aperture_search") else None
    for plane in range(planes.shape[0]):
        n_pixels = int(planes[plane].sum())
        scatter = full = ""
        if search is not None:
            group = -1 if planes.shape[0] == 1 else plane
            mine = search[search["guidestar_index"] == group] if np.any(
                search["guidestar_index"] == group) else search
            chosen = mine[mine["selected"] == 1]
            if len(chosen):
                scatter = f"{float(chosen['binned_scatter'][0]):.4g}"
            whole = mine[mine["n_pixels"] == planes[plane].size]
            if len(whole):
                full = f"{float(whole['binned_scatter'][0]):.4g}"
        rows.append((plane if planes.shape[0] > 1 else "all", n_pixels, scatter, full))
    parts.append(html_table(["guide star", "pixels in aperture", "binned relative scatter",
                         "full frame (64 pixels)"], rows, numeric=(1, 2, 3)))
    return "\n".join(parts)


def _events_section(model):
    parts = [_events_table_section(model)] if model.hasattr("events") else []
    parts.append(_local_events_part(
        model, "HGA", name="HGA moves", intro="High-gain-antenna moves (POINTING table):",
        header=["start (UTC)", "stop (UTC)", "duration (s)", "complete"], numeric=(2,),
        row=lambda row: (row["start"].isot, row["stop"].isot, f"{row['duration'].value:.1f}",
                         "yes" if row["complete"] else "no (data start or end during the move)"),
        none="No high-gain-antenna move in the POINTING table."))
    parts.append(_local_events_part(
        model, "GUIDESTAR", name="Guide-star changes", intro="Guide-star changes:",
        header=["time (UTC)", "first frame", "from", "to"], numeric=(1,),
        row=lambda row: (row["time"].isot, int(row["frame"]), row["previous_gs_id"],
                         row["gs_id"]),
        none="One guide star throughout."))
    return "\n".join(parts)


def _local_events_part(model, kind, *, name, intro, header, numeric, row, none):
    """The table of one kind of `spelunker.events.local_events`, or why there is none."""
    try:
        table = local_events(model, kind)
    except ValueError as exc:  # the model cannot tell (e.g. no POINTING table)
        return f"<p>{name}: {html.escape(str(exc))}.</p>"
    if not len(table):
        return f"<p>{none}</p>"
    return f"<p>{intro}</p>\n" + html_table(header, [row(line) for line in table], numeric=numeric)


def _events_table_section(model):
    """The events found by GuideStarEventStep, one row each."""
    table = events_table(model)
    if not len(table):
        return "<p>No technical event found (GuideStarEventStep).</p>"
    counts = {}
    for kind in table["kind"]:
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    rows = []
    for row in table:
        changes = ", ".join(
            f"{key} {row[f'delta_{key}'].value:+.4g} +- {row[f'delta_{key}_err'].value:.2g}"
            for key in str(row["parameters"]).split(",") if key)
        significance = row["significance"]
        rows.append((row["kind"], row["start"].isot, f"{row['duration'].value:.1f}",
                     int(row["frame_start"]), changes or "-",
                     f"{significance:.1f}" if significance == significance else "-",
                     row["source"]))
    head = "<p>" + html.escape(", ".join(f"{n} {kind}" for kind, n in counts.items())) + \
        " (GuideStarEventStep; changes in pix or DN/s):</p>"
    return head + html_table(["kind", "start (UTC)", "duration (s)", "first frame", "changes",
                          "significance (sigma)", "source"], rows, numeric=(2, 3, 5))


def _peaks_section(model, n_peaks):
    if not model.hasattr("periodogram_peaks"):
        return "<p>No periodogram (run PeriodogramStep).</p>"
    peaks = periodogram_peaks_table(model)
    peaks = peaks[peaks["rank"] <= n_peaks]
    stars = guidestar_names(model)
    rows = [(stars[row["guidestar_index"]] if row["guidestar_index"] < len(stars)
             else int(row["guidestar_index"]), row["series"], int(row["rank"]),
             f"{row['period'].value:.5g}", f"{row['frequency'].value:.5g}",
             f"{float(row['power']):.4g}", f"{float(row['false_alarm_probability']):.2e}")
            for row in peaks]
    if not rows:
        return "<p>No periodogram peak.</p>"
    source = _meta(model, "periodogram_source")
    head = f"<p>Strongest {n_peaks} peaks per series and guide star" + (
        f" (fit parameters from {html.escape(source)})" if source else "") + ":</p>"
    return head + html_table(["guide star", "series", "rank", "period (s)", "frequency (Hz)",
                          "power", "false-alarm probability"], rows, numeric=(2, 3, 4, 5, 6))


def _html(model, title, figures, notes, *, n_peaks, time_domain, pointing):
    escaped = html.escape(title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escaped}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escaped}</h1>",
        _summary(model),
        "<h2>Files</h2>", _files_section(model),
        "<h2>Guide stars</h2>", _guidestars_section(model),
        "<h2>Fit</h2>", _fit_section(model),
        "<h2>Aperture</h2>", _aperture_section(model),
        "<h2>Events</h2>", _events_section(model),
        "<h2>Figures</h2>",
    ]
    for note in notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    parts.append('<div class="figures">')
    for name, caption, path, png in figures:
        parts.append(html_figure(name, caption, path, png, wide=name in _WIDE_FIGURES))
    parts.append("</div>")
    parts += ["<h2>Periodogram peaks</h2>", _peaks_section(model, n_peaks)]
    parts += ['<h2 id="time-domain">Time domain: flares, dips and variability</h2>', time_domain]
    parts += ['<h2 id="pointing">Pointing stability (mas)</h2>', pointing]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------
# Text summary
