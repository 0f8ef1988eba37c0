"""Pointing series and stability metrics of a GuideStarModel's fitted guide-star positions.

`pointing_series` turns the fit table's window centroids of one visit and
guide star into V2/V3 positions and offsets in mas (`spelunker.pointing.sky`,
with each file's window corner from the FILES table), with per-frame errors,
a good-frame mask (clean fit, outside the technical events of the EVENTS
table when they are masked), and the on-board centroids of the CENTROID
table in the same frame with the fitted-minus-on-board difference.
`series_metrics` gives every `STABILITY_COLUMNS` value of a series (or of a
part of it, `PointingSeries.select`), `pointing_stability` one row per visit
and guide star.

Examples
--------
>>> import tempfile
>>> from spelunker import datasets, read_guidestar
>>> from spelunker.fitting import fit_moments_frames, store_fit
>>> from spelunker.pointing import pointing_stability
>>> visit = datasets.make_guidestar_files(
...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=600, n_segments=1)], seed=1)
>>> model = read_guidestar(visit.files)
>>> _ = store_fit(model, fit_moments_frames(model.data, model.err), "quick")
>>> table = pointing_stability(model)
>>> len(table), str(table["detector"][0]), table["stability_mas"].unit
(1, 'GUIDER1', Unit("mas"))
"""

import logging
from dataclasses import dataclass, replace

import numpy as np
from astropy import units as u
from astropy.table import Table

from spelunker.datamodels.guidestar import check_model
from spelunker.datamodels.rows import run_slice
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.instrument import guider_name
from spelunker.pointing.sky import (ideal_to_telescope, telescope_offsets_mas, window_jacobian,
                                    window_to_sky)
from spelunker.pointing.spectrum import SEGMENT_S, jitter_spectrum, spectral_lines
from spelunker.pointing.stability import (METRIC_COLUMNS, STABILITY_INTERVAL, STABILITY_WINDOW,
                                          stability_metrics)

__all__ = [
    "MASKED_EVENT_KINDS",
    "STABILITY_COLUMNS",
    "OnboardCentroids",
    "PointingSeries",
    "pointing_series",
    "pointing_stability",
    "series_metrics",
    "series_spectrum",
]

log = logging.getLogger(__name__)

#: Every metric of a pointing series: (name, unit, description).
STABILITY_COLUMNS = METRIC_COLUMNS + (
    ("line_frequency_hz", "Hz", "frequency of the strongest line of the jitter spectrum"),
    ("line_amplitude_mas", "mas", "semi-amplitude of the strongest line (hypot of V2, V3)"),
    ("onboard_rms_mas", "mas",
     "rms of fitted minus on-board centroids about its mean (radial; NaN without packets)"),
)

#: Technical events (EVENTS table kinds) whose frames are masked (or marked).
MASKED_EVENT_KINDS = ("tilt", "centroid_jump", "flux_excursion", "hga_move")

#: A window corner used when the FILES table does not give one (the detector centre).
_FALLBACK_START = 1021


@dataclass(frozen=True)
class OnboardCentroids:
    """The on-board centroids (CENTROID packets) of a series, converted to V2/V3.

    Attributes
    ----------
    mjd : numpy.ndarray
        Centroid times (MJD, UTC).
    seconds : numpy.ndarray
        The same in seconds since the series' first frame.
    v2, v3 : numpy.ndarray
        arcsec, from the on-board ideal frame (``ideal_to_telescope``).
    """

    mjd: np.ndarray
    seconds: np.ndarray
    v2: np.ndarray
    v3: np.ndarray


@dataclass(frozen=True)
class PointingSeries:
    """The fitted guide-star positions of one visit and guide star on the sky.

    Attributes
    ----------
    seconds : numpy.ndarray
        Seconds since the series' first frame.
    mjd : numpy.ndarray
        Mid-frame times (MJD, UTC).
    v2, v3 : numpy.ndarray
        arcsec (NaN where the fit has no position).
    dv2_mas, dv3_mas : numpy.ndarray
        Offsets from the mean of the good frames (mas).
    err_v2_mas, err_v3_mas : numpy.ndarray
        1-sigma errors (mas) of the fit's centroid, carried to V2/V3.
    good : numpy.ndarray of bool
        Clean fit (flags 0, finite) and, when events are masked, outside
        `MASKED_EVENT_KINDS` events.
    in_event : numpy.ndarray of bool
        Inside a technical event of `MASKED_EVENT_KINDS` (masked or not).
    detector : str
        'GUIDER1' or 'GUIDER2'.
    frames : numpy.ndarray
        The model's frame indices.
    visit_index, guidestar_index : int
        The group (`~spelunker.GuideStarModel.frame_groups`).
    window_known : bool
        Whether the FILES table gave the window's place (else it is placed
        at the detector centre: offsets in mas stay right to within 4 %,
        the distortion's change of scale; absolute V2/V3 do not).
    onboard : OnboardCentroids or None
        The on-board centroids inside the series' time span.
    onboard_difference_mas : numpy.ndarray or None
        Shape ``(n_onboard, 2)``: fitted minus on-board V2 and V3 (mas) at the
        on-board times (the fitted positions of good frames interpolated).
    """

    seconds: np.ndarray
    mjd: np.ndarray
    v2: np.ndarray
    v3: np.ndarray
    dv2_mas: np.ndarray
    dv3_mas: np.ndarray
    err_v2_mas: np.ndarray
    err_v3_mas: np.ndarray
    good: np.ndarray
    in_event: np.ndarray
    detector: str
    frames: np.ndarray
    visit_index: int = 0
    guidestar_index: int = 0
    window_known: bool = True
    onboard: OnboardCentroids = None
    onboard_difference_mas: np.ndarray = None

    def select(self, mask):
        """The part of the series where ``mask`` (bool per frame) is True.

        The offsets keep the whole series' mean; the on-board centroids are
        cut to the part's time span.

        Examples
        --------
        >>> import numpy as np
        >>> series = PointingSeries(*[np.arange(4.0)] * 8, np.ones(4, bool), np.zeros(4, bool),
        ...                         "GUIDER1", np.arange(4))
        >>> series.select(series.seconds >= 2).seconds.tolist()
        [2.0, 3.0]
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.seconds.shape:
            msg = (f"PointingSeries.select: mask has shape {mask.shape}, the series "
                   f"{self.seconds.shape}")
            raise ParameterError(msg)
        fields = {name: getattr(self, name)[mask] for name in (
            "seconds", "mjd", "v2", "v3", "dv2_mas", "dv3_mas", "err_v2_mas", "err_v3_mas",
            "good", "in_event", "frames")}
        onboard, difference = self.onboard, self.onboard_difference_mas
        if onboard is not None:
            span = self.mjd[mask]
            inside = ((onboard.mjd >= span.min()) & (onboard.mjd <= span.max()) if span.size
                      else np.zeros(onboard.mjd.size, bool))
            onboard = OnboardCentroids(onboard.mjd[inside], onboard.seconds[inside],
                                       onboard.v2[inside], onboard.v3[inside])
            difference = difference[inside]
        return replace(self, onboard=onboard, onboard_difference_mas=difference, **fields)


def _plain(column):
    return np.asarray(getattr(column, "value", column))


def _fit_columns(model, fit_table):
    """x_mean, y_mean, their errors and flags of every frame."""
    if fit_table is None or isinstance(fit_table, str):
        table = getattr(model, model.fit_table_name("auto" if fit_table is None else fit_table,
                                                    name="fit_table"))
    else:
        table = fit_table
    try:
        columns = {name: _plain(table[name]) for name in ("x_mean", "y_mean", "x_mean_err",
                                                           "y_mean_err")}
    except (KeyError, ValueError, TypeError, IndexError):
        msg = ("fit_table must be None, a fit method or table name, or a fit table with columns "
               "x_mean, y_mean, x_mean_err, y_mean_err (and flags)")
        raise ParameterError(msg) from None
    names = getattr(table, "colnames", None) or getattr(getattr(table, "dtype", None), "names",
                                                        ())
    columns["flags"] = _plain(table["flags"]) if "flags" in names else None
    if len(columns["x_mean"]) != len(model.frames):
        msg = (f"fit_table has {len(columns['x_mean'])} rows, the model {len(model.frames)} "
               "frames")
        raise ParameterError(msg)
    return columns


def _file_column(files, name, default):
    if files is None or name not in (files.dtype.names or ()):
        return None if default is None else np.full(0 if files is None else len(files), default)
    return np.asarray(files[name])


def _event_frames(model, n_frames):
    """Bool per model frame: inside an event of `MASKED_EVENT_KINDS`."""
    inside = np.zeros(n_frames, dtype=bool)
    if not model.hasattr("events") or len(model.events) == 0:
        return inside
    events = model.events
    kinds = np.char.strip(np.char.decode(np.asarray(events["kind"]).astype("S"), "ascii"))
    for kind, start, end in zip(kinds, np.asarray(events["frame_start"]),
                                np.asarray(events["frame_end"]), strict=True):
        if kind in MASKED_EVENT_KINDS:
            inside[max(int(start), 0):max(int(end), int(start)) + 1] = True
    return inside


def _onboard(model, mjd, good, v2, v3, file_rows, detector):
    """On-board centroids in the series' span, and fitted minus on-board (mas)."""
    if not model.hasattr("centroid_table") or len(model.centroid_table) == 0 or mjd.size == 0:
        return None, None
    table = model.centroid_table
    # Contiguous copies of the record fields first: every test below reads them again.
    time = np.array(table["centroid_time_mjd"], dtype=np.float64)
    x = np.array(table["guide_star_position_x"], dtype=np.float64)
    y = np.array(table["guide_star_position_y"], dtype=np.float64)
    index = np.array(table["file_index"], dtype=np.int64)
    mine = np.zeros(max(int(index.max(initial=0)), int(file_rows.max(initial=0))) + 1, bool)
    mine[file_rows] = True
    keep = mine[np.clip(index, 0, None)]
    keep &= index >= 0
    keep &= time >= mjd[0]
    keep &= time <= mjd[-1]  # NaN times fail these too
    keep &= np.isfinite(x)
    keep &= np.isfinite(y)
    keep &= (x != 0) | (y != 0)
    if not np.any(keep):
        return None, None
    if not keep.all():
        time, x, y = time[keep], x[keep], y[keep]
    if np.any(np.diff(time) < 0):
        order = np.argsort(time, kind="stable")
        time, x, y = time[order], x[order], y[order]
    ob_v2, ob_v3 = ideal_to_telescope(x, y, detector=detector, frame="onboard")
    onboard = OnboardCentroids(time, (time - mjd[0]) * 86400.0, ob_v2, ob_v3)
    use = good & np.isfinite(v2) & np.isfinite(v3)
    if np.count_nonzero(use) < 2:
        return onboard, None
    if not use.all():
        mjd, v2, v3 = mjd[use], v2[use], v3[use]
    fit_v2 = np.interp(time, mjd, v2)
    fit_v3 = np.interp(time, mjd, v3)
    difference = np.empty((time.size, 2))
    np.multiply(fit_v2 - ob_v2, 1000.0, out=difference[:, 0])
    np.multiply(fit_v3 - ob_v3, 1000.0, out=difference[:, 1])
    return onboard, difference


def _group_frames(model, visit_index, guidestar_index):
    groups = model.frame_groups()
    for visit, star, frames in groups:
        if visit == visit_index and star == guidestar_index:
            return frames
    held = [(int(v), int(g)) for v, g, _ in groups]
    msg = (f"pointing_series: the model has no frames of visit_index={visit_index!r}, "
           f"guidestar_index={guidestar_index!r} (it holds {held})")
    raise ParameterError(msg)


def pointing_series(model, *, visit_index, guidestar_index, fit_table=None, mask_events=True):
    """V2/V3 positions and offsets (mas) of one visit and guide star's fitted centroids.

    Parameters
    ----------
    model : GuideStarModel
        With a fit table (`~spelunker.GuideStarFitStep`).
    visit_index, guidestar_index : int
        The group (`~spelunker.GuideStarModel.frame_groups`).
    fit_table : None, str or table, optional
        None: the model's fit (``gauss_fit``, else ``quick_fit``); a method
        or table name; or a fit table of the model's frames (columns
        ``x_mean``, ``y_mean``, ``x_mean_err``, ``y_mean_err``, ``flags``).
    mask_events : bool, optional
        Leave the frames of technical events (`MASKED_EVENT_KINDS` in the
        EVENTS table, when the model has one) out of ``good``; they are
        marked in ``in_event`` either way.

    Returns
    -------
    PointingSeries

    Raises
    ------
    spelunker.errors.ParameterError
        For a group the model does not hold or an unusable ``fit_table``.
    spelunker.errors.GuideStarInputError
        For a model without frames, a fit table or a guider detector.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.fitting import fit_moments_frames, store_fit
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=300, n_segments=1)], seed=2)
    >>> model = read_guidestar(visit.files)
    >>> _ = store_fit(model, fit_moments_frames(model.data, model.err), "quick")
    >>> series = pointing_series(model, visit_index=0, guidestar_index=0)
    >>> series.detector, int(series.good.sum()), series.onboard_difference_mas.shape[1]
    ('GUIDER1', 300, 2)
    """
    model = check_model(model, where="pointing_series")
    if not model.hasattr("frames") or len(model.frames) == 0:
        msg = "pointing_series: the model has no frames"
        raise GuideStarInputError(msg)
    fit = _fit_columns(model, fit_table)
    frames = _group_frames(model, visit_index, guidestar_index)
    return _series(model, fit, frames, visit_index, guidestar_index, mask_events=mask_events,
                   all_seconds=model.frame_seconds())


def _series(model, fit, frames, visit_index, guidestar_index, *, mask_events, all_seconds):
    files = np.asarray(model.files) if model.hasattr("files") and len(model.files) else None
    rows = run_slice(frames)  # a view when the frames are one run (one visit, one star)
    file_index = np.asarray(model.frames["file_index"])[rows]
    file_rows = np.unique(file_index[[0, -1]]) if frames.size else file_index[:0]
    if file_rows.size and (file_index.min() < file_rows[0] or file_index.max() > file_rows[-1]
                           or np.any(np.diff(file_index) < 0)):
        file_rows = np.unique(file_index)
    elif file_rows.size:
        file_rows = np.arange(file_rows[0], file_rows[-1] + 1)
    detectors = _file_column(files, "detector", None)
    detector = detectors[file_index[0]] if detectors is not None else b""
    detector = detector.decode() if isinstance(detector, bytes) else str(detector)
    try:
        detector = guider_name(detector)
    except ParameterError:
        msg = (f"pointing_series: the files of visit_index={visit_index}, guidestar_index="
               f"{guidestar_index} name no guider detector ({detector!r}), so no SIAF aperture")
        raise GuideStarInputError(msg) from None
    starts = []
    for name in ("xstart", "ystart"):
        column = _file_column(files, name, 0)
        per_file = (column[file_rows].astype(np.int64) if column is not None and column.size
                    else np.zeros(max(file_rows.size, 1), np.int64))
        starts.append(per_file)
    known = (starts[0] >= 1) & (starts[1] >= 1)
    window_known = bool(np.all(known))
    if not window_known:
        log.warning("pointing_series: %d files have no window corner in the FILES table "
                    "(older product?); placing their window at the detector centre",
                    int(np.sum(~known)))
        starts = [np.where(known, start, _FALLBACK_START) for start in starts]
    if np.all(starts[0] == starts[0][0]) and np.all(starts[1] == starts[1][0]):
        xstart, ystart = int(starts[0][0]), int(starts[1][0])  # one window for the series
    else:
        lookup = np.searchsorted(file_rows, file_index)
        xstart, ystart = starts[0][lookup], starts[1][lookup]
    x = fit["x_mean"][rows].astype(np.float64)
    y = fit["y_mean"][rows].astype(np.float64)
    sky = window_to_sky(x, y, detector=detector, xstart=xstart, ystart=ystart)
    good = np.isfinite(sky.v2) & np.isfinite(sky.v3)
    if fit["flags"] is not None:
        good &= fit["flags"][rows] == 0
    in_event = _event_frames(model, len(model.frames))[rows]
    if mask_events:
        good &= ~in_event
    # The pixel -> V2/V3 Jacobian at a typical position (it changes by < 0.1 %
    # over a window) carries the fit's pixel errors to V2/V3.
    at = np.flatnonzero(good[: max(good.size // 2, 1) + 1])
    at = int(at[-1]) if at.size else 0
    jac = window_jacobian(x[at] if np.isfinite(x[at]) else 3.5,
                          y[at] if np.isfinite(y[at]) else 3.5, detector=detector,
                          xstart=np.broadcast_to(xstart, x.shape)[at],
                          ystart=np.broadcast_to(ystart, y.shape)[at])
    sx = fit["x_mean_err"][rows].astype(np.float64)
    sy = fit["y_mean_err"][rows].astype(np.float64)
    err_v2 = np.hypot(jac[0] * sx, jac[1] * sy)
    err_v2 *= 1000.0
    err_v3 = np.hypot(jac[2] * sx, jac[3] * sy)
    err_v3 *= 1000.0
    dv2, dv3 = telescope_offsets_mas(sky.v2, sky.v3, good)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=np.float64)[rows]
    seconds = all_seconds[rows] - all_seconds[frames[0]]
    onboard, difference = _onboard(model, mjd, good, sky.v2, sky.v3, file_rows, detector)
    return PointingSeries(seconds, mjd, sky.v2, sky.v3, dv2, dv3, err_v2, err_v3, good,
                          in_event, detector, np.asarray(frames), int(visit_index),
                          int(guidestar_index), window_known, onboard, difference)


def _good(series, *names):
    """The named arrays of the series at its good frames (no copy when all are good)."""
    good = series.good
    every = bool(good.all())
    return [getattr(series, name) if every else getattr(series, name)[good] for name in names]


def series_spectrum(series, *, segment_s=SEGMENT_S):
    """The Welch jitter spectrum of a series' good frames (`jitter_spectrum`).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 120.0, 0.0625)
    >>> series = PointingSeries(t, t, t, t, np.sin(t), np.cos(t), t, t, np.ones(t.size, bool),
    ...                         np.zeros(t.size, bool), "GUIDER1", np.arange(t.size))
    >>> series_spectrum(series).resolution_hz
    0.008333333333333333
    """
    if not isinstance(series, PointingSeries):
        msg = f"series_spectrum: series must be a PointingSeries, got {type(series).__name__}"
        raise ParameterError(msg)
    return jitter_spectrum(*_good(series, "seconds", "dv2_mas", "dv3_mas"), segment_s=segment_s)


def series_metrics(series, *, segment_s=SEGMENT_S, interval=STABILITY_INTERVAL,
                   window=STABILITY_WINDOW):
    """Every `STABILITY_COLUMNS` metric of a pointing series (its good frames).

    Parameters
    ----------
    series : PointingSeries
        From `pointing_series`, or a part of one (`PointingSeries.select`).
    segment_s : float, optional
        Welch segment (s) of the spectrum whose strongest line is reported.
    interval, window : float, optional
        Of the stability metric (`stability_metrics`).

    Returns
    -------
    dict
        Name -> value (floats, ``n_frames`` an int), in `STABILITY_COLUMNS` order.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 300.0, 0.0625)
    >>> dv = 2.0 * np.sin(2 * np.pi * 0.5 * t)
    >>> series = PointingSeries(t, t, t, t, dv, 0 * t, 0 * t + 1, 0 * t + 1,
    ...                         np.ones(t.size, bool), np.zeros(t.size, bool), "GUIDER1",
    ...                         np.arange(t.size))
    >>> m = series_metrics(series)
    >>> round(m["line_frequency_hz"], 3), round(m["line_amplitude_mas"], 2), m["onboard_rms_mas"]
    (0.5, 2.0, nan)
    """
    if not isinstance(series, PointingSeries):
        msg = f"series_metrics: series must be a PointingSeries, got {type(series).__name__}"
        raise ParameterError(msg)
    seconds, dv2, dv3, err2, err3 = _good(series, "seconds", "dv2_mas", "dv3_mas",
                                          "err_v2_mas", "err_v3_mas")
    metrics = stability_metrics(seconds, dv2, dv3, err_v2_mas=err2, err_v3_mas=err3,
                                interval=interval, window=window)
    lines = spectral_lines(jitter_spectrum(seconds, dv2, dv3, segment_s=segment_s), max_lines=1)
    metrics["line_frequency_hz"] = float(lines["frequency_hz"][0]) if len(lines) else np.nan
    metrics["line_amplitude_mas"] = float(lines["amplitude_mas"][0]) if len(lines) else np.nan
    difference = series.onboard_difference_mas
    rms = np.nan
    if difference is not None:
        d2, d3 = difference[:, 0], difference[:, 1]
        finite = np.isfinite(d2) & np.isfinite(d3)
        if np.count_nonzero(finite) >= 2:
            d2, d3 = (d2, d3) if finite.all() else (d2[finite], d3[finite])
            rms = float(np.sqrt(np.var(d2) + np.var(d3)))
    metrics["onboard_rms_mas"] = rms
    return {name: metrics[name] for name, _, _ in STABILITY_COLUMNS}


def pointing_stability(model, *, fit_table=None, mask_events=True):
    """Pointing-stability metrics of every visit and guide star of a fitted model.

    Parameters
    ----------
    model : GuideStarModel
        With a fit table (`~spelunker.GuideStarFitStep`).
    fit_table : None, str or table, optional
        As for `pointing_series`.
    mask_events : bool, optional
        As for `pointing_series`.

    Returns
    -------
    astropy.table.Table
        One row per visit and guide star: ``visit_index``,
        ``guidestar_index``, ``gs_id``, ``detector``, then
        `STABILITY_COLUMNS` (with units; descriptions in the columns'
        ``description``).

    Raises
    ------
    spelunker.errors.GuideStarInputError
        For a model without frames or fit table.

    Examples
    --------
    >>> from spelunker.pointing import STABILITY_COLUMNS
    >>> [name for name, _, _ in STABILITY_COLUMNS][:4]
    ['n_frames', 'duration', 'nea_v2_mas', 'nea_v3_mas']
    """
    model = check_model(model, where="pointing_stability")
    if not model.hasattr("frames") or len(model.frames) == 0:
        msg = "pointing_stability: the model has no frames"
        raise GuideStarInputError(msg)
    fit = _fit_columns(model, fit_table)
    gs_ids = (np.asarray(model.guidestars["gs_id"]) if model.hasattr("guidestars")
              else np.zeros(0, "S1"))
    rows = []
    all_seconds = model.frame_seconds()
    for visit_index, guidestar_index, frames in model.frame_groups():
        series = _series(model, fit, frames, visit_index, guidestar_index,
                         mask_events=mask_events, all_seconds=all_seconds)
        gs_id = gs_ids[guidestar_index] if guidestar_index < len(gs_ids) else b""
        gs_id = gs_id.decode() if isinstance(gs_id, bytes) else str(gs_id)
        rows.append((int(visit_index), int(guidestar_index), gs_id.strip(), series.detector,
                     series_metrics(series)))
    table = Table()
    table["visit_index"] = np.array([r[0] for r in rows], dtype=np.int64)
    table["guidestar_index"] = np.array([r[1] for r in rows], dtype=np.int64)
    table["gs_id"] = np.array([r[2] for r in rows], dtype=str)
    table["detector"] = np.array([r[3] for r in rows], dtype=str)
    for name, unit, description in STABILITY_COLUMNS:
        dtype = np.int64 if name == "n_frames" else np.float64
        values = np.array([r[4][name] for r in rows], dtype=dtype)
        table[name] = values * u.Unit(unit) if unit else values
        table[name].description = description
    return table
