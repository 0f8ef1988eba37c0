"""Surveys: one pipeline run per visit over programs, or the archive, on Dask.

`run_survey` (and the console script ``spelunker-survey``) takes programs,
observations or visits at MAST, or a folder of products already on disk,
and maps one task per visit onto a ``dask.distributed`` cluster: a
`~distributed.LocalCluster` by default, or any running cluster given its
scheduler address.  Each task (`run_visit`) downloads that visit's products
(`spelunker.archive.download_products`, which reuses complete cached files),
runs `~spelunker.GuideStarPipeline` with a parameter file (the quick-look
profile by default), writes the visit's product and returns one summary row
(`visit_summary`).  The rows gather into the survey table, written as
``survey.ecsv`` and ``survey.parquet`` in the output folder.

The output folder
    ``products/``: one ``jw<ppppp><ooo><vvv>_gs-fg_<stamp>_gspipe.fits`` per
    visit; ``rows/``: one ``jw<ppppp><ooo><vvv>.json`` per visit (its row,
    written by the task after the product); ``downloads/``: the MAST
    products (unless ``download_dir`` says otherwise); ``survey.ecsv``,
    ``survey.parquet``.  Every file is written under a temporary name and
    renamed, so a killed survey never leaves a partial product, row or
    table under a final name.

Resuming
    A visit whose row says ``ok``, whose product is on disk with the size the
    row records and whose parameter file is the same is skipped; every other
    visit (failed, never run, interrupted) runs again.  A failing visit
    (corrupt file, MAST error, a worker that died) gives a row with
    ``status='error'`` and the reason in ``error``; the survey goes on.

Memory
    One task holds one visit: a `~distributed.LocalCluster` is started with
    one thread per worker, so a worker's peak memory is that of one visit
    (2.2 GB for a 1,000,000-frame visit with the quick-look profile, see
    ``docs/survey.rst``).  On an existing cluster, start the workers with
    ``--nthreads 1`` (or give each thread that much memory).
"""

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import resource
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import MaskedColumn, Table
from astropy.time import Time
from distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from spelunker._validate import available_cpus, check_positive_int
from spelunker.archive import download_products, find_guidestar_products
from spelunker.archive.tokens import redact, resolve_token
from spelunker.errors import (
    ArchiveError,
    GuideStarInputError,
    ParameterError,
    SpelunkerError,
    SurveyError,
)
from spelunker.events import EVENT_KINDS, events_table
from spelunker.instrument import PIXEL_SCALE
from spelunker.names import FINE_GUIDE_GLOB, is_fine_guide_cal, parse_product_name, strip_segment
from spelunker.periodogram import PERIODOGRAM_SERIES, periodogram_peaks_table
from spelunker.photometry import binned_scatter
from spelunker.stpipe import GuideStarPipeline, parameter_file
from spelunker.stpipe.parameters import PARAMETER_FILES

__all__ = [
    "COLUMNS",
    "SCATTER_BIN",
    "VisitTask",
    "main",
    "plan_survey",
    "run_survey",
    "run_visit",
    "visit_summary",
]

log = logging.getLogger(__name__)

#: Time bin (seconds) of the binned flux scatter of the survey table.
SCATTER_BIN = 60.0

_MAS_PER_PIXEL = PIXEL_SCALE * 1000.0
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


#: Columns of the survey table: (name, type, unit, description).
COLUMNS = (
    ("program", "int", None, "program number"),
    ("observation", "int", None, "observation number"),
    ("visit", "int", None, "visit number"),
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
    ("centroid_rms_x", "float", "pix", "rms of x_mean over clean fits"),
    ("centroid_rms_y", "float", "pix", "rms of y_mean over clean fits"),
    ("centroid_rms_x_mas", "float", "mas", "rms of x_mean over clean fits"),
    ("centroid_rms_y_mas", "float", "mas", "rms of y_mean over clean fits"),
    ("psf_sigma", "float", "pix", "median sqrt(x_stddev * y_stddev) over clean fits"),
    ("flux_scatter_60s", "float", "ppm",
     "relative scatter of the light curve in 60 s bins (photometry.binned_scatter)"),
    *_peak_columns(),
    *((f"n_events_{kind}", "int", None, f"{kind.replace('_', ' ')} events (GuideStarEventStep)")
      for kind in EVENT_KINDS),
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


# --------------------------------------------------------------------------
# Visits


@dataclass(frozen=True)
class VisitTask:
    """One visit of a survey: what a task needs to download and run it.

    Parameters
    ----------
    program, observation, visit : int
        The visit.
    files : tuple of str
        Product names (``source='mast'``) or paths (``source='disk'``) of
        its fine-guide ``_cal`` products, in time order.
    sizes : tuple of int or None
        Archive sizes of ``files`` (``'mast'``), or None.
    source : {'mast', 'disk'}
        Where the files are.

    Examples
    --------
    >>> from spelunker.survey import VisitTask
    >>> task = VisitTask(1534, 1, 1, ("jw01534001001_gs-fg_2022338013544-seg001_cal.fits",))
    >>> task.visit_id, task.product_name
    ('jw01534001001', 'jw01534001001_gs-fg_2022338013544_gspipe.fits')
    """

    program: int
    observation: int
    visit: int
    files: tuple
    sizes: tuple | None = None
    source: str = "mast"

    @property
    def visit_id(self):
        """``jw<ppppp><ooo><vvv>``."""
        return f"jw{self.program:05d}{self.observation:03d}{self.visit:03d}"

    @property
    def product_name(self):
        """The product: the first file's name without ``-segNNN``, ``_cal`` -> ``_gspipe``."""
        first = strip_segment(Path(self.files[0]).name)
        return first[: -len("_cal.fits")] + "_gspipe.fits"


def _empty_row(program, observation=None, visit=None):
    row = {}
    for name, kind, _, _ in COLUMNS:
        row[name] = {"float": math.nan, "str": ""}.get(kind)
    row.update(program=program, observation=observation, visit=visit)
    if observation is not None and visit is not None:
        row["visit_id"] = f"jw{program:05d}{observation:03d}{visit:03d}"
    return row


def _as_number(value, name, digits):
    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not 0 < number < 10**digits:
        msg = f"{name}={value!r} must be a number in 1..{10**digits - 1}"
        raise ParameterError(msg)
    return number


def _as_key(value, name, length):
    """(program, observation[, visit]) from a tuple or 'P:O[:V]' text."""
    parts = value.split(":") if isinstance(value, str) else list(value)
    if len(parts) != length:
        form = "PROGRAM:OBSERVATION" if length == 2 else "PROGRAM:OBSERVATION:VISIT"
        msg = f"{name}={value!r} must be {form} (or a tuple of {length} numbers)"
        raise ParameterError(msg)
    return tuple(_as_number(part, name, digits)
                 for part, digits in zip(parts, (5, 3, 3), strict=False))


def _selections(programs, observations, visits):
    """The (program, observation, visit) selections asked for (None = all)."""
    if isinstance(programs, (str, int)):
        programs = [programs]
    selections = [(_as_number(p, "programs", 5), None, None) for p in programs]
    selections += [(*_as_key(o, "observations", 2), None) for o in observations]
    selections += [_as_key(v, "visits", 3) for v in visits]
    return list(dict.fromkeys(selections))


def _selected(key, selections):
    if not selections:
        return True
    return any(all(want is None or want == have for want, have in zip(sel, key, strict=True))
               for sel in selections)


def _describe(selection):
    program, observation, visit = selection
    text = f"program {program}"
    if observation is not None:
        text += f" observation {observation}"
    if visit is not None:
        text += f" visit {visit}"
    return text


def plan_survey(*, programs=(), observations=(), visits=(), input_dir=None, token=None,
                server=None):
    """The visits of a survey, one `VisitTask` each, and the queries that failed.

    With ``input_dir``, the fine-guide ``_cal`` products in that folder are
    grouped by visit (their names, `spelunker.names.parse_product_name`)
    and ``programs`` / ``observations`` / ``visits``, when given, select
    among them.  Otherwise each selection is queried at MAST
    (`spelunker.archive.find_guidestar_products`, on the calling side) and
    its products are grouped by visit.

    Parameters
    ----------
    programs : sequence of int or str
        Program numbers.
    observations : sequence of (int, int) or str
        ``(program, observation)`` or ``"1534:2"``.
    visits : sequence of (int, int, int) or str
        ``(program, observation, visit)`` or ``"1534:2:1"``.
    input_dir : str or os.PathLike, optional
        A folder of products already on disk (not searched recursively).
    token : str, optional
        MAST API token (default ``$MAST_API_TOKEN``).
    server : str, optional
        MAST base URL (default astroquery's).

    Returns
    -------
    tasks : list of VisitTask
        Sorted by program, observation, visit.
    failures : list of dict
        One survey row (``status='error'``) per MAST query that failed,
        naming the selection and the reason.

    Raises
    ------
    ParameterError
        Nothing to survey, or a malformed number.
    SurveyError
        ``input_dir`` is not a folder or holds no selected product.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.survey import plan_survey
    >>> folder = tempfile.mkdtemp()
    >>> _ = datasets.make_guidestar_files(folder, visits=[datasets.VisitSpec(
    ...     n_frames=40, n_segments=2)], seed=1)
    >>> tasks, failures = plan_survey(input_dir=folder)
    >>> [(t.visit_id, len(t.files), t.source) for t in tasks], failures
    ([('jw01534001001', 2, 'disk')], [])
    """
    selections = _selections(programs, observations, visits)
    if input_dir is not None:
        return _plan_disk(Path(input_dir), selections), []
    if not selections:
        msg = "nothing to survey: give programs, observations, visits or input_dir"
        raise ParameterError(msg)
    groups = {}
    failures = []
    for selection in selections:
        program, observation, visit = selection
        try:
            products = find_guidestar_products(program, observation=observation, visit=visit,
                                               token=token, server=server)
        except ArchiveError as exc:
            log.error("MAST query for %s failed: %s", _describe(selection), exc)
            row = _empty_row(program, observation, visit)
            row.update(status="error", error=_error_text(exc, token),
                       finished=Time.now().isot)
            failures.append(row)
            continue
        for name, size, prog, obs, vis in zip(products["fileName"], products["fileSize"],
                                               products["program"], products["observtn"],
                                               products["visit"], strict=True):
            key = (int(prog), int(obs), int(vis))
            size = None if size is np.ma.masked else int(size)
            groups.setdefault(key, {})[str(name)] = size
    tasks = []
    for key in sorted(groups):
        names = sorted(groups[key])
        tasks.append(VisitTask(*key, files=tuple(names),
                               sizes=tuple(groups[key][n] for n in names), source="mast"))
    log.info("Survey plan: %d visits from MAST (%d failed queries)", len(tasks), len(failures))
    return tasks, failures


def _plan_disk(folder, selections):
    if not folder.is_dir():
        msg = f"input_dir={str(folder)!r} is not a folder"
        raise SurveyError(msg)
    groups = {}
    for path in sorted(folder.glob(FINE_GUIDE_GLOB)):
        if not is_fine_guide_cal(path.name):
            continue
        try:
            info = parse_product_name(path.name)
        except ValueError as exc:
            log.warning("Skipping %s: %s", path, exc)
            continue
        key = (info["program"], info["observation"], info["visit"])
        if _selected(key, selections):
            groups.setdefault(key, []).append(str(path))
    if not groups:
        what = "" if not selections else " of " + "; ".join(_describe(s) for s in selections)
        msg = f"input_dir={str(folder)!r} holds no fine-guide _cal product{what}"
        raise SurveyError(msg)
    log.info("Survey plan: %d visits in %s", len(groups), folder)
    return [VisitTask(*key, files=tuple(sorted(groups[key], key=lambda p: Path(p).name)),
                      source="disk") for key in sorted(groups)]


# --------------------------------------------------------------------------
# One visit


def _values(column):
    return np.asarray(getattr(column, "value", column), dtype=float)


def _rms(values):
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


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
        x and y over clean fits (pixels and mas, at
        `spelunker.instrument.PIXEL_SCALE`), the median PSF sigma
        (``sqrt(x_stddev * y_stddev)``), the light curve's relative scatter in
        `SCATTER_BIN` bins (ppm; NaN for fewer than
        `spelunker.photometry.MIN_BINS` usable bins) and, per series of
        `spelunker.periodogram.PERIODOGRAM_SERIES`, the period, power and
        false-alarm probability of the strongest peak (NaN without one).
        A model without a light curve or periodograms (steps skipped by the
        parameter file) gets NaN there.

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
    stars = model.table("guidestars")
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
        "centroid_rms_x_mas": rms_x * _MAS_PER_PIXEL,
        "centroid_rms_y_mas": rms_y * _MAS_PER_PIXEL,
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
    return summary


def _error_text(exc, token):
    text = f"{type(exc).__name__}: {exc}"
    if token:
        text = redact(text, token)
    return text[:_ERROR_CHARS]


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def _write_atomic(path, write):
    """Call ``write(temporary path)`` then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.part-{secrets.token_hex(4)}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _save_product(model, path):
    """Save the visit's product as the pipeline does: results and tables, frames left out."""
    with model.without_frames():
        model.save(str(path))  # atomic: written under a temporary folder, then renamed
    return path


def _row_path(output, visit_id):
    return Path(output) / "rows" / f"{visit_id}.json"


def _write_row(output, row):
    path = _row_path(output, row["visit_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(row, indent=1, sort_keys=True)
    _write_atomic(path, lambda tmp: tmp.write_text(text))


def _config_digest(config_file):
    return hashlib.sha256(Path(config_file).read_bytes()).hexdigest()[:16]


def run_visit(task, *, output, config_file=None, download_dir=None, token=None, server=None,
              keep_downloads=True):
    """Download, run and summarise one visit; the task a survey maps onto the cluster.

    Any error of the visit (a MAST or download error, a corrupt or unusable
    product, a pipeline failure) is caught and reported in the row, so a
    survey goes on; after an input error in downloaded files the visit's
    cached downloads are removed, so that a retry downloads them again.
    The row is also written to ``<output>/rows/<visit_id>.json``.

    Parameters
    ----------
    task : VisitTask
        The visit.
    output : str or os.PathLike
        The survey's output folder (shared by the workers).
    config_file : str or os.PathLike, optional
        ASDF parameter file of `~spelunker.GuideStarPipeline`; default the
        quick-look profile (``parameter_file("quicklook")``).
    download_dir : str or os.PathLike, optional
        Download cache; default ``<output>/downloads``.
    token : str, optional
        MAST API token; default the worker's ``$MAST_API_TOKEN``.
    server : str, optional
        MAST base URL; default astroquery's.
    keep_downloads : bool, optional
        Keep the downloaded products after a successful run.

    Returns
    -------
    dict
        The visit's row (`COLUMNS`), ``status`` ``'ok'`` or ``'error'``.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.survey import plan_survey, run_visit
    >>> folder = tempfile.mkdtemp()
    >>> _ = datasets.make_guidestar_files(folder, visits=[datasets.VisitSpec(
    ...     n_frames=200, n_segments=2, frame_time=1.0)], seed=1)
    >>> (task,), _ = plan_survey(input_dir=folder)
    >>> row = run_visit(task, output=tempfile.mkdtemp())
    >>> row["status"], row["n_frames"], row["product"].endswith(task.product_name)
    ('ok', 200, True)
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    output = Path(output)
    config_file = str(config_file or parameter_file("quicklook"))
    row = _empty_row(task.program, task.observation, task.visit)
    row["parameter_file"] = config_file
    row["_config"] = _config_digest(config_file)
    downloads = Path(download_dir) if download_dir is not None else output / "downloads"
    paths = []
    model = None
    try:
        if task.source == "mast":
            products = [{"fileName": name, "fileSize": size}
                        for name, size in zip(task.files, task.sizes or [None] * len(task.files),
                                              strict=True)]
            paths = download_products(products, downloads, token=token, server=server,
                                      progress=False)
        else:
            paths = [Path(p) for p in task.files]
        model = GuideStarPipeline.call([str(p) for p in paths], config_file=config_file,
                                       save_results=False, configure_log=False)
        row.update(visit_summary(model))
        products = output / "products"
        products.mkdir(parents=True, exist_ok=True)
        product = _save_product(model, products / task.product_name)
        row.update(product=str(product), product_bytes=product.stat().st_size, status="ok")
        if task.source == "mast" and not keep_downloads:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    except Exception as exc:  # noqa: BLE001 - one visit's failure is its row, not the survey's
        row.update(status="error", error=_error_text(exc, token))
        log.error("Survey visit %s failed: %s", task.visit_id, row["error"])
        if task.source == "mast" and isinstance(exc, GuideStarInputError):
            for name in task.files:
                with contextlib.suppress(FileNotFoundError):
                    (downloads / name).unlink()
    finally:
        if model is not None:
            model.close()
    row.update(elapsed=time.perf_counter() - started, cpu_time=time.process_time() - cpu_started,
               worker=f"{socket.gethostname()}:{os.getpid()}",
               worker_peak_rss=_peak_rss_mb(), finished=Time.now().isot)
    _write_row(output, row)
    return row


# --------------------------------------------------------------------------
# The survey


def _read_row(output, visit_id):
    try:
        return json.loads(_row_path(output, visit_id).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _complete(row, config_file):
    """Whether a previous row makes the visit's run unnecessary."""
    if row is None or row.get("status") != "ok" or not row.get("product"):
        return False
    if row.get("_config") != _config_digest(config_file):
        return False
    try:
        return Path(row["product"]).stat().st_size == row.get("product_bytes")
    except OSError:
        return False


def _table(rows):
    """The survey table (astropy, masked where a value is missing) of ``rows``."""
    table = Table()
    for name, kind, unit, description in COLUMNS:
        values = [row.get(name) for row in rows]
        if kind == "str":
            column = MaskedColumn(["" if v is None else str(v) for v in values], dtype=str)
        elif kind == "float":
            column = MaskedColumn([math.nan if v is None else float(v) for v in values],
                                  dtype=float)
        else:
            mask = [v is None for v in values]
            column = MaskedColumn([0 if v is None else int(v) for v in values], dtype=np.int64,
                                  mask=mask)
        column.name, column.unit, column.description = name, unit, description
        table[name] = column
    return table


def _arrow_table(rows):
    fields, arrays = [], []
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    for name, kind, unit, description in COLUMNS:
        meta = {"description": description, **({"unit": unit} if unit else {})}
        fields.append(pa.field(name, types[kind], metadata=meta))
        arrays.append(pa.array([row.get(name) for row in rows], type=types[kind]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _write_tables(output, rows):
    table = _table(rows)
    _write_atomic(output / "survey.ecsv",
                  lambda tmp: table.write(tmp, format="ascii.ecsv", overwrite=True))
    arrow = _arrow_table(rows)
    _write_atomic(output / "survey.parquet", lambda tmp: pq.write_table(arrow, tmp))
    return table


def _config_path(config_file):
    if config_file is None:
        return parameter_file("quicklook")
    if isinstance(config_file, str) and config_file in PARAMETER_FILES:
        return parameter_file(config_file)
    if not Path(config_file).is_file():
        msg = (f"config_file={str(config_file)!r} is neither a file nor a shipped profile "
               f"({', '.join(sorted(PARAMETER_FILES))})")
        raise ParameterError(msg)
    return str(Path(config_file).resolve())


@contextlib.contextmanager
def _client(workers, scheduler):
    """A Client of the cluster at ``scheduler``, or of a new LocalCluster."""
    if scheduler is not None:
        log.info("Connecting to the Dask scheduler at %s", scheduler)
        with Client(scheduler) as client:
            yield client
        return
    # One thread per worker process: a worker holds one visit at a time.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        log.info("Started a LocalCluster of %d workers (dashboard %s)", workers,
                 client.dashboard_link)
        yield client


def _failed_task_row(task, exc, token, config_file):
    row = _empty_row(task.program, task.observation, task.visit)
    row.update(status="error", error=_error_text(exc, token), parameter_file=config_file,
               finished=Time.now().isot)
    row["_config"] = _config_digest(config_file)
    return row


def run_survey(output, *, programs=(), observations=(), visits=(), input_dir=None,
               config_file=None, workers=None, scheduler=None, download_dir=None, token=None,
               server=None, keep_downloads=True, rerun=False, progress=None):
    """Run the pipeline on every visit of programs, observations, visits or a folder.

    One task per visit (`run_visit`) is mapped onto a ``dask.distributed``
    cluster; the rows gather into the survey table, written to
    ``<output>/survey.ecsv`` and ``<output>/survey.parquet``.  A second
    run into the same ``output`` skips the visits already complete (see the
    module) and runs the others again, failed ones included.

    Parameters
    ----------
    output : str or os.PathLike
        Output folder (created if missing).  On an existing cluster it must
        be on a file system the workers share.
    programs, observations, visits, input_dir
        What to survey, as in `plan_survey`.
    config_file : str or os.PathLike, optional
        A `~spelunker.GuideStarPipeline` parameter file or a shipped profile
        name (``'quicklook'``, ``'pipeline'``); default ``'quicklook'``.
    workers : int, optional
        Worker processes of the `~distributed.LocalCluster` (one thread
        each); default the available CPUs.  Not used with ``scheduler``.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``): run there
        instead of on a new LocalCluster.
    download_dir : str or os.PathLike, optional
        Download cache; default ``<output>/downloads``.
    token : str, optional
        MAST API token; default ``$MAST_API_TOKEN`` (on the workers too:
        a token given here travels with the tasks).
    server : str, optional
        MAST base URL; default astroquery's.
    keep_downloads : bool, optional
        Keep downloaded products after a visit's successful run.
    rerun : bool, optional
        Run every visit again, complete or not.
    progress : bool or None, optional
        A bar of visits done / total with the failures; None shows it when
        stderr is a terminal.

    Returns
    -------
    astropy.table.Table
        The survey table (`COLUMNS`), one row per visit (and per failed MAST
        query), sorted by program, observation, visit.

    Raises
    ------
    ParameterError
        A bad argument (naming it).
    SurveyError
        ``input_dir`` holds nothing to survey.

    Examples
    --------
    >>> from spelunker.survey import run_survey
    >>> table = run_survey("survey_1534", programs=[1534], workers=2)  # doctest: +SKIP
    >>> table["visit_id", "n_frames", "centroid_rms_x_mas", "status"]  # doctest: +SKIP
    """
    if isinstance(progress, (int, np.integer)) and not isinstance(progress, bool):
        progress = bool(progress)
    if progress not in (None, True, False):
        msg = f"progress={progress!r} must be None, True or False"
        raise ParameterError(msg)
    if scheduler is None:
        workers = available_cpus() if workers is None else check_positive_int(workers, "workers")
    elif not isinstance(scheduler, str) or not scheduler.strip():
        msg = f"scheduler={scheduler!r} must be a scheduler address such as tcp://host:8786"
        raise ParameterError(msg)
    config_file = _config_path(config_file)
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    if download_dir is not None:
        download_dir = str(Path(download_dir).resolve())
    if token is not None:
        secret = resolve_token(token)
        token = None if secret is None else secret.reveal()

    tasks, failures = plan_survey(programs=programs, observations=observations, visits=visits,
                                  input_dir=input_dir, token=token, server=server)
    rows = {}
    todo = []
    for task in tasks:
        previous = None if rerun else _read_row(output, task.visit_id)
        if _complete(previous, config_file):
            rows[task.visit_id] = previous
        else:
            todo.append(task)
    log.info("Survey of %d visits: %d complete from a previous run, %d to run", len(tasks),
             len(rows), len(todo))

    if todo:
        bar = tqdm(total=len(tasks), initial=len(rows), unit="visit", desc="survey",
                   disable=None if progress is None else not progress)
        failed = 0
        bar.set_postfix(failed=failed)
        try:
            with _client(workers, scheduler) as client:
                futures = client.map(run_visit, todo, output=str(output),
                                     config_file=config_file, download_dir=download_dir,
                                     token=token, server=server, keep_downloads=keep_downloads,
                                     key=[f"spelunker-survey-{t.visit_id}-{secrets.token_hex(4)}"
                                          for t in todo], pure=False)
                owner = {future.key: task for future, task in zip(futures, todo, strict=True)}
                for future in as_completed(futures):
                    task = owner[future.key]
                    try:
                        row = future.result()
                    except Exception as exc:  # noqa: BLE001 - a dead worker fails one visit
                        log.error("Survey visit %s failed on the cluster: %s", task.visit_id,
                                  exc)
                        row = _failed_task_row(task, exc, token, config_file)
                        _write_row(output, row)
                    future.release()
                    rows[task.visit_id] = row
                    failed += row["status"] != "ok"
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.update(1)
        finally:
            bar.close()

    ordered = [rows[t.visit_id] for t in tasks if t.visit_id in rows] + failures
    ordered.sort(key=lambda r: (r["program"], r["observation"] or 0, r["visit"] or 0))
    table = _write_tables(output, ordered)
    n_error = int(np.count_nonzero(np.asarray(table["status"]) != "ok"))
    log.info("Survey done: %d rows, %d errors; %s", len(table), n_error, output / "survey.ecsv")
    return table


# --------------------------------------------------------------------------
# Command line


def _parser():
    parser = argparse.ArgumentParser(
        prog="spelunker-survey",
        description="Run the spelunker pipeline on every visit of JWST programs (or of a "
                    "folder of guide-star products) on a Dask cluster; write one product per "
                    "visit and the survey table (survey.ecsv, survey.parquet).  The MAST "
                    "token, if needed, is read from MAST_API_TOKEN.")
    parser.add_argument("--program", action="append", default=[], metavar="P",
                        help="program number (repeatable)")
    parser.add_argument("--observation", action="append", default=[], metavar="P:O",
                        help="one observation, e.g. 1534:2 (repeatable)")
    parser.add_argument("--visit", action="append", default=[], metavar="P:O:V",
                        help="one visit, e.g. 1534:2:1 (repeatable)")
    parser.add_argument("--input", metavar="DIR",
                        help="survey the fine-guide _cal products in this folder instead of MAST")
    parser.add_argument("--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--config", metavar="FILE",
                        help="pipeline parameter file or profile (default: quicklook)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="LocalCluster worker processes (default: the CPUs)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="use the running cluster at this address (tcp://host:8786)")
    parser.add_argument("--download-dir", metavar="DIR",
                        help="download cache (default: OUTPUT/downloads)")
    parser.add_argument("--server", metavar="URL", help="MAST base URL (default: MAST)")
    parser.add_argument("--delete-downloads", action="store_true",
                        help="delete a visit's downloads once its product is written")
    parser.add_argument("--rerun", action="store_true",
                        help="run every visit again, also those already complete")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    """The ``spelunker-survey`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every visit is ``ok``; 3 when the survey ran but visits
        failed (the table says which and why); 1 when it could not run
        (the message says why); usage errors exit with 2.

    Examples
    --------
    >>> from spelunker.survey import main
    >>> main(["--program", "1534", "--program", "1541", "--output", "survey"])  # doctest: +SKIP
    0
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        table = run_survey(args.output, programs=args.program, observations=args.observation,
                           visits=args.visit, input_dir=args.input, config_file=args.config,
                           workers=args.workers, scheduler=args.scheduler,
                           download_dir=args.download_dir, server=args.server,
                           keep_downloads=not args.delete_downloads, rerun=args.rerun,
                           progress=False if args.no_progress else None)
    except SpelunkerError as exc:
        print(f"spelunker-survey: error: {exc}", file=sys.stderr)
        return 1
    ok = int(np.count_nonzero(np.asarray(table["status"]) == "ok"))
    print(f"{len(table)} visits: {ok} ok, {len(table) - ok} failed; "
          f"table {Path(args.output) / 'survey.ecsv'}")
    for row in table[np.asarray(table["status"]) != "ok"]:
        print(f"  {row['visit_id'] or row['program']}: {row['error']}")
    return 0 if ok == len(table) else 3


if __name__ == "__main__":
    sys.exit(main())
