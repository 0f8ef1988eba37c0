"""Events in guide-star data: guide-star changes, file boundaries, high-gain-antenna moves.

Plain functions on a `~spelunker.GuideStarModel` (or on telemetry tables)
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

from spelunker.times import as_utc_time

__all__ = [
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
    ValueError
        The table has no ``time`` or ``value`` column.

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
    for column in ("time", "value"):
        if column not in table.colnames:
            msg = f"the telemetry table has no {column!r} column (columns: {table.colnames})"
            raise ValueError(msg)
    values = np.char.upper(np.char.strip(np.asarray(table["value"]).astype(str)))
    return _state_intervals(as_utc_time(table["time"]), values == "MOVING")


def guidestar_changes(model):
    """Frames where the guide star changes.

    Parameters
    ----------
    model : GuideStarModel
        A read model.

    Returns
    -------
    astropy.table.QTable
        ``time`` (mid-time of the first frame of the new star), ``frame``,
        ``guidestar_index``, ``gs_id``, ``previous_gs_id``.

    Raises
    ------
    ValueError
        The model has no frames table.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.events import guidestar_changes
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=600, n_segments=1)], seed=3)
    >>> len(guidestar_changes(read_guidestar(visit.files)))
    0
    """
    if not model.hasattr("frames") or len(model.frames) == 0:
        msg = "the model has no frames table: no guide-star changes to find"
        raise ValueError(msg)
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
    """The start and end of every file of a model.

    Parameters
    ----------
    model : GuideStarModel
        A read model.

    Returns
    -------
    astropy.table.QTable
        ``time`` (DATASTRT), ``stop`` (DATAEND), ``file_index``,
        ``file_name``, ``n_frames``, ``first_frame``, in time order.

    Raises
    ------
    ValueError
        The model has no files table.

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
    if not model.hasattr("files") or len(model.files) == 0:
        msg = "the model has no files table: no file boundaries to find"
        raise ValueError(msg)
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
        A read model.

    Returns
    -------
    astropy.table.QTable
        ``start``, ``stop``, ``duration``, ``complete`` as `hga_intervals`.

    Raises
    ------
    ValueError
        The model has no POINTING table.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.events import hga_moves
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)],
    ...     signals=[datasets.HgaMove(start=20.0, stop=30.0)], seed=3)
    >>> moves = hga_moves(read_guidestar(visit.files))
    >>> print(f"{moves['duration'][0]:.0f}")
    11 s
    """
    if not model.hasattr("pointing_table") or len(model.pointing_table) == 0:
        msg = "the model has no POINTING table (HGA_motion): no HGA moves to find"
        raise ValueError(msg)
    pointing = model.pointing_table
    motion = np.asarray(pointing["HGA_motion"])
    if motion.dtype.kind == "S":
        motion = np.char.decode(motion, "ascii")
    moving = np.char.strip(motion.astype(str)) == _POINTING_MOVING
    times = Time(np.asarray(pointing["time"], dtype=float), format="mjd", scale="utc")
    return _state_intervals(times, moving)


def check_kind(kind):
    """``kind`` in upper case if it is one of `LOCAL_KINDS`, else ValueError.

    Examples
    --------
    >>> from spelunker.events import check_kind
    >>> check_kind(" guidestar")
    'GUIDESTAR'
    """
    if not isinstance(kind, str) or kind.strip().upper() not in LOCAL_KINDS:
        msg = f"kind={kind!r} is not one of {list(LOCAL_KINDS)}"
        raise ValueError(msg)
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
    ValueError
        For an unknown kind or a model without the table the kind needs.

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
