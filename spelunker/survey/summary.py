"""The survey table: its columns, the per-visit row of statistics and the table of rows.

`COLUMNS` lists the survey table's columns; `visit_summary` computes the
analysis columns of one visit's pipeline product (centroid rms, PSF width,
binned flux scatter, periodogram peaks, event counts and the variability
row of its main guide star, `VARIABILITY_COLUMNS`, read by
`variability_rows`); `empty_row` is the row a visit starts from,
`survey_table` and `arrow_table` gather rows into the astropy and Arrow
tables written as ``survey.ecsv`` and ``survey.parquet`` (and, given other
columns, the guide-star catalogue's, `spelunker.survey.guidestars`).

Examples
--------
>>> from spelunker.survey.summary import COLUMNS, empty_row
>>> COLUMNS[3][:2]
('visit_id', 'str')
>>> row = empty_row(1534, 1, 2)
>>> row["visit_id"], row["status"], row["n_frames"]
('jw01534001002', '', None)
"""

import contextlib
import logging
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
from astropy.table import MaskedColumn, Table
from astropy.time import Time

from spelunker.archive.tokens import redact
from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.events import EVENT_KINDS, events_table
from spelunker.instrument import guider_name, pixel_scales
from spelunker.names import ID_DIGITS, visit_id
from spelunker.periodogram import PERIODOGRAM_SERIES, periodogram_peaks_table
from spelunker.photometry import binned_scatter
from spelunker.pointing import pointing_stability

__all__ = [
    "COLUMNS",
    "NO_VARIABILITY",
    "POINTING_COLUMNS",
    "SCATTER_BIN",
    "VARIABILITY_COLUMNS",
    "arrow_table",
    "check_rows",
    "empty_row",
    "error_text",
    "survey_table",
    "variability_rows",
    "visit_summary",
]

log = logging.getLogger(__name__)

#: Time bin (seconds) of the binned flux scatter of the survey table.
SCATTER_BIN = 60.0

_ERROR_CHARS = 2000


def _peak_columns():
    columns = []
    for series in PERIODOGRAM_SERIES:
        columns += [
            (f"peak_period_{series}", "float", "s",
             f"period of the strongest periodogram peak of {series}"),
            (f"peak_power_{series}", "float", None,
             f"Lomb-Scargle power of the strongest peak of {series}"),
            (f"peak_fap_{series}", "float", None,
             f"false-alarm probability of the strongest peak of {series}"),
        ]
    return columns


def _centroid_columns():
    """centroid_rms_x, _y in pixels, then the same in milliarcseconds."""
    return [(f"centroid_rms_{axis}{suffix}", "float", unit, f"rms of {axis}_mean over clean fits")
            for suffix, unit in (("", "pix"), ("_mas", "mas")) for axis in "xy"]


#: Pointing columns of the survey table (`spelunker.pointing.pointing_stability`, the row
#: of the guide star of most frames), after the centroid columns.
POINTING_COLUMNS = (
    ("nea_v2_mas", "float", "mas", "noise equivalent angle in V2 (median 1-sigma fit error)"),
    ("nea_v3_mas", "float", "mas", "noise equivalent angle in V3 (median 1-sigma fit error)"),
    ("stability_mas", "float", "mas",
     "JWST's pointing-stability metric: rms of 15 s averages about the mean, radial"),
    ("jitter_line_hz", "float", "Hz", "frequency of the strongest line of the jitter spectrum"),
    ("jitter_line_mas", "float", "mas", "its semi-amplitude on the sky"),
)

#: `POINTING_COLUMNS` -> the `spelunker.pointing.STABILITY_COLUMNS` they come from.
_POINTING_SOURCE = {"nea_v2_mas": "nea_v2_mas", "nea_v3_mas": "nea_v3_mas",
                    "stability_mas": "stability_mas", "jitter_line_hz": "line_frequency_hz",
                    "jitter_line_mas": "line_amplitude_mas"}


#: The variability columns of the survey table, from the visit's stored ``variability`` table
#: (`spelunker.variability`, ``GuideStarVariabilityStep``): its row of the guide star of most
#: frames, without ``visit_index``, ``guidestar_index``, ``visit_id`` (a survey column already)
#: and ``n_frames`` (the survey's is the visit's frames), then ``variability_note``.
VARIABILITY_COLUMNS = (
    ("guidestar_id", "str", None, "guide star of the variability columns (gs_id)"),
    ("n_used", "int", None,
     "frames of its light curve used (fit flags 0, outside technical events)"),
    ("hours", "float", "h", "duration of its light curve"),
    ("white_noise", "float", None, "relative rms per frame (point-to-point scatter)"),
    *((f"rms_{size}", "float", None, f"relative rms of the light curve in {text} bins")
      for size, text in (("1min", "1 min"), ("10min", "10 min"), ("1h", "1 h"))),
    *((f"beta_{size}", "float", None,
       f"red-noise factor at {text}: binned rms / white-noise expectation")
      for size, text in (("1min", "1 min"), ("10min", "10 min"), ("1h", "1 h"))),
    ("n_flares", "int", None, "astrophysical flares"),
    ("flare_rate", "float", "1 / h", "astrophysical flares per hour"),
    ("n_dips", "int", None, "astrophysical dips"),
    ("period", "float", "s", "best period of the light curve (refined periodogram peak)"),
    ("period_error", "float", "s", "its 1-sigma error"),
    ("period_amplitude", "float", None, "its relative amplitude"),
    ("period_fap", "float", None, "its false-alarm probability"),
    ("bls_period", "float", "s", "period of periodic dips (BoxLeastSquares)"),
    ("bls_depth", "float", None, "their relative depth"),
    ("bls_snr", "float", None, "their signal-to-noise ratio"),
    ("classes", "str", None,
     "variability classes, comma-separated (constant, periodic, flaring, dipping, stochastic)"),
    ("variability_note", "str", None,
     "why the variability columns are empty (empty when they are filled)"),
)

#: ``variability_note`` of a visit whose pipeline did not run the variability step.
NO_VARIABILITY = ("no variability table: the pipeline did not run GuideStarVariabilityStep "
                  "(a parameter file that skips it or predates it)")

#: Columns of the survey table: (name, type, unit, description).
COLUMNS = (
    *((kind, "int", None, f"{kind} number") for kind in ID_DIGITS),
    ("visit_id", "str", None, "jw<ppppp><ooo><vvv>"),
    ("gs_id", "str", None, "guide star of most frames (GDSTARID)"),
    ("gs_mag", "float", "mag", "its FGS magnitude (GS_MAG)"),
    ("n_guidestars", "int", None, "guide stars in the visit"),
    ("detector", "str", None, "guider(s), comma-separated"),
    ("start", "str", None, "start of the data (UTC, ISO)"),
    ("end", "str", None, "end of the data (UTC, ISO)"),
    ("n_files", "int", None, "fine-guide products (segments)"),
    ("n_frames", "int", None, "frames"),
    ("fit_table", "str", None, "fit table read (gauss_fit or quick_fit)"),
    ("clean_fit_fraction", "float", None, "fraction of frames with fit flags 0"),
    *_centroid_columns(),
    *POINTING_COLUMNS,
    ("psf_sigma", "float", "pix", "median sqrt(x_stddev * y_stddev) over clean fits"),
    ("flux_scatter_60s", "float", "ppm",
     "relative scatter of the light curve in 60 s bins (photometry.binned_scatter)"),
    *_peak_columns(),
    *((f"n_events_{kind}", "int", None, f"{kind.replace('_', ' ')} events (GuideStarEventStep)")
      for kind in EVENT_KINDS),
    *VARIABILITY_COLUMNS,
    ("product", "str", None, "path of the visit's _gspipe.fits product"),
    ("product_bytes", "int", "byte", "size of the product"),
    ("parameter_file", "str", None, "parameter file of the pipeline run"),
    ("status", "str", None, "ok or error"),
    ("error", "str", None, "why the visit failed (empty when ok)"),
    ("elapsed", "float", "s", "wall time of the visit's task"),
    ("cpu_time", "float", "s", "CPU time of the worker process during the task"),
    ("worker", "str", None, "host:pid of the process that ran the visit"),
    ("worker_peak_rss", "float", "MB", "peak RSS of that process when the visit ended"),
    ("finished", "str", None, "when the visit's task ended (UTC, ISO)"),
)


def _missing(kind):
    """The missing value of a column of ``kind``: NaN, '' or None."""
    return {"float": math.nan, "str": ""}.get(kind)


def empty_row(program, observation=None, visit=None):
    """A survey row of ``program`` (observation, visit), every other value missing.

    Missing floats are NaN, strings empty, integers None.  Without an
    observation and visit (a failed MAST query of a program) the row has no
    ``visit_id``.

    Examples
    --------
    >>> from spelunker.survey.summary import empty_row
    >>> row = empty_row(1534)
    >>> row["program"], row["visit"], row["visit_id"]
    (1534, None, '')
    """
    row = {name: _missing(kind) for name, kind, _, _ in COLUMNS}
    row.update(program=program, observation=observation, visit=visit)
    if observation is not None and visit is not None:
        row["visit_id"] = visit_id(program, observation, visit)
    return row


def error_text(exc, token=None):
    """The ``error`` value of a row: the exception's type and message, token redacted.

    Examples
    --------
    >>> from spelunker.survey.summary import error_text
    >>> error_text(OSError("disk full"))
    'OSError: disk full'
    """
    text = f"{type(exc).__name__}: {exc}"
    if token:
        text = redact(text, token)
    return text[:_ERROR_CHARS]


def _values(column):
    return np.asarray(getattr(column, "value", column), dtype=float)


def _rms(values):
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


def _cell(value, kind, unit):
    """One stored table value as a row value of ``kind`` (a Quantity in ``unit``)."""
    if np.ma.is_masked(value):
        return _missing(kind)
    if kind == "str":
        return str(value).strip()
    if kind == "int":
        return int(value)
    if unit is not None and hasattr(value, "unit"):
        return float(value.to_value(unit))
    return float(getattr(value, "value", value))


def variability_rows(model):
    """The stored variability values of each guide star of ``model``, and a note.

    Parameters
    ----------
    model : GuideStarModel
        One visit's pipeline product.

    Returns
    -------
    rows : dict
        Guide-star index (row of the guide-star table) -> dict of the
        values of `VARIABILITY_COLUMNS` (but ``variability_note``) and
        ``n_frames``, in the survey's units, from the model's ``variability``
        table (``model.table('variability')``); a column the table lacks is
        missing (NaN, '' or None).  Of several rows of one guide star
        (several visits in one model) the one of most frames.
    note : str
        `NO_VARIABILITY` when the model has no ``variability`` table (its
        pipeline did not run the variability step), else ''.

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` is not a `~spelunker.GuideStarModel`.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.survey.summary import variability_rows
    >>> rows, note = variability_rows(GuideStarModel())
    >>> rows, note[:22]
    ({}, 'no variability table: ')
    """
    if not check_model(model, where="variability_rows").hasattr("variability"):
        return {}, NO_VARIABILITY
    table = model.table("variability")
    columns = [*VARIABILITY_COLUMNS[:-1], ("n_frames", "int", None, "")]
    rows = {}
    for index in range(len(table)):
        values = {name: (_cell(table[name][index], kind, unit) if name in table.colnames
                         else _missing(kind)) for name, kind, unit, _ in columns}
        star = int(table["guidestar_index"][index])
        previous = rows.get(star)
        if previous is None or (values["n_frames"] or 0) > (previous["n_frames"] or 0):
            rows[star] = values
    return rows, ""


def _variability_summary(model, stars, main_star):
    """The `VARIABILITY_COLUMNS` of the guide star ``main_star`` (a row of ``stars``)."""
    rows, note = variability_rows(model)
    values = {name: _missing(kind) for name, kind, _, _ in VARIABILITY_COLUMNS}
    found = None if main_star is None else rows.get(main_star)
    if found is not None:
        values.update({name: found[name] for name, *_ in VARIABILITY_COLUMNS[:-1]})
    elif not note:
        star = "" if main_star is None else str(stars["gs_id"][main_star]).strip()
        note = f"the variability table has no row for the guide star {star!r}"
    if note:
        log.info("Survey row of %s: %s", model.meta.filename, note)
    values["variability_note"] = note
    return values


def visit_summary(model):
    """The survey-table values of one visit's pipeline product.

    Parameters
    ----------
    model : GuideStarModel
        One visit after `~spelunker.GuideStarPipeline` (a fit table, a light
        curve and periodogram peaks).

    Returns
    -------
    dict
        The analysis columns of `COLUMNS`: guide star (of most frames),
        magnitude, detector(s), start / end (UTC), files, frames, the fit
        table read, the fraction of clean fits (flags 0), the centroid rms in
        x and y over clean fits (pixels and mas, at the SIAF pixel scales
        of the guider, `spelunker.instrument.pixel_scales`), the pointing
        columns `POINTING_COLUMNS` (`spelunker.pointing.pointing_stability`
        of the guide star of most frames), the median PSF sigma
        (``sqrt(x_stddev * y_stddev)``), the light curve's relative scatter in
        `SCATTER_BIN` bins (ppm; NaN for fewer than
        `spelunker.photometry.MIN_BINS` usable bins) and, per series of
        `spelunker.periodogram.PERIODOGRAM_SERIES`, the period, power and
        false-alarm probability of the strongest peak (NaN without one),
        the counts of events per kind and the `VARIABILITY_COLUMNS` of the
        guide star of most frames (its row of the ``variability`` table).
        A model without a light curve or periodograms (steps skipped by the
        parameter file) gets NaN there, one without events -1 counts, one
        without a variability table missing variability values and
        ``variability_note`` saying why.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarPipeline, datasets
    >>> from spelunker.stpipe import parameter_file
    >>> from spelunker.survey import visit_summary
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), visits=[
    ...     datasets.VisitSpec(n_frames=400, n_segments=1, frame_time=1.0)], seed=1)
    >>> model = GuideStarPipeline.call(visit.files, config_file=parameter_file("quicklook"),
    ...                                configure_log=False)
    >>> summary = visit_summary(model)
    >>> summary["n_frames"], summary["fit_table"], summary["clean_fit_fraction"]
    (400, 'quick_fit', 1.0)
    """
    stars = check_model(model, where="visit_summary").table("guidestars")
    main_star = int(np.argmax(np.asarray(stars["n_frames"]))) if len(stars) else None
    files = model.table("files")
    fit_name = model.fit_table_name("auto")
    fit = model.table(fit_name)
    clean = np.asarray(fit["flags"]) == 0
    x_sigma, y_sigma = _values(fit["x_stddev"])[clean], _values(fit["y_stddev"])[clean]
    with np.errstate(invalid="ignore"):
        sigma = np.sqrt(x_sigma * y_sigma)
    sigma = sigma[np.isfinite(sigma)]
    rms_x, rms_y = _rms(_values(fit["x_mean"])[clean]), _rms(_values(fit["y_mean"])[clean])
    scatter = math.nan
    if model.hasattr("lightcurve"):  # a parameter file may skip the photometry
        flux = np.asarray(model.lightcurve["flux"], dtype=float)
        scatter = binned_scatter(flux, model.frame_seconds(), bin_size=SCATTER_BIN)
    start = float(np.min(np.asarray(files["data_start_mjd"], dtype=float)))
    end = float(np.max(np.asarray(files["data_end_mjd"], dtype=float)))
    scale_x, scale_y = _mas_per_pixel(stars, main_star)
    summary = {
        "gs_id": "" if main_star is None else str(stars["gs_id"][main_star]),
        "gs_mag": math.nan if main_star is None else float(_values(stars["gs_mag"])[main_star]),
        "n_guidestars": len(stars),
        "detector": ",".join(dict.fromkeys(str(d) for d in stars["detector"])),
        "start": Time(start, format="mjd", scale="utc").isot,
        "end": Time(end, format="mjd", scale="utc").isot,
        "n_files": len(files),
        "n_frames": len(model.frames),
        "fit_table": fit_name,
        "clean_fit_fraction": float(np.mean(clean)) if clean.size else math.nan,
        "centroid_rms_x": rms_x,
        "centroid_rms_y": rms_y,
        "centroid_rms_x_mas": rms_x * scale_x,
        "centroid_rms_y_mas": rms_y * scale_y,
        "psf_sigma": float(np.median(sigma)) if sigma.size else math.nan,
        "flux_scatter_60s": scatter * 1e6,
    }
    if model.hasattr("periodogram_peaks"):  # a parameter file may skip the periodograms
        peaks = periodogram_peaks_table(model)
        names, power = np.asarray(peaks["series"]).astype(str), _values(peaks["power"])
    else:
        peaks, names, power = None, np.zeros(0, dtype=str), np.zeros(0)
    for series in PERIODOGRAM_SERIES:
        # The strongest peak of the series (over guide stars, if the table has several).
        rows = np.flatnonzero((names == series) & np.isfinite(power))
        best = rows[np.argmax(power[rows])] if rows.size else None
        for column, key in (("period", "period"), ("power", "power"),
                            ("fap", "false_alarm_probability")):
            value = math.nan if best is None else float(_values(peaks[key])[best])
            summary[f"peak_{column}_{series}"] = value
    # Counts per kind; -1 when the parameter file skipped the event step.
    kinds = list(events_table(model)["kind"]) if model.hasattr("events") else None
    for kind in EVENT_KINDS:
        summary[f"n_events_{kind}"] = -1 if kinds is None else kinds.count(kind)
    summary.update(_variability_summary(model, stars, main_star))
    summary.update(_pointing_summary(model, main_star))
    return summary


def _mas_per_pixel(stars, main_star):
    """The SIAF scales (mas per pixel, x and y) of the main guide star's guider; NaN if unknown."""
    try:
        detector = guider_name(str(stars["detector"][main_star]) if main_star is not None else "")
    except ParameterError:
        return math.nan, math.nan
    return tuple(1000.0 * scale for scale in pixel_scales(detector))


def _pointing_summary(model, main_star):
    """`POINTING_COLUMNS` of the guide star of most frames (its group of most frames)."""
    empty = {name: math.nan for name, _, _, _ in POINTING_COLUMNS}
    if main_star is None:
        return empty
    try:
        table = pointing_stability(model)
    except GuideStarInputError as exc:  # e.g. products that name no guider detector
        log.warning("visit_summary: no pointing columns: %s", exc)
        return empty
    rows = np.flatnonzero(np.asarray(table["guidestar_index"]) == main_star)
    if rows.size == 0:
        return empty
    best = rows[np.argmax(np.asarray(table["n_frames"])[rows])]
    return {name: float(_values(table[_POINTING_SOURCE[name]])[best]) for name in empty}


def check_rows(rows, where):
    """``rows`` as a list of survey rows (dicts), else a ParameterError naming ``where``.

    Examples
    --------
    >>> from spelunker.survey.summary import check_rows
    >>> check_rows(({"program": 1534},), "f")
    [{'program': 1534}]
    >>> check_rows("x", "f")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: f: rows='x' must be a list of survey rows (dicts)
    """
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        msg = f"{where}: rows={rows!r:.60} must be a list of survey rows (dicts)"
        raise ParameterError(msg)
    rows = list(rows)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            msg = f"{where}: rows[{index}]={row!r:.60} must be a survey row (a dict)"
            raise ParameterError(msg)
    return rows


def _column_values(rows, columns, where):
    """Each entry of ``columns`` with the list of its values in ``rows``, a sequence of dicts."""
    rows = check_rows(rows, where)
    return [(*column, [row.get(column[0]) for row in rows]) for column in columns]


@contextlib.contextmanager
def _readable(name, kind, where):
    """A column's values that are not of its kind are a ParameterError naming the column."""
    try:
        yield
    except (TypeError, ValueError) as exc:  # float(), int(), pyarrow's ArrowInvalid/TypeError
        msg = f"{where}: the rows' {name!r} values must be {kind} or None ({exc})"
        raise ParameterError(msg) from exc


def survey_table(rows, *, columns=COLUMNS):
    """The survey table (astropy, masked where a value is missing) of ``rows``.

    Parameters
    ----------
    rows : list of dict
        Survey rows (`COLUMNS`; other keys are ignored).
    columns : sequence of (str, str, str or None, str)
        The columns, ``(name, 'int' | 'float' | 'str', unit, description)``;
        default the survey table's.

    Returns
    -------
    astropy.table.Table
        One column per entry of ``columns``, with its unit and description.

    Raises
    ------
    spelunker.errors.ParameterError
        ``rows`` is not a sequence of dicts, or a value is not of its
        column's kind.

    Examples
    --------
    >>> from spelunker.survey.summary import empty_row, survey_table
    >>> table = survey_table([empty_row(1534, 1, 1)])
    >>> str(table["visit_id"][0]), bool(table["n_frames"].mask[0])
    ('jw01534001001', True)
    """
    table = Table()
    for name, kind, unit, description, values in _column_values(rows, columns, "survey_table"):
        with _readable(name, kind, "survey_table"):
            if kind == "str":
                column = MaskedColumn(["" if v is None else str(v) for v in values], dtype=str)
            elif kind == "float":
                column = MaskedColumn([math.nan if v is None else float(v) for v in values],
                                      dtype=float)
            else:
                mask = [v is None for v in values]
                column = MaskedColumn([0 if v is None else int(v) for v in values],
                                      dtype=np.int64, mask=mask)
        column.name, column.unit, column.description = name, unit, description
        table[name] = column
    return table


def arrow_table(rows, *, columns=COLUMNS):
    """The survey table of ``rows`` as a `pyarrow.Table` (missing values null).

    Parameters
    ----------
    rows : list of dict
        Survey rows, as for `survey_table`.
    columns : sequence of (str, str, str or None, str)
        The columns, as for `survey_table`.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    spelunker.errors.ParameterError
        As `survey_table`.

    Examples
    --------
    >>> from spelunker.survey.summary import arrow_table, empty_row
    >>> arrow_table([empty_row(1534)]).column("visit").to_pylist()
    [None]
    """
    fields, arrays = [], []
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    for name, kind, unit, description, values in _column_values(rows, columns, "arrow_table"):
        meta = {"description": description, **({"unit": unit} if unit else {})}
        fields.append(pa.field(name, types[kind], metadata=meta))
        with _readable(name, kind, "arrow_table"):
            arrays.append(pa.array(values, type=types[kind]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
