"""The signals injected into synthetic visits: frozen classes on one time axis, and their check.

Times are seconds since the start of the first visit's data, indices are
global frame numbers in time order over all files.  Each class checks its
own values when it is made (a `~spelunker.errors.ParameterError` names the
class and the field) and says what it does at a time: a flux factor
(`Transit`, `FluxModulation` and the astrophysical signals of
`spelunker.datasets.astro_signals`), centroid offsets (`CentroidWobble`,
`PsfWidthStep`), a width factor (`PsfWidthStep`), frames to change
(`LowPixels`, `NanFrames`, `CosmicRays`, `EdgeStar`) or the antenna's motion
(`HgaMove`).  `spelunker.datasets.guidestar_files` applies them to each
file's frames.

Examples
--------
>>> from spelunker.datasets.signals import Transit, check_signals
>>> check_signals([Transit(mid_time=5.0, duration=2.0, depth=0.01)], 100)[0].depth
0.01
"""

from dataclasses import dataclass

import numpy as np

from spelunker._validate import check_choice, check_finite_float, check_positive_float
from spelunker.datasets.astro_signals import ASTRO_SIGNALS
from spelunker.errors import ParameterError

__all__ = [
    "FLUX_SIGNALS",
    "INDEXED_SIGNALS",
    "SIGNAL_TYPES",
    "CentroidWobble",
    "CosmicRays",
    "EdgeStar",
    "FluxModulation",
    "HgaMove",
    "LowPixels",
    "NanFrames",
    "PsfWidthStep",
    "Transit",
    "check_signals",
]


def _fail(where, text):
    raise ParameterError(f"{where}: {text}")


def _check_numbers(signal, *names, optional=()):
    """Every field in ``names`` a finite number (None allowed for ``optional``)."""
    where = type(signal).__name__
    for name in names:
        value = getattr(signal, name)
        if not (name in optional and value is None):
            check_finite_float(value, name, where=where)


def _check_in_range(value, name, low, high, *, where, include_high=True):
    """``low <= value <= high`` (``< high`` unless ``include_high``)."""
    number = check_finite_float(value, name, where=where)
    inside = low <= number <= high if include_high else low <= number < high
    if not inside:
        closing = "]" if include_high else ")"
        _fail(where, f"{name}={value!r} must be in [{low:g}, {high:g}{closing}")


def _as_indices(indices, where):
    """Global frame numbers as a sorted tuple of distinct ints."""
    try:
        values = np.atleast_1d(np.asarray(indices))
    except ValueError:  # ragged nesting
        values = np.array([None])
    if values.size and (values.dtype.kind not in "iu" or np.any(values < 0)):
        _fail(where, f"indices must be non-negative integers (global frame numbers), "
                     f"got {indices!r}")
    return tuple(sorted({int(v) for v in values.ravel()}))


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
        _check_numbers(self, "mid_time")
        check_positive_float(self.duration, "duration", where="Transit")
        _check_in_range(self.depth, "depth", 0.0, 1.0, where="Transit", include_high=False)
        _check_in_range(self.ingress, "ingress", 0.0, 0.5 * self.duration, where="Transit")

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
        check_positive_float(self.period, "period", where="FluxModulation")
        _check_in_range(self.amplitude, "amplitude", 0.0, 1.0, where="FluxModulation",
                        include_high=False)
        _check_numbers(self, "phase")

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
        check_positive_float(self.period, "period", where="CentroidWobble")
        _check_numbers(self, "amplitude", "phase")
        object.__setattr__(self, "axis", check_choice(self.axis, "axis", ("x", "y", "both"),
                                                      where="CentroidWobble"))

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
        check_positive_float(self.factor, "factor", where="PsfWidthStep")
        _check_numbers(self, "time", "dx", "dy")

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
        _check_in_range(self.fraction, "fraction", 0.0, 1.0, where="LowPixels")
        _check_in_range(self.zero_share, "zero_share", 0.0, 1.0, where="LowPixels")
        if not check_finite_float(self.lowest, "lowest", where="LowPixels") < 0:
            _fail("LowPixels", f"lowest={self.lowest!r} must be negative")

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
        object.__setattr__(self, "amplitude",
                           check_positive_float(self.amplitude, "amplitude", where="CosmicRays"))


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
        _check_numbers(self, "x_mean", "y_mean", optional=("x_mean", "y_mean"))


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
        _check_numbers(self, "start", "stop")
        if not self.stop >= self.start:
            _fail("HgaMove", f"stop ({self.stop!r}) must not be before start ({self.start!r})")

    def moving(self, time):
        """True where the antenna moves at ``time`` (seconds)."""
        time = np.asarray(time, dtype=float)
        return (time >= self.start) & (time <= self.stop)


#: The signals that multiply the flux (``flux_factor(time)``).
FLUX_SIGNALS = (Transit, FluxModulation, *ASTRO_SIGNALS)

#: Every signal class, in the order of the documentation.
SIGNAL_TYPES = (*FLUX_SIGNALS, CentroidWobble, PsfWidthStep, LowPixels, NanFrames, CosmicRays,
                EdgeStar, HgaMove)

#: The signals that name frames by global index.
INDEXED_SIGNALS = (NanFrames, CosmicRays, EdgeStar)


def check_signals(signals, n_total, *, where="make_guidestar_files"):
    """Return ``signals`` as a tuple if each is a signal whose frames exist.

    Parameters
    ----------
    signals : iterable
        Signal objects (`SIGNAL_TYPES`).
    n_total : int
        Frames over all visits; indexed signals must name frames below it.
    where : str, optional
        Prefix of the message.

    Raises
    ------
    spelunker.errors.ParameterError
        An object that is not a signal, or an index beyond the last frame.

    Examples
    --------
    >>> from spelunker.datasets.signals import NanFrames, check_signals
    >>> check_signals([NanFrames(indices=[20])], 10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: make_guidestar_files: NanFrames index 20 is beyond ... (9)
    """
    if isinstance(signals, (str, bytes)) or not np.iterable(signals):
        _fail(where, f"signals={signals!r} must be a sequence of signals")
    signals = tuple(signals)
    for signal in signals:
        if not isinstance(signal, SIGNAL_TYPES):
            _fail(where, f"unknown signal {signal!r}; use one of "
                         f"{', '.join(t.__name__ for t in SIGNAL_TYPES)}")
        if isinstance(signal, INDEXED_SIGNALS) and signal.indices and signal.indices[-1] >= n_total:
            _fail(where, f"{type(signal).__name__} index {signal.indices[-1]} is beyond the last "
                         f"frame ({n_total - 1})")
    return signals
