"""Write a synthetic science exposure guided by a synthetic guide-star visit.

`make_science_product` writes one NIRSpec bright-object time series
(``_rateints.fits`` / ``_calints.fits``,
`~stdatamodels.jwst.datamodels.CubeModel`) whose integrations lie inside a
`~spelunker.datasets.SyntheticVisit`, with an ``INT_TIMES`` table in UTC
and barycentric TDB (`spelunker.datasets.orbit`) and a white-light curve
that shares a known systematic with the guide star; `plan_science`
computes everything but the file, so the sample cache can check a cached
product without writing it.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from astropy.time import Time
from stdatamodels.jwst.datamodels import CubeModel

from spelunker._validate import (check_choice, check_finite_float, check_output_dir,
                                 check_positive_float, check_positive_int)
from spelunker.atomic import atomic_file
from spelunker.datasets._common import set_identity
from spelunker.datasets.guidestar_files import SyntheticVisit
from spelunker.datasets.orbit import bjd_tdb_mjd, ephemeris
from spelunker.datasets.signals import Transit
from spelunker.datasets.simulator import check_seed
from spelunker.errors import ParameterError
from spelunker.names import parse_visit_id, visit_id

__all__ = [
    "SCIENCE_COUNTRATE",
    "SCIENCE_SHAPE",
    "SyntheticScience",
    "make_science_product",
    "plan_science",
]

log = logging.getLogger(__name__)

#: White-light count rate (DN/s) of the synthetic science target out of transit.
SCIENCE_COUNTRATE = 1.0e6

#: Shape (rows, columns) of one integration of the synthetic science product.
SCIENCE_SHAPE = (8, 16)

_SCIENCE_KINDS = ("rateints", "calints")
_WHERE = "make_science_product"


@dataclass
class SyntheticScience:
    """A science product written by `make_science_product` and its truth.

    Attributes
    ----------
    path : pathlib.Path
        The written ``_rateints.fits`` / ``_calints.fits`` file.
    int_times : astropy.table.QTable
        One row per integration, as the file's ``INT_TIMES``:
        ``integration_number`` (1-based), ``start``, ``mid``, ``end``
        (`~astropy.time.Time`, UTC) and ``start_bjd``, ``mid_bjd``,
        ``end_bjd`` (`~astropy.time.Time`, TDB, barycentric: the times the
        light would reach the solar-system barycentre).  The values are the
        file's numbers.
    flux : astropy.units.Quantity
        True white-light flux of each integration (DN/s) without noise:
        ``SCIENCE_COUNTRATE * transit * (1 + coefficient * (s_k - mean(s)))``.
    observed : astropy.units.Quantity
        The noisy light curve (DN/s): ``flux`` plus the noise, the sum of
        SCI over each integration.
    systematic : str
        The guide-star truth column the light curve shares (e.g. ``'x_mean'``).
    coefficient : float
        Fractional flux change per unit of that column (per pixel for
        ``x_mean``).
    target : astropy.coordinates.SkyCoord
        The science target (ICRS).
    ephemeris : dict
        The header's JWST ephemeris: ``time`` (MJD UTC, = MJD-AVG),
        ``spatial_x_bary``, ``spatial_y_bary``, ``spatial_z_bary`` (km) and
        ``velocity_x_bary``, ``velocity_y_bary``, ``velocity_z_bary``
        (km/s), barycentric, ICRS axes; ``reference_frame`` and ``type``.
    binned_systematic : numpy.ndarray
        ``s_k``: the mean of the truth column ``systematic`` over the
        guide-star frames whose mid-time falls in integration ``k``
        (``int_start <= t < int_end``).
    frames_per_integration : numpy.ndarray
        Number of guide-star frames in each integration.
    transit : Transit
        The science target's transit, on the visit's time axis (seconds
        since the start of the first visit's data).
    noise : float
        Relative 1-sigma noise per integration (of `SCIENCE_COUNTRATE`).
    """

    path: Path
    int_times: QTable
    flux: u.Quantity
    observed: u.Quantity
    systematic: str
    coefficient: float
    target: SkyCoord
    ephemeris: dict
    binned_systematic: np.ndarray = None
    frames_per_integration: np.ndarray = None
    transit: Transit = None
    noise: float = 0.0


def _fail(text):
    raise ParameterError(f"{_WHERE}: {text}")


def _science_target(target):
    if isinstance(target, SkyCoord):
        return target.icrs
    try:
        ra, dec = (float(value) for value in target)
    except (TypeError, ValueError):
        ra = dec = None
    if ra is None:
        _fail(f"target must be a SkyCoord or (ra, dec) in deg, got {target!r}")
    if not (np.isfinite(ra) and -90.0 <= dec <= 90.0):
        _fail(f"target (ra, dec) = ({ra!r}, {dec!r}) is not a sky position")
    return SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")


def _visit_numbers(visit):
    """(program, observation, visit) of the first guide-star visit."""
    names = [Path(f).name for f in visit.files[:1]]
    try:
        program = parse_visit_id(names[0].split("_")[0])[0]
    except (IndexError, ParameterError):
        program = None
    if program is None:
        _fail(f"cannot read the program from the visit's file names ({names}); "
              "expected jwPPPPPOOOVVV_...")
    spec = visit.visits[0]
    return program, int(spec.observation), int(spec.visit)


def _systematic_values(visit, systematic):
    """The numbers of the truth column ``systematic``."""
    if systematic not in visit.truth.colnames or systematic == "time":
        _fail(f"systematic={systematic!r} is not a column of the visit's truth table "
              f"({', '.join(visit.truth.colnames[5:])})")
    column = visit.truth[systematic]
    values = np.asarray(getattr(column, "value", column))
    if values.dtype.kind not in "fiu":
        _fail(f"systematic={systematic!r} is not a numeric truth column")
    return values


def _integration_count(spec, integration_time, n_integrations, start_offset):
    """How many integrations, checked against what fits in the visit ``spec``."""
    n_frames = int(spec.n_frames)
    available = n_frames * spec.frame_time - start_offset
    n_fit = int(math.floor(available / integration_time + 1e-9)) if available > 0 else 0
    if n_integrations is None:
        if n_fit < 1:
            _fail(f"no integration of {integration_time} s fits in the guide-star "
                  f"visit: it holds {n_frames * spec.frame_time:.3f} s of data and the "
                  f"integrations start {start_offset} s after its start")
        return n_fit
    n_integrations = check_positive_int(n_integrations, "n_integrations", where=_WHERE)
    if n_integrations > n_fit:
        _fail(f"{n_integrations} integrations of {integration_time} s starting "
              f"{start_offset} s after the guide-star data start need "
              f"{start_offset + n_integrations * integration_time:.3f} s, but the guide-star "
              f"visit holds {n_frames * spec.frame_time:.3f} s of data (at most {n_fit} fit)")
    return n_integrations


def _science_profile():
    """Fixed white-light footprint on the (8, 16) integration, summing to 1."""
    rows, columns = SCIENCE_SHAPE
    across = np.exp(-0.5 * ((np.arange(rows) - 0.5 * (rows - 1)) / 1.2) ** 2)
    along = 1.0 + 0.5 * np.sin(np.pi * (np.arange(columns) + 0.5) / columns)
    profile = across[:, None] * along[None, :]
    return profile / profile.sum()


def plan_science(visit, *, integration_time, n_integrations, start_offset, target, systematic,
                 coefficient, depth, noise, seed, kind, transit_time=None):
    """Everything of a science product but the file: (SyntheticScience, data, err, meta).

    The options are those of `make_science_product`; ``science.path`` is
    the bare file name.

    Raises
    ------
    spelunker.errors.ParameterError
        As `make_science_product`.
    """
    if not isinstance(visit, SyntheticVisit):
        _fail(f"visit must be a SyntheticVisit, got {type(visit).__name__}")
    kind = check_choice(kind, "kind", _SCIENCE_KINDS, where=_WHERE)
    check_positive_float(integration_time, "integration_time", unit="seconds", where=_WHERE)
    if not check_finite_float(start_offset, "start_offset", where=_WHERE) >= 0:
        _fail(f"start_offset must be a finite number >= 0 (seconds), got {start_offset!r}")
    check_finite_float(coefficient, "coefficient", where=_WHERE)
    if not check_finite_float(noise, "noise", where=_WHERE) >= 0:
        _fail(f"noise must be finite and >= 0, got {noise!r}")
    seed = check_seed(seed, where=_WHERE)
    values = _systematic_values(visit, systematic)
    target = _science_target(target)
    program, observation, visit_number = _visit_numbers(visit)

    # The integrations lie inside the first guide-star visit.
    spec = visit.visits[0]
    n_frames = int(spec.n_frames)
    data_start = Time(spec.start, scale="utc")
    n_integrations = _integration_count(spec, integration_time, n_integrations, start_offset)

    # Integration edges (UTC) as the file will hold them.
    offsets = start_offset + np.arange(n_integrations + 1) * integration_time
    edges = data_start + offsets * u.s
    mids = data_start + (offsets[:-1] + 0.5 * integration_time) * u.s
    edge_mjd = edges.mjd
    mid_mjd = mids.mjd
    start_mjd, end_mjd = edge_mjd[:-1], edge_mjd[1:]

    # Bin the guide-star truth onto the integrations: start <= mid-frame < end.
    frame_mjd = visit.truth["time"][:n_frames].mjd
    index = np.searchsorted(start_mjd, frame_mjd, side="right") - 1
    inside = (index >= 0) & (frame_mjd < end_mjd[np.clip(index, 0, None)])
    counts = np.bincount(index[inside], minlength=n_integrations)
    if np.any(counts == 0):
        first = int(np.flatnonzero(counts == 0)[0])
        _fail(f"integration {first + 1} holds no guide-star frame; use an "
              f"integration_time longer than the frame time ({spec.frame_time} s)")
    sums = np.bincount(index[inside], values[:n_frames][inside].astype(float),
                       minlength=n_integrations)
    binned = sums / counts

    # Light curve: transit (at mid-integration) times the shared systematic, plus noise.
    duration = n_integrations * integration_time
    if transit_time is None:
        transit_time = 0.5 * duration
    elif not 0.0 <= check_finite_float(transit_time, "transit_time", where=_WHERE) <= duration:
        _fail(f"transit_time must be None or seconds from the first integration's "
              f"start within the exposure (0..{duration:g}), got {transit_time!r}")
    transit = Transit(mid_time=float(start_offset + transit_time), duration=0.25 * duration,
                      depth=check_finite_float(depth, "depth", where=_WHERE),
                      ingress=0.025 * duration)
    visit_s = (data_start - Time(visit.visits[0].start, scale="utc")).to_value(u.s)
    mid_s = visit_s + offsets[:-1] + 0.5 * integration_time
    flux = (SCIENCE_COUNTRATE * transit.flux_factor(mid_s)
            * (1.0 + coefficient * (binned - binned.mean())))
    rng = np.random.default_rng(seed)
    sigma = noise * SCIENCE_COUNTRATE
    observed = flux + rng.normal(0.0, sigma, n_integrations) if sigma > 0 else flux.copy()
    profile = _science_profile()
    data = (observed[:, None, None] * profile[None]).astype(np.float32)
    err = np.broadcast_to(sigma * np.sqrt(profile), data.shape).astype(np.float32)

    # Barycentric times, independent of the rest of spelunker.
    direction = target.cartesian.xyz.value
    bjd = {name: bjd_tdb_mjd(times, direction) for name, times in
           (("start", edges[:-1]), ("mid", mids), ("end", edges[1:]))}
    exposure_mid = 0.5 * (edge_mjd[0] + edge_mjd[-1])
    exposure_bjd = bjd_tdb_mjd(Time([edge_mjd[0], exposure_mid, edge_mjd[-1]], format="mjd",
                                    scale="utc"), direction)

    table = QTable()
    table["integration_number"] = np.arange(1, n_integrations + 1)
    table["start"] = Time(start_mjd, format="mjd", scale="utc")
    table["mid"] = Time(mid_mjd, format="mjd", scale="utc")
    table["end"] = Time(end_mjd, format="mjd", scale="utc")
    for name in ("start", "mid", "end"):
        table[f"{name}_bjd"] = Time(bjd[name], format="mjd", scale="tdb")

    name = f"{visit_id(program, observation, visit_number)}_04101_00001-seg001_nrs1_{kind}.fits"
    science = SyntheticScience(
        path=Path(name), int_times=table, flux=u.Quantity(flux, u.DN / u.s),
        observed=u.Quantity(data.sum(axis=(1, 2), dtype=float), u.DN / u.s),
        systematic=systematic, coefficient=float(coefficient), target=target,
        ephemeris=ephemeris(exposure_mid), binned_systematic=binned,
        frames_per_integration=counts, transit=transit, noise=float(noise))
    meta = {"program": program, "observation": observation, "visit": visit_number,
            "integration_time": float(integration_time), "exposure_bjd": exposure_bjd}
    return science, data, err, meta


def _write_science(path, science, data, err, meta):
    """Write the CubeModel to ``path`` (whose name is ``science.path.name``)."""
    table = science.int_times
    n = len(table)
    with CubeModel(validate_on_assignment=False) as model:
        model.data = data
        model.err = err
        model.dq = np.zeros(data.shape, dtype=np.uint32)
        int_times = np.zeros(n, dtype=model.get_dtype("int_times"))
        int_times["integration_number"] = table["integration_number"]
        for name in ("start", "mid", "end"):
            int_times[f"int_{name}_MJD_UTC"] = table[name].mjd
            int_times[f"int_{name}_BJD_TDB"] = table[f"{name}_bjd"].mjd
        model.int_times = int_times

        m = model.meta
        set_identity(m, filename=science.path.name,
                     title="Synthetic science exposure (spelunker.datasets)",
                     program=meta["program"], observation=meta["observation"],
                     visit=meta["visit"], start_mjd=table["start"][0].mjd,
                     end_mjd=table["end"][-1].mjd)
        m.bunit_data = "DN/s"
        m.bunit_err = "DN/s"
        m.observation.visit_group = "04"
        m.observation.sequence_id = "1"
        m.observation.activity_id = "01"
        m.observation.exposure_number = "00001"
        m.instrument.name = "NIRSPEC"
        m.instrument.detector = "NRS1"
        m.instrument.filter = "CLEAR"
        m.instrument.grating = "PRISM"
        m.instrument.fixed_slit = "S1600A1"
        m.target.catalog_name = "SYNTHETIC-TRANSIT"
        m.target.ra = float(science.target.ra.deg)
        m.target.dec = float(science.target.dec.deg)
        exposure = m.exposure
        exposure.type = "NRS_BRIGHTOBJ"
        exposure.nints = n
        exposure.integration_start = 1
        exposure.integration_end = n
        exposure.segment_number = 1
        exposure.segment_total = 1
        exposure.integration_time = meta["integration_time"]
        exposure.duration = n * meta["integration_time"]
        exposure.start_time = float(table["start"][0].mjd)
        exposure.end_time = float(table["end"][-1].mjd)
        exposure.mid_time = float(science.ephemeris["time"])
        exposure.start_time_mjd = exposure.start_time
        exposure.mid_time_mjd = exposure.mid_time
        exposure.end_time_mjd = exposure.end_time
        bjd = meta["exposure_bjd"]
        exposure.start_time_tdb, exposure.mid_time_tdb, exposure.end_time_tdb = (
            float(v) for v in bjd)
        for key, value in science.ephemeris.items():
            setattr(m.ephemeris, key, value)
        model.validate()
        model.save(path)


def make_science_product(
    directory,
    visit,
    *,
    integration_time=2.0,
    n_integrations=None,
    start_offset=10.0,
    target=(286.0, -41.3),
    systematic="x_mean",
    coefficient=0.02,
    depth=0.005,
    noise=2e-4,
    seed=0,
    kind="rateints",
    transit_time=None,
):
    """Write a synthetic science exposure guided by a synthetic guide-star visit.

    One NIRSpec bright-object time-series product, named like MAST's
    ``jw<ppppp><ooo><vvv>_04101_00001-seg001_nrs1_<kind>.fits`` with the
    program, observation and visit of the guide-star visit, as a
    `~stdatamodels.jwst.datamodels.CubeModel`: SCI (nints, 8, 16) float32
    in DN/s whose sum over each integration is the noisy white-light curve,
    ERR, DQ (zeros) and an ``INT_TIMES`` table in UTC and barycentric TDB.

    The integrations are contiguous, ``integration_time`` seconds each,
    the first starting ``start_offset`` seconds after the start of the
    first guide-star visit's data; all of them lie inside that visit.  The
    light curve is ``SCIENCE_COUNTRATE * transit(t) * (1 + coefficient *
    (s_k - mean(s)))`` plus Gaussian noise, where ``s_k`` is the mean of the
    visit's truth column ``systematic`` over the guide-star frames whose
    mid-time falls in integration ``k`` (``start <= t < end``), so binning
    the guide-star truth onto the integrations gives it back exactly.

    Barycentric times use only astropy (`spelunker.datasets.orbit`): JWST
    is placed on an L2-like orbit ``r = r_earth + 1.5e6 km * unit(r_earth -
    r_sun)`` (built-in ephemeris, offline) and ``BJD_TDB = TDB(t) + r . n /
    c`` with ``n`` the unit vector towards the target.  The header
    ephemeris (JWST_X/Y/Z in km, JWST_DX/DY/DZ in km/s by central
    difference of +-60 s) is that orbit at MJD-AVG.

    Parameters
    ----------
    directory : str or os.PathLike
        Output folder (created if missing); the file is written under a
        temporary name and renamed, replacing a file of the same name.
    visit : SyntheticVisit
        The guide-star visit, from `make_guidestar_files` or `sample_visit`.
    integration_time : float, optional
        Seconds per integration (EFFINTTM); at least one guide-star frame
        must fall in each integration.
    n_integrations : int or None, optional
        Number of integrations; None: as many as fit in the visit.
    start_offset : float, optional
        Seconds from the start of the guide-star data to the first
        integration.
    target : (float, float) or astropy.coordinates.SkyCoord, optional
        Science target (ICRS right ascension and declination, degrees).
    systematic : str, optional
        Truth column of the visit that the light curve shares.
    coefficient : float, optional
        Fractional flux change per unit of ``systematic`` (per pixel).
    depth : float, optional
        Transit depth; the trapezoidal transit lasts a quarter of the
        exposure, with ingress and egress of a tenth of its duration each.
    noise : float, optional
        Relative Gaussian noise per integration (of `SCIENCE_COUNTRATE`).
    seed : int, optional
        Seed of the noise (>= 0).
    kind : {'rateints', 'calints'}, optional
        Product type in the file name.
    transit_time : float or None, optional
        Seconds from the start of the first integration to mid-transit;
        None: the middle of the exposure.

    Returns
    -------
    SyntheticScience

    Raises
    ------
    spelunker.errors.ParameterError
        ``visit`` is not a `SyntheticVisit`, integrations that do not fit
        in the visit or hold no guide-star frame, an unknown ``systematic``
        or ``kind``, other bad options, or an unusable ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=600, n_segments=1)])
    >>> science = datasets.make_science_product(tempfile.mkdtemp(), visit,
    ...                                         integration_time=4.0)
    >>> science.path.name
    'jw01534001001_04101_00001-seg001_nrs1_rateints.fits'
    >>> len(science.int_times), science.systematic
    (5, 'x_mean')
    """
    directory = check_output_dir(directory, "directory", where=_WHERE)
    science, data, err, meta = plan_science(
        visit, integration_time=integration_time, n_integrations=n_integrations,
        start_offset=start_offset, target=target, systematic=systematic,
        coefficient=coefficient, depth=depth, noise=noise, seed=seed, kind=kind,
        transit_time=transit_time)
    path = directory / science.path.name
    # Written under its final name in a temporary folder (the model records
    # its file name on save), then renamed into place.
    with atomic_file(path, keep_name=True) as temporary:
        _write_science(temporary, science, data, err, meta)
    science.path = path
    log.info("wrote the synthetic science product %s (%d integrations)", path, len(data))
    return science
