"""Plan the files of synthetic visits before any is written: times, names, stars, seeds.

A `VisitSpec` describes one guide-star interval; `resolve_visits` fills in
what the seed decides (start, guide-star id and coordinates) and puts the
visits in time order; `plan_files` splits them into segment files, each a
`FilePlan` with its frames, its time span and its MAST-like name.  Every
random number of a synthetic visit comes from `random_stream`, keyed by the
seed, the visit, the segment and the use, so any file can be regenerated
alone.

Examples
--------
>>> from spelunker.datasets.plan import VisitSpec, plan_files, resolve_visits
>>> visits = resolve_visits([VisitSpec(n_frames=100, n_segments=2)], seed=0)
>>> for plan in plan_files(visits, program=1534, product="cal", seed=0):
...     print(plan.name, plan.n_frames)
jw01534001001_gs-fg_2022338013538-seg001_cal.fits 50
jw01534001001_gs-fg_2022338013541-seg002_cal.fits 50
"""

import dataclasses
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.time import Time

from spelunker._validate import (check_choice, check_finite_float, check_int_range,
                                 check_positive_float, check_positive_int)
from spelunker.datasets._common import file_stamp
from spelunker.datasets.simulator import check_detector, check_seed
from spelunker.errors import ParameterError
from spelunker.names import guider_product_name, id_number

__all__ = [
    "DEFAULT_START",
    "VISIT_GAP",
    "FilePlan",
    "VisitSpec",
    "check_plan",
    "plan_files",
    "random_stream",
    "resolve_visits",
]

#: Start of the first visit's data when `VisitSpec.start` is None (UTC).
DEFAULT_START = "2022-12-04T01:35:36.000"

#: Gap (seconds) between a visit's end and the next visit's default start.
VISIT_GAP = 600.0

# The use of each random stream: the guide star of a visit, the auxiliary
# numbers (subarray, tables, low pixels, hits), the frames of a file.
_STREAM_SALT = {"gs": 1, "aux": 2, "file": 3}


def random_stream(seed, *keys, use):
    """The random generator of one use (``'gs'``, ``'aux'`` or ``'file'``) of a visit or file.

    Parameters
    ----------
    seed : int
        The seed of the whole call.
    *keys : int
        The visit index, and the segment number for a file's streams.
    use : {'gs', 'aux', 'file'}
        What the numbers are for.

    Raises
    ------
    spelunker.errors.ParameterError
        ``seed`` or a key is not an integer >= 0, or ``use`` is none of the
        three.

    Examples
    --------
    >>> from spelunker.datasets.plan import random_stream
    >>> int(random_stream(1, 0, use="gs").integers(100))
    97
    """
    where = "random_stream"
    seed = check_seed(seed, where=where)
    use = check_choice(use, "use", tuple(_STREAM_SALT), where=where)
    for k, key in enumerate(keys):
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ParameterError(f"{where}: keys[{k}]={key!r} must be an integer >= 0")
    return np.random.default_rng([seed, *(int(key) for key in keys), _STREAM_SALT[use]])


@dataclass(frozen=True)
class VisitSpec:
    """One guide-star interval (a visit's fine-guide data on one star).

    Parameters
    ----------
    observation, visit : int
        Observation and visit numbers (OBSERVTN, VISIT).
    n_frames : int
        Frames in the visit, over all segments.
    n_segments : int
        Number of segment files; frames are split as evenly as possible.
    fgs_mag : float
        FGS magnitude (GS_MAG); sets the count rate.
    detector : {'GUIDER1', 'GUIDER2'}
        Guider.
    gs_id : str or None
        Guide-star id (GDSTARID); None draws a realistic one from the seed,
        different for every visit.
    gs_ra, gs_dec : float or None
        Guide-star coordinates (deg); None draws them from the seed near the
        Large Magellanic Cloud.
    frame_time : float
        Seconds per frame (real products: 0.0538 or 0.0617).
    start : str or None
        Start of the visit's data (ISO UTC).  None: `DEFAULT_START` for the
        first visit, `VISIT_GAP` seconds after the previous visit's end for
        the others.
    x_mean, y_mean, x_stddev, y_stddev, theta : float
        PSF centre, widths (pixels) and angle (radians) before signals.
    gs_order : int
        GS_ORDER (index of the star in the list of candidates).
    gs_v3_pa : float
        GS_V3_PA: position angle of the V3 axis at the guide star (deg, east
        of north), which orients the FGS aperture on the sky.

    Raises
    ------
    spelunker.errors.ParameterError
        A field of the wrong type or out of range (the message names it).

    Examples
    --------
    >>> from spelunker.datasets import VisitSpec
    >>> VisitSpec(n_frames=1000, n_segments=2).segment_sizes()
    [500, 500]
    """

    observation: int = 1
    visit: int = 1
    n_frames: int = 6000
    n_segments: int = 3
    fgs_mag: float = 13.3
    detector: str = "GUIDER1"
    gs_id: str | None = None
    gs_ra: float | None = None
    gs_dec: float | None = None
    frame_time: float = 0.0538
    start: str | None = None
    x_mean: float = 3.5
    y_mean: float = 3.5
    x_stddev: float = 0.70
    y_stddev: float = 0.62
    theta: float = 0.4
    gs_order: int = 1
    gs_v3_pa: float = 0.0

    def __post_init__(self):
        where = "VisitSpec"
        numbers = {
            "observation": id_number(self.observation, "observation", where=where),
            "visit": id_number(self.visit, "visit", where=where),
            "n_frames": check_positive_int(self.n_frames, "n_frames", where=where),
            # -segNNN: at most 999 segments
            "n_segments": check_int_range(self.n_segments, "n_segments", 1, 999, where=where),
        }
        if numbers["n_segments"] > numbers["n_frames"]:
            msg = (f"{where}: n_segments ({self.n_segments}) exceeds n_frames "
                   f"({self.n_frames})")
            raise ParameterError(msg)
        for name, value in numbers.items():
            object.__setattr__(self, name, value)
        check_detector(self.detector, where=where)
        check_positive_float(self.frame_time, "frame_time", unit="seconds", where=where)
        check_positive_float(self.x_stddev, "x_stddev", where=where)
        check_positive_float(self.y_stddev, "y_stddev", where=where)
        for name in ("fgs_mag", "x_mean", "y_mean", "theta", "gs_ra", "gs_dec", "gs_v3_pa"):
            value = getattr(self, name)
            if value is not None or name not in ("gs_ra", "gs_dec"):
                check_finite_float(value, name, where=where)
        if self.gs_id is not None and not isinstance(self.gs_id, str):
            raise ParameterError(f"{where}: gs_id={self.gs_id!r} must be a string or None")
        if self.start is not None and not isinstance(self.start, str):
            raise ParameterError(f"{where}: start={self.start!r} must be an ISO time (UTC) "
                                 "or None")
        check_int_range(self.gs_order, "gs_order", 0, 999, where=where)

    def segment_sizes(self):
        """Frames per segment file (as even as possible, larger ones first)."""
        base, extra = divmod(self.n_frames, self.n_segments)
        return [base + (1 if k < extra else 0) for k in range(self.n_segments)]


@dataclass
class FilePlan:
    """Everything needed to generate one file, decided before any is written."""

    file_index: int
    visit_index: int
    spec: VisitSpec
    segment: int
    first_frame: int  # global frame index of this file's first frame
    n_frames: int
    start_mjd: float
    end_mjd: float
    start_s: float  # DATASTRT in seconds since the first visit's data start
    name: str
    subarray_start: tuple


def _file_name(program, spec, segment, end_mjd, product):
    """The MAST-like name of one segment file of ``spec`` (no ``-segNNN`` for one segment)."""
    return guider_product_name(program, spec.observation, spec.visit, stamp=file_stamp(end_mjd),
                               segment=segment if spec.n_segments > 1 else None, suffix=product)


def _random_gs_id(rng, south):
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    head = "S" if south else "N"
    third = letters[rng.integers(len(letters))]
    fourth = (letters + "0123456789")[rng.integers(36)]
    return f"{head}{rng.integers(10)}{third}{fourth}{rng.integers(1_000_000):06d}"


def _visit_start(spec, index, previous_end, where):
    if spec.start is None:
        return (Time(DEFAULT_START, scale="utc") if previous_end is None
                else previous_end + VISIT_GAP * u.s)
    try:
        return Time(spec.start, scale="utc")
    except ValueError:
        msg = f"{where}: visits[{index}].start {spec.start!r} is not an ISO time"
        raise ParameterError(msg) from None


def _visit_end(spec):
    return Time(spec.start, scale="utc") + spec.n_frames * spec.frame_time * u.s


def resolve_visits(visits, seed, *, where="make_guidestar_files"):
    """Fill in start, gs_id and coordinates; return the visits in time order.

    Parameters
    ----------
    visits : VisitSpec or sequence of VisitSpec
        The visits as given.
    seed : int
        Draws the guide stars that are not given.
    where : str, optional
        Prefix of the messages.

    Returns
    -------
    list of VisitSpec

    Raises
    ------
    spelunker.errors.ParameterError
        No visit, an object that is not a `VisitSpec`, a start that is not
        an ISO time, or visits that overlap.
    """
    if isinstance(visits, VisitSpec):
        visits = [visits]
    if isinstance(visits, (str, bytes)) or not np.iterable(visits):
        raise ParameterError(f"{where}: visits={visits!r} must be a sequence of VisitSpec")
    visits = list(visits)
    if not visits:
        raise ParameterError(f"{where}: `visits` is empty")
    resolved = []
    used_ids = {v.gs_id for v in visits if isinstance(v, VisitSpec) and v.gs_id is not None}
    previous_end = None
    for index, spec in enumerate(visits):
        if not isinstance(spec, VisitSpec):
            msg = f"{where}: visits[{index}] is a {type(spec).__name__}, not a VisitSpec"
            raise ParameterError(msg)
        rng = random_stream(seed, index, use="gs")
        start = _visit_start(spec, index, previous_end, where)
        changes = {"start": start.isot}
        dec = spec.gs_dec if spec.gs_dec is not None else -69.5 + rng.uniform(-0.4, 0.4)
        ra = spec.gs_ra if spec.gs_ra is not None else 80.8 + rng.uniform(-1.0, 1.0)
        changes["gs_dec"] = float(dec)
        changes["gs_ra"] = float(ra)
        if spec.gs_id is None:
            gs_id = _random_gs_id(rng, south=dec < 0)
            while gs_id in used_ids:
                gs_id = _random_gs_id(rng, south=dec < 0)
            used_ids.add(gs_id)
            changes["gs_id"] = gs_id
        resolved.append(dataclasses.replace(spec, **changes))
        previous_end = start + spec.n_frames * spec.frame_time * u.s
    resolved.sort(key=lambda v: Time(v.start, scale="utc").mjd)
    for before, after in zip(resolved[:-1], resolved[1:]):
        end = _visit_end(before)
        if Time(after.start, scale="utc") < end:
            msg = (f"{where}: visit (observation {after.observation}, visit "
                   f"{after.visit}) starts at {after.start}, before the visit (observation "
                   f"{before.observation}, visit {before.visit}) ends at {end.isot}")
            raise ParameterError(msg)
    return resolved


def _resolved(visits, where):
    """``visits`` as a list, if they are VisitSpecs with their start (`resolve_visits`)."""
    if not isinstance(visits, (str, bytes)) and np.iterable(visits):
        visits = list(visits)
        if visits and all(isinstance(v, VisitSpec) and v.start is not None for v in visits):
            return visits
    msg = f"{where}: visits={visits!r:.60} must be VisitSpecs resolved by resolve_visits"
    raise ParameterError(msg)


def check_plan(plan, *, where):
    """Return ``plan`` if it is a `FilePlan` (`plan_files` makes them).

    Examples
    --------
    >>> from spelunker.datasets.plan import check_plan
    >>> check_plan("jw01534001001.fits", where="simulate_file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: simulate_file: plan='jw01534001001.fits' must be a FilePlan ...
    """
    if not isinstance(plan, FilePlan):
        msg = f"{where}: plan={plan!r:.60} must be a FilePlan (plan_files makes them)"
        raise ParameterError(msg)
    return plan


def plan_files(visits, *, program, product, seed, where="plan_files"):
    """The `FilePlan` of every segment file of ``visits`` (resolved), in time order.

    Parameters
    ----------
    visits : sequence of VisitSpec
        The visits as `resolve_visits` returns them (start filled in, in
        time order).
    program : int
        Program number.
    product : {'cal', 'uncal'}
        The files' suffix.
    seed : int
        The seed of the whole call.
    where : str, optional
        Prefix of the messages.

    Returns
    -------
    list of FilePlan

    Raises
    ------
    spelunker.errors.ParameterError
        A visit that `resolve_visits` did not return, a bad program, product
        or seed, or two files that would have the same name.
    """
    visits = _resolved(visits, where)
    program = id_number(program, "program", where=where)
    product = check_choice(product, "product", ("cal", "uncal"), where=where)
    seed = check_seed(seed, where=where)
    plans = []
    first_mjd = Time(visits[0].start, scale="utc").mjd
    global_first = 0
    for visit_index, spec in enumerate(visits):
        visit_mjd = Time(spec.start, scale="utc").mjd
        visit_s = (visit_mjd - first_mjd) * 86400.0
        sizes = spec.segment_sizes()
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        edges = visit_mjd + bounds * spec.frame_time / 86400.0
        rng = random_stream(seed, visit_index, use="aux")
        corner = (int(rng.integers(1, 2041)), int(rng.integers(1, 2041)))
        for k, size in enumerate(sizes):
            plans.append(FilePlan(
                file_index=len(plans), visit_index=visit_index, spec=spec, segment=k + 1,
                first_frame=global_first + int(bounds[k]), n_frames=int(size),
                start_mjd=float(edges[k]), end_mjd=float(edges[k + 1]),
                start_s=visit_s + bounds[k] * spec.frame_time,
                name=_file_name(program, spec, k + 1, float(edges[k + 1]), product),
                subarray_start=corner,
            ))
        global_first += spec.n_frames
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        msg = f"{where}: two files would be named {duplicate}; give the visits distinct numbers"
        raise ParameterError(msg)
    return plans
