"""Lomb-Scargle power on a coarse grid with the peaks of a finer one, zoomed around candidates.

A periodogram's cost on a million points is the non-uniform FFT onto the
frequency grid, and at 5 samples per peak that grid has 2.5 million
frequencies for a 15-hour visit; a figure needs far fewer, and only the
peaks need the fine grid.  `zoom_periodograms` computes, with finufft (the
transform of nifty-ls), the three trigonometric sums of the floating-mean
Lomb-Scargle power of each series,

    ``Sy(f) = sum w (y - ybar) exp(2 pi i f t)``, ``Sw(f) = sum w exp(2 pi i f t)``
    and ``Sw(2 f)`` (weights ``w`` summing to 1),

on an internal grid of at least `MIN_OVERSAMPLING` points per
``1 / baseline``, and from them the power (nifty-ls's formula, the same to
about 1e-9) on the coarse grid that is returned and stored.  The sums are
band-limited (the times span the baseline), so sampled at twice the
critical rate they give their value at any other frequency by interpolation
(a Kaiser-Bessel windowed sinc over 2 x `_TAPS` samples: about 1e-11 of
their rms, far below the float32 rounding of the stored power).  The fine
grid's power is computed only where one of the ``n_peaks`` strongest fine
peaks can be:

* a peak of the continuous power is within half an internal step of an
  internal grid point, whose power is at least ``alpha`` times the peak's
  (`_level`, from the spectral window's width and a margin);
* so every fine point whose power reaches that of the ``n``-th strongest
  fine peak ``P_n`` lies within one internal step of an internal point of
  power ``>= alpha * P_n``, and the fine power is computed on those
  stretches (and found again, lowering the threshold, until the threshold
  is at most ``alpha * P_n`` of the peaks found).

The peaks are then exactly those of the fine grid computed in full
(`spelunker.periodogram.find_peaks` on it), the same rule applied to the
stretches where a point is high enough to matter.

The series run on a pool of at most `_MAX_THREADS` threads, each with its
own finufft plans; series whose masks differ only inside the span share
one set of points (`_point_groups`: weight 0 where a series has none).
"""

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import finufft
import numpy as np

from spelunker._jit import njit
from spelunker._validate import thread_count
from spelunker.errors import ParameterError
from spelunker.periodogram.peaks import (
    _baseline,
    _peak_window,
    _rows_of_peaks,
    _separation,
    peaks_qtable,
)
from spelunker.periodogram.refine import _long_dot

# zoom_periodograms is the engine of lomb_scargle, which checks its arguments.
__all__ = ["MIN_OVERSAMPLING"]

log = logging.getLogger(__name__)

#: Fewest internal grid points per ``1 / baseline`` (the sums' critical rate is 1).
MIN_OVERSAMPLING = 2.0

#: Samples on each side of a frequency in the interpolation of the sums.
_TAPS = 16

#: finufft's relative precision (nifty-ls's default for float64).
_EPS = 1e-9

#: Margin on the spectral window's bound of a peak's loss between internal grid
#: points (`_level`): noise peaks are less regular than a sinusoid's.
_LEVEL_MARGIN = 0.5

#: Positions between samples are resolved to 1 / _FRACTIONS of a step in the interpolation.
_FRACTIONS = 1 << 30

#: FFTW's planning flag FFTW_ESTIMATE (nifty-ls's choice: no time spent measuring).
_FFTW_ESTIMATE = 64

#: Frequencies interpolated at a time (memory: 2 x 16 x 16 bytes each for each sum).
_CHUNK = 1 << 15

#: Most series computed at once (threads; each holds its sums and finufft plans, about
#: 0.17 GB per million frames).
_MAX_THREADS = 2

#: Strongest internal points around which the fine power is first computed, per peak asked.
_FIRST_CANDIDATES = 40


def zoom_periodograms(times, series, errors, masks, *, fmin, step, n_power, fine_step,
                      n_fine, n_peaks, peak_separation=None, refine_below=None, threads=None):
    """Coarse power of every series and the peaks of the fine grid, zoomed around candidates.

    Parameters
    ----------
    times : numpy.ndarray
        Shared time axis (seconds, starting at 0).
    series, errors : dict of str to numpy.ndarray
        Values and 1-sigma errors (None: unweighted) of every series, in order.
    masks : dict of str to numpy.ndarray
        Valid points of the series that get a periodogram (the others get none).
    fmin, step, n_power : float, float, int
        The returned grid: ``fmin + step * arange(n_power)``.
    fine_step, n_fine : float, int
        The grid of the peaks, ``fmin + fine_step * arange(n_fine)``, with
        ``fine_step < step``.
    n_peaks : int
        Peaks per series.
    peak_separation : float or None, optional
        As in `spelunker.periodogram.lomb_scargle`.
    refine_below : float or None, optional
        As in ``spelunker.periodogram.peaks._series_peaks`` (None: its default).
    threads : int or None, optional
        Most series computed at once (at most `_MAX_THREADS`); 1 computes
        them one after the other in the calling thread.  None: every CPU
        this process may use (`spelunker._validate.thread_count`).  The results do not depend on it.

    Returns
    -------
    power : dict of str to numpy.ndarray
        float32 power on the returned grid of every series of ``masks``.
    peaks : astropy.table.QTable
        The peak table of `spelunker.periodogram.lomb_scargle`.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.periodogram.zoom import zoom_periodograms
    >>> t = np.arange(4000) * 0.0538
    >>> y = np.sin(2 * np.pi * t / 2.0) + np.random.default_rng(1).normal(0, 1, 4000)
    >>> T = t[-1]
    >>> power, peaks = zoom_periodograms(
    ...     t, {"y": y}, {"y": None}, {"y": np.ones(4000, bool)}, fmin=1 / T,
    ...     step=1 / (2 * T), n_power=3990, fine_step=1 / (5 * T), n_fine=9975, n_peaks=1)
    >>> round(float(peaks["period"][0].value), 2), power["y"].dtype.name
    (2.0, 'float32')
    """
    # Internal grid points per returned one: at least MIN_OVERSAMPLING per 1 / baseline.
    multiple = max(1, math.ceil(MIN_OVERSAMPLING * step * _baseline(times) - 1e-9))
    delta = step / multiple
    n_grid = max((n_power - 1) * multiple + 1,
                 math.ceil((n_fine - 1) * fine_step / delta) + 2)
    kwargs = {} if refine_below is None else {"refine_below": refine_below}
    groups = _point_groups(times, masks)
    group_of = {name: index for index, (_, names, _) in enumerate(groups) for name in names}
    workers = thread_count(threads, most=_MAX_THREADS)
    shared = _SharedPoints(times, groups, fmin, delta, n_grid, threads=workers)
    local = threading.local()  # each thread's finufft plans, one _Transform per group

    def one(name):
        index = group_of[name]
        transforms = getattr(local, "transforms", None)
        if transforms is None:
            transforms = local.transforms = {}
        if index not in transforms:
            transforms[index] = _Transform(shared.points(index))
        points, mask = groups[index][0], masks[name]
        values, dy = series[name], errors[name]
        sums = transforms[index].sums(values, dy, mask, points)
        coarse = sums.grid_power()
        power = coarse[:(n_power - 1) * multiple + 1:multiple].astype(np.float32)
        first, last = groups[index][2]  # every series of a group has the group's ends
        window = _window(last - first, fmin, fine_step, n_fine, peak_separation)
        index, values_at = _zoom(sums, coarse, fmin, fine_step, n_fine, n_peaks, window)
        log.debug("%s: fine power at %d of %d frequencies", name, sums.evaluated, n_fine)
        return (power,
                _rows_of_peaks(name, fmin + fine_step * index.astype(float), values_at,
                               fmin + fine_step * (n_fine - 1), n_points=sums.count,
                               time_variance=sums.variance,
                               points=lambda: (times[mask], values[mask], None if dy is None
                                               else np.asarray(dy[mask], dtype=float)),
                               **kwargs))

    names = list(masks)
    if workers == 1 or len(names) == 1:
        results = list(map(one, names))
    else:
        # One pool for every series, whatever its group: no thread waits for a group's end.
        with ThreadPoolExecutor(min(workers, len(names))) as pool:
            results = list(pool.map(one, names))
    power, rows = {}, {}
    for name, (series_power, series_rows) in zip(names, results, strict=True):
        power[name], rows[name] = series_power, series_rows
    return power, peaks_qtable([row for name in series if name in rows for row in rows[name]])


def _window(baseline, fmin, fine_step, n_fine, peak_separation):
    """`_peak_window` on the fine grid, spaced by its median step as on the grid in full.

    ``baseline`` is the span (s) of the series' valid points.  The median
    step differs from ``fine_step`` by rounding only, which changes the
    window only when the separation is half-way between two numbers of
    steps: then the grid is made to measure it.
    """
    window = _peak_window(baseline, fine_step, peak_separation)
    ratio = _separation(baseline, peak_separation) / fine_step
    if abs(ratio - math.floor(ratio) - 0.5) < 1e-6:
        grid = fmin + fine_step * np.arange(n_fine)
        window = _peak_window(baseline, float(np.median(np.diff(grid))), peak_separation)
    return window


def _point_groups(times, masks):
    """[(points, [names], ends)]: the series whose periodograms share one set of finufft points.

    Series with the same mask share it; a series whose mask differs (a few
    frames flagged in the fit, not in the light curve) joins a group when
    their union has the same first and last time as each of them: the
    group's transform is then the same (same centre and span), the frames
    missing from a series get weight 0, and the sums differ from its own
    transform's by rounding only.  ``points`` is the group's first mask
    when it is the union, else the union; ``ends`` the first and last time
    of each of them (`_ends`).
    """
    groups = []
    for mask, names in group_by_mask(masks):
        ends = _ends(times, mask)
        for group in groups:
            if ends == group[2]:   # then the union has these ends too
                union = group[0] | mask
                group[0] = group[0] if np.array_equal(union, group[0]) else union
                group[1].extend(names)
                break
        else:
            groups.append([mask, list(names), ends])
    return [(points, names, ends) for points, names, ends in groups]


def _ends(times, mask):
    """Earliest and latest time of ``mask``'s points (the times need not be sorted)."""
    return (float(times.min(where=mask, initial=np.inf)),
            float(times.max(where=mask, initial=-np.inf)))


def group_by_mask(masks):
    """[(mask, [names])] of the series that share exactly the same mask, in order."""
    groups = []
    for name, mask in masks.items():
        for group_mask, names in groups:
            if group_mask is mask or np.array_equal(group_mask, mask):
                names.append(name)
                break
        else:
            groups.append((mask, [name]))
    return groups


class _SharedPoints:
    """The `_Points` of each group of `_point_groups`, made once (by the first thread to ask)."""

    def __init__(self, times, groups, fmin, delta, n_grid, *, threads=1):
        self.times, self.groups = times, groups
        self.fmin, self.delta, self.n_grid = fmin, delta, n_grid
        self.threads = threads
        self.made = {}
        self.locks = [threading.Lock() for _ in groups]

    def points(self, index):
        """The `_Points` of group ``index``."""
        with self.locks[index]:
            if index not in self.made:
                mask = self.groups[index][0]
                # Every frame (the usual group): the series are read in place, no index.
                frames = None if mask.all() else np.flatnonzero(mask)
                times = self.times if frames is None else self.times[frames]
                self.made[index] = _Points(times, self.fmin, self.delta, self.n_grid,
                                           frames=frames, threads=self.threads)
            return self.made[index]


class _Points:
    """One set of times and the grids of its sums on the internal grid ``fmin + delta * j``.

    ``Sy`` is computed on grid A, ``fmin + delta * (j - _TAPS)`` for ``0 <=
    j < n_grid + 2 * _TAPS``.  When ``fmin`` is a multiple of ``delta`` (the
    default grid, ``fmin = 1 / baseline``) ``Sw`` is computed once on a
    grid from A's first frequency to beyond the doubled last one, which
    holds both ``Sw(f)`` and ``Sw(2 f)``; otherwise on grid A (with ``Sy``)
    and on grid B, ``2 * fmin + delta * (i - _TAPS)`` for ``0 <= i < 2 *
    n_grid + 2 * _TAPS``.  Read-only once made: the threads share it (each
    has its own finufft plans, `_Transform`).  ``frames``: the indices of
    these times in the series' arrays, where each series is gathered (None:
    every frame, in order, read in place).
    """

    def __init__(self, times, fmin, delta, n_grid, *, frames=None, threads=1):
        self.frames = frames
        self.times = times - 0.5 * (times.min() + times.max())  # centred: smooth sums
        self.fmin, self.delta, self.n_grid = fmin, delta, n_grid
        self.oversampling = 1.0 / (delta * _baseline(times)) if len(times) > 1 else np.inf
        self.x = (2 * np.pi * delta) * self.times
        origin = fmin - _TAPS * delta
        multiple = fmin / delta
        self.aligned = abs(multiple - round(multiple)) < 1e-9
        n_a = n_grid + 2 * _TAPS
        if self.aligned:
            self.grids = [(origin, n_a, 1),
                          (origin, int(round(multiple)) + 2 * n_grid + 2 * _TAPS, 1)]
        else:
            self.grids = [(origin, n_a, 2), (2 * fmin - _TAPS * delta, 2 * n_grid + 2 * _TAPS, 1)]
        # The grids' shifts at once on ``threads`` threads (numpy's exp releases the GIL):
        # the other series' threads wait for these points.
        if threads > 1:
            with ThreadPoolExecutor(min(threads, len(self.grids))) as pool:
                self.shifts = list(pool.map(self._shift, self.grids))
        else:
            self.shifts = [self._shift(grid) for grid in self.grids]

    def _shift(self, grid):
        """``exp(2 pi i f_c t)``: finufft's output j is at ``origin + delta j`` when the
        input is shifted to the grid's centre ``f_c``.  Made in place: one array, not two."""
        grid_origin, n_modes, _ = grid
        shift = np.multiply(2j * np.pi * (grid_origin + self.delta * (n_modes // 2)), self.times)
        return np.exp(shift, out=shift)


class _Transform:
    """finufft plans of one `_Points` (one thread's: a plan is not shared between threads).

    It also holds the memory of one series (`scratch`: its gathered points and
    weights, its sums, its power on the internal grid), reused by the next: a
    series takes no fresh memory the size of the visit but finufft's own
    (at 2 million points, 0.3 GB of page faults per series otherwise).
    """

    def __init__(self, points):
        self.times, self.shifts, self.grids = points.times, points.shifts, points.grids
        self.frames = points.frames
        self.fmin, self.delta, self.n_grid = points.fmin, points.delta, points.n_grid
        self.oversampling = points.oversampling
        self.plans = []
        for _, n_modes, n_trans in self.grids:
            plan = finufft.Plan(1, (n_modes,), n_trans=n_trans, eps=_EPS, isign=1,
                                upsampfac=1.25, fftw=_FFTW_ESTIMATE, nthreads=1)
            plan.setpts(points.x)
            self.plans.append(plan)
        self._memory = {}

    def scratch(self, key, n, dtype):
        """This transform's array ``key`` of ``n`` values, made on first use, then reused."""
        array = self._memory.get(key)
        if array is None:
            array = self._memory[key] = np.empty(n, dtype=dtype)
        return array

    def work(self, n):
        """``n`` float64 values of this transform's working array, made on first use.

        `sums` uses it, then `_nth_highest` (a series' partition of its
        power): never at once.  Sized for either, it is one array, not two.
        """
        return self.scratch("work", max(len(self.times), self.n_grid), float)[:n]

    def _gather(self, array, out):
        """Gather ``array`` (all frames; any stride, float32 or 64) at our frames into ``out``."""
        if self.frames is None:  # every frame, in order
            np.copyto(out, array)
        elif array.dtype == out.dtype:
            # mode='clip' (the frames are in range): with the default 'raise', numpy
            # gathers into a temporary array first, then copies it into ``out``.
            np.take(array, self.frames, out=out, mode="clip")
        else:  # float32 errors: gathered, then cast
            np.copyto(out, array[self.frames])
        return out

    def sums(self, values, errors, mask, points):
        """The `_Sums` of one series whose valid frames are ``mask``.

        ``values`` and ``errors`` (None: unweighted) are the series' arrays
        over all frames; ``points`` are the frames of this transform, a
        superset of ``mask`` (or ``mask`` itself): the frames missing from
        the series get weight 0.  The sums of one series at a time: the
        next call reuses their memory, and the series' points are gathered
        into it at the frames of `_Points` (found once per group; a gather by
        mask, `numpy.compress`, finds them again at each call and gathers
        into a temporary copy: 32 MB of fresh memory at 2 million frames).
        """
        n = len(self.times)
        if not len(points) == len(values) == len(mask):
            msg = (f"points, values and mask must cover the same frames; got {len(points)}, "
                   f"{len(values)} and {len(mask)}")
            raise ParameterError(msg)
        if int(np.count_nonzero(points)) != n:
            msg = (f"points has {int(np.count_nonzero(points))} of them; this transform's "
                   f"points are {n}")
            raise ParameterError(msg)
        y = self._gather(values, self.scratch("values", n, float))
        weight = self.scratch("weight", n, float)
        invalid = None if points is mask else ~mask[points]
        count = n if invalid is None else n - int(np.count_nonzero(invalid))
        if invalid is not None:
            y[invalid] = 0.0
        if errors is None:
            weight.fill(1.0 / count)
        else:
            self._gather(errors, weight)
            if invalid is not None:
                weight[invalid] = 1.0
            np.power(weight, -2.0, out=weight)
        if invalid is not None:
            weight[invalid] = 0.0
        if errors is not None:
            weight /= weight.sum()
        centred = np.subtract(y, _long_dot(weight, y), out=y)
        work = self.work(n)
        norm = _long_dot(weight, np.multiply(centred, centred, out=work))
        mean_time = _long_dot(weight, self.times)
        np.subtract(self.times, mean_time, out=work)
        variance = _long_dot(weight, np.square(work, out=work))
        (origin_a, n_a, n_trans), (origin_b, n_b, _) = self.grids
        if n_trans == 1:
            # The products as numpy makes them (the real factor taken as complex), in place.
            data = self.scratch("data", n, complex)
            np.multiply(np.multiply(weight, centred, out=work), self.shifts[0], out=data)
            sy = _Samples(self.plans[0].execute(data, out=self.scratch("a", n_a, complex)),
                          origin_a, self.delta)
            np.multiply(weight, self.shifts[1], out=data)
            sw = sw2 = _Samples(self.plans[1].execute(data, out=self.scratch("b", n_b, complex)),
                                origin_b, self.delta)
        else:
            pair = np.stack([weight * centred, weight]) * self.shifts[0]
            sy_sw = self.plans[0].execute(pair)
            sy, sw = (_Samples(row, origin_a, self.delta) for row in sy_sw)
            sw2 = _Samples(self.plans[1].execute(weight * self.shifts[1]), origin_b, self.delta)
        return _Sums(sy, sw, sw2, norm, self, variance, count)


class _Samples:
    """A trigonometric sum at ``origin + delta * j`` (Hz): read on the grid, interpolated off it."""

    def __init__(self, values, origin, delta):
        self.values, self.origin, self.delta = values, origin, delta

    def on_grid(self, first, stride, n):
        """Values at ``first + stride * delta * k``, ``0 <= k < n`` (grid frequencies)."""
        start = int(round((first - self.origin) / self.delta))
        return self.values[start:start + stride * (n - 1) + 1:stride]

    def at(self, frequency, beta):
        """Values at any ``frequency`` (Hz) at least `_TAPS` samples inside the grid.

        The kernel depends on the position between samples only: the
        frequencies of a regular grid share a few such positions, each
        computed once (to 2**-30 of a step, an error of about 1e-9).
        """
        position = (frequency - self.origin) / self.delta
        base = np.floor(position)
        key = np.round((position - base) * _FRACTIONS).astype(np.int64)
        base = base.astype(np.int64) + key // _FRACTIONS  # a position rounded up to the next
        fractions, inverse = np.unique(key % _FRACTIONS, return_inverse=True)
        offsets = np.arange(-_TAPS + 1, _TAPS + 1)
        distance = (fractions / _FRACTIONS)[:, None] - offsets
        taper = np.sqrt(np.clip(1.0 - (distance / _TAPS) ** 2, 0.0, None))
        window = np.i0(beta * taper) / np.i0(beta)
        kernels = np.sinc(distance) * window
        out = np.empty(len(base), dtype=complex)
        _interpolate(self.values, base - (_TAPS - 1), inverse, kernels, out)
        return out


@njit(cache=True, nogil=True)
def _interpolate(values, first, inverse, kernels, out):
    """``out[k] = sum_j values[first[k] + j] * kernels[inverse[k], j]`` (real kernels)."""
    for k in range(out.size):
        start, row = first[k], inverse[k]
        real = imag = 0.0
        for j in range(kernels.shape[1]):
            value, weight = values[start + j], kernels[row, j]
            real += value.real * weight
            imag += value.imag * weight
        out[k] = complex(real, imag)


class _Sums:
    """``Sy``, ``Sw`` and ``Sw`` at doubled frequencies (`_Samples`) of one series."""

    def __init__(self, sy, sw, sw2, norm, transform, variance, count):
        self.sy, self.sw, self.sw2, self.norm = sy, sw, sw2, norm
        self.transform = transform
        self.variance = variance  # weighted variance of the series' times (s**2)
        self.count = count        # the series' points
        self.evaluated = 0

    def grid_power(self):
        """float64 power at the internal grid points ``fmin + delta * j``, ``0 <= j < n_grid``.

        In the transform's memory: valid until its next series.
        """
        fmin, n = self.transform.fmin, self.transform.n_grid
        sy, sw, sw2 = (self.sy.on_grid(fmin, 1, n), self.sw.on_grid(fmin, 1, n),
                       self.sw2.on_grid(2 * fmin, 2, n))
        return _power(sy, sw, sw2, self.norm, out=self.transform.scratch("power", n, float))

    def power_at(self, frequency):
        """float64 power at any ``frequency`` (array, Hz) within the grid, interpolated."""
        self.evaluated += len(frequency)
        beta = np.pi * _TAPS * (1.0 - 1.0 / self.transform.oversampling)
        parts = []
        for first in range(0, len(frequency), _CHUNK):
            chunk = frequency[first:first + _CHUNK]
            parts.append(_power(self.sy.at(chunk, beta), self.sw.at(chunk, beta),
                                self.sw2.at(2 * chunk, beta), self.norm))
        return np.concatenate(parts) if parts else np.zeros(0)

    def level(self):
        """`_level` of this series' times and weights."""
        return _level(self.variance, self.transform.delta)


def _level(variance, delta):
    """Lowest power, as a fraction of a peak's, at half an internal step from it.

    The spectral window of weights ``w`` at ``df`` from its centre is
    ``|sum w exp(2 pi i df t)|**2 >= (1 - 2 pi**2 df**2 var_t)**2`` (``var_t``
    the weighted variance of the times); at ``df = delta / 2`` that is 0.81
    for evenly spread times at 2 points per peak and at least 0.48 for any
    times.  `_LEVEL_MARGIN` covers noise peaks, whose shape is the window's
    only on average.
    """
    bound = 1.0 - 2.0 * np.pi ** 2 * (0.5 * delta) ** 2 * variance
    return _LEVEL_MARGIN * max(bound, 0.0) ** 2


def _power(sy, sw, sw2, norm, *, out=None):
    """Standard-normalised floating-mean Lomb-Scargle power from its sums (nifty-ls's formula).

    Computed by `_power_kernel`, one pass and no temporaries, the
    operations of `_numpy_power` in the same order but for ``hypot``, taken
    as ``sqrt(x**2 + y**2)`` (25 times faster; the sums are at most 1, so
    nothing overflows): the same numbers to rounding (1e-15).  ``out``: a
    float64 array of their length to write into (None: a new one).
    """
    if out is None:
        out = np.empty(len(sy))
    _power_kernel(sy, sw, sw2, float(norm), out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _power_kernel(sy, sw, sw2, norm, out):
    for k in range(out.size):
        syr, syi = sy[k].real, sy[k].imag
        swr, swi = sw[k].real, sw[k].imag
        sw2r, sw2i = sw2[k].real, sw2[k].imag
        numerator = sw2i - 2.0 * swi * swr
        denominator = sw2r - (swr * swr - swi * swi)
        radius = math.sqrt(numerator * numerator + denominator * denominator)
        cos_2 = np.abs(denominator) / radius
        sin_2 = numerator * np.copysign(1.0, denominator) / radius
        cos_1 = np.sqrt(0.5 * (1.0 + cos_2))
        sin_1 = np.copysign(np.sqrt(0.5 * (1.0 - cos_2)), sin_2)
        yc = syr * cos_1 + syi * sin_1
        ys = syi * cos_1 - syr * sin_1
        c = swr * cos_1 + swi * sin_1
        s = swi * cos_1 - swr * sin_1
        cc = 0.5 * (1.0 + sw2r * cos_2 + sw2i * sin_2) - c * c
        ss = 0.5 * (1.0 - sw2r * cos_2 - sw2i * sin_2) - s * s
        out[k] = (yc * yc / cc + ys * ys / ss) / norm


def _numpy_power(sy, sw, sw2, norm):
    """`_power` in numpy (the reference of the tests)."""
    numerator = sw2.imag - 2.0 * sw.imag * sw.real
    denominator = sw2.real - (sw.real * sw.real - sw.imag * sw.imag)
    with np.errstate(invalid="ignore", divide="ignore"):
        radius = np.hypot(numerator, denominator)
        cos_2 = np.abs(denominator) / radius
        sin_2 = numerator * np.copysign(1.0, denominator) / radius
        cos_1 = np.sqrt(0.5 * (1.0 + cos_2))
        sin_1 = np.copysign(np.sqrt(0.5 * (1.0 - cos_2)), sin_2)
        yc = sy.real * cos_1 + sy.imag * sin_1
        ys = sy.imag * cos_1 - sy.real * sin_1
        cc = 0.5 * (1.0 + sw2.real * cos_2 + sw2.imag * sin_2) \
            - (sw.real * cos_1 + sw.imag * sin_1) ** 2
        ss = 0.5 * (1.0 - sw2.real * cos_2 - sw2.imag * sin_2) \
            - (sw.imag * cos_1 - sw.real * sin_1) ** 2
        return (yc * yc / cc + ys * ys / ss) / norm


def _zoom(sums, coarse, fmin, fine_step, n_fine, n_peaks, window):
    """Fine-grid indices and float32 powers of the ``n_peaks`` strongest fine peaks, in order.

    ``coarse`` (`_Sums.grid_power`) is modified: -inf where not finite.
    """
    ratio = sums.transform.delta / fine_step  # fine steps per internal step
    alpha = sums.level()
    finite = coarse  # modified in place: -inf where not finite
    finite[~np.isfinite(finite)] = -np.inf
    n_first = min(len(finite), _FIRST_CANDIDATES * n_peaks)
    threshold = _nth_highest(finite, n_first, sums.transform)
    index = np.zeros(0, dtype=np.int64)
    values = np.zeros(0, dtype=np.float32)
    while True:
        chosen = np.flatnonzero(finite >= threshold)
        # Fine points within one internal step of the chosen internal points.
        low = np.clip(np.ceil((chosen - 1) * ratio - 1e-9), 0, n_fine - 1).astype(np.int64)
        high = np.clip(np.floor((chosen + 1) * ratio + 1e-9), 0, n_fine - 1).astype(np.int64)
        new = np.setdiff1d(_ranges(low, high), index, assume_unique=True)
        if len(new):
            index = np.concatenate([index, new])
            values = np.concatenate([values, sums.power_at(fmin + fine_step * new.astype(float))
                                     .astype(np.float32)])
            order = np.argsort(index, kind="stable")
            index, values = index[order], values[order]
        found = _sparse_peaks(index, values, n_fine, n_peaks, window)
        everything = threshold == -np.inf
        if len(found) == n_peaks or everything:
            needed = alpha * float(values[found[-1]]) if len(found) == n_peaks else -np.inf
            if threshold <= needed or everything:
                return index[found], values[found]
            threshold = needed
        else:  # fewer peaks than asked among these points: take many more
            n_first *= 8
            threshold = (-np.inf if n_first >= len(finite)
                         else _nth_highest(finite, n_first, sums.transform))


def _nth_highest(values, n, transform):
    """The ``n``-th highest of ``values`` (``1 <= n <= len(values)``).

    Partitioned in a copy in ``transform``'s working array (`_Transform.work`).
    """
    copy = transform.work(len(values))
    np.copyto(copy, values)
    copy.partition(len(values) - n)
    return copy[len(values) - n]


def _ranges(low, high):
    """Sorted unique integers of the inclusive ranges ``[low, high]``."""
    lengths = high - low + 1
    keep = lengths > 0
    low, lengths = low[keep], lengths[keep]
    if not len(low):
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(low - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.unique(starts + np.arange(int(lengths.sum())))


def _sparse_peaks(index, power, n_grid, n_peaks, window):
    """Positions in ``index`` of the peaks of a grid known at ``index`` only (elsewhere lower).

    The rule of `spelunker.periodogram.find_peaks`: an interior point higher
    than its left neighbour, at least as high as its right one, the highest
    within ``window`` points; a point not in ``index`` counts as lower than
    any.  Strongest first (ties by frequency).
    """
    p = np.where(np.isfinite(power), power, -np.inf).astype(float)
    left = np.full(len(p), -np.inf)
    right = np.full(len(p), -np.inf)
    adjacent = index[1:] == index[:-1] + 1
    left[1:][adjacent] = p[:-1][adjacent]
    right[:-1][adjacent] = p[1:][adjacent]
    candidates = np.flatnonzero((p > left) & (p >= right) & (index > 0) & (index < n_grid - 1))
    candidates = candidates[np.lexsort((index[candidates], -p[candidates]))]
    found = []
    for position in candidates:
        low = np.searchsorted(index, index[position] - window, side="left")
        high = np.searchsorted(index, index[position] + window, side="right")
        if p[low:high].max() <= p[position]:
            found.append(position)
            if len(found) == n_peaks:
                break
    return np.array(found, dtype=np.int64)
