"""A self-contained HTML quick-look report of a visit."""

import base64
import html
import io
import logging
from pathlib import Path

import numpy as np
from astropy.time import Time

__all__ = ["write_visit_report", "REPORT_FIGURES"]

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
    starts, guide-star changes, HGA moves from the POINTING table) and the
    strongest periodogram peaks.  Figures that need a missing table (no fit,
    no periodogram) are left out with a note.  The figures are drawn on
    `matplotlib.figure.Figure` objects, never through pyplot, so the report
    works under ``strun``, in threads and with any matplotlib backend.

    A model of several visits (program, observation, visit of its files)
    gets one page per visit, each with the figures, tables and periodograms
    of that visit's frames alone (the periodograms are computed again on
    the visit's frames, with the model's oversampling and highest
    frequency), and an index page linking them.

    Parameters
    ----------
    model : GuideStarModel
        One or more visits, ideally after `~spelunker.GuideStarPipeline`.
        Not modified.
    directory : str or os.PathLike
        Output folder (created if missing).
    title : str, optional
        Page title; default ``"Guide-star report <stem>"`` (with several
        visits, each visit page is titled ``"<title> <stem>"``).
    bin_size : float, optional
        Bin of the light-curve figure (s); default the model's
        ``meta.spelunker.photometry_bin_size``, else
        `spelunker.plotting.DEFAULT_BIN_SIZE`.
    n_peaks : int, optional
        Periodogram peaks listed per series.
    dpi : float, optional
        Resolution of the PNG figures.

    Returns
    -------
    pathlib.Path
        The page to open.  One visit: its page ``<stem>_report.html``,
        ``<stem>`` being ``jw<program><observation><visit>`` of the files;
        the PNGs are ``<stem>_<figure>.png`` next to it (figures of
        `REPORT_FIGURES`).  Several visits: the index page
        ``jw<program>_report.html`` (``spelunker_report.html`` for several
        programs) linking the visit pages ``<stem>_report.html`` written
        next to it, each with its own ``<stem>_<figure>.png``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.plotting import write_visit_report
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)], seed=3)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> page = write_visit_report(model, tempfile.mkdtemp())
    >>> page.name, sorted(p.name for p in page.parent.glob("*.png"))[:2]
    ('jw01534001001_report.html', ['jw01534001001_frame.png', 'jw01534001001_lightcurve.png'])
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    options = dict(bin_size=bin_size, n_peaks=n_peaks, dpi=dpi)
    visits = _visits(model)
    if len(visits) <= 1:
        return _write_page(model, directory, stem=_stem(model), title=title, **options)

    entries = []
    for (program, observation, visit), rows in visits:
        stem = f"jw{program:05d}{observation:03d}{visit:03d}"
        part = _visit_model(model, rows)
        page = _write_page(part, directory, stem=stem,
                           title=None if title is None else f"{title} {stem}", **options)
        entries.append((stem, page, part))
    index = directory / f"{_stem(model)}_report.html"
    index.write_text(_index_html(title if title is not None else
                                 f"Guide-star reports {_stem(model)}", entries),
                     encoding="utf-8")
    log.info("report: wrote %s linking %d visit pages", index, len(entries))
    return index


def _write_page(model, directory, *, stem, title, bin_size, n_peaks, dpi):
    """The figures and the self-contained page of one visit (or of a model without files)."""
    from spelunker.plotting.figures import DEFAULT_BIN_SIZE

    if bin_size is None:
        bin_size = _meta(model, "photometry_bin_size") or DEFAULT_BIN_SIZE
    title = title if title is not None else f"Guide-star report {stem}"

    figures, notes = [], []
    for name, caption in REPORT_FIGURES.items():
        try:
            png = _render(name, model, bin_size=float(bin_size), dpi=dpi)
        except ValueError as exc:
            notes.append(f"{name} figure left out: {exc}")
            log.info("report: %s figure left out: %s", name, exc)
            continue
        path = directory / f"{stem}_{name}.png"
        path.write_bytes(png)
        figures.append((name, caption, path, png))

    page = directory / f"{stem}_report.html"
    page.write_text(_html(model, title, figures, notes, n_peaks=n_peaks), encoding="utf-8")
    log.info("report: wrote %s with %d figure(s)", page, len(figures))
    return page


# --------------------------------------------------------------------------
# Visits


def _visits(model):
    """``[((program, observation, visit), file rows), ...]`` in time order; [] without files."""
    if not model.hasattr("files") or len(model.files) == 0 or not model.hasattr("frames"):
        return []
    files = model.table("files")
    groups = {}
    for row, key in enumerate(zip(files["program"], files["observation"], files["visit"],
                                  strict=True)):
        groups.setdefault(tuple(int(k) for k in key), []).append(row)
    start = np.asarray(files["data_start_mjd"], dtype=float)
    return sorted(groups.items(), key=lambda item: float(start[item[1]].min()))


def _visit_model(model, file_rows):
    """A new GuideStarModel of the frames of ``file_rows``, with their results.

    Per-frame tables (frames, fit tables, light curve) and the files,
    guide-star, POINTING and CENTROID tables are cut to the visit, with
    their file and guide-star indices renumbered; the aperture planes and
    the aperture search follow the guide stars; the periodograms are
    computed again on the visit's frames.  ``model`` is not modified.
    """
    from spelunker.datamodels import GuideStarModel

    keep = np.asarray(sorted(file_rows), dtype=np.int64)
    frames = np.array(model.frames)
    index = np.flatnonzero(np.isin(frames["file_index"], keep))
    files = np.array(model.files)
    file_map = np.full(len(files), -1, dtype=np.int64)
    file_map[keep] = np.arange(keep.size)
    stars = np.unique(frames["guidestar_index"][index]).astype(np.int64)
    star_map = np.full(int(max(stars.max() + 1, len(model.guidestars)
                               if model.hasattr("guidestars") else 0)), -1, dtype=np.int64)
    star_map[stars] = np.arange(stars.size)

    part = GuideStarModel()
    part.update(model)
    with part.trusted_assignment():
        for name in ("data", "err", "dq"):
            if model.hasattr(name):
                values = np.asarray(getattr(model, name))
                setattr(part, name, values[index] if len(values) == len(frames) else values)
        cut = frames[index]
        cut["file_index"] = file_map[cut["file_index"]]
        cut["guidestar_index"] = star_map[cut["guidestar_index"]]
        part.frames = cut
        visit_files = files[keep]
        visit_files["first_frame"] = np.searchsorted(index, files["first_frame"][keep])
        part.files = visit_files
        if model.hasattr("guidestars"):
            part.guidestars = _visit_guidestars(np.array(model.guidestars), stars, cut,
                                                visit_files)
        for name in ("pointing_table", "centroid_table"):
            if model.hasattr(name):
                table = np.array(getattr(model, name))
                table = table[np.isin(table["file_index"], keep)]
                table["file_index"] = file_map[table["file_index"]]
                setattr(part, name, table)
        for name in ("gauss_fit", "quick_fit", "lightcurve"):
            if model.hasattr(name):
                setattr(part, name, np.array(getattr(model, name))[index])
        if model.hasattr("aperture_mask"):
            planes = np.asarray(model.aperture_mask)
            per_star = planes.ndim == 3 and planes.shape[0] > 1
            part.aperture_mask = planes[stars] if per_star else planes.copy()
        if model.hasattr("aperture_search"):
            search = np.array(model.aperture_search)
            group = search["guidestar_index"]
            mine = (group < 0) | np.isin(group, stars)
            search = search[mine]
            positive = search["guidestar_index"] >= 0
            search["guidestar_index"][positive] = star_map[search["guidestar_index"][positive]]
            part.aperture_search = search
    part.meta.spelunker.n_files = int(keep.size)
    part.meta.spelunker.n_guidestars = int(stars.size)
    latest = {"gauss": "gauss_fit", "quick": "quick_fit"}.get(_meta(model, "fit_method"))
    if latest is not None and part.hasattr(latest):
        flags = np.asarray(getattr(part, latest)["flags"])
        part.meta.spelunker.fit_n_flagged = int(np.count_nonzero(flags))
    if model.hasattr("periodogram"):
        _visit_periodogram(model, part)
    return part


def _visit_guidestars(stars_table, stars, frames, files):
    table = stars_table[stars]
    for row in range(stars.size):
        mine = frames["guidestar_index"] == row
        rows = np.unique(frames["file_index"][mine])
        table["n_frames"][row] = int(np.count_nonzero(mine))
        table["n_files"][row] = int(rows.size)
        if rows.size:
            table["start_mjd"][row] = float(np.min(files["data_start_mjd"][rows]))
            table["stop_mjd"][row] = float(np.max(files["data_end_mjd"][rows]))
    return table


def _visit_periodogram(model, part):
    """The periodograms of a visit's frames, on the model's oversampling and top frequency."""
    from spelunker.stpipe.periodogram_step import run_periodogram

    source = _meta(model, "periodogram_source")
    fit = source if source in ("gauss_fit", "quick_fit") and part.hasattr(source) else "auto"
    samples_per_peak = _meta(model, "periodogram_samples_per_peak") or 5.0
    frequency = np.asarray(model.periodogram["frequency"], dtype=float)
    n_peaks = 5
    if model.hasattr("periodogram_peaks") and len(model.periodogram_peaks):
        n_peaks = int(np.max(np.asarray(model.periodogram_peaks["rank"])))
    try:
        run_periodogram(part, fit_table=fit, samples_per_peak=samples_per_peak,
                        maximum_frequency=float(np.nanmax(frequency)), n_peaks=n_peaks)
    except ValueError as exc:
        log.info("report: no periodogram of the visit's frames: %s", exc)


def _index_html(title, entries):
    """A page linking the visit pages (each of which is self-contained)."""
    escaped = html.escape(title)
    rows = []
    for stem, page, part in entries:
        mjd = np.asarray(part.frames["mid_time_mjd"], dtype=float)
        stars = ", ".join(str(name) for name in part.table("guidestars")["gs_id"]) \
            if part.hasattr("guidestars") else ""
        link = f'<a href="{html.escape(page.name)}">{html.escape(stem)}</a>'
        cells = [link, html.escape(str(len(mjd))), html.escape(_iso(mjd.min())),
                 html.escape(_iso(mjd.max())), html.escape(stars)]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{name}</th>" for name in ("visit", "frames", "first frame (UTC)",
                                                      "last frame (UTC)", "guide stars"))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{escaped}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{escaped}</h1>",
        f"<p>{len(entries)} visits; each page holds the figures and tables of one visit.</p>",
        f"<table><tr>{header}</tr>", *rows, "</table>", "</body>", "</html>", ""])


# --------------------------------------------------------------------------
# Figures


def _render(name, model, *, bin_size, dpi):
    """Draw one standard figure on a pyplot-free Figure and return its PNG bytes."""
    from matplotlib.figure import Figure

    from spelunker.events import local_events
    from spelunker.plotting import figures
    from spelunker.plotting.telemetry import plot_local_events

    if name == "lightcurve":
        fig = Figure(figsize=(11, 4.2))
        ax = fig.add_subplot()
        figures.timeseries_binned_plot(model, bin_size=bin_size, ax=ax)
        for kind in ("FILENAME", "GUIDESTAR", "HGA"):
            try:
                plot_local_events(ax, local_events(model, kind), kind)
            except ValueError as exc:  # e.g. no POINTING table
                log.debug("report: no %s events: %s", kind, exc)
        ax.legend(loc="best", fontsize="small")
    elif name == "parameters":
        fig = Figure(figsize=(11, 14), layout="constrained")
        figures.timeseries_list_plot(model, fig=fig)
    elif name == "periodogram":
        fig = Figure(figsize=(11, 10), layout="constrained")
        figures.periodogram_plot(model, fig=fig)
    elif name == "frame":
        fig = Figure(figsize=(5.5, 4.5))
        figures.frame_plot(model, ax=fig.add_subplot())
    elif name == "position":
        fig = Figure(figsize=(6.5, 5))
        figures.position_plot(model, ax=fig.add_subplot())
    else:  # pragma: no cover - REPORT_FIGURES and this function go together
        msg = f"unknown report figure {name!r}"
        raise ValueError(msg)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Page


def _meta(model, name):
    try:
        value = getattr(model.meta.spelunker, name)
    except AttributeError:
        return None
    return value


def _stem(model):
    if not model.hasattr("files") or len(model.files) == 0:
        return "spelunker"
    files = model.table("files")
    visits = {(int(p), int(o), int(v)) for p, o, v in
              zip(files["program"], files["observation"], files["visit"], strict=True)}
    programs = {visit[0] for visit in visits}
    if len(visits) == 1:
        program, observation, visit = visits.pop()
        return f"jw{program:05d}{observation:03d}{visit:03d}"
    if len(programs) == 1:
        return f"jw{programs.pop():05d}"
    return "spelunker"


def _iso(mjd):
    return Time(float(mjd), format="mjd", scale="utc").isot


def _table(header, rows, numeric=()):
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for k, value in enumerate(row):
            attribute = ' class="num"' if k in numeric else ""
            cells.append(f"<td{attribute}>{html.escape(str(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


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
    return _table(["#", "file", "detector", "guide star", "DATASTRT (UTC)", "DATAEND (UTC)",
                   "frames", "frame times"], rows, numeric=(0, 6))


def _guidestars_section(model):
    if not model.hasattr("guidestars") or len(model.guidestars) == 0:
        return "<p>No guide-star table.</p>"
    stars = model.table("guidestars")
    rows = [(k, row["gs_id"], f"{row['gs_ra']:.6f}", f"{row['gs_dec']:.6f}",
             f"{row['gs_mag']:.2f}", row["detector"], _iso(row["start_mjd"]),
             _iso(row["stop_mjd"]), int(row["n_files"]), int(row["n_frames"]))
            for k, row in enumerate(stars)]
    return _table(["#", "guide star", "RA (deg)", "Dec (deg)", "FGS mag", "detector",
                   "start (UTC)", "stop (UTC)", "files", "frames"], rows,
                  numeric=(0, 2, 3, 4, 8, 9))


def _fit_section(model):
    from spelunker.fitting import FitFlag
    from spelunker.stpipe.guide_star_fit_step import FIT_TABLES

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
    return _table(["table", "method", "frames", "clean fits", "success rate", "flags set"],
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
    parts.append(_table(["guide star", "pixels in aperture", "binned relative scatter",
                         "full frame (64 pixels)"], rows, numeric=(1, 2, 3)))
    return "\n".join(parts)


def _events_section(model):
    from spelunker.events import local_events

    parts = []
    try:
        moves = local_events(model, "HGA")
    except ValueError as exc:
        parts.append(f"<p>HGA moves: {html.escape(str(exc))}.</p>")
    else:
        if len(moves):
            rows = [(row["start"].isot, row["stop"].isot, f"{row['duration'].value:.1f}",
                     "yes" if row["complete"] else "no (data start or end during the move)")
                    for row in moves]
            parts.append("<p>High-gain-antenna moves (POINTING table):</p>")
            parts.append(_table(["start (UTC)", "stop (UTC)", "duration (s)", "complete"], rows,
                                numeric=(2,)))
        else:
            parts.append("<p>No high-gain-antenna move in the POINTING table.</p>")
    try:
        changes = local_events(model, "GUIDESTAR")
    except ValueError as exc:
        parts.append(f"<p>Guide-star changes: {html.escape(str(exc))}.</p>")
    else:
        if len(changes):
            rows = [(row["time"].isot, int(row["frame"]), row["previous_gs_id"], row["gs_id"])
                    for row in changes]
            parts.append("<p>Guide-star changes:</p>")
            parts.append(_table(["time (UTC)", "first frame", "from", "to"], rows,
                                numeric=(1,)))
        else:
            parts.append("<p>One guide star throughout.</p>")
    return "\n".join(parts)


def _peaks_section(model, n_peaks):
    from spelunker.periodogram import periodogram_peaks_table

    if not model.hasattr("periodogram_peaks"):
        return "<p>No periodogram (run PeriodogramStep).</p>"
    peaks = periodogram_peaks_table(model)
    peaks = peaks[peaks["rank"] <= n_peaks]
    rows = [(row["series"], int(row["rank"]), f"{row['period'].value:.5g}",
             f"{row['frequency'].value:.5g}", f"{float(row['power']):.4g}",
             f"{float(row['false_alarm_probability']):.2e}") for row in peaks]
    if not rows:
        return "<p>No periodogram peak.</p>"
    source = _meta(model, "periodogram_source")
    head = f"<p>Strongest {n_peaks} peaks per series" + (
        f" (fit parameters from {html.escape(source)})" if source else "") + ":</p>"
    return head + _table(["series", "rank", "period (s)", "frequency (Hz)", "power",
                          "false-alarm probability"], rows, numeric=(1, 2, 3, 4, 5))


def _html(model, title, figures, notes, *, n_peaks):
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
        data = base64.b64encode(png).decode("ascii")
        wide = ' class="wide"' if name in _WIDE_FIGURES else ""
        parts.append(
            f'<figure id="{name}"{wide}><img alt="{html.escape(name)} figure" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} ({html.escape(path.name)})</figcaption>"
            "</figure>")
    parts.append("</div>")
    parts += ["<h2>Periodogram peaks</h2>", _peaks_section(model, n_peaks)]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
