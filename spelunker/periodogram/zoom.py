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
"""

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import finufft
import numpy as np

from spelunker._validate import available_cpus
from spelunker.periodogram.peaks import _peak_window, _rows_of_peaks, _separation, peaks_qtable

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
        them one after the other in the calling thread.  None: `_threads`,
        the CPUs this process may use.  The results do not depend on it.

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
    multiple = max(1, math.ceil(MIN_OVERSAMPLING * step * _span(times) - 1e-9))
    delta = step / multiple
    n_grid = max((n_power - 1) * multiple + 1,
                 math.ceil((n_fine - 1) * fine_step / delta) + 2)
    kwargs = {} if refine_below is None else {"refine_below": refine_below}
    power, rows = {}, {}
    workers = _threads() if threads is None else max(1, min(int(threads), _MAX_THREADS))
    with ThreadPoolExecutor(workers) as pool:
        for mask, names in group_by_mask(masks):
            t = times[mask]
            window = _window(t, fmin, fine_step, n_fine, peak_separation)
            local = threading.local()  # one _Transform (finufft plans) per thread

            def one(name, t=t, mask=mask, window=window, local=local):
                if not hasattr(local, "transform"):
                    local.transform = _Transform(t, fmin, delta, n_grid)
                dy = None if errors[name] is None else errors[name][mask]
                sums = local.transform.sums(series[name][mask], dy)
                coarse = sums.grid_power()
                index, values = _zoom(sums, coarse, fmin, fine_step, n_fine, n_peaks, window)
                log.debug("%s: fine power at %d of %d frequencies", name, sums.evaluated,
                          n_fine)
                return (coarse[:(n_power - 1) * multiple + 1:multiple].astype(np.float32),
                        _rows_of_peaks(name, t, series[name][mask], dy,
                                       fmin + fine_step * index.astype(float), values,
                                       fmin + fine_step * (n_fine - 1), **kwargs))

            each = map(one, names) if workers == 1 else pool.map(one, names)
            for name, (group_power, group_rows) in zip(names, each, strict=True):
                power[name], rows[name] = group_power, group_rows
    return power, peaks_qtable([row for name in series if name in rows for row in rows[name]])


def _threads():
    """Series computed at once: the CPUs this process may use, at most `_MAX_THREADS`."""
    return min(available_cpus(), _MAX_THREADS)


def _window(times, fmin, fine_step, n_fine, peak_separation):
    """`_peak_window` on the fine grid, spaced by its median step as on the grid in full.

    The median step differs from ``fine_step`` by rounding only, which
    changes the window only when the separation is half-way between two
    numbers of steps: then the grid is made to measure it.
    """
    window = _peak_window(times, fine_step, peak_separation)
    ratio = _separation(times, peak_separation) / fine_step
    if abs(ratio - math.floor(ratio) - 0.5) < 1e-6:
        grid = fmin + fine_step * np.arange(n_fine)
        window = _peak_window(times, float(np.median(np.diff(grid))), peak_separation)
    return window


def _span(times):
    return float(times.max() - times.min())


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


class _Transform:
    """finufft plans of one set of times, for sums on the internal grid ``fmin + delta * j``.

    ``Sy`` is computed on grid A, ``fmin + delta * (j - _TAPS)`` for ``0 <=
    j < n_grid + 2 * _TAPS``.  When ``fmin`` is a multiple of ``delta`` (the
    default grid, ``fmin = 1 / baseline``) ``Sw`` is computed once on a
    grid from A's first frequency to beyond the doubled last one, which
    holds both ``Sw(f)`` and ``Sw(2 f)``; otherwise on grid A (with ``Sy``)
    and on grid B, ``2 * fmin + delta * (i - _TAPS)`` for ``0 <= i < 2 *
    n_grid + 2 * _TAPS``.
    """

    def __init__(self, times, fmin, delta, n_grid):
        self.times = times - 0.5 * (times.min() + times.max())  # centred: smooth sums
        self.fmin, self.delta, self.n_grid = fmin, delta, n_grid
        self.oversampling = 1.0 / (delta * _span(times)) if len(times) > 1 else np.inf
        x = (2 * np.pi * delta) * self.times
        origin = fmin - _TAPS * delta
        multiple = fmin / delta
        self.aligned = abs(multiple - round(multiple)) < 1e-9
        n_a = n_grid + 2 * _TAPS
        if self.aligned:
            self.grids = [(origin, n_a, 1),
                          (origin, int(round(multiple)) + 2 * n_grid + 2 * _TAPS, 1)]
        else:
            self.grids = [(origin, n_a, 2), (2 * fmin - _TAPS * delta, 2 * n_grid + 2 * _TAPS, 1)]
        self.plans, self.shifts = [], []
        for grid_origin, n_modes, n_trans in self.grids:
            plan = finufft.Plan(1, (n_modes,), n_trans=n_trans, eps=_EPS, isign=1,
                                upsampfac=1.25, fftw=_FFTW_ESTIMATE, nthreads=1)
            plan.setpts(x)
            self.plans.append(plan)
            centre = grid_origin + delta * (n_modes // 2)  # finufft's output j: origin + delta j
            self.shifts.append(np.exp((2j * np.pi * centre) * self.times))

    def sums(self, values, errors):
        """The `_Sums` of one series (its points those of this transform)."""
        if errors is None:
            weight = np.full(len(values), 1.0 / len(values))
        else:
            weight = errors ** -2.0
            weight /= weight.sum()
        centred = values - weight @ values
        norm = float(weight @ centred ** 2)
        mean_time = float(weight @ self.times)
        variance = float(weight @ (self.times - mean_time) ** 2)
        (origin_a, _, n_trans), (origin_b, _, _) = self.grids
        if n_trans == 1:
            sy = _Samples(self.plans[0].execute((weight * centred) * self.shifts[0]), origin_a,
                          self.delta)
            sw = sw2 = _Samples(self.plans[1].execute(weight * self.shifts[1]), origin_b,
                                self.delta)
        else:
            pair = np.stack([weight * centred, weight]) * self.shifts[0]
            sy_sw = self.plans[0].execute(pair)
            sy, sw = (_Samples(row, origin_a, self.delta) for row in sy_sw)
            sw2 = _Samples(self.plans[1].execute(weight * self.shifts[1]), origin_b, self.delta)
        return _Sums(sy, sw, sw2, norm, self, variance)


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
        return np.einsum("ij,ij->i", self.values[base[:, None] + offsets], kernels[inverse])


class _Sums:
    """``Sy``, ``Sw`` and ``Sw`` at doubled frequencies (`_Samples`) of one series."""

    def __init__(self, sy, sw, sw2, norm, transform, variance):
        self.sy, self.sw, self.sw2, self.norm = sy, sw, sw2, norm
        self.transform = transform
        self.variance = variance
        self.evaluated = 0

    def grid_power(self):
        """float64 power at the internal grid points ``fmin + delta * j``, ``0 <= j < n_grid``."""
        fmin, n = self.transform.fmin, self.transform.n_grid
        sy, sw, sw2 = (self.sy.on_grid(fmin, 1, n), self.sw.on_grid(fmin, 1, n),
                       self.sw2.on_grid(2 * fmin, 2, n))
        power = np.empty(n)
        for first in range(0, n, _CHUNK):  # chunks: small temporaries
            part = slice(first, first + _CHUNK)
            power[part] = _power(sy[part], sw[part], sw2[part], self.norm)
        return power

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


def _power(sy, sw, sw2, norm):
    """Standard-normalised floating-mean Lomb-Scargle power from its sums (nifty-ls's formula)."""
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
    """Fine-grid indices and float32 powers of the ``n_peaks`` strongest fine peaks, in order."""
    ratio = sums.transform.delta / fine_step  # fine steps per internal step
    alpha = sums.level()
    finite = np.where(np.isfinite(coarse), coarse, -np.inf)
    n_first = min(len(finite), _FIRST_CANDIDATES * n_peaks)
    threshold = np.partition(finite, len(finite) - n_first)[len(finite) - n_first]
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
                         else np.partition(finite, len(finite) - n_first)[len(finite) - n_first])


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
