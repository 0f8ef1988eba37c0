"""Astrophysical flux signals with their truth: flares, transits, eclipses, pulsations, red noise.

Six frozen classes beside `~spelunker.datasets.Transit` and
`~spelunker.datasets.FluxModulation`: each checks its fields when it is made
(a `~spelunker.errors.ParameterError` names the class and the field), gives
a multiplicative ``flux_factor(time)`` (time in seconds since the start of the
first visit's data, as every signal of `spelunker.datasets`) and a
``truth()`` dict of the true quantities (times and durations in seconds,
depths and amplitudes as relative flux).  The frame simulator
(`~spelunker.datasets.make_guidestar_files`) injects them into synthetic
frames; `spelunker.datasets.inject` applies them to a plain light curve.

The truth of a flare holds ``peak_time``, ``start``, ``stop``,
``duration``, ``amplitude`` and ``equivalent_duration``; that of a dip
(`PhysicalTransit`, `BoxOccultation`) ``mid_time``, ``start``, ``stop``,
``duration`` and ``depth``, the names of the flare and dip tables of
`spelunker.variability`.

Examples
--------
>>> from spelunker.datasets import Flare
>>> flare = Flare(peak_time=30.0, fwhm=8.0, amplitude=0.02)
>>> round(float(flare.flux_factor(30.0)), 3), round(flare.truth()["equivalent_duration"], 4)
(1.02, 0.2923)
"""

import math
from dataclasses import dataclass

import numpy as np

from spelunker._validate import check_finite_float, check_positive_float
from spelunker.errors import ParameterError
from spelunker.variability.template import (FLARE_AREA, FLARE_DECAY_EDGE, FLARE_RISE_EDGE,
                                            flare_template)

__all__ = [
    "ASTRO_SIGNALS",
    "BoxOccultation",
    "EclipsingBinary",
    "Flare",
    "PhysicalTransit",
    "Pulsation",
    "RedNoise",
]

def _check_fields(signal, *, finite=(), seconds=(), positive=()):
    """Each named field of ``signal`` a finite number, a duration > 0 or a number > 0."""
    where = type(signal).__name__
    for name in finite:
        check_finite_float(getattr(signal, name), name, where=where)
    for name in seconds:
        check_positive_float(getattr(signal, name), name, unit="seconds", where=where)
    for name in positive:
        check_positive_float(getattr(signal, name), name, where=where)


def _fraction(value, name, where, *, allow_one=False):
    """``value`` as a float in [0, 1) ([0, 1] with ``allow_one``)."""
    number = check_finite_float(value, name, minimum=0.0, where=where)
    if number > 1.0 or (number == 1.0 and not allow_one):
        bound = "<= 1" if allow_one else "< 1"
        raise ParameterError(f"{where}: {name}={value!r} must be {bound}")
    return number


def _times(time):
    return np.asarray(time, dtype=float)


@dataclass(frozen=True)
class Flare:
    """A stellar flare: Davenport et al. (2014)'s empirical template.

    The template is `spelunker.variability.template.flare_template` (its one
    owner, shared with the flare fit of `spelunker.variability.find_flares`).

    ``flux_factor = 1 + amplitude * F((t - peak_time) / fwhm)`` with the
    template of Davenport et al. 2014 (ApJ 797, 122, eqs. 1 and 4; the
    classical flare built from 885 Kepler flares of GJ 1243), in units of
    its full width at half maximum ``t_1/2``: a quartic rise
    ``1 + 1.941 x - 0.175 x**2 - 2.246 x**3 - 1.125 x**4`` for
    ``-1 <= x <= 0`` (zero before) and a decay
    ``0.6890 exp(-1.600 x) + 0.3030 exp(-0.2783 x)`` for ``x > 0``.

    Parameters
    ----------
    peak_time : float
        Time of the peak (seconds).
    fwhm : float
        ``t_1/2``, the full width at half maximum (seconds, > 0).
    amplitude : float
        Relative flux above the quiescent level at the peak (> 0).

    Notes
    -----
    ``truth()`` gives ``peak_time``, ``fwhm``, ``amplitude``,
    ``equivalent_duration`` (seconds: the integral of
    ``amplitude * F``, analytic: ``1.8270 * amplitude * fwhm``), and
    ``start``, ``stop`` and ``duration`` (seconds), where the template is
    above `FLARE_EDGE` (1 %) of the peak: from ``peak_time - 0.908 fwhm`` to
    ``peak_time + 12.26 fwhm`` (the slow decay is long; a detector sees less
    of it).  As published, the template is 0.913 ``t_1/2`` wide at half its
    maximum (from ``-0.271`` to ``+0.642``); ``fwhm`` is Davenport's
    ``t_1/2``, the unit of the template.

    Examples
    --------
    >>> from spelunker.datasets import Flare
    >>> flare = Flare(peak_time=10.0, fwhm=2.0, amplitude=0.05)
    >>> flare.flux_factor([0.0, 10.0]).round(3)
    array([1.  , 1.05])
    >>> round(flare.truth()["stop"], 2)
    34.51
    """

    peak_time: float
    fwhm: float
    amplitude: float

    def __post_init__(self):
        _check_fields(self, finite=("peak_time",), seconds=("fwhm",), positive=("amplitude",))

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        return 1.0 + self.amplitude * flare_template((_times(time) - self.peak_time) / self.fwhm)

    def truth(self):
        """The true peak, width, amplitude, equivalent duration and extent (seconds)."""
        start = self.peak_time + FLARE_RISE_EDGE * self.fwhm
        stop = self.peak_time + FLARE_DECAY_EDGE * self.fwhm
        return {"kind": "flare", "peak_time": float(self.peak_time), "fwhm": float(self.fwhm),
                "amplitude": float(self.amplitude),
                "equivalent_duration": float(self.amplitude * self.fwhm * FLARE_AREA),
                "start": float(start), "stop": float(stop), "duration": float(stop - start)}


@dataclass(frozen=True)
class PhysicalTransit:
    """A planetary transit with quadratic limb darkening, computed by batman.

    A circular orbit (Kreidberg 2015, PASP 127, 1161, the ``batman``
    package), periodic with ``period``.

    Parameters
    ----------
    mid_time : float
        Mid-transit time (seconds).
    period : float
        Orbital period (seconds, > 0).
    rp_rs : float
        Planet radius in stellar radii (0 < rp_rs < 1).
    a_rs : float
        Semi-major axis in stellar radii (> 1).
    inclination : float, optional
        Orbital inclination (degrees, <= 90); the impact parameter
        ``a_rs cos(i)`` must be below ``1 + rp_rs`` (a transit happens).
    limb_darkening : tuple of float, optional
        Quadratic coefficients ``(u1, u2)``.

    Notes
    -----
    ``truth()`` gives ``mid_time``, ``period``, ``rp_rs``, ``a_rs``,
    ``inclination``, ``impact_parameter``, ``duration`` (first to fourth
    contact, seconds: ``P / pi * arcsin(sqrt((1 + k)**2 - b**2) / (a sin i))``),
    ``start``, ``stop`` (seconds) and ``depth`` (the largest flux loss,
    from batman at mid-transit).

    Examples
    --------
    >>> from spelunker.datasets import PhysicalTransit
    >>> transit = PhysicalTransit(mid_time=600.0, period=86400.0, rp_rs=0.1, a_rs=5.0)
    >>> round(transit.truth()["duration"]), round(transit.truth()["depth"], 4)
    (6100, 0.0121)
    """

    mid_time: float
    period: float
    rp_rs: float
    a_rs: float
    inclination: float = 90.0
    limb_darkening: tuple = (0.4, 0.25)

    def __post_init__(self):
        where = "PhysicalTransit"
        _check_fields(self, finite=("mid_time",), seconds=("period",))
        if not 0.0 < check_finite_float(self.rp_rs, "rp_rs", where=where) < 1.0:
            raise ParameterError(f"{where}: rp_rs={self.rp_rs!r} must be in (0, 1)")
        if not check_finite_float(self.a_rs, "a_rs", where=where) > 1.0:
            raise ParameterError(f"{where}: a_rs={self.a_rs!r} must be > 1 (stellar radii)")
        if not 0.0 < check_finite_float(self.inclination, "inclination", where=where) <= 90.0:
            raise ParameterError(f"{where}: inclination={self.inclination!r} must be in "
                                 "(0, 90] degrees")
        if not self._impact() < 1.0 + self.rp_rs:
            raise ParameterError(f"{where}: impact parameter a_rs*cos(inclination)="
                                 f"{self._impact():.3g} must be < 1 + rp_rs (no transit)")
        try:
            u1, u2 = (float(c) for c in self.limb_darkening)
        except (TypeError, ValueError):
            raise ParameterError(f"{where}: limb_darkening={self.limb_darkening!r} must be "
                                 "two numbers (u1, u2)") from None
        object.__setattr__(self, "limb_darkening", (u1, u2))

    def _impact(self):
        return self.a_rs * math.cos(math.radians(self.inclination))

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds), from batman."""
        # Imported here: `import batman` costs 0.25 s, needed only to draw transits.
        import batman

        params = batman.TransitParams()
        params.t0, params.per = self.mid_time, self.period
        params.rp, params.a, params.inc = self.rp_rs, self.a_rs, self.inclination
        params.ecc, params.w = 0.0, 90.0
        params.limb_dark, params.u = "quadratic", list(self.limb_darkening)
        time = np.ascontiguousarray(_times(time), dtype=float)
        flat = np.atleast_1d(time).ravel()
        return batman.TransitModel(params, flat).light_curve(params).reshape(time.shape)

    def truth(self):
        """The true mid-time, duration (first to fourth contact), depth and geometry."""
        b = self._impact()
        sin_i = math.sin(math.radians(self.inclination))
        chord = math.sqrt(max((1.0 + self.rp_rs) ** 2 - b * b, 0.0)) / (self.a_rs * sin_i)
        duration = self.period / math.pi * math.asin(min(chord, 1.0))
        depth = 1.0 - float(self.flux_factor(np.array([self.mid_time]))[0])
        return {"kind": "transit", "mid_time": float(self.mid_time), "period": float(self.period),
                "rp_rs": float(self.rp_rs), "a_rs": float(self.a_rs),
                "inclination": float(self.inclination), "impact_parameter": float(b),
                "duration": float(duration), "start": float(self.mid_time - duration / 2),
                "stop": float(self.mid_time + duration / 2), "depth": float(depth)}


def _trapezoid(distance, duration, ingress):
    """Fraction of the full depth at ``distance`` (seconds) from the middle of a trapezoid."""
    edge = 0.5 * duration - np.abs(distance)
    if ingress > 0:
        return np.clip(edge / ingress, 0.0, 1.0)
    return (edge >= 0).astype(float)


@dataclass(frozen=True)
class BoxOccultation:
    """A sharp box-shaped occultation, e.g. of the star by a solar-system body.

    Intended for 0.3-5 s events, which the guider's 16 Hz cadence resolves
    (any ``duration > 0`` is accepted).

    Parameters
    ----------
    mid_time : float
        Centre (seconds).
    duration : float
        Full duration (seconds, > 0).
    depth : float
        Fractional flux loss, ``0 <= depth < 1``.

    Notes
    -----
    ``truth()`` gives ``mid_time``, ``duration``, ``depth``, ``start`` and
    ``stop`` (seconds).

    Examples
    --------
    >>> from spelunker.datasets import BoxOccultation
    >>> box = BoxOccultation(mid_time=5.0, duration=1.0, depth=0.2)
    >>> box.flux_factor([4.0, 5.0]), box.truth()["start"]
    (array([1. , 0.8]), 4.5)
    """

    mid_time: float
    duration: float
    depth: float

    def __post_init__(self):
        _check_fields(self, finite=("mid_time",), seconds=("duration",))
        _fraction(self.depth, "depth", "BoxOccultation")

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        return 1.0 - self.depth * _trapezoid(_times(time) - self.mid_time, self.duration, 0.0)

    def truth(self):
        """The true mid-time, duration, depth, start and stop."""
        half = 0.5 * self.duration
        return {"kind": "occultation", "mid_time": float(self.mid_time),
                "duration": float(self.duration), "depth": float(self.depth),
                "start": float(self.mid_time - half), "stop": float(self.mid_time + half)}


@dataclass(frozen=True)
class EclipsingBinary:
    """Periodic primary and secondary eclipses (trapezoids), secondary at phase 0.5.

    Each eclipse is a trapezoid of total duration ``duration`` whose
    ingress and egress each last ``ingress_fraction * duration``; primary
    eclipses are centred at ``t0 + n * period``, secondary ones at
    ``t0 + (n + 0.5) * period`` (a circular orbit).

    Parameters
    ----------
    period : float
        Orbital period (seconds, > 0).
    t0 : float
        A primary mid-eclipse time (seconds).
    duration : float
        Duration of each eclipse (seconds, > 0, below half the period).
    primary_depth, secondary_depth : float
        Fractional flux losses at mid-eclipse (``0 <= depth < 1``).
    ingress_fraction : float, optional
        Ingress (and egress) as a fraction of ``duration``, 0 (a box) to
        0.5 (a V).

    Notes
    -----
    ``truth()`` gives the fields; `eclipse_times` the mid-times inside a
    time range.

    Examples
    --------
    >>> from spelunker.datasets import EclipsingBinary
    >>> binary = EclipsingBinary(period=100.0, t0=10.0, duration=8.0, primary_depth=0.3,
    ...                          secondary_depth=0.1)
    >>> binary.flux_factor([10.0, 60.0, 30.0])
    array([0.7, 0.9, 1. ])
    >>> [times.tolist() for times in binary.eclipse_times(0.0, 250.0)]
    [[10.0, 110.0, 210.0], [60.0, 160.0]]
    """

    period: float
    t0: float
    duration: float
    primary_depth: float
    secondary_depth: float
    ingress_fraction: float = 0.25

    def __post_init__(self):
        where = "EclipsingBinary"
        _check_fields(self, finite=("t0",), seconds=("period", "duration"))
        if not self.duration < 0.5 * self.period:
            raise ParameterError(f"{where}: duration={self.duration!r} must be below half the "
                                 f"period ({0.5 * self.period:g} s)")
        _fraction(self.primary_depth, "primary_depth", where)
        _fraction(self.secondary_depth, "secondary_depth", where)
        if check_finite_float(self.ingress_fraction, "ingress_fraction", minimum=0.0,
                              where=where) > 0.5:
            raise ParameterError(f"{where}: ingress_fraction={self.ingress_fraction!r} must "
                                 "be <= 0.5")

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        phase = np.mod(_times(time) - self.t0, self.period)  # 0 <= phase < period
        ingress = self.ingress_fraction * self.duration
        primary = np.minimum(phase, self.period - phase)
        secondary = phase - 0.5 * self.period
        return (1.0 - self.primary_depth * _trapezoid(primary, self.duration, ingress)
                - self.secondary_depth * _trapezoid(secondary, self.duration, ingress))

    def eclipse_times(self, start, stop):
        """Mid-times (seconds) of the primary and of the secondary eclipses in [start, stop].

        Returns
        -------
        primary, secondary : numpy.ndarray
        """
        start = check_finite_float(start, "start", where="EclipsingBinary.eclipse_times")
        stop = check_finite_float(stop, "stop", where="EclipsingBinary.eclipse_times")

        def centres(offset):
            first = math.ceil((start - self.t0) / self.period - offset)
            last = math.floor((stop - self.t0) / self.period - offset)
            return self.t0 + (np.arange(first, last + 1) + offset) * self.period

        return centres(0.0), centres(0.5)

    def truth(self):
        """The true period, primary epoch, duration, depths and ingress fraction."""
        return {"kind": "eclipsing_binary", "period": float(self.period), "t0": float(self.t0),
                "duration": float(self.duration), "primary_depth": float(self.primary_depth),
                "secondary_depth": float(self.secondary_depth),
                "ingress_fraction": float(self.ingress_fraction)}


def _number_tuple(values, name, where):
    if isinstance(values, (str, bytes)):
        raise ParameterError(f"{where}: {name}={values!r} must be numbers")
    values = np.atleast_1d(values) if np.iterable(values) else np.array([values])
    if values.ndim != 1 or values.size == 0:
        raise ParameterError(f"{where}: {name}={values!r} must be a non-empty list of numbers")
    return tuple(check_finite_float(v, f"{name}[{k}]", where=where) for k, v in enumerate(values))


@dataclass(frozen=True)
class Pulsation:
    """A sum of sinusoids: ``1 + sum(a_k * sin(2 pi t / P_k + phi_k))``.

    Parameters
    ----------
    periods : float or sequence of float
        Periods (seconds, > 0).
    amplitudes : float or sequence of float
        Fractional semi-amplitudes (>= 0, summing to less than 1), one per
        period.
    phases : float or sequence of float, optional
        Phases (radians) at time 0; default 0.

    Notes
    -----
    ``truth()`` gives ``periods``, ``amplitudes`` and ``phases`` (tuples).

    Examples
    --------
    >>> from spelunker.datasets import Pulsation
    >>> pulsation = Pulsation(periods=[40.0, 10.0], amplitudes=[0.01, 0.002])
    >>> float(pulsation.flux_factor(10.0).round(6)), pulsation.truth()["phases"]
    (1.01, (0.0, 0.0))
    """

    periods: tuple
    amplitudes: tuple
    phases: tuple | None = None

    def __post_init__(self):
        where = "Pulsation"
        periods = _number_tuple(self.periods, "periods", where)
        amplitudes = _number_tuple(self.amplitudes, "amplitudes", where)
        phases = (0.0,) * len(periods) if self.phases is None else _number_tuple(
            self.phases, "phases", where)
        if not len(periods) == len(amplitudes) == len(phases):
            raise ParameterError(f"{where}: periods, amplitudes and phases must have the same "
                                 f"length, got {len(periods)}, {len(amplitudes)}, {len(phases)}")
        for k, period in enumerate(periods):
            check_positive_float(period, f"periods[{k}]", unit="seconds", where=where)
        if min(amplitudes) < 0 or sum(amplitudes) >= 1:
            raise ParameterError(f"{where}: amplitudes={amplitudes!r} must be >= 0 and sum "
                                 "to less than 1")
        for name, value in (("periods", periods), ("amplitudes", amplitudes),
                            ("phases", phases)):
            object.__setattr__(self, name, value)

    def flux_factor(self, time):
        """Multiplicative flux factor at ``time`` (seconds)."""
        time = _times(time)
        factor = np.ones_like(time)
        for period, amplitude, phase in zip(self.periods, self.amplitudes, self.phases):
            factor += amplitude * np.sin(2.0 * np.pi * time / period + phase)
        return factor

    def truth(self):
        """The true periods (seconds), amplitudes and phases (radians)."""
        return {"kind": "pulsation", "periods": self.periods, "amplitudes": self.amplitudes,
                "phases": self.phases}


#: Grid steps per correlation time of `RedNoise`.
RED_NOISE_STEPS = 20
_RED_BLOCK = 64  # AR(1) steps solved at once (rho**-64 stays small)


def _ar1(x0, rho, scale, normals):
    """``x_k = rho x_(k-1) + scale e_k`` for k = 1..n from ``x0``, a block of steps at a time."""
    n = normals.size
    out = np.empty(n)
    powers = rho ** np.arange(1, _RED_BLOCK + 1)
    last = x0
    for first in range(0, n, _RED_BLOCK):
        e = normals[first : first + _RED_BLOCK] * scale
        m = e.size
        # x_j = rho^j (last + sum_{i<=j} rho^-i e_i), j = 1..m
        block = powers[:m] * (last + np.cumsum(e / powers[:m]))
        out[first : first + m] = block
        last = block[-1]
    return out


@dataclass(frozen=True)
class RedNoise:
    """Seeded correlated noise: a stationary Ornstein-Uhlenbeck process of the flux.

    ``flux_factor = 1 + x(t)`` where ``x`` has rms ``amplitude`` and the
    autocorrelation ``exp(-|dt| / timescale)``.  ``x`` is drawn exactly
    (the AR(1) recursion of the OU process) on a fixed grid of step
    ``timescale / 20`` anchored at ``t = 0`` (forward for positive, backward
    for negative times, from one shared value at 0), every grid point from
    its own place in the seed's streams, and linearly interpolated: the
    value at a time depends only on the seed and that time, never on the
    other times asked for, so files simulated one at a time join
    seamlessly.  The interpolation lowers the rms between grid points by at
    most 1.3 %.  Memory and time grow with ``max(|t|) / timescale``.

    Parameters
    ----------
    amplitude : float
        Relative rms (0 to 0.2; the factor is kept above 1e-6).
    timescale : float
        Correlation time (seconds, > 0).
    seed : int
        Seed (>= 0).

    Notes
    -----
    ``truth()`` gives ``amplitude``, ``timescale`` and ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.datasets import RedNoise
    >>> noise = RedNoise(amplitude=0.01, timescale=5.0, seed=3)
    >>> a = noise.flux_factor(np.arange(0.0, 100.0, 0.5))
    >>> bool(a[10] == noise.flux_factor([5.0])[0])
    True
    """

    amplitude: float
    timescale: float
    seed: int

    def __post_init__(self):
        where = "RedNoise"
        if check_finite_float(self.amplitude, "amplitude", minimum=0.0, where=where) > 0.2:
            raise ParameterError(f"{where}: amplitude={self.amplitude!r} must be <= 0.2")
        _check_fields(self, seconds=("timescale",))
        seed = self.seed
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or (
                seed < 0):
            raise ParameterError(f"{where}: seed={seed!r} must be an integer >= 0")
        object.__setattr__(self, "seed", int(seed))

    def _chain(self, n, direction):
        """Grid values 1..n steps from 0 in ``direction`` (+1 or -1)."""
        rho = math.exp(-1.0 / RED_NOISE_STEPS)
        x0 = self.amplitude * np.random.default_rng([self.seed, 0]).standard_normal()
        if n == 0:
            return np.empty(0), x0
        normals = np.random.default_rng([self.seed, 1 if direction > 0 else 2]).standard_normal(n)
        return _ar1(x0, rho, self.amplitude * math.sqrt(1.0 - rho * rho), normals), x0

    def values(self, time):
        """The noise ``x(t)`` (relative flux, mean 0) at ``time`` (seconds)."""
        time = _times(time)
        if time.size == 0 or self.amplitude == 0:
            return np.zeros_like(time)
        step = self.timescale / RED_NOISE_STEPS
        position = time / step
        low = int(math.floor(min(float(np.min(position)), 0.0)))
        high = int(math.ceil(max(float(np.max(position)), 0.0)))
        forward, x0 = self._chain(high, +1)
        backward, _ = self._chain(-low, -1)
        grid = np.concatenate([backward[::-1], [x0], forward])  # grid index low .. high
        return np.interp(position, np.arange(low, high + 1), grid)

    def flux_factor(self, time):
        """Multiplicative flux factor ``1 + x(t)`` at ``time`` (seconds)."""
        return np.maximum(1.0 + self.values(time), 1e-6)

    def truth(self):
        """The true rms (relative), correlation time (seconds) and seed."""
        return {"kind": "red_noise", "amplitude": float(self.amplitude),
                "timescale": float(self.timescale), "seed": self.seed}


#: The flux signals of this module, in the order of the documentation.
ASTRO_SIGNALS = (Flare, PhysicalTransit, BoxOccultation, EclipsingBinary, Pulsation, RedNoise)
