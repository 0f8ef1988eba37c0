"""Flares, dips and variability of every visit and guide star of a model: find, store, read.

`find_variability` runs the search of `spelunker.variability` on each
``(visit, guide star)`` group of `spelunker.GuideStarModel.frame_groups`:

1. the relative optimal-aperture light curve with its mask
   (`spelunker.variability.lightcurve.visit_lightcurve`: the fit's flagged
   frames, NaN flux, and frames near technical events of the ``events``
   table);
2. flares (`~spelunker.variability.find_flares`) and single dips
   (`~spelunker.variability.find_dips`) on it, from one joint search
   (`spelunker.variability.transients.find_transients`: each trend leaves
   out the flares and dips found), each judged technical or astrophysical
   (`spelunker.variability.origin.assign_origin`);
3. the period: Lomb-Scargle (`spelunker.periodogram.lomb_scargle`) of the
   light curve binned in `~spelunker.variability.classes.PERIOD_BIN` s with
   the masked frames and every flare and dip left out (each widened by its
   duration, at least 2 s, on both sides: what a search misses of a slow
   ingress or a flare's tail would pass for a period), from 2 cycles per
   visit up (a star is periodic from 3 cycles),
   its peak refined by `spelunker.periodogram.refine_period`;
4. pre-whitening: when that period makes the star periodic (the rule of
   `spelunker.variability.classes`), the refined sinusoid is subtracted
   and steps 2-3 run again on the pre-whitened series (at most
   `_PASSES` searches, until the period found is the one subtracted): a
   modulation inflates the noise of the boxes and hides the dips and
   flares (the sample visit's 0.3 %, 47 s modulation hid its 1 %, 60 s
   transit).  A star that is not periodic is searched once;
5. the noise model (`~spelunker.variability.noise_model`) of the
   pre-whitened series, the masked frames and the flares and dips (widened)
   left out, so the red-noise factors measure what neither the flares, the
   dips nor the period explain;
6. periodic dips (`~spelunker.variability.periodic_dips`, BoxLeastSquares)
   on the pre-whitened series with the flares left out;
7. the classes (`spelunker.variability.classes.classify`).

`store_variability` writes the three tables into the model (``flares``,
``dips``, ``variability``; HDUs ``FLARES``, ``DIPS``, ``VARIABILITY``);
`flares_table`, `dips_table` and `variability_table` read them back as
QTables with `~astropy.time.Time` columns, the same columns as
`find_variability`'s.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import (check_bool, check_choice, check_cpus, check_finite_float,
                                  check_positive_float)
from spelunker.binning import time_bin_index
from spelunker.datamodels import check_model
from spelunker.datamodels._units import column_unit, units_table
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.names import visit_id
from spelunker.periodogram import lomb_scargle, refine_period
from spelunker.variability.classes import (
    MIN_CYCLES,
    PERIOD_BIN,
    PERIOD_POINTS,
    classify,
    is_periodic,
)
from spelunker.variability.dips import periodic_dips
from spelunker.variability.lightcurve import EVENT_MARGIN, model_events, visit_lightcurve
from spelunker.variability.noise import noise_model
from spelunker.variability.origin import assign_origin
from spelunker.variability.transients import find_transients

__all__ = ["VariabilityResult", "find_variability", "store_variability", "flares_table",
           "dips_table", "variability_table", "check_variability_options", "VARIABILITY_TABLES"]

log = logging.getLogger(__name__)

#: The model's tables written by `store_variability`.
VARIABILITY_TABLES = ("flares", "dips", "variability")

#: Time columns of the detectors' tables (seconds), stored as ``<x>_mjd``.
_TIMES = {"flares": ("start", "peak", "stop"), "dips": ("start", "mid", "stop"),
          "variability": ()}

#: Fewest used frames of a group searched.
_MIN_FRAMES = 16

#: Frames left out of the noise model around a flare or dip: this fraction of its
#: duration (at least 2 s) on each side.
_NOISE_PAD = 0.25

#: The period search keeps at least this share of the used frames: the flares and dips
#: are widened less when widening them by their duration would leave out more.
_PERIOD_SHARE = 0.5
#: ... when that leaves less than this many seconds of frames.
_PERIOD_QUIET = 600.0

#: At most this many searches of a light curve: a periodic one is searched again on the
#: series with its refined sinusoid subtracted (pre-whitened), until the period found
#: with the flares and dips left out is the one subtracted.
_PASSES = 3

#: The position columns of the detectors' tables, turned into global frame rows.
_FRAME_COLUMNS = {"flares": ("frame_start", "frame_peak", "frame_stop"),
                  "dips": ("frame_start", "frame_mid", "frame_stop")}


@dataclass(frozen=True)
class VariabilityResult:
    """What `find_variability` found: three QTables (columns of the model's tables).

    Attributes
    ----------
    flares, dips : astropy.table.QTable
        One row per flare or dip, every visit and guide star, in time order.
    variability : astropy.table.QTable
        One row per visit and guide star.
    """

    flares: QTable
    dips: QTable
    variability: QTable


def check_variability_options(fit_table, mask_events, flare_threshold, dip_threshold, margin, *,
                              where):
    """The checked options of `find_variability`: ``(fit_table, mask_events, options, margin)``.

    ``options`` maps ``'flares'`` and ``'dips'`` to the keyword arguments of
    the detectors (their threshold, when given).  The step checks its
    parameters with it before reading its input.

    Raises
    ------
    spelunker.errors.ParameterError
        For a bad option, naming it and ``where``.

    Examples
    --------
    >>> from spelunker.variability.core import check_variability_options
    >>> check_variability_options("auto", True, 6.0, None, 2.0, where="f")
    ('auto', True, {'flares': {'threshold': 6.0}}, 2.0)
    >>> check_variability_options("auto", "yes", None, None, 2.0, where="f")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: f: mask_events='yes' must be True or False
    """
    fit_table = check_choice(fit_table, "fit_table", ("auto", "gauss_fit", "quick_fit"),
                             where=where)
    mask_events = check_bool(mask_events, "mask_events", where=where)
    options = {}
    for name, value, key in (("flare_threshold", flare_threshold, "flares"),
                             ("dip_threshold", dip_threshold, "dips")):
        if value is not None:
            options[key] = {"threshold": check_positive_float(value, name, where=where)}
    margin = check_finite_float(margin, "margin", minimum=0, where=where)
    return fit_table, bool(mask_events), options, margin


def find_variability(model, *, fit_table="auto", mask_events=True, flare_threshold=None,
                     dip_threshold=None, margin=EVENT_MARGIN, ncpus=None):
    """Flares, dips, periods, noise and classes of every visit and guide star of ``model``.

    Parameters
    ----------
    model : GuideStarModel
        With a ``lightcurve`` table (PhotometryOptimizeStep); a fit table
        gives the flagged frames and the PSF series of the origin check, an
        ``events`` table (GuideStarEventStep) the technical events.  Not
        modified.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        ``'auto'``: the 2-D Gaussian fit, else the moments fit, else none.
    mask_events : bool, optional
        Leave out the frames within ``margin`` s of a technical event.
    flare_threshold, dip_threshold : float, optional
        Significance (sigma) of a flare or dip; default the detectors'.
    margin : float, optional
        Seconds masked on each side of a technical event.
    ncpus : int, optional
        Most threads of the searches (the flare and dip searches, the
        BoxLeastSquares periods: 2 at most); default the CPUs this process
        may use.  The results do not depend on it.

    Returns
    -------
    VariabilityResult
        ``flares``, ``dips`` and ``variability`` QTables (see
        `spelunker.GuideStarModel.table` for the stored form).

    Notes
    -----
    When a light curve has a significant period (the ``'periodic'`` rule of
    `spelunker.variability.classes`), its refined sinusoid is subtracted and
    the flares, the dips and the noise model are found on that pre-whitened
    series (see the module); the ``period`` columns are those of the sinusoid
    subtracted.  Otherwise the light curve is searched as it is.

    Raises
    ------
    spelunker.errors.ParameterError
        A bad option, or ``model`` not a GuideStarModel.
    spelunker.errors.GuideStarInputError
        The model has no light curve (run PhotometryOptimizeStep), or not
        the fit table asked for.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import PhotometryOptimizeStep, datasets
    >>> from spelunker.variability import find_variability
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=6000, n_segments=1)],
    ...     signals=[datasets.Transit(mid_time=150.0, duration=20.0, depth=0.05)], seed=3)
    >>> model = PhotometryOptimizeStep.call(visit.files)
    >>> result = find_variability(model)
    >>> dip = result.dips[0]
    >>> offset = (dip["mid"] - model.frame_times[0]).to_value("s")
    >>> str(dip["origin"]), bool(abs(offset - 150.0) < 2.0)
    ('astrophysical', True)
    >>> result.variability["classes"].tolist()
    ['dipping']
    """
    where = "find_variability"
    check_model(model, where=where)
    fit_table, mask_events, options, margin = check_variability_options(
        fit_table, mask_events, flare_threshold, dip_threshold, margin, where=where)
    threads = check_cpus(ncpus, where=where, log=log)
    if not model.hasattr("lightcurve") or not model.hasattr("frames") \
            or len(model.lightcurve) != len(model.frames):
        msg = (f"{where}: the model has no light curve of its frames; run "
               "PhotometryOptimizeStep (strun spelunker_photometry) first")
        raise GuideStarInputError(msg)
    fit = None
    if fit_table != "auto" or any(model.hasattr(name) for name in ("gauss_fit", "quick_fit")):
        fit = model.fit_table_name(fit_table, name="fit_table")
    started = time.perf_counter()
    seconds = model.frame_seconds()
    mjd_zero = float(np.min(np.asarray(model.frames["mid_time_mjd"], dtype=float))) \
        if len(model.frames) else 0.0
    events = model_events(model, mjd_zero)
    keys = model.visits()
    ids = _guidestar_ids(model)
    parts = {name: [] for name in VARIABILITY_TABLES}
    for visit_index, guidestar_index, frames in model.frame_groups():
        lc = visit_lightcurve(model, visit_index, guidestar_index, frames, fit_table=fit,
                              mask_events=mask_events, margin=margin, seconds=seconds,
                              events=events)
        flares, dips, row = _search(lc, options, threads)
        row["visit_id"] = visit_id(*keys[visit_index]) if visit_index < len(keys) else ""
        row["guidestar_id"] = ids[guidestar_index] if guidestar_index < len(ids) else ""
        _log_group(row, flares, dips)
        for name, table in (("flares", flares), ("dips", dips)):
            if table is not None:
                parts[name].append(_global_rows(name, table, lc))
        parts["variability"].append(row)
    stored = {name: _stored(name, parts[name], model.table_dtype(name))
              for name in ("flares", "dips")}
    stored["variability"] = _rows_array(parts["variability"], model.table_dtype("variability"))
    # Read as the model reads its tables (model.table), so both give the same columns.
    result = VariabilityResult(**{name: _time_view(units_table(name, stored[name]))
                                  for name in VARIABILITY_TABLES})
    log.info("variability: %d visit/guide-star group(s), %d flare(s), %d dip(s) in %.2f s",
             len(parts["variability"]), len(result.flares), len(result.dips),
             time.perf_counter() - started)
    return result


def _guidestar_ids(model):
    if not model.hasattr("guidestars"):
        return []
    values = np.asarray(model.guidestars["gs_id"])
    return [str(v.decode("ascii") if isinstance(v, bytes) else v).strip() for v in values]


def _frames_of(table, times, *, widen=1.0, least=2.0):
    """True for the frames within the rows of a flares or dips table, each widened.

    A row ``[start, stop]`` covers ``[start - w, stop + w]`` with ``w =
    max(widen * duration, least)`` seconds: a detected signal is shorter
    than the true one (slow ingress, a flare's tail), and what is left of
    it would pass for a period or for red noise.
    """
    covered = np.zeros(times.size + 1, dtype=np.int64)
    if len(table):
        start = times[np.asarray(table["frame_start"], dtype=np.int64)]
        stop = times[np.asarray(table["frame_stop"], dtype=np.int64)]
        margin = np.maximum(widen * (stop - start), least)
        np.add.at(covered, np.searchsorted(times, start - margin, side="left"), 1)
        np.add.at(covered, np.searchsorted(times, stop + margin, side="right"), -1)
    return np.cumsum(covered[:-1]) > 0


def _search(lc, options, threads=None):
    """Flares, dips (with their origin) and the variability row of one light curve.

    Too few usable frames: no flares or dips (None), a row of NaN numbers
    and no classes.
    """
    n = lc.frames.size
    hours = float(lc.times[-1] - lc.times[0]) / 3600.0 if n else 0.0
    row = dict(visit_index=lc.visit_index, guidestar_index=lc.guidestar_index, n_frames=n,
               n_used=lc.n_used, hours=hours)
    if lc.n_used < _MIN_FRAMES:
        log.warning("visit %d, guide star %d: %d usable frame(s); no variability search",
                    lc.visit_index, lc.guidestar_index, lc.n_used)
        row.update(n_flares=0, flare_rate=np.nan, n_dips=0, classes="")
        return None, None, row
    thresholds = {f"{name[:-1]}_threshold": value["threshold"]
                  for name, value in options.items()}
    series, subtracted = lc.flux, None
    for _ in range(_PASSES):
        flares, dips = find_transients(lc.times, series, mask=lc.mask, threads=threads,
                                       **thresholds)
        flare_frames = _frames_of(flares, lc.times)
        period = _period(lc.times, lc.flux, _period_quiet(lc, flares, dips, flare_frames))
        if not _periodic(period, hours, red_noise=False) or _same_period(subtracted, period):
            # not periodic (any more: the events left out leave too little), or the same
            break
        subtracted = period
        series = lc.flux - _sinusoid(lc.times, period)
    if subtracted is not None and not _same_period(subtracted, period):
        period = subtracted   # the one the series searched was pre-whitened with
    periodic = _periodic(period, hours)
    flares, dips = assign_origin(flares, lc), assign_origin(dips, lc)
    residual = lc.flux - _sinusoid(lc.times, period) if periodic else lc.flux
    # the noise: the flares and dips (whole, first to last contact) left out, padded less
    # than for the period, so that 10-min bins of an eclipsing star keep enough frames
    quiet = lc.mask | _frames_of(flares, lc.times, widen=_NOISE_PAD) | _frames_of(
        dips, lc.times, widen=_NOISE_PAD)
    if np.count_nonzero(~quiet) < _MIN_FRAMES:  # the flares and dips cover the visit
        quiet = lc.mask
    noise = noise_model(lc.times, residual, mask=quiet)
    searched = lc.mask | flare_frames
    # the flares (widened) may cover a short visit: no periodic dips to search then
    usable = np.count_nonzero(~searched & np.isfinite(residual)) >= _MIN_FRAMES
    bls = periodic_dips(lc.times, residual, mask=searched, threads=threads) if usable else None
    n_flares = int(np.count_nonzero(flares["origin"] == "astrophysical"))
    row.update(white_noise=noise.white_noise, rms_1min=noise.rms_1min,
               rms_10min=noise.rms_10min, rms_1h=noise.rms_1h, beta_1min=noise.beta_1min,
               beta_10min=noise.beta_10min, beta_1h=noise.beta_1h, n_flares=n_flares,
               flare_rate=n_flares / hours if hours > 0 else np.nan,
               n_dips=int(np.count_nonzero(dips["origin"] == "astrophysical")),
               period=period["period"], period_error=period["period_error"],
               period_amplitude=period["amplitude"], period_fap=period["period_fap"],
               bls_period=np.nan if bls is None else float(bls.period),
               bls_depth=np.nan if bls is None else float(bls.depth),
               bls_snr=np.nan if bls is None else float(bls.snr))
    row["classes"] = ",".join(classify({**row, "period_flag": period["period_flag"],
                                        "period_significance": period.get("significance",
                                                                          np.nan)}))
    return flares, dips, row


def _period_quiet(lc, flares, dips, flare_frames):
    """The frames left out of the period search: masked, and the flares and dips widened.

    Each is widened by its duration (`_frames_of`); when that leaves less than
    `_PERIOD_SHARE` of the used frames and less than `_PERIOD_QUIET` seconds
    (a short visit with long events), by `_NOISE_PAD` of it only.  In long
    visits the full widening stays: what a search misses of many long events
    (ingress, flare tails), with red noise, made periods of 1600-2900 s.
    """
    quiet = lc.mask | flare_frames | _frames_of(dips, lc.times)
    left = np.count_nonzero(~quiet)
    cadence = float(np.median(np.diff(lc.times))) if lc.times.size > 1 else 0.0
    if left < _PERIOD_SHARE * lc.n_used and left * cadence < _PERIOD_QUIET:
        quiet = lc.mask | _frames_of(flares, lc.times, widen=_NOISE_PAD) | _frames_of(
            dips, lc.times, widen=_NOISE_PAD)
    return quiet


def _sinusoid(times, period):
    """The refined sinusoid of `_period` at ``times`` (relative flux, zero mean)."""
    return period["amplitude"] * np.cos(2 * np.pi * (times - period["epoch"]) / period["period"])


def _periodic(period, hours, *, red_noise=True):
    """Whether a `_period` result makes the star periodic (`classes.is_periodic`).

    Without ``red_noise`` the amplitude's significance against the red noise is
    not asked: the pre-whitening passes subtract any sinusoid of a small
    false-alarm probability (before the flares and dips are found and left out,
    they count as red noise); the star's class asks it of the last period.
    """
    significance = period.get("significance", np.inf) if red_noise else np.inf
    return is_periodic(period["period"], period["period_fap"], period["period_flag"], hours,
                       error=period["period_error"], significance=significance)


def _same_period(used, period):
    """Whether ``period`` is the one a series was pre-whitened with (``used``, or None)."""
    if used is None:
        return False
    tolerance = max(float(np.nan_to_num(period["period_error"], nan=0.0)),
                    1e-3 * period["period"])
    return abs(used["period"] - period["period"]) <= tolerance


def _binned(times, values):
    """Means of the finite ``values`` and their times in bins of `PERIOD_BIN` s or coarser.

    The bins are those of `spelunker.binning.time_bin_index`; at most about
    `PERIOD_POINTS` of them over the light curve's span (times are sorted, so
    a count per bin number needs no sort).
    """
    span = float(times[-1] - times[0])
    size = max(PERIOD_BIN, span / PERIOD_POINTS)
    index = time_bin_index(times, size)
    good = np.isfinite(values)
    count = np.bincount(index[good], minlength=int(index[-1]) + 1)
    occupied = count > 0
    count = count[occupied]
    mean = np.bincount(index[good], values[good], minlength=occupied.size)[occupied] / count
    mean_time = np.bincount(index[good], times[good], minlength=occupied.size)[occupied] / count
    return mean_time, mean


def _period(times, flux, quiet):
    """The refined Lomb-Scargle period of the binned quiet light curve (NaN when none)."""
    none = dict(period=np.nan, period_error=np.nan, amplitude=np.nan, period_fap=np.nan,
                period_flag=-1, epoch=np.nan)
    bin_time, bin_value = _binned(times, np.where(quiet, np.nan, flux))
    if bin_time.size < 4 * MIN_CYCLES:
        return none
    baseline = float(bin_time[-1] - bin_time[0])
    cadence = float(np.median(np.diff(bin_time)))
    minimum = (MIN_CYCLES - 1.0) / baseline  # three cycles inside the grid, not at its edge
    if not minimum < 0.4 / cadence or np.ptp(bin_value) == 0:
        return none
    peaks = lomb_scargle(bin_time, {"flux": bin_value}, minimum_frequency=minimum,
                         n_peaks=1).peaks
    if len(peaks) == 0:
        return none
    fit = refine_period(bin_time, bin_value, float(peaks["period"][0].to_value(u.s)),
                        max_false_alarm=1.0)
    fap = float(peaks["false_alarm_probability"][0])
    if fit.flag:
        return {**none, "period_fap": fap, "period_flag": int(fit.flag)}
    period = dict(period=fit.period, period_error=fit.period_error, amplitude=fit.amplitude,
                  period_fap=max(fap, fit.false_alarm_probability), period_flag=0,
                  epoch=fit.epoch)
    red = _red_factor(bin_time, bin_value - _sinusoid(bin_time, period), fit.period / 4.0)
    period["significance"] = abs(fit.amplitude) / (fit.amplitude_error * red)
    return period


def _red_factor(times, residual, time_scale):
    """Red-noise factor of ``residual`` (binned light curve less the sinusoid) at ``time_scale``.

    The robust scatter (1.4826 MAD) of the residual's means in bins of
    ``time_scale`` seconds over what white noise gives them (the
    point-to-point scatter over the square root of the points per bin); at
    least 1, and 1 with fewer than 6 such bins.  Robust, so that a transit or
    flare not yet found does not count as red noise.  The amplitude error of
    the sinusoid fit assumes white noise; red noise at a quarter period (the
    time over which the sinusoid's signal adds up coherently) makes it larger
    by this factor.
    """
    index = time_bin_index(times, time_scale)
    count = np.bincount(index)
    full = count >= max(2, 0.5 * np.median(count[count > 0]))
    if np.count_nonzero(full) < 6:
        return 1.0
    means = np.bincount(index, residual)[full] / count[full]
    scatter = 1.4826 * np.median(np.abs(means - np.median(means)))
    white = 1.4826 * np.median(np.abs(np.diff(residual))) / np.sqrt(2.0)
    expected = white / np.sqrt(np.median(count[full]))
    return max(1.0, float(scatter / expected)) if expected > 0 else 1.0


def _global_rows(name, table, lc):
    """A detector's table with the group's keys, global frame rows and Time columns."""
    table = table.copy()
    for column in _FRAME_COLUMNS[name]:
        table[column] = lc.frames[np.asarray(table[column], dtype=np.int64)] \
            if len(table) else np.zeros(0, dtype=np.int64)
    table["visit_index"] = np.full(len(table), lc.visit_index, dtype=np.int16)
    table["guidestar_index"] = np.full(len(table), lc.guidestar_index, dtype=np.int16)
    for column in _TIMES[name]:  # seconds since lc.mjd_zero
        table[column] = Time(lc.mjd_zero + table[column].to_value(u.s) / 86400.0, format="mjd",
                             scale="utc")
    return table


def _stored(name, tables, dtype):
    """QTables of one of the tables (Time columns) as one stored array, in time order."""
    arrays = []
    for table in tables:
        stored = np.zeros(len(table), dtype=dtype)
        for column in dtype.names:
            if column.endswith("_mjd"):
                stored[column] = table[column[:-4]].utc.mjd if len(table) else []
            else:
                stored[column] = _plain(table[column], column_unit(name, column))
        arrays.append(stored)
    stored = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    if "start_mjd" in dtype.names:
        stored = stored[np.argsort(stored["start_mjd"], kind="stable")]
    return stored


def _plain(values, unit):
    """Values as stored: Quantities in ``unit``, strings as ASCII bytes."""
    if isinstance(values, u.Quantity):
        return values.to_value(unit) if unit is not None else values.value
    values = np.asarray(values)
    if values.dtype.kind == "U":
        return np.char.encode(values, "ascii")
    return values


def _rows_array(rows, dtype):
    """The variability rows (dicts) as the stored array; a missing number is NaN."""
    stored = np.zeros(len(rows), dtype=dtype)
    for column in dtype.names:
        kind = dtype[column].kind
        fill = "" if kind == "S" else (0 if kind in "iu" else np.nan)
        values = [row.get(column, fill) for row in rows]
        stored[column] = np.char.encode(np.array(values, dtype=str), "ascii") if kind == "S" \
            else np.array(values, dtype=dtype[column])
    return stored


def _time_view(table):
    """A stored table (`spelunker.GuideStarModel.table`) with Time ``<x>`` for ``<x>_mjd``."""
    for position, column in enumerate(list(table.colnames)):
        if column.endswith("_mjd"):
            times = Time(np.asarray(table[column], dtype=float), format="mjd", scale="utc")
            times.format = "isot"
            table.remove_column(column)
            table.add_column(times, name=column[:-4], index=position)
    return table


def _log_group(row, flares, dips):
    log.info("visit %d, guide star %d (%s): %d frames, %d used, %.2f h; %d flare(s) (%d "
             "astrophysical), %d dip(s) (%d astrophysical); period %s; beta 10 min %.2f, "
             "1 h %.2f; classes %s", row["visit_index"], row["guidestar_index"],
             row.get("guidestar_id") or "-", row["n_frames"], row["n_used"], row["hours"],
             len(flares or ()), row.get("n_flares", 0), len(dips or ()), row.get("n_dips", 0),
             f"{row['period']:.6g} s" if np.isfinite(row.get("period", np.nan)) else "none",
             row.get("beta_10min", np.nan), row.get("beta_1h", np.nan),
             row.get("classes") or "-")


def store_variability(model, result):
    """Write a `find_variability` result into the model's ``flares``, ``dips``, ``variability``.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place.
    result : VariabilityResult
        As `find_variability` returns it.

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` is not a GuideStarModel, or ``result`` is not a
        `VariabilityResult` holding the tables' columns.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.variability import find_variability, store_variability, flares_table
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + i / 86400, 0, 0, i) for i in range(64)]
    >>> model.lightcurve = [(1000.0 + i % 3, 1.0, 9) for i in range(64)]
    >>> store_variability(model, find_variability(model))
    >>> len(flares_table(model)), model.table("variability")["n_frames"].tolist()
    (0, [64])
    """
    check_model(model, where="store_variability")
    if not isinstance(result, VariabilityResult):
        msg = (f"store_variability: result={result!r:.60} must be the VariabilityResult of "
               "find_variability")
        raise ParameterError(msg)
    arrays = {}
    for name in VARIABILITY_TABLES:
        table = getattr(result, name)
        dtype = model.table_dtype(name)
        expected = [column[:-4] if column.endswith("_mjd") else column for column in dtype.names]
        missing = [column for column in expected if column not in table.colnames]
        if missing:
            msg = f"store_variability: the {name} table lacks the column(s) {', '.join(missing)}"
            raise ParameterError(msg)
        arrays[name] = _stored(name, [table], dtype)
    with model.trusted_assignment():
        for name, stored in arrays.items():
            setattr(model, name, stored)


def _read(model, name, where):
    check_model(model, where=where)
    if not model.hasattr(name):
        msg = (f"{where}: the model has no {name} table; run GuideStarVariabilityStep "
               "(strun spelunker_variability)")
        raise GuideStarInputError(msg)
    return _time_view(model.table(name))


def flares_table(model):
    """The model's stored flares as a QTable (`find_variability`'s columns, Time and units).

    ``model.table('flares')`` is the table as stored: ``start_mjd``,
    ``peak_mjd``, ``stop_mjd`` (MJD, UTC) for ``start``, ``peak``, ``stop``.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        The model has no flares table (run GuideStarVariabilityStep).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.variability import flares_table
    >>> flares_table(GuideStarModel())  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    spelunker.errors.GuideStarInputError: flares_table: the model has no flares table; run
    GuideStarVariabilityStep (strun spelunker_variability)
    """
    return _read(model, "flares", "flares_table")


def dips_table(model):
    """The model's stored dips as a QTable: ``start``, ``mid``, ``stop`` as Time, with units.

    Like `flares_table`, for the ``dips`` table (a GuideStarInputError
    without one).
    """
    return _read(model, "dips", "dips_table")


def variability_table(model):
    """The model's ``variability`` table, one row per visit and guide star, with units.

    Like `flares_table`; the classes are a comma-separated ``classes``
    string (`spelunker.variability.classes.CLASSES`).
    """
    return _read(model, "variability", "variability_table")
