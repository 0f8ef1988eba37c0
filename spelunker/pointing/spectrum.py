"""Jitter power spectrum (Welch, mas^2/Hz) of a V2/V3 offset series and its strongest lines.

`jitter_spectrum` puts the offsets on a uniform grid of the median frame
interval (missing frames and gaps are NaN), cuts it into segments of
``segment_s`` seconds overlapping by half or more (spread evenly from the
first frame to the last), leaves out segments with more than 25 % missing
frames, removes each segment's mean, fills its missing frames with that
mean, applies a Hann window and averages the one-sided periodograms
(density scaling, as `scipy.signal.welch`, each segment's power scaled up
by its fraction of missing frames: the PSD summed times the resolution is
the variance).

`spectral_lines` finds peaks above a running-median background: a line's
power is the background-subtracted PSD summed over the peak's bins
(+-3 resolution bins, where the Hann window puts 99.9 % of a sinusoid's
power), and a sinusoid of semi-amplitude A has power A**2 / 2, so the
amplitude is sqrt(2 power).

Examples
--------
>>> import numpy as np
>>> from spelunker.pointing import jitter_spectrum, spectral_lines
>>> t = np.arange(0.0, 1200.0, 0.0625)
>>> rng = np.random.default_rng(2)
>>> dv2 = 3.0 * np.sin(2 * np.pi * 0.2 * t) + rng.normal(0, 1, t.size)
>>> spectrum = jitter_spectrum(t, dv2, rng.normal(0, 1, t.size), segment_s=200.0)
>>> line = spectral_lines(spectrum)[0]
>>> round(float(line["frequency_hz"]), 3), round(float(line["amplitude_v2_mas"]), 1)
(0.2, 3.0)
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import Table
from scipy.ndimage import median_filter
from scipy.special import gammaincc, ndtri

from spelunker._validate import check_positive_float, check_positive_int
from spelunker.errors import ParameterError
from spelunker.pointing.stability import _arrays, _usable

__all__ = [
    "LINE_HALF_WIDTH",
    "MAX_MISSING",
    "SEGMENT_S",
    "JitterSpectrum",
    "jitter_spectrum",
    "spectral_lines",
]

log = logging.getLogger(__name__)

#: Default Welch segment (s): a resolution of 1/300 Hz.
SEGMENT_S = 300.0

#: Segments with a larger fraction of missing frames are left out.
MAX_MISSING = 0.25

#: A line's power is summed over this many resolution bins each side of its peak.
LINE_HALF_WIDTH = 3


@dataclass(frozen=True)
class JitterSpectrum:
    """One-sided Welch power spectral densities of the V2 and V3 offsets.

    Attributes
    ----------
    frequency_hz : numpy.ndarray
        Frequencies (Hz), 0 to the Nyquist frequency of the frame interval.
    psd_v2, psd_v3 : numpy.ndarray
        PSD (mas^2/Hz); NaN when no segment was usable.
    resolution_hz : float
        Bin width (Hz): 1 / segment length.
    n_segments : int
        Segments averaged.
    frame_interval_s : float
        The grid's interval (s).
    """

    frequency_hz: np.ndarray
    psd_v2: np.ndarray
    psd_v3: np.ndarray
    resolution_hz: float
    n_segments: int = 0
    frame_interval_s: float = float("nan")


def _grid(t, values, dt):
    index = np.rint((t - t[0]) / dt).astype(np.int64)
    n = int(index[-1]) + 1
    out = []
    for value in values:
        grid = np.full(n, np.nan)
        grid[index] = value
        out.append(grid)
    return out


def _segment_psd(grid, starts, nperseg, taper, fs, complete):
    """Welch average over the given segments (NaN frames filled with the segment mean)."""
    segments = np.lib.stride_tricks.sliding_window_view(grid, nperseg)[starts]
    if complete:  # no missing frame: the plain Welch average
        segments -= segments.mean(axis=1)[:, None]
        segments *= taper
        power = np.fft.rfft(segments, axis=1)
        power = power.real**2 + power.imag**2
    else:
        valid = np.isfinite(segments)
        n_valid = valid.sum(axis=1)
        mean = np.where(valid, segments, 0.0).sum(axis=1) / np.maximum(n_valid, 1)
        centred = np.where(valid, segments - mean[:, None], 0.0) * taper
        power = np.abs(np.fft.rfft(centred, axis=1)) ** 2
        power *= (nperseg / np.maximum(n_valid, 1))[:, None]  # the filled frames carry no power
    psd = power.mean(axis=0) / (fs * np.sum(taper**2))
    psd[1:] *= 2.0
    if nperseg % 2 == 0:
        psd[-1] /= 2.0  # the Nyquist bin is not doubled
    return psd


def jitter_spectrum(seconds, dv2_mas, dv3_mas, *, segment_s=SEGMENT_S):
    """Welch power spectral density (mas^2/Hz, one-sided) of V2/V3 offsets.

    Parameters
    ----------
    seconds : array_like
        Frame times (s), increasing.
    dv2_mas, dv3_mas : array_like
        Offsets (mas); NaN for frames to leave out.
    segment_s : float, optional
        Segment length (s); the whole series when it is shorter.  The
        resolution is 1 / segment_s.

    Returns
    -------
    JitterSpectrum
        Empty arrays (and a NaN resolution) for fewer than 16 usable frames.

    Raises
    ------
    spelunker.errors.ParameterError
        For arrays of different lengths or a non-positive segment.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 600.0, 0.5)
    >>> spectrum = jitter_spectrum(t, np.sin(2 * np.pi * 0.1 * t), 0 * t, segment_s=100.0)
    >>> spectrum.resolution_hz, spectrum.n_segments
    (0.01, 11)
    >>> round(float(np.sum(spectrum.psd_v2) * spectrum.resolution_hz), 3)  # the variance
    0.5
    """
    where = "jitter_spectrum"
    segment_s = check_positive_float(segment_s, "segment_s", where=where)
    a = _arrays(where, seconds=seconds, dv2_mas=dv2_mas, dv3_mas=dv3_mas)
    t, d2, d3 = _usable(a)
    empty = np.zeros(0)
    if t.size < 16:
        return JitterSpectrum(empty, empty, empty.copy(), float("nan"))
    step = np.diff(t)
    if np.any(step <= 0):
        msg = f"{where}: seconds must increase strictly (sort the frames by time)"
        raise ParameterError(msg)
    dt = float(np.median(step))
    grid2, grid3 = _grid(t, (d2, d3), dt)
    n = grid2.size
    nperseg = int(min(max(round(segment_s / dt), 16), n))
    # Segments overlapping by half or more, spread evenly so that the last one ends at the end.
    n_segments = int(np.ceil((n - nperseg) / max(nperseg // 2, 1))) + 1
    starts = np.unique(np.rint(np.linspace(0, n - nperseg, n_segments)).astype(np.int64))
    # Missing frames per segment from a cumulative count (no segment copies).
    missing = np.concatenate([[0], np.cumsum(~np.isfinite(grid2))])
    fraction = (missing[starts + nperseg] - missing[starts]) / nperseg
    starts = starts[fraction <= MAX_MISSING]
    fs = 1.0 / dt
    frequency = np.fft.rfftfreq(nperseg, dt)
    resolution = fs / nperseg
    if starts.size == 0:
        log.info("%s: no %.0f s segment has <= %.0f %% missing frames", where,
                 nperseg * dt, 100 * MAX_MISSING)
        nan = np.full(frequency.size, np.nan)
        return JitterSpectrum(frequency, nan, nan.copy(), resolution, 0, dt)
    taper = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)  # periodic Hann
    complete = bool(missing[-1] == 0)
    psd2 = _segment_psd(grid2, starts, nperseg, taper, fs, complete)
    psd3 = _segment_psd(grid3, starts, nperseg, taper, fs, complete)
    return JitterSpectrum(frequency, psd2, psd3, resolution, int(starts.size), dt)


def _empty_lines():
    table = Table()
    table["frequency_hz"] = np.zeros(0) * u.Hz
    for name in ("amplitude_v2_mas", "amplitude_v3_mas", "amplitude_mas"):
        table[name] = np.zeros(0) * u.mas
    table["significance"] = np.zeros(0)
    return table


def _significance(ratio, nu, n_bins):
    """Gaussian-equivalent sigma of the chance of a bin this high among ``n_bins``."""
    per_bin = gammaincc(nu / 2.0, ratio * nu / 2.0)  # chi2.sf(ratio * nu, nu)
    false_alarm = -np.expm1(n_bins * np.log1p(-min(per_bin, 1.0 - 1e-16)))
    if false_alarm <= 0.0:
        return 38.0
    return float(min(-ndtri(false_alarm), 38.0))


def spectral_lines(spectrum, *, max_lines=5, min_significance=4.0,
                   half_width=LINE_HALF_WIDTH, background_bins=51):
    """The strongest lines of a jitter spectrum: frequency and sinusoid semi-amplitudes (mas).

    Parameters
    ----------
    spectrum : JitterSpectrum
        From `jitter_spectrum`.
    max_lines : int, optional
        At most this many lines, strongest first.
    min_significance : float, optional
        Lines below this significance are left out.  The significance is
        the Gaussian-equivalent (one-sided) sigma of the peak's false-alarm
        probability: the chance that noise alone puts some bin of the
        searched spectrum as far above the background.  The summed V2 + V3
        periodogram of a Welch average of K Hann segments overlapping by
        half is taken as chi-squared with ``nu = 4 K / (1 + 2 * 0.167**2)``
        degrees of freedom (``4`` for one segment) over its mean, the
        background is the running median corrected to a mean for that
        distribution, and the probability per bin is multiplied out over
        the bins searched.  Capped at 38 (double precision).
    half_width : int, optional
        Bins each side of the peak summed into the line's power.
    background_bins : int, optional
        Width (bins) of the running median that gives the background.

    Returns
    -------
    astropy.table.Table
        ``frequency_hz`` (the power-weighted centre of the line's bins),
        ``amplitude_v2_mas``, ``amplitude_v3_mas`` (semi-amplitudes,
        sqrt(2 power) per axis), ``amplitude_mas`` (their hypot: the
        semi-amplitude of the motion on the sky), ``significance``;
        strongest (largest combined excess power) first.  The first bins
        (below ``half_width + 1`` resolutions, where the mean removal
        leaves no power) and the Nyquist bin are never lines.

    Raises
    ------
    spelunker.errors.ParameterError
        ``spectrum`` is not a `JitterSpectrum`, or a bad option.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 900.0, 0.0625)
    >>> noise = np.random.default_rng(3).normal(0, 1, (2, t.size))
    >>> spectrum = jitter_spectrum(t, noise[0], noise[1] + 2 * np.cos(2 * np.pi * 1.5 * t))
    >>> lines = spectral_lines(spectrum)
    >>> len(lines), round(float(lines["amplitude_v3_mas"][0]), 1)
    (1, 2.0)
    """
    where = "spectral_lines"
    if not isinstance(spectrum, JitterSpectrum):
        msg = (f"{where}: spectrum must be a JitterSpectrum (jitter_spectrum), got "
               f"{type(spectrum).__name__}")
        raise ParameterError(msg)
    max_lines = check_positive_int(max_lines, "max_lines", where=where)
    min_significance = check_positive_float(min_significance, "min_significance", where=where)
    half_width = check_positive_int(half_width, "half_width", where=where)
    background_bins = check_positive_int(background_bins, "background_bins", where=where)
    psd2, psd3 = spectrum.psd_v2, spectrum.psd_v3
    first = half_width + 1
    if psd2.size <= first + half_width or not np.all(np.isfinite(psd2[1:])):
        return _empty_lines()
    # The running median over the bins that can hold lines (not the mean-removed
    # first bins, nor the Nyquist bin), reflected at the ends so it is not biased there.
    last = psd2.size - 1
    back2, back3 = (np.concatenate([np.full(first, np.nan),
                                    median_filter(psd[first:last], size=background_bins,
                                                  mode="reflect"), [np.nan]])
                    for psd in (psd2, psd3))
    segments = max(spectrum.n_segments, 1)
    nu = 4.0 * (segments / (1.0 + 2.0 * 0.167**2) if segments > 1 else 1.0)
    # The running median of a chi-squared(nu) / nu variable is below its mean by this factor.
    median_to_mean = 1.0 / (1.0 - 2.0 / (9.0 * nu)) ** 3
    back2, back3 = back2 * median_to_mean, back3 * median_to_mean
    total, back = psd2 + psd3, back2 + back3
    ratio = np.zeros(total.size)
    usable = np.isfinite(back) & (back > 0)
    ratio[usable] = total[usable] / back[usable]
    n_searched = max(int(np.sum(usable)), 1)
    rows = []
    df = spectrum.resolution_hz
    while len(rows) < max_lines:
        peak = int(np.argmax(ratio))
        significance = _significance(ratio[peak], nu, n_searched)
        if significance < min_significance:
            break
        bins = slice(max(peak - half_width, first), min(peak + half_width + 1, last))
        excess2 = np.clip(psd2[bins] - back2[bins], 0.0, None)
        excess3 = np.clip(psd3[bins] - back3[bins], 0.0, None)
        excess = excess2 + excess3
        frequency = float(np.sum(spectrum.frequency_hz[bins] * excess) / np.sum(excess))
        amp2 = float(np.sqrt(2.0 * np.sum(excess2) * df))
        amp3 = float(np.sqrt(2.0 * np.sum(excess3) * df))
        rows.append((frequency, amp2, amp3, float(np.hypot(amp2, amp3)), float(significance),
                     float(np.sum(excess))))
        ratio[max(peak - 2 * half_width, 0):peak + 2 * half_width + 1] = 0.0
    if not rows:
        return _empty_lines()
    rows.sort(key=lambda row: -row[-1])
    table = _empty_lines()
    for row in rows:
        table.add_row(row[:5])
    return table
