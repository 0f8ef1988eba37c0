"""Make synthetic guide-star visits: simulate each planned file, write it, keep the truth.

`make_guidestar_files` checks its options, resolves and plans the visits
(`spelunker.datasets.plan`), then for each file in time order simulates its
frames with the signals injected (`simulate_file`), writes it atomically
(`spelunker.datasets.writers`, `spelunker.atomic`) and keeps its truth;
memory stays bounded by one file.  The result is a `SyntheticVisit`.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable
from astropy.time import Time
from stdatamodels.jwst.datamodels import dqflags

from spelunker._validate import check_choice, check_finite_float, check_int_range, check_output_dir
from spelunker.atomic import atomic_file
from spelunker.datasets.plan import (VisitSpec, check_plan, plan_files, random_stream,
                                      resolve_visits)
from spelunker.datasets.signals import (FLUX_SIGNALS, CentroidWobble, CosmicRays, EdgeStar,
                                        LowPixels, NanFrames, PsfWidthStep, check_signals)
from spelunker.datasets.simulator import check_seed, simulate_frames
from spelunker.datasets.writers import write_guider_file
from spelunker.errors import ParameterError
from spelunker.instrument import FRAME_SHAPE
from spelunker.names import id_number

__all__ = ["SyntheticVisit", "generate", "make_guidestar_files", "simulate_file"]

log = logging.getLogger(__name__)

_WHERE = "make_guidestar_files"


@dataclass
class SyntheticVisit:
    """Files written by `make_guidestar_files` and the truth of every frame.

    Attributes
    ----------
    files : list of pathlib.Path
        The products, in time order.
    truth : astropy.table.QTable
        One row per frame in time order: ``time`` (`~astropy.time.Time`,
        UTC, mid-frame), ``file_index``, ``file_name``, ``gs_id``,
        ``frame_in_file``, the seven PSF parameters ``amplitude`` (DN/s,
        peak above background), ``x_mean``, ``y_mean``, ``x_stddev``,
        ``y_stddev`` (pix), ``theta`` (rad), ``offset`` (DN/s, background
        per pixel), ``flux`` (DN/s, total) and the flags ``nan_frame``,
        ``cosmic_ray``, ``edge_star``.
    visits : tuple of VisitSpec
        The visits as generated (in time order, ``gs_id``, coordinates and
        ``start`` filled in).
    signals : tuple
        The injected signals.
    """

    files: list
    truth: QTable
    visits: tuple = ()
    signals: tuple = field(default_factory=tuple)


def _local(indices, first, n):
    """Indices (sorted tuple, global) that fall in [first, first + n), made local."""
    values = np.asarray(indices, dtype=np.int64)
    lo, hi = np.searchsorted(values, [first, first + n])
    return values[lo:hi] - first


def simulate_file(plan, signals, *, background, jitter, seed):
    """Frames and truth of one planned file with the signals injected.

    Memory scales with this file only.

    Parameters
    ----------
    plan : spelunker.datasets.plan.FilePlan
        The file.
    signals : tuple
        Checked signals (`spelunker.datasets.signals.check_signals`).
    background, jitter : float
        As `simulate_frames`.
    seed : int
        The seed of the whole visit; the file's streams derive from it.

    Returns
    -------
    data, err : numpy.ndarray
        float32 (n, 8, 8), DN/s; NaN in the frames of `NanFrames`.
    truth : dict of numpy.ndarray
        As `simulate_frames`, with ``time_s`` (seconds since the start of
        the first visit's data) and the flags ``nan_frame``,
        ``cosmic_ray``, ``edge_star`` and ``low_pixel``.
    aux : numpy.random.Generator
        The file's auxiliary stream, for its tables.

    Raises
    ------
    spelunker.errors.ParameterError
        ``plan`` is not a `~spelunker.datasets.plan.FilePlan`.
    """
    spec, n = check_plan(plan, where="simulate_file").spec, plan.n_frames
    rng = random_stream(seed, plan.visit_index, plan.segment, use="file")
    aux = random_stream(seed, plan.visit_index, plan.segment, use="aux")
    time_s = plan.start_s + (np.arange(n) + 0.5) * spec.frame_time

    flux_factor = np.ones(n)
    width_factor = np.ones(n)
    x = np.full(n, float(spec.x_mean))
    y = np.full(n, float(spec.y_mean))
    nan = np.zeros(n, bool)
    cosmic = np.zeros(n, bool)
    edge = np.zeros(n, bool)
    hits = []
    low = []
    for signal in signals:
        if isinstance(signal, FLUX_SIGNALS):
            flux_factor *= signal.flux_factor(time_s)
        elif isinstance(signal, CentroidWobble):
            dx, dy = signal.offsets(time_s)
            x += dx
            y += dy
        elif isinstance(signal, PsfWidthStep):
            width_factor *= signal.width_factor(time_s)
            dx, dy = signal.offsets(time_s)
            x += dx
            y += dy
        elif isinstance(signal, LowPixels):
            low.append(signal.frames(time_s, aux))
        elif isinstance(signal, EdgeStar):
            local = _local(signal.indices, plan.first_frame, n)
            if signal.x_mean is not None:
                x[local] = signal.x_mean
            if signal.y_mean is not None:
                y[local] = signal.y_mean
            edge[local] = True
        elif isinstance(signal, NanFrames):
            nan[_local(signal.indices, plan.first_frame, n)] = True
        elif isinstance(signal, CosmicRays):
            local = _local(signal.indices, plan.first_frame, n)
            cosmic[local] = True
            hits.append((local, signal.amplitude))

    data, err, truth = simulate_frames(
        n,
        fgs_mag=spec.fgs_mag - 2.5 * np.log10(flux_factor),
        x_mean=x, y_mean=y,
        x_stddev=spec.x_stddev * width_factor, y_stddev=spec.y_stddev * width_factor,
        theta=spec.theta, background=background, jitter=jitter,
        integration_time=spec.frame_time, detector=spec.detector, seed=rng,
    )
    rows, cols = data.shape[1:]
    for local, amplitude in hits:
        pixel = aux.integers(0, rows * cols, size=local.size)
        data[local, pixel // cols, pixel % cols] += np.float32(amplitude)
    low_frame = np.zeros(n, bool)
    for frames, values in low:
        pixel = aux.integers(0, rows * cols, size=frames.size)
        data[frames, pixel // cols, pixel % cols] = values.astype(np.float32)
        low_frame[frames] = True
    data[nan] = np.nan
    err[nan] = np.nan
    truth.update(nan_frame=nan, cosmic_ray=cosmic, edge_star=edge, low_pixel=low_frame,
                 time_s=time_s)
    return data, err, truth, aux


def make_guidestar_files(
    directory,
    *,
    visits=(VisitSpec(),),  # noqa: B008 (a frozen dataclass: one shared default is safe)
    program=1534,
    signals=(),
    seed=0,
    product="cal",
    centroid_rows="packet",
    background=20.0,
    jitter=0.015,
    bad_pixels=(),
):
    """Write seeded synthetic fine-guide products and return them with their truth.

    One file per segment, named like MAST's
    ``jw<ppppp><ooo><vvv>_gs-fg_<yyyydddhhmmss>[-segNNN]_<cal|uncal>.fits``
    (the time stamp is the end of the file's data; ``-segNNN`` only when the
    visit has several segments).  Files are generated and written one at a
    time, each from its own random stream derived from ``seed``, so memory
    stays bounded by one file and any file can be regenerated alone.  Each
    file is written under a temporary name and renamed
    (`spelunker.atomic.atomic_file`), so no partial file ever carries a
    product name.

    Parameters
    ----------
    directory : str or os.PathLike
        Output folder (created if missing).  Existing files of the same
        names are replaced.  A file, or a folder that cannot be created or
        written, raises `~spelunker.errors.ParameterError` before anything
        is simulated.
    visits : sequence of VisitSpec
        The guide-star intervals; several visits may use different stars,
        magnitudes and guiders (one program).
    program : int
        Program number (PROGRAM, file names).
    signals : sequence
        Signals to inject (`Transit`, `FluxModulation`, `Flare`,
        `PhysicalTransit`, `BoxOccultation`, `EclipsingBinary`, `Pulsation`,
        `RedNoise`, `CentroidWobble`, `PsfWidthStep`, `LowPixels`,
        `NanFrames`, `CosmicRays`, `EdgeStar`, `HgaMove`).  Times are
        seconds since the start of the first visit's data, indices are
        global frame numbers in time order.
    seed : int
        Random seed (>= 0); the same seed gives the same data.
    product : {'cal', 'uncal'}
        ``'cal'``: `~stdatamodels.jwst.datamodels.GuiderCalModel` with float32
        SCI / ERR (nints, 8, 8) in DN/s and uint32 DQ (8, 8).  ``'uncal'``:
        `~stdatamodels.jwst.datamodels.GuiderRawModel` with uint16 SCI
        (nints, 8 groups, 8, 8) ramps in DN; a realistic wrong input for
        readers of calibrated data.
    centroid_rows : {'packet', 'per_frame'}
        ``'packet'``: the FGS CENTROID PACKET table has its own 64 ms cadence
        over a slightly longer interval (its row count never equals NINTS);
        ``'per_frame'``: one row per frame, ``centroid_time`` = the frame's
        true mid-time rounded to the millisecond.
    background : float
        Background per pixel (DN/s).
    jitter : float
        RMS pointing jitter per axis (pixels, >= 0).
    bad_pixels : sequence of (row, column)
        Pixels (0..7) flagged ``DO_NOT_USE | HOT`` in every file's DQ (the
        SCI values are left as simulated).

    Returns
    -------
    SyntheticVisit
        ``files`` in time order and the per-frame ``truth`` table.

    Raises
    ------
    spelunker.errors.ParameterError
        Overlapping visits, indices beyond the last frame, an object in
        ``signals`` or ``visits`` of the wrong type, other bad options, or
        an unusable ``directory``; nothing is written then.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=300, n_segments=2)],
    ...     signals=[datasets.NanFrames(indices=[5])], seed=1)
    >>> for path in visit.files:
    ...     print(path.name)
    jw01534001001_gs-fg_2022338013544-seg001_cal.fits
    jw01534001001_gs-fg_2022338013552-seg002_cal.fits
    >>> len(visit.truth), bool(visit.truth["nan_frame"][5])
    (300, True)
    """
    return generate(directory, visits=visits, program=program, signals=signals, seed=seed,
                    product=product, centroid_rows=centroid_rows, background=background,
                    jitter=jitter, bad_pixels=bad_pixels, write=True)


def _bad_pixel_mask(bad_pixels):
    """The DQ (8, 8) of every file: ``DO_NOT_USE | HOT`` on ``bad_pixels``."""
    dq = np.zeros(FRAME_SHAPE, dtype=np.uint32)
    if isinstance(bad_pixels, (str, bytes)) or not np.iterable(bad_pixels):
        raise ParameterError(f"{_WHERE}: bad_pixels={bad_pixels!r} must be a sequence of "
                             "(row, column)")
    for k, pixel in enumerate(bad_pixels):
        try:
            row, column = pixel
        except (TypeError, ValueError):
            msg = f"{_WHERE}: bad_pixels[{k}]={pixel!r} must be (row, column)"
            raise ParameterError(msg) from None
        row = check_int_range(row, f"bad_pixels[{k}] row", 0, FRAME_SHAPE[0] - 1, where=_WHERE)
        column = check_int_range(column, f"bad_pixels[{k}] column", 0, FRAME_SHAPE[1] - 1,
                                 where=_WHERE)
        dq[row, column] |= dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["HOT"]
    return dq


def generate(directory, *, visits, program, signals, seed, product, centroid_rows, background,
             jitter, bad_pixels, write):
    """`make_guidestar_files`, writing the files only if ``write`` (else only the truth).

    With ``write=False`` nothing is created: the returned files are the
    paths the products would have in ``directory``, and the truth is the
    same as when they are written.
    """
    product = check_choice(product, "product", ("cal", "uncal"), where=_WHERE)
    centroid_rows = check_choice(centroid_rows, "centroid_rows", ("packet", "per_frame"),
                                 where=_WHERE)
    program = id_number(program, "program", where=_WHERE)
    seed = check_seed(seed, where=_WHERE)
    check_finite_float(background, "background", where=_WHERE)
    if check_finite_float(jitter, "jitter", where=_WHERE) < 0:
        raise ParameterError(f"{_WHERE}: jitter={jitter!r} must be >= 0 (pixels)")
    visits = resolve_visits(visits, seed)
    n_total = sum(v.n_frames for v in visits)
    signals = check_signals(signals, n_total)
    plans = plan_files(visits, program=program, product=product, seed=seed, where=_WHERE)
    dq = _bad_pixel_mask(bad_pixels)

    if write:
        # A file, or a folder that cannot be created or written, is refused
        # before anything is simulated.
        directory = check_output_dir(directory, "directory", where=_WHERE)
    else:
        directory = Path(directory)
    columns = {name: [] for name in ("time_s", "amplitude", "x_mean", "y_mean", "x_stddev",
                                     "y_stddev", "theta", "offset", "flux", "nan_frame",
                                     "cosmic_ray", "edge_star")}
    files = []
    for plan in plans:
        data, err, truth, aux = simulate_file(plan, signals, background=background,
                                              jitter=jitter, seed=seed)
        for name, values in columns.items():
            values.append(truth[name])
        path = directory / plan.name
        if write:
            # Written under its final name in a temporary folder (the model
            # records its file name on save), then renamed into place.
            with atomic_file(path, keep_name=True) as temporary:
                write_guider_file(temporary, plan, data, err, dq, truth, signals,
                                  program=program, product=product,
                                  centroid_rows=centroid_rows, aux=aux)
            log.debug("wrote %s (%d frames)", path, plan.n_frames)
        files.append(path)
        del data, err
    if write:
        log.info("wrote %d synthetic %s file(s), %d frames, to %s", len(files), product, n_total,
                 directory)
    truth = _truth_table(plans, columns)
    return SyntheticVisit(files=files, truth=truth, visits=tuple(visits), signals=signals)


def _truth_table(plans, columns):
    n_per_file = np.array([p.n_frames for p in plans])
    start = np.repeat([p.start_mjd for p in plans], n_per_file)
    step = np.repeat([(p.end_mjd - p.start_mjd) / p.n_frames for p in plans], n_per_file)
    frame_in_file = np.concatenate([np.arange(n) for n in n_per_file])
    file_index = np.repeat(np.arange(len(plans)), n_per_file)
    table = QTable()
    table["time"] = Time(start, (frame_in_file + 0.5) * step, format="mjd", scale="utc")
    table["file_index"] = file_index
    table["file_name"] = np.array([p.name for p in plans])[file_index]
    table["gs_id"] = np.array([p.spec.gs_id for p in plans])[file_index]
    table["frame_in_file"] = frame_in_file
    units = {"amplitude": u.DN / u.s, "x_mean": u.pix, "y_mean": u.pix, "x_stddev": u.pix,
             "y_stddev": u.pix, "theta": u.rad, "offset": u.DN / u.s, "flux": u.DN / u.s}
    # Pop each list of per-file pieces as it is joined, to keep the peak low.
    for name, unit in units.items():
        table[name] = u.Quantity(np.concatenate(columns.pop(name)), unit, copy=False)
    for name in ("nan_frame", "cosmic_ray", "edge_star"):
        table[name] = np.concatenate(columns.pop(name))
    return table
