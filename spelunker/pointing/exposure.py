"""Pointing stability over one science exposure and each of its integrations, and its jitter file.

`exposure_stability` reads the integrations of a science product (its
``INT_TIMES``, `spelunker.science.integration_times`), takes the pointing
series of the guide star that guided it (`spelunker.pointing.core.pointing_series`)
and gives an `ExposureStability`: the stability metrics over the exposure
(`spelunker.pointing.core.STABILITY_COLUMNS`, computed by
`spelunker.pointing.stability` and `spelunker.pointing.spectrum`), the offsets
and their rms in each integration, the 3-second averages and the 2-D
histogram of excursions.  `write_jitter_file` writes it as
``<science rootname>_gsjit.fits`` (`jitter_file_name`), a FITS file plain
astropy reads (layout in ``docs/pointing.rst``).

Frames and offsets
    A guide-star frame belongs to integration ``k`` when its mid-time
    ``t`` (UTC) satisfies ``start_k <= t < end_k`` (as in
    `spelunker.science.bin_to_integrations`); it belongs to the exposure
    when ``start_1 <= t < end_n`` (first integration's start, last one's
    end).  Only the *good* frames of the series (fit unflagged, outside
    technical events when they are masked) enter a statistic; ``n_frames``
    of an integration counts all frames inside it, ``n_good`` the good ones.
    Offsets are in milliarcseconds along V2 and V3, from the mean position
    of the good frames of the exposure (``V2REF``, ``V3REF``).
"""

import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spelunker._validate import check_output_dir, check_output_file
from spelunker._version import __version__
from spelunker.atomic import atomic_file
from spelunker.datamodels import check_model
from spelunker.errors import GuideStarInputError, ParameterError, ScienceInputError
from spelunker.names import jitter_file_name, visit_id
from spelunker.pointing.core import STABILITY_COLUMNS, pointing_series, series_metrics
from spelunker.pointing.stability import AVERAGE_INTERVAL, excursion_histogram, interval_averages
from spelunker.science.reading import integration_times

__all__ = [
    "HEADER_KEYWORDS",
    "INTEGRATION_COLUMNS",
    "ExposureStability",
    "exposure_stability",
    "jitter_file_name",
    "jitter_path",
    "write_jitter_file",
]

log = logging.getLogger(__name__)

#: FITS keyword (<= 8 characters) of every metric in the jitter file's primary header.
HEADER_KEYWORDS = {
    "n_frames": "NFRAMES",
    "duration": "DURATION",
    "nea_v2_mas": "NEA_V2",
    "nea_v3_mas": "NEA_V3",
    "p2p_v2_mas": "P2P_V2",
    "p2p_v3_mas": "P2P_V3",
    "stability_v2_mas": "STAB_V2",
    "stability_v3_mas": "STAB_V3",
    "stability_mas": "STAB",
    "rms_v2_mas": "RMS_V2",
    "rms_v3_mas": "RMS_V3",
    "drift_v2_mas_per_h": "DRIFT_V2",
    "drift_v3_mas_per_h": "DRIFT_V3",
    "line_frequency_hz": "LINEFREQ",
    "line_amplitude_mas": "LINEAMP",
    "onboard_rms_mas": "OBRMS",
    "int_start_mjd": "EXPSTART",
    "int_end_mjd": "EXPEND",
}

#: Columns of the per-integration table: (name, unit, description).
INTEGRATION_COLUMNS = (
    ("integration_number", None, "integration number (1-based, as in INT_TIMES)"),
    ("int_start_mjd_utc", u.day, "start of the integration, MJD UTC"),
    ("int_mid_mjd_utc", u.day, "middle of the integration, MJD UTC"),
    ("int_end_mjd_utc", u.day, "end of the integration, MJD UTC"),
    ("n_frames", None, "frames with mid-time inside the integration"),
    ("n_good", None, "frames used: fit unflagged, not in events"),
    ("dv2_mas", u.mas, "mean V2 offset from the exposure mean"),
    ("dv3_mas", u.mas, "mean V3 offset from the exposure mean"),
    ("rms_v2_mas", u.mas, "rms of the V2 offsets in the integration"),
    ("rms_v3_mas", u.mas, "rms of the V3 offsets in the integration"),
)

#: Extra summary entries (beyond `STABILITY_COLUMNS`): (name, unit, description).
_EXPOSURE_ENTRIES = (
    ("int_start_mjd", u.day, "start of the first integration, MJD UTC"),
    ("int_end_mjd", u.day, "end of the last integration, MJD UTC"),
)

_WHERE = "exposure_stability"


@dataclass
class ExposureStability:
    """The pointing stability of one science exposure (`exposure_stability`).

    Attributes
    ----------
    science_name : str
        The science product's file name (or ``'INT_TIMES table'``...).
    summary : dict
        The `STABILITY_COLUMNS` over the exposure's good frames, plus
        ``int_start_mjd`` and ``int_end_mjd`` (MJD UTC of the first
        integration's start and the last one's end).  Plain numbers in the
        units of `STABILITY_COLUMNS` (mas, s, Hz, mas/h); NaN where a
        metric cannot be measured.
    integrations : astropy.table.QTable
        One row per integration (`INTEGRATION_COLUMNS`).
    averages : astropy.table.Table
        The 3-second averages of the offsets
        (`spelunker.pointing.stability.interval_averages`; ``start_s``,
        ``mid_s``, ``stop_s`` count from ``int_start_mjd``), with their
        middle in MJD UTC (``mid_mjd_utc``).
    histogram : tuple
        ``(counts, v2_edges_mas, v3_edges_mas)``: the 2-D histogram of the
        offsets (`spelunker.pointing.stability.excursion_histogram`;
        ``counts[j, i]`` counts the frames in V3 bin ``j`` and V2 bin ``i``,
        as an image).
    meta : dict
        Where the numbers come from: ``visit_id``, ``visit_index``,
        ``guidestar_index``, ``gs_id``, ``detector``, ``fit_table``,
        ``mask_events``, ``time_source`` (of the integration times),
        ``v2_ref_arcsec``, ``v3_ref_arcsec`` (the exposure's mean position),
        ``average_interval`` (s).
    path : pathlib.Path or None
        The jitter file, once written by the session
        (``spk.pointing_stability``); None otherwise.
    """

    science_name: str
    summary: dict
    integrations: Table
    averages: Table
    histogram: tuple
    meta: dict = field(default_factory=dict)
    path: Path = None


# --------------------------------------------------------------------------
# The analysis


def _guiding_group(model, start, end, name):
    """``(visit_index, guidestar_index)`` of the group with the most frames in the exposure."""
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    counts = [(np.count_nonzero((mjd[rows] >= start) & (mjd[rows] < end)), v, g)
              for v, g, rows in model.frame_groups()]
    counts = [entry for entry in counts if entry[0] > 0]
    if not counts:
        timed = mjd[np.isfinite(mjd)]
        frames = (f"MJD {timed.min():.6f} to {timed.max():.6f} UTC" if timed.size
                  else "none with a time")
        msg = (f"{name}: no guide-star frame falls in the exposure (MJD {start:.6f} to "
               f"{end:.6f} UTC); the guide-star data cover {frames}: give the guider products "
               "of the visit that guided this exposure")
        raise ScienceInputError(msg)
    counts.sort(key=lambda entry: -entry[0])
    if len(counts) > 1:
        log.warning("%s: the exposure is guided by %d visit/guide-star groups (%s frames); "
                    "the metrics are those of the group with the most frames", name,
                    len(counts), ", ".join(str(entry[0]) for entry in counts))
    return counts[0][1], counts[0][2]


def _integration_table(integrations, mjd, good, dv2, dv3):
    """One row per integration: frames inside, mean offsets and their rms."""
    start, end = integrations.start.mjd, integrations.end.mjd
    lo = np.searchsorted(mjd, start, side="left")
    hi = np.searchsorted(mjd, end, side="left")
    n = len(integrations)
    values = {name: np.full(n, np.nan) for name in ("dv2_mas", "dv3_mas", "rms_v2_mas",
                                                    "rms_v3_mas")}
    n_good = np.zeros(n, dtype=np.int64)
    for k in range(n):
        use = good[lo[k]:hi[k]]
        n_good[k] = np.count_nonzero(use)
        if not n_good[k]:
            continue
        for axis, offsets in (("v2", dv2), ("v3", dv3)):
            inside = offsets[lo[k]:hi[k]][use]
            values[f"d{axis}_mas"][k] = inside.mean()
            values[f"rms_{axis}_mas"][k] = inside.std()
    columns = {
        "integration_number": np.asarray(integrations.number, dtype=np.int32),
        "int_start_mjd_utc": start, "int_mid_mjd_utc": integrations.mid.mjd,
        "int_end_mjd_utc": end, "n_frames": (hi - lo).astype(np.int32),
        "n_good": n_good.astype(np.int32), **values,
    }
    table = Table()
    for name, unit, description in INTEGRATION_COLUMNS:
        table[name] = columns[name]
        table[name].unit = unit
        table[name].description = description
    return table


def _number(value):
    return getattr(value, "value", value)


def _fit_name(model, fit_table):
    """The name of the fit table used (``'given table'`` for a table passed in)."""
    if fit_table is None or isinstance(fit_table, str):
        return model.fit_table_name(fit_table or "auto", name="fit_table")
    return "given table"


def exposure_stability(model, science, *, fit_table=None, mask_events=True):
    """The pointing stability over a science exposure and each of its integrations.

    Parameters
    ----------
    model : spelunker.GuideStarModel
        The guide-star data of the visit that guided the exposure, with a
        fit table (`spelunker.GuideStarFitStep`).
    science : str, os.PathLike, stdatamodels model or table
        The science product with ``INT_TIMES`` (``*_rateints.fits``,
        ``*_calints.fits``, ``*_x1dints.fits``), an open model of it, or
        its ``INT_TIMES`` table (`spelunker.science.integration_times`).
    fit_table : str, optional
        The fit table (see `spelunker.pointing.core.pointing_series`).
    mask_events : bool, optional
        Leave the frames of technical events out of every statistic.

    Returns
    -------
    ExposureStability

    Raises
    ------
    spelunker.errors.ScienceInputError
        For unusable integration times, an exposure in which no guide-star
        frame falls, or one without any good frame.
    spelunker.errors.ParameterError
        ``model`` is not a GuideStarModel.
    spelunker.errors.GuideStarInputError
        A model without frames or without a fit.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.io import open_guidestar
    >>> from spelunker.fitting import ensure_fit_table
    >>> from spelunker.pointing.exposure import exposure_stability
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=800, n_segments=1)], seed=2)
    >>> science = datasets.make_science_product(tempfile.mkdtemp(), visit, integration_time=8.0)
    >>> model = open_guidestar(visit.files)
    >>> ensure_fit_table(model, "quick")
    'quick_fit'
    >>> result = exposure_stability(model, science.path)
    >>> len(result.integrations), result.integrations["n_frames"][:2].tolist()
    (4, [149, 148])
    """
    check_model(model, where=_WHERE)
    integrations = integration_times(science)
    name = integrations.source
    start, end = float(integrations.start.mjd[0]), float(integrations.end.mjd[-1])
    if not model.hasattr("frames"):
        msg = ("the model has no frames table (the frame times); read the guider products "
               "(spelunker.load, GuideStarFitStep)")
        raise GuideStarInputError(msg)
    visit_index, guidestar_index = _guiding_group(model, start, end, name)
    series = pointing_series(model, visit_index=visit_index, guidestar_index=guidestar_index,
                             fit_table=fit_table, mask_events=mask_events)
    mjd = np.asarray(series.mjd, dtype=float)
    exposure = series.select((mjd >= start) & (mjd < end))
    mjd = np.asarray(exposure.mjd, dtype=float)
    good = np.asarray(exposure.good, dtype=bool)
    good &= np.isfinite(exposure.dv2_mas) & np.isfinite(exposure.dv3_mas)
    if not np.any(good):
        msg = (f"{name}: none of the {mjd.size} guide-star frame(s) in the exposure is usable "
               "(all flagged by the fit"
               + (" or inside technical events; try mask_events=False)" if mask_events
                  else ")"))
        raise ScienceInputError(msg)
    summary = {key: _number(value) for key, value in series_metrics(exposure).items()}
    summary = {key: summary.get(key, np.nan) for key, _, _ in STABILITY_COLUMNS}
    summary["int_start_mjd"], summary["int_end_mjd"] = start, end
    v2_ref = float(np.mean(np.asarray(exposure.v2, dtype=float)[good]))
    v3_ref = float(np.mean(np.asarray(exposure.v3, dtype=float)[good]))
    # Offsets from the exposure's own mean position (the series' are from the visit's).
    dv2 = np.asarray(exposure.dv2_mas, dtype=float)
    dv3 = np.asarray(exposure.dv3_mas, dtype=float)
    dv2, dv3 = dv2 - dv2[good].mean(), dv3 - dv3[good].mean()
    seconds = (mjd - start) * 86400.0
    averages = Table(interval_averages(seconds[good], dv2[good], dv3[good],
                                       interval=AVERAGE_INTERVAL))
    mid_s = np.asarray(_number(averages["mid_s"]), dtype=float)
    averages["mid_mjd_utc"] = start + mid_s / 86400.0
    averages["mid_mjd_utc"].unit = u.day
    averages["mid_mjd_utc"].description = "middle of the interval, MJD UTC"
    order = np.argsort(mjd, kind="stable")  # the integrations' frames: index ranges in time
    table = _integration_table(integrations, mjd[order], good[order], dv2[order], dv3[order])
    gs_ids = np.asarray(model.guidestars["gs_id"]) if model.hasattr("guidestars") else None
    program, observation, visit = model.visits()[visit_index]
    meta = {
        "visit_id": visit_id(program, observation, visit), "visit_index": int(visit_index),
        "guidestar_index": int(guidestar_index),
        "gs_id": str(gs_ids[guidestar_index]) if gs_ids is not None else "",
        "detector": str(series.detector), "fit_table": _fit_name(model, fit_table),
        "mask_events": bool(mask_events), "time_source": integrations.time_source,
        "v2_ref_arcsec": v2_ref, "v3_ref_arcsec": v3_ref,
        "average_interval": float(AVERAGE_INTERVAL),
    }
    result = ExposureStability(
        science_name=name, summary=summary, integrations=table, averages=averages,
        histogram=excursion_histogram(dv2[good], dv3[good]), meta=meta)
    log.info("%s: %d integrations, %d good frames; stability %.3g mas (15 s), NEA %.3g/%.3g "
             "mas", name, len(integrations), np.count_nonzero(good),
             summary.get("stability_mas", np.nan), summary.get("nea_v2_mas", np.nan),
             summary.get("nea_v3_mas", np.nan))
    return result


# --------------------------------------------------------------------------
# The jitter file


def jitter_path(science, *, output_dir=None, overwrite=False, where="jitter_path"):
    """Where the jitter file of ``science`` goes, checked before any work.

    Parameters
    ----------
    science : str, os.PathLike or stdatamodels model
        The science product (its name gives `jitter_file_name`).
    output_dir : str or os.PathLike, optional
        The folder (created if missing); default: the science product's own
        folder (for a model: the current folder).
    overwrite : bool, optional
        If False, an existing file is an error.
    where : str, optional
        The caller, named in error messages.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    spelunker.errors.ParameterError
        No file name to go by, a folder that does not exist or is not
        writable, or an existing file without ``overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.pointing.exposure import jitter_path
    >>> folder = tempfile.mkdtemp()
    >>> jitter_path(folder + "/jw01366003001_04101_00001-seg001_nrs1_calints.fits").name
    'jw01366003001_04101_00001-seg001_nrs1_gsjit.fits'
    """
    name = jitter_file_name(science)
    if output_dir is not None:
        folder = check_output_dir(output_dir, "output_dir", where=where)
    elif isinstance(science, (str, Path)) or hasattr(science, "__fspath__"):
        folder = Path(science).parent
    else:
        folder = Path(".")
    path = check_output_file(folder / name, "jitter file", suffixes=(".fits",), where=where)
    if path.exists() and not overwrite:
        msg = f"{where}: the jitter file {str(path)!r} exists; pass overwrite=True to replace it"
        raise ParameterError(msg)
    return path


def _set(header, keyword, value, comment):
    """Set a card, its comment cut to fit one 80-character card (units first, in brackets)."""
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        value = None  # FITS has no NaN: an undefined value
    elif isinstance(value, np.generic):
        value = value.item()
    # keyword, "= " and the value, which FITS pads to 20 characters before a comment
    used = max(len(fits.Card(keyword, value).image.rstrip()), 30)
    room = 80 - used - 3
    if used <= 80 and len(comment) > room:
        comment = comment[:max(room, 0)]
    header[keyword] = (value, comment)


def _unit_text(unit):
    if unit is None or unit == "":
        return ""
    return f"[{u.Unit(unit).to_string()}] "


def _primary_header(result):
    header = fits.Header()
    meta = result.meta
    _set(header, "FILETYPE", "GUIDESTAR JITTER", "pointing stability of a science exposure")
    _set(header, "ORIGIN", "spelunker", "software that wrote this file")
    _set(header, "SPKVER", __version__, "spelunker version")
    _set(header, "SCIENCE", result.science_name, "science product")
    _set(header, "TIMESRC", meta.get("time_source", ""), "source of the integration times")
    _set(header, "NINTS", len(result.integrations), "number of integrations")
    _set(header, "VISIT_ID", meta.get("visit_id", ""), "guide-star visit")
    _set(header, "GS_ID", meta.get("gs_id", ""), "guide star (Guide Star Catalog id)")
    _set(header, "DETECTOR", meta.get("detector", ""), "FGS detector")
    _set(header, "FITTABLE", meta.get("fit_table", ""), "fit table of the centroids")
    _set(header, "EVMASK", bool(meta.get("mask_events", True)),
         "frames of technical events left out")
    _set(header, "V2REF", meta.get("v2_ref_arcsec", np.nan),
         "[arcsec] mean V2 of the guide star, exposure")
    _set(header, "V3REF", meta.get("v3_ref_arcsec", np.nan),
         "[arcsec] mean V3 of the guide star, exposure")
    _set(header, "AVGINT", meta.get("average_interval", AVERAGE_INTERVAL),
         "[s] interval of the JIT averages")
    entries = tuple(STABILITY_COLUMNS) + _EXPOSURE_ENTRIES
    for name, unit, description in entries:
        keyword = HEADER_KEYWORDS.get(name)
        if keyword is None:
            # internal invariant: HEADER_KEYWORDS names every metric (a test checks it)
            msg = f"no FITS keyword for the metric {name!r}"
            raise RuntimeError(msg)
        value = result.summary.get(name, np.nan)
        if name == "n_frames" and np.isfinite(value):
            value = int(value)
        _set(header, keyword, value, f"{_unit_text(unit)}{description}")
    header.add_comment("Metrics over the good frames of the exposure (fit unflagged, outside")
    header.add_comment("masked technical events); offsets from the exposure's mean position.")
    header.add_comment("A keyword without a value: the metric could not be measured.")
    for name, unit, description in entries:
        text = f"{HEADER_KEYWORDS[name]} = {name} {_unit_text(unit)}{description}"
        for line in textwrap.wrap(text, 70, subsequent_indent="    "):
            header.add_comment(line)
    return header


def _table_hdu(table, extname, descriptions):
    """A BinTable HDU of ``table`` (units as TUNITn, descriptions as TTYPEn comments)."""
    plain = Table()
    for name in table.colnames:
        column = table[name]
        plain[name] = np.asarray(_number(column))
        unit = getattr(column, "unit", None)
        if unit is not None:
            plain[name].unit = unit
    hdu = fits.table_to_hdu(plain)
    hdu.name = extname
    for index, name in enumerate(plain.colnames, start=1):
        description = descriptions.get(name) or getattr(table[name], "description", None)
        if description:
            _set(hdu.header, f"TTYPE{index}", name, description)
    return hdu


def _histogram_hdu(histogram):
    counts, v2_edges, v3_edges = (np.asarray(_number(part)) for part in histogram)
    hdu = fits.ImageHDU(np.ascontiguousarray(counts).astype(np.int32), name="JIF")
    for axis, edges, label in ((1, v2_edges, "V2"), (2, v3_edges, "V3")):
        width = np.diff(edges)
        if width.size == 0 or not np.allclose(width, width[0]) or width[0] <= 0:
            msg = (f"write_jitter_file: result.histogram: the {label} bin edges are not "
                   "increasing in equal steps (as excursion_histogram gives them)")
            raise ParameterError(msg)
        _set(hdu.header, f"CTYPE{axis}", f"D{label}", f"offset along {label}")
        _set(hdu.header, f"CUNIT{axis}", "mas", "milliarcseconds")
        _set(hdu.header, f"CRPIX{axis}", 1.0, "reference pixel: the first bin")
        _set(hdu.header, f"CRVAL{axis}", float(edges[0] + width[0] / 2),
             f"[mas] {label} offset at the centre of the first bin")
        _set(hdu.header, f"CDELT{axis}", float(width[0]), "[mas] bin width")
    _set(hdu.header, "BUNIT", "count", "frames per bin")
    hdu.header.add_comment("Frames per bin of (V2, V3) offset from the exposure's mean; axis 1")
    hdu.header.add_comment("is V2 (data[j, i]: V3 bin j, V2 bin i).")
    return hdu


def write_jitter_file(result, path, *, overwrite=False):
    """Write an `ExposureStability` as a jitter file, whole or not at all.

    HDUs: ``PRIMARY`` (no data; the metrics in the header, units in
    brackets in the comments), ``JIT`` (the 3-second averages),
    ``INTEGRATIONS`` (one row per integration), ``JIF`` (the 2-D
    histogram of excursions, axis 1 V2, axis 2 V3, in mas).  Written to a
    temporary name and renamed (`spelunker.atomic.atomic_file`).

    Parameters
    ----------
    result : ExposureStability
    path : str or os.PathLike
        The file (``*_gsjit.fits``; see `jitter_file_name`).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    spelunker.errors.ParameterError
        ``result`` is not an `ExposureStability`, ``path`` not a writable
        ``.fits`` file, or an existing file without ``overwrite``.
    """
    where = "write_jitter_file"
    if not isinstance(result, ExposureStability):
        msg = f"{where}: result={type(result).__name__} is not an ExposureStability"
        raise ParameterError(msg)
    path = check_output_file(path, "path", suffixes=(".fits",), where=where)
    if path.exists() and not overwrite:
        msg = f"{where}: {str(path)!r} exists; pass overwrite=True to replace it"
        raise ParameterError(msg)
    descriptions = {name: description for name, _, description in INTEGRATION_COLUMNS}
    hdulist = fits.HDUList([
        fits.PrimaryHDU(header=_primary_header(result)),
        _table_hdu(result.averages, "JIT", {}),
        _table_hdu(result.integrations, "INTEGRATIONS", descriptions),
        _histogram_hdu(result.histogram),
    ])
    with atomic_file(path, overwrite=overwrite) as temporary:
        hdulist.writeto(temporary)
    log.info("wrote the jitter file %s", path)
    return path
