"""The time-domain view of a model: its flares, dips and variability per visit and guide star.

Reads the ``flares``, ``dips`` and ``variability`` tables that
`spelunker.variability.store_variability` writes
(`~spelunker.GuideStarVariabilityStep`) and draws, for one visit and guide
star, the figures of `spelunker.plotting.variability`:

- `group_light_curve`: the light curve of one visit and guide star that
  `spelunker.variability.find_variability` analyses (its mask: flagged
  fits, technical events), the series those figures draw;
- `time_domain_figure`: the light curve with its flares and dips, rms
  against bin size beside white noise (`spelunker.variability.noise_model`)
  and the curve folded at the best period, in one figure;
- `time_domain_section`: that figure and the flares, dips and variability
  rows as the report's "Time domain" section (`write_visit_report`).
"""

import html
import logging
from collections import namedtuple

import numpy as np
from astropy import units as u
from astropy.time import Time

from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.plotting._canvas import new_figure
from spelunker.plotting._model import guidestar_names, require_frames_table
from spelunker.plotting._page import html_table, saved_figure
from spelunker.plotting.variability import (
    folded_lightcurve_plot,
    rms_binning_plot,
    variability_lightcurve_plot,
)
from spelunker.variability import (
    VisitLightCurve,
    dips_table,
    flares_table,
    noise_model,
    variability_table,
    visit_lightcurve,
)

__all__ = ["TimeDomainTables", "TimeDomainData", "time_domain_tables",
           "group_light_curve", "curve_times", "time_domain_data", "curve_noise_model",
           "best_period", "time_domain_figure", "time_domain_section",
           "TIME_DOMAIN_CAPTION"]

log = logging.getLogger(__name__)

#: Caption of the report's time-domain figure.
TIME_DOMAIN_CAPTION = ("Relative flux binned for display with its flares and dips (shaded: "
                       "astrophysical in colour, technical hatched grey); rms of the binned "
                       "light curve (flares and dips left out) against bin size beside the "
                       "white-noise expectation, beta at 1 min, 10 min and 1 h (the table's "
                       "beta of a periodic star is measured with the periodic signal removed); "
                       "the light curve folded at the best period.")

#: The variability tables of a model (`time_domain_tables`): QTables with Time columns.
TimeDomainTables = namedtuple("TimeDomainTables", ["flares", "dips", "variability"])

#: What the figures of one visit and guide star draw (`time_domain_data`): its
#: ``variability`` row, its light curve ``curve`` (`group_light_curve`), the frame
#: ``times`` (Time, UTC), and its ``flares`` and ``dips``.
TimeDomainData = namedtuple("TimeDomainData", ["row", "curve", "times", "flares", "dips"])


def time_domain_tables(model):
    """The model's ``flares``, ``dips`` and ``variability`` tables, or None without them.

    Parameters
    ----------
    model : GuideStarModel

    Returns
    -------
    TimeDomainTables or None
        `spelunker.variability.flares_table`, `~spelunker.variability.dips_table`
        and `~spelunker.variability.variability_table` of the model; None when
        it has no ``variability`` table (`~spelunker.GuideStarVariabilityStep`
        has not run).

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``model`` that is not a GuideStarModel.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.plotting.timedomain import time_domain_tables
    >>> print(time_domain_tables(GuideStarModel()))
    None
    """
    if not check_model(model, where="time_domain_tables").hasattr("variability"):
        return None
    return TimeDomainTables(flares_table(model), dips_table(model), variability_table(model))


def group_light_curve(model, *, visit_index=0, guidestar_index=0):
    """The light curve of one visit and guide star that `find_variability` analyses.

    `spelunker.variability.visit_lightcurve` of that group
    (`spelunker.GuideStarModel.frame_groups`) with the fit
    `~spelunker.variability.find_variability` reads by default (the 2-D
    Gaussian fit, else the moments fit, else none) and its technical events
    masked: the relative optimal-aperture flux, its mask and the frame times.

    Parameters
    ----------
    model : GuideStarModel
        With a ``lightcurve`` table (PhotometryOptimizeStep).
    visit_index, guidestar_index : int, optional
        Position of the visit in `~spelunker.GuideStarModel.visits` and row
        of the guide-star table.

    Returns
    -------
    spelunker.variability.VisitLightCurve

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without a light curve, or without frames of that visit
        and guide star.

    Examples
    --------
    The photometry of 600 synthetic frames, no fit and no events (nothing masked):

    >>> import tempfile
    >>> from spelunker import PhotometryOptimizeStep, datasets
    >>> from spelunker.plotting.timedomain import group_light_curve
    >>> frames = datasets.VisitSpec(n_frames=600, n_segments=1)
    >>> files = datasets.make_guidestar_files(tempfile.mkdtemp(), visits=[frames], seed=2).files
    >>> curve = group_light_curve(PhotometryOptimizeStep.call(files))
    >>> len(curve.times), round(float(np.nanmedian(curve.flux)), 6), int(curve.mask.sum())
    (600, 1.0, 0)
    """
    require_frames_table(check_model(model, where="group_light_curve"))
    for visit, star, frames in model.frame_groups():
        if (visit, star) == (visit_index, guidestar_index):
            fit = (model.fit_table_name("auto")
                   if model.hasattr("gauss_fit") or model.hasattr("quick_fit") else None)
            return visit_lightcurve(model, visit, star, frames, fit_table=fit)
    msg = (f"the model has no frame of visit {visit_index} and guide star "
           f"{guidestar_index} (visits: {model.visits()}; guide stars: "
           f"{guidestar_names(model)})")
    raise GuideStarInputError(msg)


def curve_times(curve):
    """The frame times of a `spelunker.variability.VisitLightCurve` as a `~astropy.time.Time`."""
    if not isinstance(curve, VisitLightCurve):
        msg = f"curve={curve!r:.60} must be a VisitLightCurve (group_light_curve)"
        raise ParameterError(msg)
    return Time(curve.mjd_zero, format="mjd", scale="utc") + curve.times * u.s


def _rows_of(table, visit_index, guidestar_index):
    """The rows of a flares or dips table of one visit and guide star."""
    keep = ((np.asarray(table["visit_index"]) == visit_index)
            & (np.asarray(table["guidestar_index"]) == guidestar_index))
    return table[keep]


def _choose_row(variability, visit_index, guidestar_index, *, where):
    """The ``variability`` row of a visit and guide star (default: the first row)."""
    if len(variability) == 0:
        raise GuideStarInputError(f"{where}: the variability table has no row")
    if visit_index is None and guidestar_index is None:
        return variability[0]
    keep = np.ones(len(variability), dtype=bool)
    if visit_index is not None:
        keep &= np.asarray(variability["visit_index"]) == visit_index
    if guidestar_index is not None:
        keep &= np.asarray(variability["guidestar_index"]) == guidestar_index
    if not keep.any():
        held = ", ".join(f"({int(row['visit_index'])}, {int(row['guidestar_index'])})"
                         for row in variability)
        msg = (f"{where}: no variability row of visit_index={visit_index!r}, "
               f"guidestar_index={guidestar_index!r}; the model has (visit, guide star) "
               f"{held}")
        raise ParameterError(msg)
    return variability[np.flatnonzero(keep)[0]]


def _float(value, unit=u.s):
    """A Quantity or a number (in ``unit``) as a float in ``unit`` (NaN for a missing value)."""
    if isinstance(value, u.Quantity):
        return float(value.to_value(unit))
    try:
        return float(value)
    except (TypeError, ValueError):  # a masked or missing value
        return np.nan


def best_period(row):
    """``(period, error, source)`` (s) to fold a variability row at, or None without one.

    The refined periodogram period (``period``, ``period_error``) when it is
    finite, else the box-least-squares period of periodic dips
    (``bls_period``, no error).

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``row`` without ``period``, ``period_error`` and ``bls_period``.

    Examples
    --------
    >>> from spelunker.plotting.timedomain import best_period
    >>> best_period({"period": 47.5, "period_error": 0.02, "bls_period": float("nan")})
    (47.5, 0.02, 'periodogram')
    """
    try:
        values = [row[name] for name in ("period", "period_error", "bls_period")]
    except (KeyError, IndexError, TypeError, ValueError):
        values = None
    if values is None:
        msg = (f"best_period: row={row!r:.60} must be a row of a variability table (with "
               "period, period_error and bls_period)")
        raise ParameterError(msg)
    period = _float(values[0])
    if np.isfinite(period) and period > 0:
        return period, _float(values[1]), "periodogram"
    bls = _float(values[2])
    if np.isfinite(bls) and bls > 0:
        return bls, None, "periodic dips (BLS)"
    return None


def curve_noise_model(curve, *, events=()):
    """`spelunker.variability.noise_model` of a light curve, its masked frames left out.

    Parameters
    ----------
    curve : spelunker.variability.VisitLightCurve
        From `group_light_curve`.
    events : sequence of astropy.table.Table, optional
        Flares and dips of that curve (their ``frame_start`` to
        ``frame_stop`` rows, inclusive, are left out too, as
        `~spelunker.variability.find_variability` leaves them out of its
        noise model).

    Returns
    -------
    spelunker.variability.NoiseModel
    """
    if not isinstance(curve, VisitLightCurve):
        msg = (f"curve_noise_model: curve={curve!r:.60} must be a VisitLightCurve "
               "(group_light_curve)")
        raise ParameterError(msg)
    quiet = np.array(curve.mask, dtype=bool)
    for table in events:
        first = np.searchsorted(curve.frames, np.asarray(table["frame_start"], dtype=np.int64))
        last = np.searchsorted(curve.frames, np.asarray(table["frame_stop"], dtype=np.int64),
                               side="right")
        for start, stop in zip(first, last, strict=True):
            quiet[start:stop] = True
    return noise_model(curve.times, curve.flux, mask=quiet)


def time_domain_data(model, *, visit_index=None, guidestar_index=None, tables=None,
                     where="time_domain_data"):
    """The variability row, light curve, flares and dips of one visit and guide star.

    Parameters
    ----------
    model : GuideStarModel
        A model with variability tables and its frames table.
    visit_index, guidestar_index : int, optional
        The visit (position in `~spelunker.GuideStarModel.visits`) and guide
        star; default: the first row of the ``variability`` table.
    tables : TimeDomainTables, optional
        Tables to use instead of the model's (`time_domain_tables`).
    where : str, optional
        The caller's name, for the messages.

    Returns
    -------
    TimeDomainData

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without variability tables or frames.
    spelunker.errors.ParameterError
        For a visit and guide star without a variability row.
    """
    check_model(model, where=where)
    if tables is None:
        tables = time_domain_tables(model)
    if tables is None:
        msg = (f"{where}: the model has no variability tables; run GuideStarVariabilityStep "
               "(strun spelunker_variability) or spk.find_flares()")
        raise GuideStarInputError(msg)
    row = _choose_row(tables.variability, visit_index, guidestar_index, where=where)
    visit, star = int(row["visit_index"]), int(row["guidestar_index"])
    curve = group_light_curve(model, visit_index=visit, guidestar_index=star)
    return TimeDomainData(row, curve, curve_times(curve), _rows_of(tables.flares, visit, star),
                          _rows_of(tables.dips, visit, star))


def time_domain_figure(model, *, visit_index=None, guidestar_index=None, fig=None,
                       bin_size="auto", tables=None):
    """The light curve with flares and dips, rms against bin size, and the folded curve.

    Parameters
    ----------
    model : GuideStarModel
        A model with variability tables (`~spelunker.GuideStarVariabilityStep`
        or `spelunker.variability.store_variability`) and its frames table.
    visit_index, guidestar_index : int, optional
        The visit (position in `~spelunker.GuideStarModel.visits`) and guide
        star to draw; default: the first row of the ``variability`` table.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new one when None.
    bin_size : float or 'auto', optional
        Display bin of the light curve (s; `variability_lightcurve_plot`).
    tables : TimeDomainTables, optional
        Tables to draw instead of the model's (`time_domain_tables`).

    Returns
    -------
    matplotlib.figure.Figure
        Three Axes: the light curve (`variability_lightcurve_plot`, on top),
        rms against bin size (`rms_binning_plot`, with the noise model of
        `spelunker.variability.noise_model` on the masked light curve) and
        the curve folded at the best period (`folded_lightcurve_plot`; a
        note when the row has no period).

    Raises
    ------
    spelunker.errors.SpelunkerError
        As `time_domain_data` (no variability tables or frames, no row of
        that visit and guide star).
    """
    data = time_domain_data(model, visit_index=visit_index, guidestar_index=guidestar_index,
                            tables=tables, where="time_domain_figure")
    row, curve = data.row, data.curve
    fig = new_figure(fig, (11, 8))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.1, 1.0))
    light = fig.add_subplot(grid[0, :])
    variability_lightcurve_plot(data.times, curve.flux, flares=data.flares, dips=data.dips,
                                mask=curve.mask, bin_size=bin_size, ax=light)
    light.set_title(f"{_label(row)}: {light.get_title()}; classes "
                    f"{str(row['classes']) or '-'}", fontsize="medium")
    rms_binning_plot(curve_noise_model(curve, events=(data.flares, data.dips)),
                     ax=fig.add_subplot(grid[1, 0]))
    folded = fig.add_subplot(grid[1, 1])
    period = best_period(row)
    if period is None:
        folded.text(0.5, 0.5, "no significant period", ha="center", va="center",
                    transform=folded.transAxes, color="0.4")
        folded.set_axis_off()
    else:
        folded_lightcurve_plot(data.times, curve.flux, period=period[0],
                               period_error=period[1], mask=curve.mask, ax=folded)
        folded.set_title(f"{folded.get_title()} ({period[2]})", fontsize="medium")
    return fig


def _label(row):
    """``'jw01534001002, guide star <id>'`` of a variability row."""
    visit = str(row["visit_id"]).strip() or f"visit {int(row['visit_index'])}"
    star = str(row["guidestar_id"]).strip() or str(int(row["guidestar_index"]))
    return f"{visit}, guide star {star}"


def _number(value, text="{:.3g}", unit=u.dimensionless_unscaled):
    value = _float(value, unit)
    return text.format(value) if np.isfinite(value) else "-"


def _variability_rows(row):
    """The variability row as (quantity, value) lines for the page."""
    period = best_period(row)
    period_text = "-"
    if period is not None and period[1] is not None and np.isfinite(period[1]):
        period_text = f"{period[0]:.6g} ± {period[1]:.2g} s ({period[2]})"
    elif period is not None:
        period_text = f"{period[0]:.6g} s ({period[2]})"
    return [
        ("classes", str(row["classes"]) or "-"),
        ("frames used", f"{int(row['n_used'])} of {int(row['n_frames'])} "
                        f"({_number(row['hours'], '{:.2f}', u.h)} h)"),
        ("white noise per frame", _number(row["white_noise"])),
        ("rms at 1 min / 10 min / 1 h", " / ".join(_number(row[f"rms_{size}"])
                                                  for size in ("1min", "10min", "1h"))),
        ("beta at 1 min / 10 min / 1 h", " / ".join(_number(row[f"beta_{size}"], "{:.2f}")
                                                   for size in ("1min", "10min", "1h"))),
        ("astrophysical flares (per hour)",
         f"{int(row['n_flares'])} ({_number(row['flare_rate'], '{:.2f}', 1 / u.h)}/h)"),
        ("astrophysical dips", str(int(row["n_dips"]))),
        ("best period", period_text),
        ("period amplitude, false-alarm probability",
         f"{_number(row['period_amplitude'])}, {_number(row['period_fap'], '{:.2e}')}"),
    ]


def _event_rows(table, centre, size, error):
    """Rows of the flares or dips of one visit and star for the page."""
    rows = []
    for row in table:
        rows.append((row[centre].isot, f"{_float(row['duration']):.3g}",
                     f"{100 * float(row[size]):.3g} ± {100 * float(row[error]):.2g}",
                     *((f"{_float(row['equivalent_duration']):.3g} ± "
                        f"{_float(row['equivalent_duration_error']):.2g}",)
                       if centre == "peak" else ()),
                     f"{float(row['significance']):.1f}",
                     str(row["origin"]) + (f" ({str(row['technical_event']).strip()})"
                                           if str(row["technical_event"]).strip() else "")))
    return rows


def time_domain_section(model, directory, *, stem, dpi, tables=None):
    """The report's time-domain section: per visit and guide star, the figure and the tables.

    Parameters
    ----------
    model : GuideStarModel
        One visit (a page of `write_visit_report`).
    directory : pathlib.Path
        Where the figures' PNGs are written: ``<stem>_timedomain.png``, or
        ``<stem>_timedomain_<visit>_<star>.png`` for several rows.
    stem : str
        The page's file stem.
    dpi : float
        Resolution of the PNGs.
    tables : TimeDomainTables, optional
        Tables to show instead of the model's.

    Returns
    -------
    html : str
        The section's HTML (figures embedded); a paragraph saying that
        `~spelunker.GuideStarVariabilityStep` has not run without tables.
    paths : list of pathlib.Path
        The PNGs written.
    """
    from matplotlib.figure import Figure  # matplotlib loads only when a report is drawn

    if tables is None:
        tables = time_domain_tables(model)
    if tables is None:
        return ("<p>No variability tables (run GuideStarVariabilityStep: strun "
                "spelunker_variability).</p>"), []
    if len(tables.variability) == 0:
        return "<p>No visit and guide star was analysed for variability.</p>", []
    parts, paths = [], []
    several = len(tables.variability) > 1
    for row in tables.variability:
        visit, star = int(row["visit_index"]), int(row["guidestar_index"])
        parts.append(f"<h3>{html.escape(_label(row))}</h3>")
        name = f"timedomain_{visit}_{star}" if several else "timedomain"
        try:
            figure = time_domain_figure(model, visit_index=visit, guidestar_index=star,
                                        fig=Figure(figsize=(11, 8), layout="constrained"),
                                        tables=tables)
        except ValueError as exc:
            parts.append(f'<p class="note">{html.escape(f"time-domain figure left out: {exc}")}'
                         "</p>")
            log.info("report: time-domain figure of %s left out: %s", _label(row), exc)
        else:
            part, path = saved_figure(figure, directory, stem=stem, name=name,
                                      caption=TIME_DOMAIN_CAPTION, dpi=dpi, wide=True)
            parts.append(part)
            paths.append(path)
        parts.append(html_table(["quantity", "value"], _variability_rows(row)))
        flares = _rows_of(tables.flares, visit, star)
        parts.append(f"<p>{len(flares)} flare(s):</p>" + (html_table(
            ["peak (UTC)", "duration (s)", "amplitude (%)", "equivalent duration (s)",
             "significance (sigma)", "origin"], _event_rows(flares, "peak", "amplitude",
                                                            "amplitude_error"),
            numeric=(1, 2, 3, 4)) if len(flares) else ""))
        dips = _rows_of(tables.dips, visit, star)
        parts.append(f"<p>{len(dips)} dip(s):</p>" + (html_table(
            ["mid (UTC)", "duration (s)", "depth (%)", "significance (sigma)", "origin"],
            _event_rows(dips, "mid", "depth", "depth_error"), numeric=(1, 2, 3))
            if len(dips) else ""))
    return "\n".join(parts), paths
