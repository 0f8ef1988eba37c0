"""Seeded synthetic guide-star data with known truth.

Tests, docs, benchmarks and the demo all use these generators, so every
number spelunker reports can be checked against the truth that made it.

`simulate_frames` makes noisy 8x8 fine-guide frames in memory;
`make_guidestar_files` writes whole visits as MAST-like calibrated
(``_cal.fits``, `~stdatamodels.jwst.datamodels.GuiderCalModel`) or
uncalibrated (``_uncal.fits``, `~stdatamodels.jwst.datamodels.GuiderRawModel`)
products, one file per segment, and returns a `SyntheticVisit` whose
``truth`` table holds the true parameters of every frame.  Signals
(`Transit`, `FluxModulation`, `CentroidWobble`, `PsfWidthStep`, `NanFrames`,
`CosmicRays`, `EdgeStar`, `HgaMove`) are injected on one time axis: seconds
since the start of the first visit's data.  `sample_visit` is the fixed,
cached demo visit.

`make_science_product` writes a synthetic science exposure (a NIRSpec
``_rateints.fits`` / ``_calints.fits`` `~stdatamodels.jwst.datamodels.CubeModel`)
whose integrations cover a synthetic guide-star visit, with an ``INT_TIMES``
table in UTC and in barycentric TDB and a white-light curve that shares a
known systematic with the guide star; `sample_science` is the one matching
`sample_visit`.

Timing follows the archive: in a file of ``n`` frames, frame ``i`` is centred
at ``DATASTRT + (i + 0.5) * (DATAEND - DATASTRT) / n`` (MJD, UTC) and
``DATAEND - DATASTRT = n * frame_time``; segments of one visit are contiguous.
"""

import dataclasses
import datetime
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import stdatamodels
from astropy import constants
from astropy.coordinates import SkyCoord, get_body_barycentric
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time
from stdatamodels.jwst.datamodels import CubeModel, GuiderCalModel, GuiderRawModel, dqflags

from spelunker._validate import check_output_dir
from spelunker.fitting.model import gaussian2d

__all__ = [
    "countrate_from_magnitude",
    "simulate_frames",
    "Transit",
    "FluxModulation",
    "CentroidWobble",
    "PsfWidthStep",
    "LowPixels",
    "NanFrames",
    "CosmicRays",
    "EdgeStar",
    "HgaMove",
    "VisitSpec",
    "SyntheticVisit",
    "make_guidestar_files",
    "sample_visit",
    "SyntheticScience",
    "make_science_product",
    "sample_science",
    "PIXEL_SCALE",
]

log = logging.getLogger(__name__)

#: Guider 1 count rate (DN/s) of an FGS magnitude 12 star.
COUNTRATE_MAG12 = 5.9e6

#: Gain (electrons per DN) of each guider.
GAIN = {"GUIDER1": 1.74, "GUIDER2": 1.57}

#: Read noise of one frame's count-rate estimate, DN per pixel.
READ_NOISE_DN = 12.0

#: FGS pixel scale (arcsec per pixel).
PIXEL_SCALE = 0.069

#: Start of the first visit's data when `VisitSpec.start` is None (UTC).
DEFAULT_START = "2022-12-04T01:35:36.000"

#: Gap (seconds) between a visit's end and the next visit's default start.
VISIT_GAP = 600.0

#: Groups per integration of fine-guide data (NGROUPS of the real products).
FINEGUIDE_NGROUPS = 8

#: Cadence (seconds) of the synthetic POINTING table.
POINTING_CADENCE = 1.0

#: Cadence (seconds) of the on-board centroid packets for ``centroid_rows='packet'``.
PACKET_CADENCE = 0.064

#: The packet table runs this many seconds beyond each end of a file's data.
PACKET_MARGIN = 0.5

#: Illustrative delay (seconds) of a packet's observatory time after its centroid time.
PACKET_LATENCY = 0.032

#: Bias level (DN) of synthetic uncalibrated ramps.
RAW_BIAS_DN = 12000.0

_SIGNAL_SALT = {"gs": 1, "aux": 2, "file": 3}
_SAMPLE_VERSION = 2


# --------------------------------------------------------------------------
# Frames


def countrate_from_magnitude(fgs_mag):
    """Total count rate (DN/s) of a star of the given FGS magnitude.

    Parameters
    ----------
    fgs_mag : float or array_like
        FGS magnitude (the header's GS_MAG).

    Returns
    -------
    float or numpy.ndarray
        Count rate in DN/s (guider 1 calibration: 5.9e6 DN/s at mag 12).

    Examples
    --------
    >>> from spelunker.datasets import countrate_from_magnitude
    >>> round(float(countrate_from_magnitude(13.3)) / 1e6, 2)
    1.78
    """
    return COUNTRATE_MAG12 * 10.0 ** (-0.4 * (np.asarray(fgs_mag, dtype=float) - 12.0))


def simulate_frames(
    n_frames,
    *,
    fgs_mag=13.3,
    x_mean=3.5,
    y_mean=3.5,
    x_stddev=0.70,
    y_stddev=0.62,
    theta=0.4,
    background=20.0,
    jitter=0.015,
    integration_time=0.0538,
    detector="GUIDER1",
    shape=(8, 8),
    seed=0,
):
    """Simulate fine-guide frames (DN/s) of one star with Poisson and read noise.

    Every shape parameter may be a scalar or an array of length ``n_frames``
    (to inject signals).  The centre of each frame is the given centre plus
    Gaussian pointing jitter.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    fgs_mag : float or array_like
        FGS magnitude; the total count rate is `countrate_from_magnitude`.
    x_mean, y_mean : float or array_like
        Star centre (pixels, column and row) before jitter.
    x_stddev, y_stddev, theta : float or array_like
        PSF shape (pixels, radians) in the convention of
        `spelunker.fitting.model`.
    background : float or array_like
        Background per pixel (DN/s).
    jitter : float
        RMS pointing jitter per axis (pixels).
    integration_time : float
        Effective integration time of one frame (seconds); sets the noise.
    detector : {'GUIDER1', 'GUIDER2'}
        Sets the gain.
    shape : tuple of int
        Frame shape (rows, columns).
    seed : int or numpy.random.Generator
        Random seed.

    Returns
    -------
    data : numpy.ndarray
        float32 (n_frames, rows, columns), DN/s.
    err : numpy.ndarray
        float32, the 1-sigma noise of each pixel (DN/s) from the noiseless
        model, as a calibrated product's ERR.
    truth : dict of numpy.ndarray
        The seven true parameters per frame (``amplitude`` in DN/s per
        pixel at the peak, ``offset`` = background) and ``flux``, the true
        total count rate (DN/s).

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> data, err, truth = simulate_frames(10, seed=1)
    >>> data.shape, data.dtype.name
    ((10, 8, 8), 'float32')
    """
    rng = np.random.default_rng(seed)
    n = int(n_frames)
    gain = GAIN[detector]

    def per_frame(value):
        return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()

    flux = per_frame(countrate_from_magnitude(fgs_mag))
    sx = per_frame(x_stddev)
    sy = per_frame(y_stddev)
    th = per_frame(theta)
    bkg = per_frame(background)
    xc = per_frame(x_mean) + rng.normal(0.0, jitter, n)
    yc = per_frame(y_mean) + rng.normal(0.0, jitter, n)
    amplitude = flux / (2.0 * np.pi * sx * sy)

    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    model = gaussian2d(
        cols[None], rows[None],
        amplitude[:, None, None], xc[:, None, None], yc[:, None, None],
        sx[:, None, None], sy[:, None, None], th[:, None, None], bkg[:, None, None],
    )
    # Poisson noise on electrons collected in one integration, back to DN/s.
    # In place, to keep a large file's temporaries few (this runs per file).
    electrons = np.clip(model, 0.0, None, out=model)
    electrons *= gain
    electrons *= integration_time
    read_noise_rate = READ_NOISE_DN / integration_time
    err = electrons / (gain * integration_time) ** 2
    err += read_noise_rate**2
    np.sqrt(err, out=err)
    counts = rng.poisson(electrons)
    del model, electrons
    data = rng.normal(0.0, read_noise_rate, counts.shape)
    data += counts / (gain * integration_time)
    del counts
    truth = {
        "amplitude": amplitude,
        "x_mean": xc,
        "y_mean": yc,
        "x_stddev": sx,
        "y_stddev": sy,
        "theta": th,
        "offset": bkg,
        "flux": flux,
    }
    return data.astype(np.float32), err.astype(np.float32), truth


# --------------------------------------------------------------------------
# Signals


def _as_indices(indices, name):
    values = np.atleast_1d(np.asarray(indices))
    if values.size and (values.dtype.kind not in "iu" or np.any(values < 0)):
        msg = (f"{name}: indices must be non-negative integers (global frame numbers), "
               f"got {indices!r}")
        raise ValueError(msg)
    return tuple(sorted({int(v) for v in values.ravel()}))


def _check_positive(value, name):
    if not (np.isfinite(value) and value > 0):
        msg = f"{name} must be a positive finite number, got {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True)
class Transit:
    """A transit-like dip in the guide star's flux.

    Parameters
    ----------
    mid_time : float
        Centre of the dip (seconds since the start of the first visit's data).
    duration : float
        Total duration, first to last contact (seconds).
    depth : float
        Fractional flux loss at the bottom, ``0 <= depth < 1``.
    ingress : float, optional
        Duration of ingress and of egress (seconds); 0 (default) gives a box,
        a positive value a trapezoid.  At most ``duration / 2``.

    Examples
    --------
    >>> from spelunker.datasets import Transit
    >>> Transit(mid_time=100.0, duration=40.0, depth=0.01).flux_factor([0.0, 100.0])
    array([1.  , 0.99])
    """

    mid_time: float
    duration: float
    depth: float
    ingress: float = 0.0

    def __post_init__(self):
        _check_positive(self.duration, "Transit.duration")
        if not 0.0 <= self.depth < 1.0:
            msg = f"Transit.depth must be in [0, 1), got {self.depth!r}"
            raise ValueError(msg)
        if not 0.0 <= self.ingress <= 0.5 * self.duration:
            msg = f"Transit.ingress must be in [0, duration / 2], got {self.ingress!r}"
            raise ValueError(msg)

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        distance = np.abs(np.asarray(time, dtype=float) - self.mid_time)
        half = 0.5 * self.duration
        if self.ingress > 0:
            fraction = np.clip((half - distance) / self.ingress, 0.0, 1.0)
        else:
            fraction = (distance <= half).astype(float)
        return 1.0 - self.depth * fraction


@dataclass(frozen=True)
class FluxModulation:
    """A sinusoidal modulation of the flux: ``1 + amplitude * sin(2 pi t / period + phase)``.

    Parameters
    ----------
    period : float
        Period (seconds).
    amplitude : float
        Fractional semi-amplitude, ``0 <= amplitude < 1``.
    phase : float, optional
        Phase (radians) at time 0.

    Examples
    --------
    >>> from spelunker.datasets import FluxModulation
    >>> float(FluxModulation(period=40.0, amplitude=0.01).flux_factor(10.0))
    1.01
    """

    period: float
    amplitude: float
    phase: float = 0.0

    def __post_init__(self):
        _check_positive(self.period, "FluxModulation.period")
        if not 0.0 <= self.amplitude < 1.0:
            msg = f"FluxModulation.amplitude must be in [0, 1), got {self.amplitude!r}"
            raise ValueError(msg)

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        time = np.asarray(time, dtype=float)
        return 1.0 + self.amplitude * np.sin(2.0 * np.pi * time / self.period + self.phase)


@dataclass(frozen=True)
class CentroidWobble:
    """A sinusoidal motion of the star: ``amplitude * sin(2 pi t / period + phase)`` pixels.

    Parameters
    ----------
    period : float
        Period (seconds).
    amplitude : float
        Semi-amplitude (pixels).
    axis : {'x', 'y', 'both'}
        Axis that moves (x = column, y = row); ``'both'`` moves both axes
        by the same amount (a diagonal oscillation).
    phase : float, optional
        Phase (radians) at time 0.

    Examples
    --------
    >>> from spelunker.datasets import CentroidWobble
    >>> dx, dy = CentroidWobble(period=4.0, amplitude=0.1, axis="x").offsets(1.0)
    >>> float(dx), float(dy)
    (0.1, 0.0)
    """

    period: float
    amplitude: float
    axis: str = "x"
    phase: float = 0.0

    def __post_init__(self):
        _check_positive(self.period, "CentroidWobble.period")
        if self.axis not in ("x", "y", "both"):
            msg = f"CentroidWobble.axis must be 'x', 'y' or 'both', got {self.axis!r}"
            raise ValueError(msg)

    def offsets(self, time):
        """Column and row offsets (pixels) at ``time`` (seconds)."""
        time = np.asarray(time, dtype=float)
        shift = self.amplitude * np.sin(2.0 * np.pi * time / self.period + self.phase)
        zero = np.zeros_like(shift)
        return (shift if self.axis in ("x", "both") else zero,
                shift if self.axis in ("y", "both") else zero)


@dataclass(frozen=True)
class PsfWidthStep:
    """A step in the PSF width, like a mirror tilt event.

    From ``time`` on (seconds), ``x_stddev`` and ``y_stddev`` are multiplied
    by ``factor``; the total flux is unchanged, so the amplitude drops by
    ``factor**2``.  A segment tilt also moves the centroid: ``dx`` and
    ``dy`` (pixels, default 0) are added to it from ``time`` on.

    Examples
    --------
    >>> from spelunker.datasets import PsfWidthStep
    >>> PsfWidthStep(time=10.0, factor=1.05).width_factor([5.0, 15.0])
    array([1.  , 1.05])
    """

    time: float
    factor: float
    dx: float = 0.0
    dy: float = 0.0

    def __post_init__(self):
        _check_positive(self.factor, "PsfWidthStep.factor")

    def width_factor(self, time):
        """Multiplicative width factor at ``time`` (seconds)."""
        return np.where(np.asarray(time, dtype=float) >= self.time, self.factor, 1.0)

    def offsets(self, time):
        """Column and row offsets (pixels) of the centroid at ``time`` (seconds)."""
        after = np.asarray(time, dtype=float) >= self.time
        return np.where(after, self.dx, 0.0), np.where(after, self.dy, 0.0)


@dataclass(frozen=True)
class LowPixels:
    """Pixels at zero or below, as in real fine-guide frames.

    About 11% of the frames of a real PID 1534 visit hold a pixel <= 0
    (exact zeros and negatives down to about -13 DN/s).  In a fraction
    ``fraction`` of the frames one random pixel is set to 0 (``zero_share``
    of them) or to a value drawn uniformly from ``[lowest, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.datasets import LowPixels
    >>> frames, values = LowPixels(fraction=0.5).frames(np.arange(1000.0),
    ...                                                  np.random.default_rng(1))
    >>> 400 < frames.size < 600, bool(np.all(values <= 0))
    (True, True)
    """

    fraction: float = 0.11
    zero_share: float = 0.5
    lowest: float = -13.0

    def __post_init__(self):
        if not 0 <= self.fraction <= 1 or not 0 <= self.zero_share <= 1:
            msg = "LowPixels.fraction and zero_share must lie in [0, 1]"
            raise ValueError(msg)
        if not self.lowest < 0:
            msg = f"LowPixels.lowest={self.lowest!r} must be negative"
            raise ValueError(msg)

    def frames(self, time, rng):
        """Indices of the frames (of ``time``) that get a low pixel, and its values."""
        n = np.size(time)
        frames = np.flatnonzero(rng.random(n) < self.fraction)
        values = np.where(rng.random(frames.size) < self.zero_share, 0.0,
                          rng.uniform(self.lowest, 0.0, frames.size))
        return frames, values


@dataclass(frozen=True)
class NanFrames:
    """Frames (global indices, time order over all files) whose SCI and ERR are all NaN.

    Examples
    --------
    >>> from spelunker.datasets import NanFrames
    >>> NanFrames(indices=[7, 3]).indices
    (3, 7)
    """

    indices: tuple

    def __post_init__(self):
        object.__setattr__(self, "indices", _as_indices(self.indices, "NanFrames"))


@dataclass(frozen=True)
class CosmicRays:
    """One hot pixel added to each listed frame (global indices).

    The pixel of each hit is drawn from the seed; ``amplitude`` is added to
    it (DN/s).  ERR is left as the pipeline would leave it (unaware).

    Examples
    --------
    >>> from spelunker.datasets import CosmicRays
    >>> CosmicRays(indices=[5], amplitude=2e5).amplitude
    200000.0
    """

    indices: tuple
    amplitude: float = 1.0e5

    def __post_init__(self):
        object.__setattr__(self, "indices", _as_indices(self.indices, "CosmicRays"))
        _check_positive(self.amplitude, "CosmicRays.amplitude")
        object.__setattr__(self, "amplitude", float(self.amplitude))


@dataclass(frozen=True)
class EdgeStar:
    """The star centred at or beyond the frame edge in the listed frames (global indices).

    ``x_mean`` / ``y_mean`` (pixels; pixel centres at 0..7, edges at -0.5
    and 7.5) replace the visit's centre in those frames; None keeps it.
    Pointing jitter is still added.

    Examples
    --------
    >>> from spelunker.datasets import EdgeStar
    >>> EdgeStar(indices=range(10, 13)).x_mean
    7.8
    """

    indices: tuple
    x_mean: float | None = 7.8
    y_mean: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "indices", _as_indices(self.indices, "EdgeStar"))


@dataclass(frozen=True)
class HgaMove:
    """A high-gain-antenna move from ``start`` to ``stop`` (seconds).

    The POINTING table's ``HGA_motion`` is ``'0'`` (moving) in rows whose
    time falls in ``[start, stop]`` and ``'1'`` (finished) otherwise; files
    that overlap the move get ``HGA_MOVE = T`` with HGA_STRT / HGA_STOP.
    The frames themselves are not changed.

    Examples
    --------
    >>> from spelunker.datasets import HgaMove
    >>> HgaMove(start=60.0, stop=90.0).moving([50.0, 70.0])
    array([False,  True])
    """

    start: float
    stop: float

    def __post_init__(self):
        if not self.stop >= self.start:
            msg = f"HgaMove.stop ({self.stop!r}) must not be before start ({self.start!r})"
            raise ValueError(msg)

    def moving(self, time):
        """True where the antenna moves at ``time`` (seconds)."""
        time = np.asarray(time, dtype=float)
        return (time >= self.start) & (time <= self.stop)


_SIGNAL_TYPES = (Transit, FluxModulation, CentroidWobble, PsfWidthStep, LowPixels, NanFrames,
                 CosmicRays, EdgeStar, HgaMove)
_INDEXED = (NanFrames, CosmicRays, EdgeStar)


# --------------------------------------------------------------------------
# Visits


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

    def __post_init__(self):
        if int(self.n_frames) < 1 or int(self.n_segments) < 1:
            msg = (f"VisitSpec: n_frames ({self.n_frames}) and n_segments ({self.n_segments}) "
                   "must be >= 1")
            raise ValueError(msg)
        if self.n_segments > self.n_frames:
            msg = f"VisitSpec: n_segments ({self.n_segments}) exceeds n_frames ({self.n_frames})"
            raise ValueError(msg)
        if self.n_segments > 999:
            msg = f"VisitSpec: at most 999 segments (-segNNN), got {self.n_segments}"
            raise ValueError(msg)
        if self.detector not in GAIN:
            msg = f"VisitSpec.detector must be one of {sorted(GAIN)}, got {self.detector!r}"
            raise ValueError(msg)
        _check_positive(self.frame_time, "VisitSpec.frame_time")
        for name in ("observation", "visit"):
            if not 0 < int(getattr(self, name)) < 1000:
                msg = f"VisitSpec.{name} must be in 1..999, got {getattr(self, name)!r}"
                raise ValueError(msg)

    def segment_sizes(self):
        """Frames per segment file (as even as possible, larger ones first)."""
        base, extra = divmod(int(self.n_frames), int(self.n_segments))
        return [base + (1 if k < extra else 0) for k in range(int(self.n_segments))]


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


@dataclass
class _FilePlan:
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


def _mjd_to_datetime64(mjd):
    """MJD (UTC) to numpy datetime64[us], to the microsecond."""
    mjd = np.asarray(mjd, dtype=float)
    day = np.floor(mjd)
    micro = np.round((mjd - day) * 86400e6).astype(np.int64)
    epoch = np.datetime64("1858-11-17T00:00:00", "us")
    return epoch + (day.astype(np.int64) * 86_400_000_000 + micro).astype("timedelta64[us]")


def _iso(mjd, *, sep="T", digits=3):
    """MJD to 'YYYY-MM-DD<sep>HH:MM:SS.sss' strings (rounded to ``digits``)."""
    unit = {0: "s", 3: "ms", 6: "us"}[digits]
    stamp = _mjd_to_datetime64(mjd)
    scale = {"s": 1_000_000, "ms": 1000, "us": 1}[unit]
    rounded = ((stamp.astype(np.int64) + scale // 2) // scale).astype(f"datetime64[{unit}]")
    text = np.datetime_as_string(rounded, unit=unit)
    if sep != "T":
        text = np.char.replace(text, "T", sep)
    return text


def _file_stamp(end_mjd):
    """yyyydddhhmmss of a file's data end (UTC, truncated to the second)."""
    moment = _mjd_to_datetime64(end_mjd).astype("datetime64[s]").astype(datetime.datetime)
    return moment.strftime("%Y%j%H%M%S")


def _file_name(program, spec, segment, end_mjd, product):
    segment_part = f"-seg{segment:03d}" if spec.n_segments > 1 else ""
    return (f"jw{int(program):05d}{int(spec.observation):03d}{int(spec.visit):03d}_gs-fg_"
            f"{_file_stamp(end_mjd)}{segment_part}_{product}.fits")


def _random_gs_id(rng, south):
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    head = "S" if south else "N"
    third = letters[rng.integers(len(letters))]
    fourth = (letters + "0123456789")[rng.integers(36)]
    return f"{head}{rng.integers(10)}{third}{fourth}{rng.integers(1_000_000):06d}"


def _resolve_visits(visits, seed):
    """Fill in start, gs_id and coordinates; return the visits in time order."""
    if isinstance(visits, VisitSpec):
        visits = [visits]
    visits = list(visits)
    if not visits:
        msg = "make_guidestar_files: `visits` is empty"
        raise ValueError(msg)
    resolved = []
    used_ids = {v.gs_id for v in visits if v.gs_id is not None}
    previous_end = None
    for index, spec in enumerate(visits):
        if not isinstance(spec, VisitSpec):
            msg = (f"make_guidestar_files: visits[{index}] is a {type(spec).__name__}, "
                   "not a VisitSpec")
            raise TypeError(msg)
        rng = np.random.default_rng([int(seed), index, _SIGNAL_SALT["gs"]])
        if spec.start is None:
            start = (Time(DEFAULT_START, scale="utc") if previous_end is None
                     else previous_end + VISIT_GAP * u.s)
        else:
            try:
                start = Time(spec.start, scale="utc")
            except ValueError as exc:
                msg = (f"make_guidestar_files: visits[{index}].start {spec.start!r} "
                       "is not an ISO time")
                raise ValueError(msg) from exc
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
        end = Time(before.start, scale="utc") + before.n_frames * before.frame_time * u.s
        if Time(after.start, scale="utc") < end:
            msg = (f"make_guidestar_files: visit (observation {after.observation}, visit "
                   f"{after.visit}) starts at {after.start}, before the visit (observation "
                   f"{before.observation}, visit {before.visit}) ends at {end.isot}")
            raise ValueError(msg)
    return resolved


def _plan_files(visits, *, program, product, seed):
    plans = []
    first_mjd = Time(visits[0].start, scale="utc").mjd
    global_first = 0
    for visit_index, spec in enumerate(visits):
        visit_mjd = Time(spec.start, scale="utc").mjd
        visit_s = (visit_mjd - first_mjd) * 86400.0
        sizes = spec.segment_sizes()
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        edges = visit_mjd + bounds * spec.frame_time / 86400.0
        rng = np.random.default_rng([int(seed), visit_index, _SIGNAL_SALT["aux"]])
        corner = (int(rng.integers(1, 2041)), int(rng.integers(1, 2041)))
        for k, size in enumerate(sizes):
            plans.append(_FilePlan(
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
        msg = (f"make_guidestar_files: two files would be named {duplicate}; "
               "give the visits distinct numbers")
        raise ValueError(msg)
    return plans


def _check_signals(signals, n_total):
    signals = tuple(signals)
    for signal in signals:
        if not isinstance(signal, _SIGNAL_TYPES):
            msg = (f"make_guidestar_files: unknown signal {signal!r}; use one of "
                   f"{', '.join(t.__name__ for t in _SIGNAL_TYPES)}")
            raise TypeError(msg)
        if isinstance(signal, _INDEXED) and signal.indices and signal.indices[-1] >= n_total:
            msg = (f"make_guidestar_files: {type(signal).__name__} index {signal.indices[-1]} "
                   f"is beyond the last frame ({n_total - 1})")
            raise ValueError(msg)
    return signals


def _local(indices, first, n):
    """Indices (sorted tuple, global) that fall in [first, first + n), made local."""
    values = np.asarray(indices, dtype=np.int64)
    lo, hi = np.searchsorted(values, [first, first + n])
    return values[lo:hi] - first


# --------------------------------------------------------------------------
# One file


def _simulate_file(plan, signals, *, background, jitter, seed):
    """Frames and truth of one file; memory scales with this file only."""
    spec, n = plan.spec, plan.n_frames
    rng = np.random.default_rng([int(seed), plan.visit_index, plan.segment, _SIGNAL_SALT["file"]])
    aux = np.random.default_rng([int(seed), plan.visit_index, plan.segment, _SIGNAL_SALT["aux"]])
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
        if isinstance(signal, (Transit, FluxModulation)):
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


def _pointing_table(plan, truth, signals, dtype, aux):
    """POINTING rows every `POINTING_CADENCE` s from DATASTRT to at least DATAEND."""
    spec, n = plan.spec, plan.n_frames
    duration = n * spec.frame_time
    n_rows = int(math.ceil(duration / POINTING_CADENCE)) + 1
    offset_s = np.arange(n_rows) * POINTING_CADENCE
    table = np.zeros(n_rows, dtype=dtype)
    table["time"] = plan.start_mjd + offset_s / 86400.0
    # Pointing errors (mas) from the true star offsets binned per row.
    bins = np.minimum((truth["time_s"] - plan.start_s) // POINTING_CADENCE, n_rows - 1).astype(int)
    count = np.maximum(np.bincount(bins, minlength=n_rows), 1)
    dx = (truth["x_mean"] - spec.x_mean) * PIXEL_SCALE * 1e3
    dy = (truth["y_mean"] - spec.y_mean) * PIXEL_SCALE * 1e3
    mean_x = np.bincount(bins, dx, minlength=n_rows) / count
    mean_y = np.bincount(bins, dy, minlength=n_rows) / count
    rms = np.sqrt(np.bincount(bins, dx**2 + dy**2, minlength=n_rows) / count)
    empty = np.bincount(bins, minlength=n_rows) == 0
    if np.any(empty):  # the last row(s) past the data repeat the row before
        last = np.maximum.accumulate(np.where(~empty, np.arange(n_rows), 0))
        mean_x, mean_y, rms = mean_x[last], mean_y[last], rms[last]
    table["jitter"] = rms
    table["delta_ddc_ra"] = mean_x
    table["delta_ddc_dec"] = mean_y
    table["delta_v1_ra"] = mean_x + aux.normal(0.0, 0.05, n_rows)
    table["delta_v1_dec"] = mean_y + aux.normal(0.0, 0.05, n_rows)
    table["delta_j1_ra"] = mean_x + aux.normal(0.0, 0.05, n_rows)
    table["delta_j1_dec"] = mean_y + aux.normal(0.0, 0.05, n_rows)
    table["delta_aperture_pa"] = aux.normal(0.0, 0.1, n_rows)
    table["delta_v3_pa"] = aux.normal(0.0, 0.1, n_rows)
    table["delta_j3_pa"] = aux.normal(0.0, 0.1, n_rows)
    moving = np.zeros(n_rows, bool)
    row_s = plan.start_s + offset_s
    for signal in signals:
        if isinstance(signal, HgaMove):
            moving |= signal.moving(row_s)
    table["HGA_motion"] = np.where(moving, b"0", b"1")
    return table


def _centroid_table(plan, truth, dtype, aux, centroid_rows):
    """FGS CENTROID PACKET rows, one per frame or on the on-board 64 ms cadence."""
    spec, n = plan.spec, plan.n_frames
    frame_days = spec.frame_time / 86400.0
    if centroid_rows == "per_frame":
        frame = np.arange(n)
        mjd = plan.start_mjd + (frame + 0.5) * (plan.end_mjd - plan.start_mjd) / n
    else:
        span = n * spec.frame_time + 2 * PACKET_MARGIN
        n_rows = int(span // PACKET_CADENCE) + 1
        if n_rows == n:  # never let the packet count pass for one time per frame
            n_rows += 1
        offset = -PACKET_MARGIN + np.arange(n_rows) * PACKET_CADENCE
        mjd = plan.start_mjd + offset / 86400.0
        frame = np.clip(np.floor((mjd - plan.start_mjd) / frame_days), 0, n - 1).astype(int)
    table = np.zeros(len(mjd), dtype=dtype)
    table["centroid_time"] = _iso(mjd, sep=" ").astype("S23")
    table["observatory_time"] = _iso(mjd + PACKET_LATENCY / 86400.0, sep=" ").astype("S23")
    corner_x, corner_y = plan.subarray_start
    noise = 0.002  # arcsec, on-board centroid noise
    # Ideal-frame-like position (arcsec) of the true centre on the 2048 px detector.
    table["guide_star_position_x"] = ((corner_x - 1 + truth["x_mean"][frame] - 1023.5)
                                      * PIXEL_SCALE + aux.normal(0, noise, len(frame)))
    table["guide_star_position_y"] = ((corner_y - 1 + truth["y_mean"][frame] - 1023.5)
                                      * PIXEL_SCALE + aux.normal(0, noise, len(frame)))
    gain = GAIN[spec.detector]
    electrons = truth["flux"][frame] * spec.frame_time * gain
    sky = 64 * (truth["offset"][frame] * spec.frame_time * gain + (READ_NOISE_DN * gain) ** 2)
    snr = electrons / np.sqrt(electrons + sky)
    table["guide_star_instrument_counts_per_sec"] = truth["flux"][frame] * (
        1.0 + aux.normal(0.0, 1.0, len(frame)) / snr)
    table["signal_to_noise_current_frame"] = snr
    table["data_quality"] = 0
    table["bad_pixel_flag"] = b"NONE"
    table["bad_centroid_dq_flag"] = b"NONE"
    table["cosmic_ray_hit_flag"] = np.where(truth["cosmic_ray"][frame], b"TRUE", b"FALSE")
    table["sw_subwindow_loc_change_flag"] = b"FALSE"
    table["guide_star_at_detector_subwindow_boundary_flag"] = np.where(
        truth["edge_star"][frame], b"TRUE", b"FALSE")
    table["subwindow_out_of_FOV_flag"] = b"FALSE"
    return table


def _fill_meta(model, plan, *, program, product, signals, pointing):
    spec = plan.spec
    meta = model.meta
    meta.filename = plan.name
    meta.origin = "spelunker.datasets"
    meta.time_sys = "UTC"
    meta.telescope = "JWST"
    meta.instrument.name = "FGS"
    meta.instrument.detector = spec.detector
    meta.program.title = "Synthetic fine-guide data (spelunker.datasets)"
    meta.observation.program_number = f"{int(program):05d}"
    meta.observation.observation_number = f"{int(spec.observation):03d}"
    meta.observation.visit_number = f"{int(spec.visit):03d}"
    meta.observation.visit_id = (
        f"{int(program):05d}{int(spec.observation):03d}{int(spec.visit):03d}")
    # OBS_ID as in real guider headers: 'V' + VISIT_ID + 'P' + 13 digits ending in
    # visit group 01, parallel sequence 1, activity 02 (PID 1029: V01029001001P0000000001102).
    meta.observation.obs_id = f"V{meta.observation.visit_id}P0000000001102"
    start_iso = str(_iso(plan.start_mjd))
    meta.observation.date = start_iso[:10]
    meta.observation.time = start_iso[11:]
    meta.observation.date_beg = start_iso
    meta.observation.date_end = str(_iso(plan.end_mjd))
    meta.exposure.type = "FGS_FINEGUIDE"
    meta.exposure.readpatt = "FINEGUIDE"
    meta.exposure.nints = plan.n_frames
    meta.exposure.ngroups = FINEGUIDE_NGROUPS
    meta.exposure.segment_number = plan.segment
    meta.exposure.segment_total = spec.n_segments
    meta.exposure.duration = plan.n_frames * spec.frame_time
    meta.subarray.name = "8X8"
    meta.subarray.xstart, meta.subarray.ystart = plan.subarray_start
    meta.subarray.xsize = 8
    meta.subarray.ysize = 8
    # FASTAXIS / SLOWAXIS as in the real guider 1 and guider 2 headers.
    axes = (-2, -1) if spec.detector == "GUIDER1" else (2, -1)
    meta.subarray.fastaxis, meta.subarray.slowaxis = axes
    meta.aperture.name = "FGS1_FULL" if spec.detector == "GUIDER1" else "FGS2_FULL"
    meta.guidestar.gs_id = spec.gs_id
    meta.guidestar.gs_ra = float(spec.gs_ra)
    meta.guidestar.gs_dec = float(spec.gs_dec)
    meta.guidestar.gs_mag = float(spec.fgs_mag)
    meta.guidestar.gs_order = int(spec.gs_order)
    meta.guidestar.gs_pcs_mode = "FINEGUIDE"
    meta.guidestar.data_start = float(plan.start_mjd)
    meta.guidestar.data_end = float(plan.end_mjd)
    meta.bunit_data = "DN/s" if product == "cal" else "DN"
    if product == "cal":
        meta.bunit_err = "DN/s"
    meta.jitter_average = float(np.mean(pointing["jitter"]))
    meta.jitter_max = float(np.max(pointing["jitter"]))
    meta.jitter_min = float(np.min(pointing["jitter"]))
    end_s = plan.start_s + plan.n_frames * spec.frame_time
    moves = [s for s in signals
             if isinstance(s, HgaMove) and s.start <= end_s and s.stop >= plan.start_s]
    meta.hga_move = bool(moves)
    if moves:
        first_mjd = plan.start_mjd - plan.start_s / 86400.0
        move_start = first_mjd + min(m.start for m in moves) / 86400.0
        move_stop = first_mjd + max(m.stop for m in moves) / 86400.0
        meta.hga_start_time = str(_iso(move_start, sep=" ", digits=0))
        meta.hga_stop_time = str(_iso(move_stop, sep=" ", digits=0))


def _raw_ramps(data, frame_time, aux):
    """uint16 (n, groups, rows, cols) up-the-ramp DN from count rates (NaN frames as 0)."""
    rate = np.nan_to_num(data, nan=0.0).astype(np.float32)
    step = np.float32(frame_time / FINEGUIDE_NGROUPS)
    groups = np.arange(1, FINEGUIDE_NGROUPS + 1, dtype=np.float32)[None, :, None, None]
    bias = aux.normal(RAW_BIAS_DN, 5.0, (data.shape[0], 1) + data.shape[1:]).astype(np.float32)
    ramps = bias + rate[:, None] * step * groups
    return np.clip(np.round(ramps), 0, 65535).astype(np.uint16)


def _write_file(plan, data, err, dq, truth, signals, *, program, product, centroid_rows, aux,
                folder):
    """Write one product into ``folder`` under its final name; return the path."""
    model_class = GuiderCalModel if product == "cal" else GuiderRawModel
    # Validating every assignment re-reads schemas (about 0.15 s per file);
    # the whole model is validated once before saving instead.
    with model_class(validate_on_assignment=False) as model:
        pointing = _pointing_table(plan, truth, signals, model.get_dtype("pointing_table"), aux)
        centroid = _centroid_table(plan, truth, model.get_dtype("centroid_table"), aux,
                                   centroid_rows)
        if product == "cal":
            model.data = data
            model.err = err
            model.dq = dq
            ramps = None
        else:
            ramps = _raw_ramps(data, plan.spec.frame_time, aux)
            model.data = np.zeros((1,) + ramps.shape[1:], np.float32)  # placeholder, see below
        model.pointing_table = pointing
        model.centroid_table = centroid
        _fill_meta(model, plan, program=program, product=product, signals=signals,
                   pointing=pointing)
        model.validate()
        path = folder / plan.name
        model.save(path)
    if ramps is not None:
        # GuiderRawModel's schema casts SCI to float32; the archive's uncal
        # products hold uint16, so put the real type on disk.
        with fits.open(path, mode="update") as hdul:
            hdul["SCI"].data = ramps
    return path


# --------------------------------------------------------------------------
# Visits to files


def make_guidestar_files(
    directory,
    *,
    visits=(VisitSpec(),),
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
    file is written under a temporary name and renamed, so no partial file
    ever carries a product name.

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
        Signals to inject (`Transit`, `FluxModulation`, `CentroidWobble`,
        `PsfWidthStep`, `NanFrames`, `CosmicRays`, `EdgeStar`, `HgaMove`).
        Times are seconds since the start of the first visit's data, indices
        are global frame numbers in time order.
    seed : int
        Random seed; the same seed gives the same data.
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
        RMS pointing jitter per axis (pixels).
    bad_pixels : sequence of (row, column)
        Pixels flagged ``DO_NOT_USE | HOT`` in every file's DQ (the SCI
        values are left as simulated).

    Returns
    -------
    SyntheticVisit
        ``files`` in time order and the per-frame ``truth`` table.

    Raises
    ------
    ValueError
        Overlapping visits, indices beyond the last frame, or bad options.
    TypeError
        An object in ``signals`` or ``visits`` of the wrong type.

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
    return _generate(directory, visits=visits, program=program, signals=signals, seed=seed,
                     product=product, centroid_rows=centroid_rows, background=background,
                     jitter=jitter, bad_pixels=bad_pixels, write=True)


def _generate(directory, *, visits, program, signals, seed, product, centroid_rows, background,
              jitter, bad_pixels, write):
    if product not in ("cal", "uncal"):
        msg = f"make_guidestar_files: product must be 'cal' or 'uncal', got {product!r}"
        raise ValueError(msg)
    if centroid_rows not in ("packet", "per_frame"):
        msg = ("make_guidestar_files: centroid_rows must be 'packet' or 'per_frame', "
               f"got {centroid_rows!r}")
        raise ValueError(msg)
    if not 0 < int(program) < 100000:
        msg = f"make_guidestar_files: program must be in 1..99999, got {program!r}"
        raise ValueError(msg)
    seed = int(seed)
    visits = _resolve_visits(visits, seed)
    n_total = sum(v.n_frames for v in visits)
    signals = _check_signals(signals, n_total)
    plans = _plan_files(visits, program=program, product=product, seed=seed)

    dq = np.zeros((8, 8), dtype=np.uint32)
    for row, column in bad_pixels:
        dq[int(row), int(column)] |= dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["HOT"]

    directory = Path(directory)
    folder = None
    if write:
        # A file, or a folder that cannot be created or written, is refused
        # before anything is simulated.
        directory = check_output_dir(directory, "directory", where="make_guidestar_files")
        # Written under the final name in a private folder (the model records
        # its file name on save), then renamed into place.
        folder = Path(tempfile.mkdtemp(prefix=".spelunker-", dir=directory))
    columns = {name: [] for name in ("time_s", "amplitude", "x_mean", "y_mean", "x_stddev",
                                     "y_stddev", "theta", "offset", "flux", "nan_frame",
                                     "cosmic_ray", "edge_star")}
    files = []
    try:
        for plan in plans:
            data, err, truth, aux = _simulate_file(plan, signals, background=background,
                                                   jitter=jitter, seed=seed)
            for name, values in columns.items():
                values.append(truth[name])
            path = directory / plan.name
            if write:
                written = _write_file(plan, data, err, dq, truth, signals, program=program,
                                      product=product, centroid_rows=centroid_rows, aux=aux,
                                      folder=folder)
                os.replace(written, path)
                log.debug("wrote %s (%d frames)", path, plan.n_frames)
            files.append(path)
            del data, err
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
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


# --------------------------------------------------------------------------
# The sample visit


def _sample_arguments():
    return dict(
        visits=(VisitSpec(observation=1, visit=1, n_frames=6000, n_segments=3, fgs_mag=13.3),),
        program=1534,
        signals=(
            Transit(mid_time=160.0, duration=60.0, depth=0.01, ingress=8.0),
            CentroidWobble(period=3.0, amplitude=0.05, axis="x"),
            FluxModulation(period=47.0, amplitude=0.003),
            HgaMove(start=95.0, stop=107.0),
            PsfWidthStep(time=250.0, factor=1.03, dx=0.01),
        ),
        seed=1534,
        product="cal",
        centroid_rows="packet",
        background=20.0,
        jitter=0.015,
        bad_pixels=(),
    )


def _cache_dir(name="sample_visit"):
    root = os.environ.get("SPELUNKER_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "spelunker"
    return base / name


def sample_visit(directory=None):
    """The embedded sample visit: fixed, seeded, no network.

    One visit of PID 1534 (guide star at FGS magnitude 13.3, guider 1), 3
    segment files and 6,000 frames (about 5.4 minutes at 53.8 ms) with a 1
    per cent transit centred at 160 s, a 0.05 px centroid wobble of 3 s period
    in x and a 0.3 per cent flux modulation of 47 s period.  ``make demo``
    uses it.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Where to keep the files.  Default: ``$SPELUNKER_CACHE/sample_visit``,
        else ``~/.cache/spelunker/sample_visit``.  Complete files already
        there (listed in the folder's manifest with the right sizes) are
        reused (the manifest also records the generator's source and the
        stdatamodels version, so a changed generator rewrites them);
        otherwise they are written again, each under a temporary name first.

    Returns
    -------
    SyntheticVisit

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.datasets import sample_visit
    >>> visit = sample_visit(tempfile.mkdtemp())
    >>> len(visit.files), len(visit.truth)
    (3, 6000)
    """
    directory = Path(directory) if directory is not None else _cache_dir()
    arguments = _sample_arguments()
    key = _cache_key(_SAMPLE_VERSION, arguments)
    manifest_path = directory / "sample_visit.json"
    names = _cached_files(manifest_path, key)
    if names:
        visit = _generate(directory, write=False, **arguments)
        if [p.name for p in visit.files] == names:
            log.info("using the cached sample visit in %s", directory)
            return visit
    log.info("writing the sample visit to %s", directory)
    visit = _generate(directory, write=True, **arguments)
    _write_manifest(manifest_path, key, visit.files)
    return visit


def _cache_key(*parts):
    """Key of a cached sample: any change to ``parts``, to this generator or to
    stdatamodels (the file format) invalidates it."""
    return hashlib.sha256(repr((*parts, stdatamodels.__version__)).encode()
                          + Path(__file__).read_bytes()).hexdigest()


def _cached_files(manifest_path, key):
    """Names of the files a manifest lists, when its key is ``key`` and every file
    beside it is complete (the size recorded); otherwise an empty list."""
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return []
    sizes = manifest.get("files", {})
    directory = manifest_path.parent
    complete = all((directory / name).is_file() and (directory / name).stat().st_size == size
                   for name, size in sizes.items())
    return list(sizes) if complete else []


def _write_manifest(manifest_path, key, paths):
    """Record ``paths`` and their sizes under ``key``, atomically."""
    manifest = {"key": key, "files": {Path(p).name: Path(p).stat().st_size for p in paths}}
    temporary = manifest_path.parent / f".{manifest_path.stem}-{uuid.uuid4().hex}.json"
    temporary.write_text(json.dumps(manifest, indent=1))
    os.replace(temporary, manifest_path)


# --------------------------------------------------------------------------
# A science exposure guided by a synthetic visit

#: White-light count rate (DN/s) of the synthetic science target out of transit.
SCIENCE_COUNTRATE = 1.0e6

#: Shape (rows, columns) of one integration of the synthetic science product.
SCIENCE_SHAPE = (8, 16)

#: Distance (km) of the synthetic JWST orbit from the Earth, on the anti-Sun side.
L2_DISTANCE_KM = 1.5e6

#: Seconds either side of MJD-AVG for the header velocity (central difference).
VELOCITY_STEP = 60.0

_SCIENCE_KINDS = ("rateints", "calints")
_PRODUCT_IDS = re.compile(r"^jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})_")
_SCIENCE_VERSION = 1


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


def _jwst_barycentric_km(time):
    """Barycentric position (km, shape (3, n)) of an L2-like JWST orbit at ``time``.

    The orbit is the Earth plus `L2_DISTANCE_KM` along the Sun-Earth line,
    away from the Sun (astropy's built-in ephemeris, no download).
    """
    tdb = time.tdb
    earth = get_body_barycentric("earth", tdb, ephemeris="builtin").xyz.to_value(u.km)
    sun = get_body_barycentric("sun", tdb, ephemeris="builtin").xyz.to_value(u.km)
    away = earth - sun
    away = away / np.linalg.norm(away, axis=0)
    return earth + L2_DISTANCE_KM * away


def _bjd_tdb_mjd(time, direction):
    """Barycentric TDB (MJD-form numbers) of UTC ``time`` seen towards ``direction``."""
    position = _jwst_barycentric_km(time)
    delay = direction @ position / constants.c.to_value(u.km / u.s)
    return (time.tdb + delay * u.s).mjd


def _science_target(target):
    if isinstance(target, SkyCoord):
        return target.icrs
    try:
        ra, dec = (float(value) for value in target)
    except (TypeError, ValueError):
        msg = f"make_science_product: target must be a SkyCoord or (ra, dec) in deg, got {target!r}"
        raise ValueError(msg) from None
    if not (np.isfinite(ra) and -90.0 <= dec <= 90.0):
        msg = f"make_science_product: target (ra, dec) = ({ra!r}, {dec!r}) is not a sky position"
        raise ValueError(msg)
    return SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")


def _visit_ids(visit):
    """(program, observation, visit) of the first guide-star visit."""
    match = _PRODUCT_IDS.match(Path(visit.files[0]).name) if visit.files else None
    if match is None:
        msg = ("make_science_product: cannot read the program from the visit's file names "
               f"({[Path(f).name for f in visit.files][:1]}); expected jwPPPPPOOOVVV_...")
        raise ValueError(msg)
    spec = visit.visits[0]
    return int(match["program"]), int(spec.observation), int(spec.visit)


def _science_profile():
    """Fixed white-light footprint on the (8, 16) integration, summing to 1."""
    rows, columns = SCIENCE_SHAPE
    across = np.exp(-0.5 * ((np.arange(rows) - 0.5 * (rows - 1)) / 1.2) ** 2)
    along = 1.0 + 0.5 * np.sin(np.pi * (np.arange(columns) + 0.5) / columns)
    profile = across[:, None] * along[None, :]
    return profile / profile.sum()


def _plan_science(visit, *, integration_time, n_integrations, start_offset, target, systematic,
                  coefficient, depth, noise, seed, kind, transit_time=None):
    """Everything of a science product but the file: (SyntheticScience, data, err, meta)."""
    where = "make_science_product"
    if not isinstance(visit, SyntheticVisit):
        msg = f"{where}: visit must be a SyntheticVisit, got {type(visit).__name__}"
        raise TypeError(msg)
    if kind not in _SCIENCE_KINDS:
        msg = f"{where}: kind must be one of {_SCIENCE_KINDS}, got {kind!r}"
        raise ValueError(msg)
    _check_positive(integration_time, f"{where}: integration_time")
    if not (np.isfinite(start_offset) and start_offset >= 0):
        msg = f"{where}: start_offset must be a finite number >= 0 (seconds), got {start_offset!r}"
        raise ValueError(msg)
    if not (np.isfinite(coefficient) and np.isfinite(noise) and noise >= 0):
        msg = (f"{where}: coefficient must be finite and noise finite and >= 0, got "
               f"coefficient={coefficient!r}, noise={noise!r}")
        raise ValueError(msg)
    if systematic not in visit.truth.colnames or systematic == "time":
        msg = (f"{where}: systematic={systematic!r} is not a column of the visit's truth "
               f"table ({', '.join(visit.truth.colnames[5:])})")
        raise ValueError(msg)
    column = visit.truth[systematic]
    values = np.asarray(getattr(column, "value", column))
    if values.dtype.kind not in "fiu":
        msg = f"{where}: systematic={systematic!r} is not a numeric truth column"
        raise ValueError(msg)
    target = _science_target(target)
    program, observation, visit_number = _visit_ids(visit)

    # The integrations lie inside the first guide-star visit.
    spec = visit.visits[0]
    n_frames = int(spec.n_frames)
    data_start = Time(spec.start, scale="utc")
    available = n_frames * spec.frame_time - start_offset
    n_fit = int(math.floor(available / integration_time + 1e-9)) if available > 0 else 0
    if n_integrations is None:
        n_integrations = n_fit
        if n_fit < 1:
            msg = (f"{where}: no integration of {integration_time} s fits in the guide-star "
                   f"visit: it holds {n_frames * spec.frame_time:.3f} s of data and the "
                   f"integrations start {start_offset} s after its start")
            raise ValueError(msg)
    elif int(n_integrations) != n_integrations or n_integrations < 1:
        msg = f"{where}: n_integrations must be None or an integer >= 1, got {n_integrations!r}"
        raise ValueError(msg)
    elif n_integrations > n_fit:
        msg = (f"{where}: {n_integrations} integrations of {integration_time} s starting "
               f"{start_offset} s after the guide-star data start need "
               f"{start_offset + n_integrations * integration_time:.3f} s, but the guide-star "
               f"visit holds {n_frames * spec.frame_time:.3f} s of data (at most {n_fit} fit)")
        raise ValueError(msg)
    n_integrations = int(n_integrations)

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
        msg = (f"{where}: integration {first + 1} holds no guide-star frame; use an "
               f"integration_time longer than the frame time ({spec.frame_time} s)")
        raise ValueError(msg)
    sums = np.bincount(index[inside], values[:n_frames][inside].astype(float),
                       minlength=n_integrations)
    binned = sums / counts

    # Light curve: transit (at mid-integration) times the shared systematic, plus noise.
    duration = n_integrations * integration_time
    if transit_time is None:
        transit_time = 0.5 * duration
    elif not (np.isfinite(transit_time) and 0.0 <= transit_time <= duration):
        msg = (f"{where}: transit_time must be None or seconds from the first integration's "
               f"start within the exposure (0..{duration:g}), got {transit_time!r}")
        raise ValueError(msg)
    transit = Transit(mid_time=float(start_offset + transit_time), duration=0.25 * duration,
                      depth=float(depth), ingress=0.025 * duration)
    visit_s = (data_start - Time(visit.visits[0].start, scale="utc")).to_value(u.s)
    mid_s = visit_s + offsets[:-1] + 0.5 * integration_time
    flux = (SCIENCE_COUNTRATE * transit.flux_factor(mid_s)
            * (1.0 + coefficient * (binned - binned.mean())))
    rng = np.random.default_rng(int(seed))
    sigma = noise * SCIENCE_COUNTRATE
    observed = flux + rng.normal(0.0, sigma, n_integrations) if sigma > 0 else flux.copy()
    profile = _science_profile()
    data = (observed[:, None, None] * profile[None]).astype(np.float32)
    err = np.broadcast_to(sigma * np.sqrt(profile), data.shape).astype(np.float32)

    # Barycentric times, independent of the rest of spelunker.
    direction = target.cartesian.xyz.value
    bjd = {name: _bjd_tdb_mjd(times, direction) for name, times in
           (("start", edges[:-1]), ("mid", mids), ("end", edges[1:]))}
    exposure_mid = 0.5 * (edge_mjd[0] + edge_mjd[-1])
    mid_time = Time(exposure_mid, format="mjd", scale="utc")
    around = mid_time + np.array([-VELOCITY_STEP, 0.0, VELOCITY_STEP]) * u.s
    position = _jwst_barycentric_km(around)
    velocity = (position[:, 2] - position[:, 0]) / (2.0 * VELOCITY_STEP)
    ephemeris = {"time": float(exposure_mid), "reference_frame": "EME2000", "type": "PREDICTED"}
    for k, axis in enumerate("xyz"):
        ephemeris[f"spatial_{axis}_bary"] = float(position[k, 1])
    for k, axis in enumerate("xyz"):
        ephemeris[f"velocity_{axis}_bary"] = float(velocity[k])
    exposure_bjd = _bjd_tdb_mjd(Time([edge_mjd[0], exposure_mid, edge_mjd[-1]], format="mjd",
                                     scale="utc"), direction)

    table = QTable()
    table["integration_number"] = np.arange(1, n_integrations + 1)
    table["start"] = Time(start_mjd, format="mjd", scale="utc")
    table["mid"] = Time(mid_mjd, format="mjd", scale="utc")
    table["end"] = Time(end_mjd, format="mjd", scale="utc")
    for name in ("start", "mid", "end"):
        table[f"{name}_bjd"] = Time(bjd[name], format="mjd", scale="tdb")

    name = (f"jw{program:05d}{observation:03d}{visit_number:03d}_04101_00001-seg001_nrs1_"
            f"{kind}.fits")
    science = SyntheticScience(
        path=Path(name), int_times=table, flux=u.Quantity(flux, u.DN / u.s),
        observed=u.Quantity(data.sum(axis=(1, 2), dtype=float), u.DN / u.s),
        systematic=systematic, coefficient=float(coefficient), target=target,
        ephemeris=ephemeris, binned_systematic=binned, frames_per_integration=counts,
        transit=transit, noise=float(noise))
    meta = {"program": program, "observation": observation, "visit": visit_number,
            "integration_time": float(integration_time), "exposure_bjd": exposure_bjd}
    return science, data, err, meta


def _write_science(folder, science, data, err, meta):
    """Write the CubeModel into ``folder`` under its final name; return the path."""
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
        m.filename = science.path.name
        m.origin = "spelunker.datasets"
        m.telescope = "JWST"
        m.time_sys = "UTC"
        m.bunit_data = "DN/s"
        m.bunit_err = "DN/s"
        m.program.title = "Synthetic science exposure (spelunker.datasets)"
        m.observation.program_number = f"{meta['program']:05d}"
        m.observation.observation_number = f"{meta['observation']:03d}"
        m.observation.visit_number = f"{meta['visit']:03d}"
        m.observation.visit_id = (f"{meta['program']:05d}{meta['observation']:03d}"
                                  f"{meta['visit']:03d}")
        m.observation.visit_group = "04"
        m.observation.sequence_id = "1"
        m.observation.activity_id = "01"
        m.observation.exposure_number = "00001"
        start_iso = str(_iso(table["start"][0].mjd))
        m.observation.date = start_iso[:10]
        m.observation.time = start_iso[11:]
        m.observation.date_beg = start_iso
        m.observation.date_end = str(_iso(table["end"][-1].mjd))
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
        path = Path(folder) / science.path.name
        model.save(path)
    return path


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

    Barycentric times use only astropy: JWST is placed on an L2-like orbit
    ``r = r_earth + 1.5e6 km * unit(r_earth - r_sun)`` (built-in
    ephemeris, offline) and ``BJD_TDB = TDB(t) + r . n / c`` with ``n`` the
    unit vector towards the target.  The header ephemeris (JWST_X/Y/Z in
    km, JWST_DX/DY/DZ in km/s by central difference of +-60 s) is that
    orbit at MJD-AVG.

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
        Seed of the noise.
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
    ValueError
        Integrations that do not fit in the visit, or hold no guide-star
        frame, an unknown ``systematic`` or ``kind``, or other bad options
        (`~spelunker.errors.ParameterError` for an unusable ``directory``).
    TypeError
        ``visit`` is not a `SyntheticVisit`.

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
    directory = check_output_dir(directory, "directory", where="make_science_product")
    science, data, err, meta = _plan_science(
        visit, integration_time=integration_time, n_integrations=n_integrations,
        start_offset=start_offset, target=target, systematic=systematic,
        coefficient=coefficient, depth=depth, noise=noise, seed=seed, kind=kind,
        transit_time=transit_time)
    folder = Path(tempfile.mkdtemp(prefix=".spelunker-", dir=directory))
    try:
        written = _write_science(folder, science, data, err, meta)
        path = directory / science.path.name
        os.replace(written, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    science.path = path
    log.info("wrote the synthetic science product %s (%d integrations)", path, len(data))
    return science


def _sample_science_arguments():
    return dict(integration_time=1.0, n_integrations=None, start_offset=10.0,
                target=(286.0, -41.3), systematic="x_mean", coefficient=0.05, depth=0.003,
                noise=2e-4, seed=1534, kind="rateints", transit_time=60.0)


def sample_science(directory=None):
    """The science product matching `sample_visit`: fixed, seeded, no network.

    312 integrations of 1 s, the first starting 10 s after the start of the
    guide-star data, of a NIRSpec bright-object time series (target at RA
    286.0, Dec -41.3 deg; file of about 0.5 MB), with a 0.3 per cent
    transit 60 s after the first integration starts (away from the guide
    star's own transit, 160 s into its data) and a flux systematic of 5 per
    cent per pixel of the guide star's ``x_mean``, so the 3 s centroid wobble
    of the sample visit shows in the light curve: ``x_mean`` binned onto the
    integrations is the regressor most correlated with it.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Where to keep the file.  Default: ``$SPELUNKER_CACHE/sample_science``,
        else ``~/.cache/spelunker/sample_science``.  A complete file already
        there (listed in the folder's manifest with its size, for the same
        generator and stdatamodels version) is reused; otherwise it is
        written again.  The guide-star files are not needed (`sample_visit`
        writes them).

    Returns
    -------
    SyntheticScience

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.datasets import sample_science
    >>> science = sample_science(tempfile.mkdtemp())
    >>> len(science.int_times), science.systematic
    (312, 'x_mean')
    """
    directory = Path(directory) if directory is not None else _cache_dir("sample_science")
    arguments = _sample_science_arguments()
    visit_arguments = _sample_arguments()
    key = _cache_key(_SCIENCE_VERSION, _SAMPLE_VERSION, visit_arguments, arguments)
    manifest_path = directory / "sample_science.json"
    # The truth of the sample visit, without writing its files.
    visit = _generate(_cache_dir(), write=False, **visit_arguments)
    names = _cached_files(manifest_path, key)
    if names:
        science, _, _, _ = _plan_science(visit, **arguments)
        if names == [science.path.name]:
            log.info("using the cached sample science product in %s", directory)
            science.path = directory / science.path.name
            return science
    log.info("writing the sample science product to %s", directory)
    science = make_science_product(directory, visit, **arguments)
    _write_manifest(manifest_path, key, [science.path])
    return science
