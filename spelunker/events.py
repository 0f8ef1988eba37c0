"""Technical events in guide-star data: tilts, jumps, star changes, HGA moves, gaps.

`find_events` builds the events table (`EVENT_COLUMNS`) from a model's
fitted series and tables; `store_events` and `events_table` keep and read
it.  Plain functions on a `~spelunker.GuideStarModel` (or on telemetry tables)
that return `~astropy.table.QTable` objects; no token, no network, no
drawing:

- `guidestar_changes`: frames where ``guidestar_index`` changes;
- `file_boundaries`: the start (DATASTRT) and end of every file;
- `hga_moves`: high-gain-antenna moves from the POINTING tables'
  ``HGA_motion``;
- `hga_intervals`: high-gain-antenna moves from ``SA_ZHGAUPST`` telemetry
  (`spelunker.archive.engdb.mnemonics`);
- `local_events`: one of the first three by name (``'GUIDESTAR'``,
  ``'FILENAME'``, ``'HGA'``), as the original tool's ``mnemonics_local``.

The drawing is in `spelunker.plotting.telemetry`; this module imports
neither plotting nor the archive clients.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import check_choice, check_positive_float
from spelunker.changepoints import check_step_options, find_series_steps
from spelunker.datamodels import check_model
from spelunker.datamodels.rows import run_slice
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.periodogram import periodogram_groups
from spelunker.photometry import full_frame_flux
from spelunker.times import as_utc_time

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_KINDS",
    "STEP_SERIES",
    "find_events",
    "store_events",
    "events_table",
    "HGA_MNEMONIC",
    "LOCAL_KINDS",
    "check_kind",
    "file_boundaries",
    "guidestar_changes",
    "hga_intervals",
    "hga_moves",
    "local_events",
]

log = logging.getLogger(__name__)

#: The high-gain-antenna status mnemonic (strings MOVING / FINISHED).
HGA_MNEMONIC = "SA_ZHGAUPST"

#: Event kinds of `local_events`.
LOCAL_KINDS = ("GUIDESTAR", "FILENAME", "HGA")

#: POINTING ``HGA_motion`` value of a moving antenna ('1' finished, '2' offline).
_POINTING_MOVING = "0"


def _has_table(model, table, *, empty=False):
    """Whether ``model`` (a GuideStarModel) has ``table`` with rows (or at all, if ``empty``)."""
    has = check_model(model, where="events").hasattr(table)
    return has and (empty or len(getattr(model, table)) > 0)


def _require_table(model, table, what, *, empty=False):
    """A GuideStarInputError saying the model has no ``what``, unless `_has_table`."""
    if not _has_table(model, table, empty=empty):
        msg = f"the model has no {what}"
        raise GuideStarInputError(msg)


def _state_intervals(times, moving):
    """(start, stop) of each run of ``moving`` samples, ended by the next other sample."""
    times = times.utc
    mjd = np.atleast_1d(times.mjd)
    moving = np.atleast_1d(np.asarray(moving, dtype=bool))
    order = np.argsort(mjd, kind="stable")
    mjd, moving = mjd[order], moving[order]
    table = QTable()
    if mjd.size == 0 or not moving.any():
        empty = Time(np.zeros(0), format="mjd", scale="utc")
        table["start"] = empty
        table["stop"] = empty.copy()
        table["duration"] = np.zeros(0) * u.s
        table["complete"] = np.zeros(0, dtype=bool)
        return table
    change = np.diff(moving.astype(np.int8))
    starts = np.flatnonzero(change == 1) + 1
    stops = np.flatnonzero(change == -1) + 1
    start_seen = np.ones(starts.size, dtype=bool)
    if moving[0]:
        starts = np.concatenate(([0], starts))
        start_seen = np.concatenate(([False], start_seen))
    stop_seen = np.ones(stops.size, dtype=bool)
    if moving[-1]:
        stops = np.concatenate((stops, [mjd.size - 1]))
        stop_seen = np.concatenate((stop_seen, [False]))
    start_time = Time(mjd[starts], format="mjd", scale="utc")
    stop_time = Time(mjd[stops], format="mjd", scale="utc")
    start_time.format = stop_time.format = "isot"
    table["start"] = start_time
    table["stop"] = stop_time
    table["duration"] = (stop_time - start_time).to(u.s)
    table["complete"] = start_seen & stop_seen
    return table


def hga_intervals(table):
    """High-gain-antenna moves from ``SA_ZHGAUPST`` telemetry.

    Parameters
    ----------
    table : astropy.table.Table
        ``time`` (Time or MJD) and ``value`` (``'MOVING'`` / ``'FINISHED'``),
        as returned by `spelunker.archive.engdb.mnemonics`.

    Returns
    -------
    astropy.table.QTable
        One row per move: ``start`` (time of the ``MOVING`` sample that
        starts it), ``stop`` (the next sample that is not ``MOVING``),
        ``duration`` (s) and ``complete`` (False when the data begin or end
        during the move: then ``start``/``stop`` is the first/last sample).

    Raises
    ------
    spelunker.errors.ParameterError
        ``table`` is not a table with ``time`` and ``value`` columns, or
        its times cannot be read.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from spelunker.events import hga_intervals
    >>> telemetry = Table({"time": [60000.0, 60000.001, 60000.002, 60000.003],
    ...                    "value": ["FINISHED", "MOVING", "MOVING", "FINISHED"]})
    >>> moves = hga_intervals(telemetry)
    >>> moves["start"].mjd.tolist(), moves["stop"].mjd.tolist(), moves["complete"].tolist()
    ([60000.001], [60000.003], [True])
    """
    columns = getattr(table, "colnames", None)
    for column in ("time", "value"):
        if columns is None or column not in columns:
            msg = (f"the telemetry table has no {column!r} column (columns: {columns}; "
                   "spelunker.archive.engdb.mnemonics returns such a table)")
            raise ParameterError(msg)
    values = np.char.upper(np.char.strip(np.asarray(table["value"]).astype(str)))
    return _state_intervals(as_utc_time(table["time"]), values == "MOVING")


def guidestar_changes(model):
    """Frames where the guide star changes.

    Parameters
    ----------
    model : GuideStarModel
        Its frames are read, and its guide stars for their ids.

    Returns
    -------
    astropy.table.QTable
        One row per change: ``time`` (mid-time of the first frame of the
        new star), ``frame``, ``guidestar_index``, ``gs_id``,
        ``previous_gs_id``.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        Without frames.

    Examples
    --------
    Frames 0-2 guided on star 0, frames 3-4 on star 1:

    >>> from spelunker import GuideStarModel
    >>> from spelunker.events import guidestar_changes
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + i / 86400, 0, int(i >= 3), i) for i in range(5)]
    >>> guidestar_changes(model)["frame"].tolist()
    [3]
    """
    _require_table(model, "frames", "frames table: no guide-star changes to find")
    index = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    frames = np.flatnonzero(np.diff(index) != 0) + 1
    names = np.array([str(n) for n in model.table("guidestars")["gs_id"]]) \
        if model.hasattr("guidestars") and len(model.guidestars) else np.array([], dtype=str)

    def name_of(rows):
        return np.array([names[r] if 0 <= r < names.size else "" for r in rows], dtype=str)

    table = QTable()
    table["time"] = Time(mjd[frames], format="mjd", scale="utc")
    table["time"].format = "isot"
    table["frame"] = frames
    table["guidestar_index"] = index[frames]
    table["gs_id"] = name_of(index[frames])
    table["previous_gs_id"] = name_of(index[frames - 1])
    return table


def file_boundaries(model):
    """The start and end of every file of a model, in time order.

    Parameters
    ----------
    model : GuideStarModel
        A model read from guider products (`spelunker.read_guidestar`).

    Returns
    -------
    astropy.table.QTable
        One row per file: ``time`` (DATASTRT), ``stop`` (DATAEND),
        ``file_index``, ``file_name``, ``n_frames``, ``first_frame``.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        A model without a ``files`` table (one not read from products).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.events import file_boundaries
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=600, n_segments=2)], seed=3)
    >>> file_boundaries(read_guidestar(visit.files))["first_frame"].tolist()
    [0, 300]
    """
    _require_table(model, "files", "files table: no file boundaries to find")
    files = model.table("files")
    table = QTable()
    table["time"] = Time(np.asarray(files["data_start_mjd"], dtype=float), format="mjd",
                         scale="utc")
    table["stop"] = Time(np.asarray(files["data_end_mjd"], dtype=float), format="mjd",
                         scale="utc")
    table["time"].format = table["stop"].format = "isot"
    table["file_index"] = np.arange(len(files))
    table["file_name"] = files["file_name"]
    table["n_frames"] = files["n_frames"]
    table["first_frame"] = files["first_frame"]
    table.sort("time")
    return table


def hga_moves(model):
    """High-gain-antenna moves from the POINTING tables' ``HGA_motion``.

    ``'0'`` is a moving antenna; ``'1'`` (finished) and ``'2'`` (offline)
    end a move.

    Parameters
    ----------
    model : GuideStarModel
        Its ``pointing_table`` (the products' POINTING tables) is read.

    Returns
    -------
    astropy.table.QTable
        ``start``, ``stop``, ``duration``, ``complete`` as `hga_intervals`.

    Raises
    ------
    spelunker.errors.GuideStarInputError
        A model whose products had no POINTING rows (``pointing_table``
        missing or empty).

    Examples
    --------
    A POINTING table sampled every 5 s, the antenna moving at the second
    and third samples:

    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.events import hga_moves
    >>> model = GuideStarModel()
    >>> pointing = np.zeros(4, dtype=model.table_dtype("pointing_table"))
    >>> pointing["time"] = 60000.0 + np.arange(4) * 5.0 / 86400
    >>> pointing["HGA_motion"] = [b"1", b"0", b"0", b"1"]
    >>> model.pointing_table = pointing
    >>> print(f"{hga_moves(model)['duration'][0]:.0f}")
    10 s
    """
    _require_table(model, "pointing_table", "POINTING table (HGA_motion): no HGA moves to find")
    pointing = model.pointing_table
    motion = np.asarray(pointing["HGA_motion"])
    if motion.dtype.kind == "S":
        motion = np.char.decode(motion, "ascii")
    moving = np.char.strip(motion.astype(str)) == _POINTING_MOVING
    times = Time(np.asarray(pointing["time"], dtype=float), format="mjd", scale="utc")
    return _state_intervals(times, moving)


def check_kind(kind):
    """``kind`` in upper case if it is one of `LOCAL_KINDS`, else a ParameterError.

    Examples
    --------
    >>> from spelunker.events import check_kind
    >>> check_kind(" guidestar")
    'GUIDESTAR'
    """
    if not isinstance(kind, str) or kind.strip().upper() not in LOCAL_KINDS:
        msg = f"kind={kind!r} is not one of {list(LOCAL_KINDS)}"
        raise ParameterError(msg)
    return kind.strip().upper()


def local_events(model, kind):
    """Events found in the model itself: guide-star changes, file boundaries, HGA moves.

    No token and no network (the original tool's ``mnemonics_local``
    without the drawing, which is
    `spelunker.plotting.telemetry.plot_local_events`).

    Parameters
    ----------
    model : GuideStarModel
        A read model.
    kind : {'GUIDESTAR', 'FILENAME', 'HGA'}
        `guidestar_changes`, `file_boundaries` or `hga_moves`.  Case does
        not matter.

    Returns
    -------
    astropy.table.QTable
        The table of that function.

    Raises
    ------
    spelunker.errors.ParameterError
        For an unknown kind.
    spelunker.errors.GuideStarInputError
        For a model without the table the kind needs.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.events import local_events
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)],
    ...     signals=[datasets.HgaMove(start=20.0, stop=30.0)], seed=3)
    >>> model = read_guidestar(visit.files)
    >>> len(local_events(model, "FILENAME")), len(local_events(model, "guidestar"))
    (2, 0)
    >>> moves = local_events(model, "HGA")
    >>> print(f"{moves['duration'][0]:.0f}")
    11 s
    """
    kind = check_kind(kind)
    finder = {"GUIDESTAR": guidestar_changes, "FILENAME": file_boundaries, "HGA": hga_moves}
    table = finder[kind](model)
    log.debug("local_events(%s): %d row(s)", kind, len(table))
    return table


# --------------------------------------------------------------------------
# The events table: every event found in a model's series and tables


def find_events(model, *, fit_table="auto", bin_size=1.0, window=10, threshold=5.5,
                gap=1.0, coincidence=2.0):
    """Every technical event in a model: tilts, centroid jumps, HGA moves, star changes, gaps.

    The series of each guide-star interval of each visit
    (`spelunker.periodogram.periodogram_groups`) are searched apart, so no
    event is claimed across a gap or a change of star.

    - ``tilt``: a lasting step in ``x_stddev`` and/or ``y_stddev`` (a mirror
      segment tilt changes the PSF width within about a second), with the
      centroid steps at the same time (within ``coincidence`` seconds);
    - ``centroid_jump``: a step in ``x_mean``/``y_mean`` with no width step;
    - ``flux_excursion``: a step of the light curve (``lightcurve`` flux, or
      the sum of the usable pixels) and the opposite step that ends it, with
      its depth, when the star moves with it (a centroid step at its start
      or end, e.g. the star partly lost: the centroid changes then go in
      this row, not in a ``centroid_jump``) or when it starts or ends at an
      HGA move; a step that is not undone runs to the end of the interval.
      A flux change with the PSF width and centroid steady is the star
      itself (a transit, an eclipse, a flare) and no technical event:
      `spelunker.variability` searches those;
    - ``hga_move``: high-gain-antenna moves from the POINTING tables
      (``HGA_motion``; no token needed);
    - ``guide_star_change``: the first frame of a new guide star;
    - ``gap``: consecutive frames more than ``gap`` seconds and 5 cadences
      apart.

    Steps are found by `spelunker.changepoints.find_series_steps` on the fit's
    clean frames (flags 0); a smooth periodic motion of the star (a
    wobble) or a slow drift is no step.

    Parameters
    ----------
    model : GuideStarModel
        A model with a frames table and (for steps) a fit table.  Not
        modified.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        The fit whose parameters are searched; without a fit table only the
        table events (HGA, star changes, gaps) are found.
    bin_size, window, threshold : optional
        Of `spelunker.changepoints.find_steps`.
    gap : float, optional
        Shortest gap reported (s).
    coincidence : float, optional
        Steps of several parameters closer than this (s) are one event.

    Returns
    -------
    astropy.table.QTable
        One row per event in time order; columns of `EVENT_COLUMNS`:
        ``kind``, ``start``/``end`` (`~astropy.time.Time`, UTC),
        ``frame_start``/``frame_end``, ``parameters`` (comma-separated),
        ``delta_<series>`` and ``delta_<series>_err`` (the change of each
        series, with units; NaN when not affected), ``significance``
        (sigma), ``duration`` (s) and ``source``.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarFitStep, datasets, read_guidestar
    >>> from spelunker.events import find_events
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=6000, n_segments=1)],
    ...     signals=[datasets.PsfWidthStep(time=150.0, factor=1.05)], seed=4)
    >>> model = GuideStarFitStep.call(read_guidestar(visit.files), method="quick")
    >>> events = find_events(model)
    >>> tilt = events[events["kind"] == "tilt"][0]
    >>> bool(abs((tilt["start"] - model.frame_times[0]).to_value("s") - 150.0) < 2.0)
    True
    """
    _require_table(model, "frames", "frames table: no events to find", empty=True)
    bin_size, window, threshold = check_step_options(bin_size, window, threshold,
                                                     where="find_events")
    gap = check_positive_float(gap, "gap", unit="seconds", where="find_events")
    coincidence = check_positive_float(coincidence, "coincidence", unit="seconds",
                                       where="find_events")
    rows = []
    times = model.frame_seconds()
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    name = None
    if any(model.hasattr(t) for t in ("gauss_fit", "quick_fit")):
        name = model.fit_table_name(fit_table, name="fit_table")
    hga = _hga_events(model, mjd) if _has_table(model, "pointing_table") else []
    # Intervals (s) of the technical events a flux change may coincide with.
    last = max(times.size - 1, 0)
    technical = [(times[min(row["frame_start"], last)], times[min(row["frame_end"], last)])
                 for row in hga]
    for _, _, frames in periodogram_groups(model):
        if name is not None:
            rows.extend(_step_events(model, name, times, frames, bin_size=bin_size,
                                     window=window, threshold=threshold,
                                     coincidence=coincidence, technical=technical))
    rows.extend(_gap_events(times, gap))
    rows.extend(_star_change_events(model))
    rows.extend(hga)
    return _events_qtable(rows, mjd)


#: Series searched for steps, and their units.
STEP_SERIES = {"x_mean": u.pix, "y_mean": u.pix, "x_stddev": u.pix, "y_stddev": u.pix,
               "flux": u.DN / u.s}

#: Event kinds of `find_events`.
EVENT_KINDS = ("tilt", "centroid_jump", "flux_excursion", "hga_move", "guide_star_change",
               "gap")


def _series(model, name, frames):
    """The searched series of the frames ``frames`` of ``model`` and their usable frames.

    ``(series, usable)`` for `find_series_steps`: the four PSF columns of
    the fit table ``name`` read in place (views when the frames are one
    run) with ``usable`` their unflagged frames, and the flux.
    """
    table = getattr(model, name)
    rows = run_slice(frames)  # one run of frames: read in place, not gathered frame by frame
    clean = np.asarray(table["flags"])[rows] == 0
    series = {column: np.asarray(table[column])[rows]
              for column in ("x_mean", "y_mean", "x_stddev", "y_stddev")}
    usable = dict.fromkeys(series, clean)
    if model.hasattr("lightcurve") and len(model.lightcurve) == len(model.frames):
        series["flux"] = np.asarray(model.lightcurve["flux"])[rows]
    elif model.hasattr("data"):  # no light curve yet: the sum of the usable pixels
        dq = np.asarray(model.dq)[frames] if model.hasattr("dq") and np.shape(
            model.dq) == np.shape(model.data) else None
        series["flux"], _ = full_frame_flux(np.asarray(model.data)[frames], dq=dq)
    return series, usable


def _step_events(model, name, times, frames, *, bin_size, window, threshold, coincidence,
                 technical):
    series, usable = _series(model, name, frames)
    # One binning of the interval's times for its five series.
    found = find_series_steps(times[run_slice(frames)], series, bin_size=bin_size,
                              window=window, threshold=threshold, usable=usable)
    rows = []
    # Width steps make tilts; centroid steps join the tilt they coincide with.
    width = sorted((float(s["time"]), key, s) for key in ("x_stddev", "y_stddev")
                   for s in found[key])
    centroid = [(float(s["time"]), key, s) for key in ("x_mean", "y_mean") for s in found[key]]
    used = set()
    for cluster in _clusters(width, coincidence):
        members = list(cluster)
        for k, item in enumerate(centroid):
            if k not in used and any(abs(item[0] - t) <= coincidence for t, _, _ in cluster):
                members.append(item)
                used.add(k)
        rows.append(_step_row("tilt", members, frames))
    rest = sorted(item for k, item in enumerate(centroid) if k not in used)
    for cluster in _clusters(rest, coincidence):
        rows.append(_step_row("centroid_jump", list(cluster), frames))
    if "flux" in found:
        # A flux step at a tilt is the aperture losing or gaining light: part of the tilt.
        tilts = [row for row in rows if row["kind"] == "tilt"]
        lone = []
        for step in found["flux"]:
            at = [row for row in tilts if abs(float(step["time"]) - row["time"]) <= coincidence]
            if at:
                at[0]["deltas"]["flux"] = (float(step["delta"]), float(step["delta_err"]),
                                           float(step["significance"]))
            else:
                lone.append(step)
        excursions = _excursions(np.array(lone, dtype=found["flux"].dtype), "flux",
                                 times[frames], frames, merge=2 * window * bin_size)
        rows = _technical_excursions(rows, excursions, technical, coincidence)
    return rows


def _technical_excursions(rows, excursions, technical, coincidence):
    """``rows`` with the flux excursions that are technical; the others are left out.

    An excursion is technical when the centroid moves with the flux (a
    centroid jump at its start or end: the star partly leaving the
    aperture or the frame), whose centroid changes it then carries in place
    of that jump, or when it starts or ends within ``coincidence`` seconds
    of a ``technical`` interval (an HGA move).  A flux change alone, the
    PSF width and centroid steady, is the star itself (a dip, a flare):
    `spelunker.variability` finds those, with the astrophysical check.
    """
    jumps = [row for row in rows if row["kind"] == "centroid_jump"]
    absorbed = set()
    kept = []
    for excursion in excursions:
        edges = [excursion["time"]] + ([excursion["end_time"]]
                                      if excursion["end_time"] is not None else [])
        moved = [k for k, jump in enumerate(jumps) if k not in absorbed and any(
            abs(jump["time"] - edge) <= coincidence for edge in edges)]
        near = any(start - coincidence <= edge <= stop + coincidence
                   for edge in edges for start, stop in technical)
        if not moved and not near:
            continue
        for k in moved:
            absorbed.add(k)
            for key, delta in jumps[k]["deltas"].items():
                excursion["deltas"].setdefault(key, delta)
        if moved:
            excursion["source"] = "fit and light curve"
        kept.append(excursion)
    dropped = len(excursions) - len(kept)
    if dropped:
        log.debug("find_events: %d flux change(s) without a PSF or centroid change left to "
                  "spelunker.variability", dropped)
    rows = [row for row in rows if not any(row is jumps[k] for k in absorbed)]
    return rows + kept


def _clusters(items, coincidence):
    """Groups of time-sorted ``(time, key, step)`` items closer than ``coincidence``."""
    clusters = []
    for item in sorted(items, key=lambda entry: entry[0]):
        if clusters and item[0] - clusters[-1][-1][0] <= coincidence:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    return clusters


def _step_row(kind, members, frames):
    first = min(members, key=lambda entry: entry[0])[2]
    frame = int(frames[int(first["frame"])])
    deltas = {}
    for _, key, step in members:
        if key not in deltas or abs(step["significance"]) > abs(deltas[key][2]):
            deltas[key] = (float(step["delta"]), float(step["delta_err"]),
                           float(step["significance"]))
    return dict(kind=kind, frame_start=frame, frame_end=frame, deltas=deltas,
                significance=max(d[2] for d in deltas.values()), source="fit",
                time=float(first["time"]))


def _excursions(steps, key, seconds, frames, merge):
    """Flux changes: a step and the opposite one that ends it (a dip, a flare).

    Same-sign steps closer than ``merge`` seconds are one change (a slow
    ingress); a change that is not undone runs to the end of the interval
    (``end_time`` None).  ``seconds`` are the times of ``frames``.
    """
    changes = []
    for step in steps:
        if changes and np.sign(step["delta"]) == np.sign(changes[-1]["delta"]) and \
                step["time"] - changes[-1]["last"] <= merge:
            changes[-1]["delta"] += float(step["delta"])
            changes[-1]["error"] = float(np.hypot(changes[-1]["error"], step["delta_err"]))
            changes[-1]["significance"] = max(changes[-1]["significance"],
                                              float(step["significance"]))
            changes[-1]["last"] = float(step["time"])
            changes[-1]["end_frame"] = int(step["frame"])
            continue
        changes.append(dict(delta=float(step["delta"]), error=float(step["delta_err"]),
                            significance=float(step["significance"]), last=float(step["time"]),
                            frame=int(step["frame"]), end_frame=int(step["frame"])))
    rows = []
    k = 0
    while k < len(changes):
        change = changes[k]
        end, end_time = frames[-1], None
        if k + 1 < len(changes) and np.sign(changes[k + 1]["delta"]) != np.sign(change["delta"]):
            end = frames[changes[k + 1]["end_frame"]]
            end_time = float(seconds[changes[k + 1]["frame"]])
            k += 1
        rows.append(dict(kind="flux_excursion", frame_start=int(frames[change["frame"]]),
                         frame_end=int(end),
                         deltas={key: (change["delta"], change["error"], change["significance"])},
                         significance=change["significance"], source="light curve",
                         time=float(seconds[change["frame"]]), end_time=end_time))
        k += 1
    return rows


def _gap_events(times, gap):
    if times.size < 2:
        return []
    steps = np.diff(times)
    cadence = float(np.median(steps))
    big = np.flatnonzero(steps > max(gap, 5 * cadence))
    return [dict(kind="gap", frame_start=int(k), frame_end=int(k + 1), deltas={},
                 significance=np.nan, source="frame times") for k in big]


def _star_change_events(model):
    index = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    changes = np.flatnonzero(np.diff(index) != 0) + 1
    return [dict(kind="guide_star_change", frame_start=int(k), frame_end=int(k), deltas={},
                 significance=np.nan, source="frames table") for k in changes]


def _hga_events(model, mjd):
    moves = hga_moves(model)
    rows = []
    for row in moves:
        start, stop = float(row["start"].mjd), float(row["stop"].mjd)
        rows.append(dict(kind="hga_move", frame_start=int(np.searchsorted(mjd, start)),
                         frame_end=max(int(np.searchsorted(mjd, stop)) - 1, 0), deltas={},
                         significance=np.nan, source="POINTING HGA_motion",
                         start=start, stop=stop))
    return rows


def _events_qtable(rows, mjd):
    """The events as a QTable (time order) with the columns of `EVENT_COLUMNS`."""
    n_frames = mjd.size
    table = QTable()
    rows = sorted(rows, key=lambda row: (row.get("start", mjd[min(row["frame_start"],
                                                                  n_frames - 1)]),
                                         row["kind"]))
    starts = [row.get("start", mjd[min(row["frame_start"], n_frames - 1)]) for row in rows]
    ends = [row.get("stop", mjd[min(row["frame_end"], n_frames - 1)]) for row in rows]
    table["kind"] = np.array([row["kind"] for row in rows], dtype="U24")
    table["start"] = Time(np.array(starts, dtype=float), format="mjd", scale="utc")
    table["end"] = Time(np.array(ends, dtype=float), format="mjd", scale="utc")
    table["start"].format = table["end"].format = "isot"
    table["frame_start"] = np.array([row["frame_start"] for row in rows], dtype=np.int64)
    table["frame_end"] = np.array([row["frame_end"] for row in rows], dtype=np.int64)
    table["duration"] = ((np.array(ends, dtype=float) - np.array(starts, dtype=float))
                         * 86400.0) * u.s
    table["parameters"] = np.array([",".join(sorted(row["deltas"])) for row in rows],
                                   dtype="U64")
    for key, unit in STEP_SERIES.items():
        table[f"delta_{key}"] = np.array([row["deltas"].get(key, (np.nan,) * 3)[0]
                                          for row in rows], dtype=float) * unit
        table[f"delta_{key}_err"] = np.array([row["deltas"].get(key, (np.nan,) * 3)[1]
                                              for row in rows], dtype=float) * unit
    table["significance"] = np.array([row["significance"] for row in rows], dtype=float)
    table["source"] = np.array([row["source"] for row in rows], dtype="U24")
    return table


#: Columns of the events table, in order.
EVENT_COLUMNS = ("kind", "start", "end", "frame_start", "frame_end", "duration", "parameters",
                 *(f"delta_{key}{suffix}" for key in STEP_SERIES for suffix in ("", "_err")),
                 "significance", "source")


def store_events(model, events):
    """Write a `find_events` table into the model's ``events`` table.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place.
    events : astropy.table.QTable
        As `find_events` returns it.

    Returns
    -------
    numpy.ndarray
        The ``events`` array as stored (the schema's dtype).

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` is not a GuideStarModel, or ``events`` lacks a column of
        `EVENT_COLUMNS`.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.events import events_table, find_events, store_events
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + i / 86400, 0, 0, i) for i in range(5)]
    >>> stored = store_events(model, find_events(model))
    >>> len(events_table(model))
    0
    """
    missing = [name for name in EVENT_COLUMNS if name not in getattr(events, "colnames", ())]
    if missing:
        msg = (f"store_events: events must be a find_events table; {type(events).__name__} "
               f"lacks the column(s) {', '.join(missing)}")
        raise ParameterError(msg)
    dtype = check_model(model, where="events").table_dtype("events")
    stored = np.zeros(len(events), dtype=dtype)
    for column in dtype.names:
        if column == "start_mjd":
            stored[column] = events["start"].utc.mjd if len(events) else []
        elif column == "end_mjd":
            stored[column] = events["end"].utc.mjd if len(events) else []
        else:
            values = events[column]
            values = values.value if isinstance(values, u.Quantity) else np.asarray(values)
            stored[column] = np.char.encode(values.astype(str), "ascii") \
                if dtype[column].kind == "S" else values
    with model.trusted_assignment():
        model.events = stored
    return stored


def events_table(model, *, kind=None):
    """The model's stored events as a QTable (`find_events`'s columns, Time and units).

    ``model.table('events')`` is the table as stored: ``start_mjd`` and
    ``end_mjd`` (MJD floats, UTC) instead of ``start`` and ``end``, no
    ``duration`` (the rule for every table: `spelunker.GuideStarModel.table`).

    Parameters
    ----------
    model : GuideStarModel
        A model with an events table (`store_events`).
    kind : str, optional
        Only the events of this kind (one of `EVENT_KINDS`, any case);
        default: all.

    Returns
    -------
    astropy.table.QTable

    Raises
    ------
    spelunker.errors.ParameterError
        ``kind`` is not one of `EVENT_KINDS`.
    spelunker.errors.GuideStarInputError
        When the model has no events table (run GuideStarEventStep).

    Examples
    --------
    >>> from spelunker.events import events_table, find_events, store_events
    >>> from spelunker import GuideStarModel
    >>> model = GuideStarModel()
    >>> model.frames = [(60000.0 + day + i / 86400, 0, 0, i) for day in (0, 1) for i in (0, 1)]
    >>> _ = store_events(model, find_events(model))  # the day between: a gap
    >>> events_table(model)["kind"].tolist(), len(events_table(model, kind="TILT"))
    (['gap'], 0)
    """
    if kind is not None:
        kind = check_choice(kind, "kind", EVENT_KINDS, where="events_table")
    _require_table(model, "events", "events table; run GuideStarEventStep (strun "
                   "spelunker_events)", empty=True)
    stored = model.events
    if kind is not None:
        stored = stored[_text(stored["kind"]) == kind]
    table = QTable()
    table["kind"] = _text(stored["kind"])
    for name, column in (("start", "start_mjd"), ("end", "end_mjd")):
        table[name] = Time(np.asarray(stored[column], dtype=float), format="mjd", scale="utc")
        table[name].format = "isot"
    table["frame_start"] = np.asarray(stored["frame_start"], dtype=np.int64)
    table["frame_end"] = np.asarray(stored["frame_end"], dtype=np.int64)
    table["duration"] = (np.asarray(stored["end_mjd"], dtype=float)
                         - np.asarray(stored["start_mjd"], dtype=float)) * 86400.0 * u.s
    table["parameters"] = _text(stored["parameters"])
    for key, unit in STEP_SERIES.items():
        for suffix in ("", "_err"):
            table[f"delta_{key}{suffix}"] = np.asarray(stored[f"delta_{key}{suffix}"]) * unit
    table["significance"] = np.asarray(stored["significance"], dtype=float)
    table["source"] = _text(stored["source"])
    return table


def _text(values):
    values = np.asarray(values)
    return np.char.decode(values, "ascii") if values.dtype.kind == "S" else values.astype(str)
