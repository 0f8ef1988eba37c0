"""The matched-box search shared by flares (sign +1) and dips (sign -1).

For each box duration of a geometric grid, the running mean of the
detrended residual ``flux / trend - 1`` over every box position (valid
frames only, never across a gap) is divided by the noise of that running
mean, measured robustly on the series itself (1.4826 MAD of the running
means sampled every half box), so red noise at that duration counts; in
the later passes of `transient_search` only the boxes clear of the events
already found enter it (many deep events in a visit inflated it 1.5-2
times at magnitude 12, where the box means inside them are far out).  The
noise is never below the white-noise expectation, nor below the noise of
the next shorter duration scaled by ``sqrt(shorter / longer)`` (no noise
averages down faster than white noise), which steadies the estimate at
durations with few independent boxes in the visit.

Boxes of fewer than `BINS_PER_BOX` bins of two frames run on the frames;
longer ones on time bins of 2, 8, 32, 128 ... frame intervals (0.11 s,
0.43 s, 1.7 s, 6.9 s ... at 18.6 Hz; the coarsest with at least
`BINS_PER_BOX` bins in the box), so a search of 0.3 s - 3 h on 1,000,000
frames costs about as much as a few passes over the frames.  Runs of box
positions above the threshold give one candidate each (the most significant
position); candidates of all durations that overlap are one event, whose
box is the best-fitting of them (largest ``mean**2 * duration``) and whose
significance is their largest; that box is refined on the frames by least
squares, and refined boxes within half a duration of a more significant one
are dropped.
"""

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from spelunker._validate import check_float_array, check_positive_float, thread_count
from spelunker.errors import ParameterError
from spelunker.variability.detrend import residual, trend_window
from spelunker.variability.noise import cadence_of, check_series, white_noise_of

__all__ = ["BINS_PER_BOX", "DIP_DURATIONS", "DIP_THRESHOLD", "EVENT_PAD", "FLARE_DURATIONS",
           "FLARE_THRESHOLD", "BoxSearchResult", "box_search", "duration_grid"]

log = logging.getLogger(__name__)

#: Minimum number of bins in a box searched on a binned series (so a box's
#: position is known to 1/8 of its duration before refinement).
BINS_PER_BOX = 8

# bins of the binned levels: FIRST_BIN frames * LEVEL_FACTOR**j
_FIRST_BIN = 2
_LEVEL_FACTOR = 4
# a box of frames never spans a time step longer than this many frame intervals
_FRAME_GAP = 3.0
# frames subtracted from the count of a box of frames holding a gap
_GAP_PENALTY = 1 << 40
# a box counts when this fraction of its expected frames are valid
_MIN_FILL = 0.6
# a duration is searched when at least this many half-overlapping boxes fit
_MIN_SAMPLES = 5
# at most this many running means enter a noise estimate
_MAX_NOISE_SAMPLES = 10_000
# a box counts in the noise estimate when at most this fraction of its frames lie in the
# events found by an earlier pass
_BUSY_FRACTION = 0.1
# ... and only when such boxes are at least this share of the usable ones (a noise
# measured on a small part of the series may catch a quiet phase of a modulation)
_QUIET_SHARE = 1 / 3
#: Candidates closer to a more significant one than this fraction of its duration
#: are part of the same event.
MERGE_MARGIN = 0.5
# grid ratio of `duration_grid`
GRID_RATIO = 1.4
#: Default significance threshold of `~spelunker.variability.find_flares` (sigma of the
#: box mean, red noise included; `spelunker.variability.flares` says why).
FLARE_THRESHOLD = 6.0
#: Default significance threshold of `~spelunker.variability.find_dips` (sigma of the box
#: mean, red noise included; `spelunker.variability.dips` says why).
DIP_THRESHOLD = 6.0
#: Default shortest and longest boxes (s) of the flare search.
FLARE_DURATIONS = (1.0, 3600.0)
#: Default shortest and longest boxes (s) of the dip search.
DIP_DURATIONS = (0.3, 10800.0)
#: Frames left out of the trend around a found event, in units of its box duration
#: before and after it, for flares (+1: a flare's tail outlasts its best box several
#: times) and dips (-1: the ingress and egress the box left out).
EVENT_PAD = {1: (1.0, 6.0), -1: (1.0, 1.0)}
#: Frames left out of the noise estimate of a later pass around every event found, in
#: units of its box duration on each side (at least 1 s): the events themselves, not the
#: long padding of the trend, so that enough of a short series stays to measure it.
NOISE_PAD = 0.5
# at most this many trend-and-search passes of `transient_search`
_PASSES = 3
# threads of a pass of `transient_search`: its flare and dip searches run at once
_SEARCH_THREADS = 2
# a mask of events left out of the noise that changes on fewer than this fraction of the
# valid frames leaves the search as it is
_BUSY_TOLERANCE = 0.05
# a trend that moves less than this fraction of the smallest box noise is the same (no
# box significance moves by more than this many sigma)
_TREND_TOLERANCE = 0.3


@dataclass(frozen=True)
class BoxSearchResult:
    """Result of `box_search`.

    Attributes
    ----------
    durations : numpy.ndarray
        Box durations searched (s; whole numbers of frames or bins).
    noise : numpy.ndarray
        Noise (relative) of the running mean at each duration; NaN where the
        series is too short for that duration (not searched).
    white_noise : float
        Relative rms per frame of the residual (point-to-point).
    start, stop, duration, mean, significance : numpy.ndarray
        The candidates, in time order: box start and stop times (s), duration
        (s), mean residual in the box (signed) and ``sign * mean / noise``.
    """

    durations: np.ndarray
    noise: np.ndarray
    white_noise: float
    start: np.ndarray
    stop: np.ndarray
    duration: np.ndarray
    mean: np.ndarray
    significance: np.ndarray

    def noise_at(self, duration):
        """Noise of a box mean of ``duration`` s (log-log interpolation; white beyond the grid)."""
        return noise_at(self.durations, self.noise, duration)


def duration_grid(minimum, maximum, *, ratio=GRID_RATIO):
    """Geometric durations (s) from ``minimum`` to ``maximum`` (both included), ratio <= ``ratio``.

    Examples
    --------
    >>> from spelunker.variability.search import duration_grid
    >>> duration_grid(1.0, 4.0).round(3).tolist()
    [1.0, 1.32, 1.741, 2.297, 3.031, 4.0]
    >>> duration_grid(None, 4.0)
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: duration_grid: minimum=None must be a number of seconds > 0
    """
    where = "duration_grid"
    minimum = check_positive_float(minimum, "minimum", unit="seconds", where=where)
    maximum = check_positive_float(maximum, "maximum", unit="seconds", where=where)
    if maximum < minimum:
        msg = f"{where}: maximum={maximum:g} must be >= minimum={minimum:g}"
        raise ParameterError(msg)
    ratio = check_positive_float(ratio, "ratio", where=where)
    if not ratio > 1:
        msg = f"{where}: ratio={ratio:g} must be above 1"
        raise ParameterError(msg)
    steps = max(1, math.ceil(math.log(maximum / minimum) / math.log(ratio) - 1e-9))
    return np.geomspace(minimum, maximum, steps + 1)


def noise_at(durations, noise, duration):
    """Noise at ``duration`` from a noise-against-duration table (see `BoxSearchResult`).

    NaN when the table holds no positive noise (a constant series).
    """
    duration = np.asarray(duration, dtype=float)
    good = np.isfinite(noise) & (noise > 0)
    d, s = durations[good], noise[good]
    if d.size == 0:
        return np.full(duration.shape, math.nan)[()]
    inside = np.exp(np.interp(np.log(duration), np.log(d), np.log(s)))
    below = s[0] * np.sqrt(d[0] / duration)
    above = s[-1] * np.sqrt(d[-1] / duration)
    return np.where(duration < d[0], below, np.where(duration > d[-1], above, inside))


class _Level:
    """Sums and counts of the valid residual in frames (bin 0) or time bins of ``bin_size``.

    For frames, ``gaps`` (1 after a frame followed by a gap) makes every box
    holding a gap count ``_GAP_PENALTY`` frames fewer, so one comparison of
    the count refuses it (the box starting right after a gap too).
    """

    def __init__(self, start, sums, counts, bin_size, expected, gaps=None, busy=None):
        self.start = start          # start time of each entry
        self.bin_size = bin_size    # 0 for frames
        self.expected = expected    # frames expected per entry
        self.csum = np.zeros(sums.size + 1)
        np.cumsum(sums, out=self.csum[1:])
        self.ccount = np.zeros(sums.size + 1)
        np.cumsum(counts, out=self.ccount[1:])
        if gaps is not None and np.any(gaps):
            self.ccount[1:] -= _GAP_PENALTY * np.concatenate(([0], np.cumsum(gaps[:-1])))
        self.cbusy = None           # cumulative count of valid frames inside known events
        if busy is not None:
            self.cbusy = np.zeros(sums.size + 1)
            np.cumsum(busy, out=self.cbusy[1:])
        self.size = sums.size


def _levels(times, resid, valid, cadence, longest, busy=None):
    """The frame level and the binned levels up to the one needed for ``longest``.

    ``busy`` (bool, optional): frames inside events already found, counted
    per entry so that their boxes stay out of the noise estimate.
    """
    gaps = np.concatenate((np.diff(times) > _FRAME_GAP * cadence, [False]))
    busy = None if busy is None else busy & valid
    levels = [_Level(times, resid, valid, 0.0, 1.0, gaps=gaps, busy=busy)]
    first = _FIRST_BIN * cadence
    if longest < BINS_PER_BOX * first:
        return levels
    index = np.floor((times[valid] - times[0]) / first).astype(np.int64)
    length = int(np.floor((times[-1] - times[0]) / first)) + 1
    sums = np.bincount(index, weights=resid[valid], minlength=length)
    counts = np.bincount(index, minlength=length).astype(float)
    busy_counts = None if busy is None else np.bincount(index, weights=busy[valid],
                                                        minlength=length)
    bin_size = first
    while True:
        starts = times[0] + bin_size * np.arange(sums.size)
        levels.append(_Level(starts, sums, counts, bin_size, bin_size / cadence,
                             busy=busy_counts))
        if longest < BINS_PER_BOX * bin_size * _LEVEL_FACTOR or sums.size < 2 * _LEVEL_FACTOR:
            return levels
        pad = (-sums.size) % _LEVEL_FACTOR
        sums, counts = (np.concatenate((a, np.zeros(pad))).reshape(-1, _LEVEL_FACTOR).sum(axis=1)
                        for a in (sums, counts))
        if busy_counts is not None:
            busy_counts = np.concatenate((busy_counts, np.zeros(pad))).reshape(
                -1, _LEVEL_FACTOR).sum(axis=1)
        bin_size *= _LEVEL_FACTOR


def _level_for(levels, duration, cadence):
    """``(level, entries per box)`` for a box of ``duration`` s."""
    for level in reversed(levels[1:]):
        if duration >= BINS_PER_BOX * level.bin_size:
            return level, int(round(duration / level.bin_size))
    return levels[0], max(3, int(round(duration / cadence)))


def _box_sums(level, m):
    """Running sums and valid counts of ``m`` entries, and whether each box is usable."""
    counts = level.ccount[m:] - level.ccount[:-m]
    usable = counts >= _MIN_FILL * m * level.expected
    return level.csum[m:] - level.csum[:-m], counts, usable


def _robust_noise(sums, counts, usable, m):
    """1.4826 MAD of the usable running means sampled every half box; NaN if too few."""
    stride = max(1, m // 2)
    good = usable[::stride]
    if np.count_nonzero(good) < _MIN_SAMPLES:
        return math.nan
    stride *= max(1, np.count_nonzero(good) // _MAX_NOISE_SAMPLES)
    good = usable[::stride]
    sample = sums[::stride][good] / counts[::stride][good]
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


def _runs_best(positions, values):
    """Position and value of the largest value in each run of consecutive positions."""
    if positions.size == 0:
        return positions, values
    breaks = np.flatnonzero(np.diff(positions) > 1) + 1
    best = [int(np.argmax(part)) for part in np.split(values, breaks)]
    starts = np.concatenate(([0], breaks))
    return positions[starts + best], values[starts + best]


def _clusters(candidates):
    """One candidate per event, from candidates ``(z, start, stop, mean)``.

    The best-fitting candidate left (largest ``mean**2 * duration``: the
    longest box the event fills, whatever the red noise) is an event, and
    every candidate overlapping its box is part of it (the event's
    significance is their largest); then the next best of the rest.  Grouping
    around the best box rather than chaining overlaps keeps two events apart
    when a long, diluted box spans both (a 2 s, 9 % occultation 9 minutes
    from a 48 % eclipse was lost inside the eclipse's event).
    """
    left = sorted(candidates, key=lambda c: -(c[3] ** 2) * (c[2] - c[1]))
    chosen = []
    while left:
        best = left[0]
        inside = [c[1] < best[2] and c[2] > best[1] for c in left]
        chosen.append((max(c[0] for c, i in zip(left, inside, strict=True) if i), *best[1:]))
        left = [c for c, i in zip(left, inside, strict=True) if not i]
    return chosen


def _merge(candidates):
    """Keep the most significant of overlapping candidates ``(z, start, stop, mean)``.

    A candidate is dropped when it overlaps a more significant one widened by
    `MERGE_MARGIN` of its duration on each side (the part of a long event
    that the best box left out is not a second event).
    """
    kept = []
    for cand in sorted(candidates, key=lambda c: -c[0]):
        if all(cand[2] <= k[1] - MERGE_MARGIN * (k[2] - k[1])
               or cand[1] >= k[2] + MERGE_MARGIN * (k[2] - k[1]) for k in kept):
            kept.append(cand)
    return kept


def _refine(times, frames, cand, sign, cadence, durations, noise, step):
    """Best-fitting box near a candidate, on the frames.

    Centres within 0.3 of the duration (at least one bin) and durations within
    a factor 1.4 are tried, keeping the box of largest ``sum**2 / count`` (the
    least-squares box, which finds the edges of an event whatever the red
    noise), eight times at most (re-centred each time).  The significance is
    the larger of the search's and the refined box's.
    """
    z, start, stop, _ = cand
    centre, duration = (start + stop) / 2, stop - start
    best_energy = -np.inf
    for _ in range(8):
        trials = duration * GRID_RATIO ** np.linspace(-1, 1, 13)
        shift = max(cadence, duration / 100.0)
        reach = max(step, cadence, 0.3 * duration)
        centres = centre + np.arange(-reach, reach + shift / 2, shift)
        first = np.searchsorted(times, centres[:, None] - trials / 2)
        last = np.searchsorted(times, centres[:, None] + trials / 2)
        counts = frames.ccount[last] - frames.ccount[first]
        sums = frames.csum[last] - frames.csum[first]
        good = (counts >= _MIN_FILL * trials / cadence) & (last - first >= 3) & (sums > 0)
        if not np.any(good):
            break
        energy = np.where(good, sums ** 2 / np.maximum(counts, 1), -np.inf)
        i, j = np.unravel_index(int(np.argmax(energy)), energy.shape)
        if energy[i, j] <= best_energy:
            break
        best_energy = energy[i, j]
        moved = abs(centres[i] - centre) > shift / 2 or j != 6     # 6: the same duration
        centre, duration = float(centres[i]), float(trials[j])
        mean = sums[i, j] / counts[i, j]
        t0, t1 = float(times[first[i, j]]), float(times[last[i, j] - 1]) + cadence
        if not moved:
            break
    if best_energy == -np.inf:
        return cand
    significance = max(z, float(mean / noise_at(durations, noise, t1 - t0)))
    return (significance, t0, t1, float(sign * mean))


def check_durations(min_duration, max_duration, where):
    """Checked ``(min_duration, max_duration)`` of a search (s)."""
    low = check_positive_float(min_duration, "min_duration", unit="seconds", where=where)
    high = check_positive_float(max_duration, "max_duration", unit="seconds", where=where)
    if high < low:
        msg = f"{where}: max_duration={high:g} must be >= min_duration={low:g}"
        raise ParameterError(msg)
    return low, high


def frame_of(times, values, side="left"):
    """Frame positions of ``values`` (s) in ``times``."""
    return np.clip(np.searchsorted(times, values, side=side), 0, times.size - 1).astype(np.int64)


def window_means(times, values, valid):
    """A function ``(first, last) -> mean`` of the valid values with times in [first, last)."""
    csum = np.concatenate(([0.0], np.cumsum(np.where(valid, values, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(valid)))

    def mean(first, last):
        low = np.searchsorted(times, first)
        high = np.searchsorted(times, last)
        counts = ccount[high] - ccount[low]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, (csum[high] - csum[low]) / counts, np.nan)

    return mean


def event_table(columns):
    """QTable of events from ``(name, values, unit or None, dtype)`` tuples (zero rows allowed)."""
    table = QTable()
    for name, values, unit, dtype in columns:
        array = np.asarray(values, dtype=dtype)
        table[name] = array * unit if unit is not None else array
    return table


def run_search(times, resid, valid, cadence, durations, sign, threshold, *, busy=None):
    """`box_search` on checked arrays: ``resid`` is 0 where not ``valid``.

    ``busy`` (bool, optional): frames inside the events found by an earlier
    pass; the noise of each duration is measured on the boxes clear of them
    (when at least `_MIN_SAMPLES` are), not on all boxes.
    """
    longest = float(np.max(durations))
    levels = _levels(times, sign * resid, valid, cadence, longest, busy)   # events positive
    white = white_noise_of(resid, valid, times, cadence)
    used, noise, candidates, steps = [], [], [], []
    floor_previous = None
    for duration in durations:
        level, m = _level_for(levels, float(duration), cadence)
        if m >= level.size:
            continue
        effective = m * (level.bin_size or cadence)
        sums, counts, usable = _box_sums(level, m)
        sigma = math.nan
        if level.cbusy is not None:   # the boxes clear of the events found (enough of them)
            quiet = usable & (level.cbusy[m:] - level.cbusy[:-m] <= _BUSY_FRACTION * counts)
            if np.count_nonzero(quiet) >= _QUIET_SHARE * np.count_nonzero(usable):
                sigma = _robust_noise(sums, counts, quiet, m)
        if math.isnan(sigma):
            sigma = _robust_noise(sums, counts, usable, m)
        if math.isnan(sigma):
            continue
        sigma = max(sigma, white / math.sqrt(m * level.expected))
        if floor_previous is not None:
            sigma = max(sigma, floor_previous[1] * math.sqrt(floor_previous[0] / effective))
        floor_previous = (effective, sigma)
        used.append(effective)
        noise.append(sigma)
        steps.append(level.bin_size)
        hits = np.flatnonzero((sums > (threshold * sigma) * counts) & usable)
        means = sums[hits] / counts[hits]
        for k, mean in zip(*_runs_best(hits, means)):
            t0 = float(level.start[k])
            t1 = (float(times[k + m - 1]) + cadence if level.bin_size == 0
                  else t0 + effective)
            candidates.append((float(mean / sigma), t0, t1, float(sign * mean)))
    used = np.array(used, dtype=float)
    noise = np.array(noise, dtype=float)
    kept = _clusters(candidates)
    if kept:
        order = np.argsort(used)
        step_at = dict(zip(used, steps))
        refined = []
        for cand in kept:
            near = used[order][np.argmin(np.abs(np.log(used[order] / (cand[2] - cand[1]))))]
            refined.append(_refine(times, levels[0], cand, sign, cadence, used, noise,
                                   step_at[near]))
        kept = sorted(_merge(refined), key=lambda c: c[1])
    log.debug("box search (sign %+d): %d durations, %d candidates, %d kept", sign, used.size,
              len(candidates), len(kept))
    columns = np.array(kept, dtype=float).reshape(-1, 4)
    return BoxSearchResult(
        durations=used, noise=noise, white_noise=white, start=columns[:, 1],
        stop=columns[:, 2], duration=columns[:, 2] - columns[:, 1], mean=columns[:, 3],
        significance=columns[:, 0])


def box_search(times, flux, *, durations, sign, threshold, mask=None):
    """Matched-box search of a detrended residual for positive (+1) or negative (-1) events.

    Parameters
    ----------
    times : array_like
        Frame times (s), increasing; gaps allowed.
    flux : array_like
        Detrended residual ``flux / trend - 1`` (zero-mean); NaN frames ignored.
    durations : array_like
        Box durations (s), e.g. `duration_grid` (0.3 s to hours).
    sign : {+1, -1}
        +1 for brightenings (flares), -1 for dips.
    threshold : float
        Minimum significance (running mean / its noise) of a candidate.
    mask : array_like of bool, optional
        True for frames not used.

    Returns
    -------
    BoxSearchResult

    Raises
    ------
    spelunker.errors.ParameterError
        Bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability import box_search
    >>> rng = np.random.default_rng(3)
    >>> times = np.arange(60_000) * 0.0538
    >>> resid = rng.normal(0, 0.004, times.size)
    >>> resid[(times > 1000) & (times < 1030)] -= 0.003   # a 30 s, 0.3 % dip
    >>> found = box_search(times, resid, durations=[3, 10, 30, 100], sign=-1, threshold=6)
    >>> len(found.start), bool(abs(found.start[0] - 1000) < 1), round(found.duration[0])
    (1, True, 29)
    """
    where = "box_search"
    times, resid, valid = check_series(times, flux, mask, where=where)
    grid = check_float_array(durations, "durations", where=where).ravel()
    if grid.size == 0:
        msg = f"{where}: durations must hold at least one duration"
        raise ParameterError(msg)
    for duration in grid:
        check_positive_float(duration, "durations", unit="seconds", where=where)
    if sign not in (1, -1) or isinstance(sign, bool):
        msg = f"{where}: sign={sign!r} must be +1 (flares) or -1 (dips)"
        raise ParameterError(msg)
    threshold = check_positive_float(threshold, "threshold", where=where)
    resid = np.where(valid, resid, 0.0)
    return run_search(times, resid, valid, cadence_of(times), np.sort(grid), int(sign),
                      threshold)


def nothing_found(durations=()):
    """A `BoxSearchResult` without candidates (a series too short to search)."""
    empty = np.zeros(0)
    return BoxSearchResult(durations=np.asarray(durations, dtype=float),
                           noise=np.full(len(durations), np.nan), white_noise=math.nan,
                           start=empty, stop=empty, duration=empty, mean=empty,
                           significance=empty)


def padded_frames(times, start, stop, before, after, *, least=1.0):
    """True for the frames within ``[start - pad, stop + pad]`` of any event (pads in durations).

    The pad before is ``max(before * duration, least)`` s, after ``max(after
    * duration, least)`` s.
    """
    covered = np.zeros(times.size + 1, dtype=np.int64)
    start, stop = np.asarray(start, dtype=float), np.asarray(stop, dtype=float)
    if start.size:
        duration = stop - start
        low = start - np.maximum(before * duration, least)
        high = stop + np.maximum(after * duration, least)
        np.add.at(covered, np.searchsorted(times, low, side="left"), 1)
        np.add.at(covered, np.searchsorted(times, high, side="right"), -1)
    return np.cumsum(covered[:-1]) > 0


def searches(*, flares=(*FLARE_DURATIONS, FLARE_THRESHOLD), dips=(*DIP_DURATIONS, DIP_THRESHOLD)):
    """The ``searches`` of `transient_search` from ``(min_duration, max_duration, threshold)``.

    The trend window is three times the longest duration
    (`spelunker.variability.detrend.trend_window`).
    """
    return {sign: (duration_grid(low, high), threshold, trend_window(high))
            for sign, (low, high, threshold) in ((1, flares), (-1, dips))}


def _same_trend(old, new, valid, result):
    """Whether ``new`` differs from ``old`` by less than `_TREND_TOLERANCE` of the box noise."""
    noise = result.noise[np.isfinite(result.noise)]
    if noise.size == 0:
        return False
    change = np.max(np.abs(new[valid] - old[valid]) / old[valid])
    return bool(change < _TREND_TOLERANCE * float(np.min(noise)))


def _same_mask(old, new, valid):
    """Whether two masks of events left out of the noise (None: none) differ on few frames.

    Fewer than `_BUSY_TOLERANCE` of the valid frames: a noise measured without
    them moves by a few per cent at most (no box significance by more than
    about `_TREND_TOLERANCE` sigma), not worth a new search.
    """
    if old is None and new is None:
        return True
    changed = (old if new is None else new) if old is None or new is None else old ^ new
    return bool(np.count_nonzero(changed & valid) < _BUSY_TOLERANCE * np.count_nonzero(valid))


def transient_search(times, flux, valid, cadence, searches, threads=None):
    """Flares and dips searched together, each trend computed with the events found left out.

    Parameters
    ----------
    times, flux, valid : numpy.ndarray
        Checked series (`spelunker.variability.noise.check_series`).
    cadence : float
        Median frame interval (s).
    searches : dict
        ``{sign: (durations, threshold, window)}`` for +1 (flares) and/or -1
        (dips): the box durations, the threshold and the biweight window (s).
    threads : int or None, optional
        Most threads (the signs of a pass run at once); None: the CPUs this
        process may use.  The result does not depend on it.

    Returns
    -------
    dict
        ``{sign: (residual, BoxSearchResult)}``; no candidates when fewer
        than 2 frames are valid.

    Notes
    -----
    The biweight trend is robust, but it runs on bins (means): a flare pulls
    the bins it falls in up and the residual around it down, which made
    false dips beside flares (and a deep dip false flares at its edges).
    So the search runs again, up to `_PASSES` times, on the residual of a
    trend that leaves out the events of the previous pass (padded by
    `EVENT_PAD`), until the events left out stop changing.  After the first
    pass the events of the other sign than the most significant event's are
    left out only when their padded span does not touch that sign's: the
    false events a strong flare (dip) makes are dips (flares) beside it,
    spanning the quiet parts between strong events, and leaving them out
    would leave no quiet frames.  From the second pass the noise of each
    duration leaves out the boxes that overlap the events found (both signs,
    padded by `NOISE_PAD` of their duration), when they leave a third of the
    boxes; a sign is searched again when its trend moved or when those
    events changed on `_BUSY_TOLERANCE` of the frames or more.  A series
    where nothing is found is searched once.
    """
    if np.count_nonzero(valid) < 2:   # nothing to search
        return {sign: (np.zeros(times.size), nothing_found()) for sign in searches}
    exclude = noisy = None
    found, trends, busy = {}, {}, {}

    def one(sign):
        """This pass's search of ``sign``: (trend, (residual, result)), or None if the same."""
        durations, threshold, window = searches[sign]
        resid, trend = residual(times, flux, valid, window, exclude=exclude)
        if sign in found and _same_trend(trends[sign], trend, valid, found[sign][1]) \
                and _same_mask(busy[sign], noisy, valid):
            return None       # the events left out did not move this trend: same search
        return trend, (resid, run_search(times, resid, valid, cadence, durations, sign,
                                         threshold, busy=noisy))

    # The signs of a pass are independent (the biweight and numpy release the GIL).
    threads = thread_count(threads, most=min(len(searches), _SEARCH_THREADS))
    with ThreadPoolExecutor(threads) as pool:
        for attempt in range(_PASSES):
            done = list(pool.map(one, searches) if threads > 1 else map(one, searches))
            for sign, result in zip(searches, done, strict=True):
                if result is not None:
                    trends[sign], busy[sign] = result[0], noisy
                    found[sign] = result[1]
            if all(result is None for result in done):
                break
            strongest = {sign: float(np.max(result.significance, initial=0.0))
                         for sign, (_, result) in found.items()}
            events = np.zeros(times.size, dtype=bool)
            dominant = max(strongest, key=strongest.get)
            result = found[dominant][1]
            events |= padded_frames(times, result.start, result.stop, *EVENT_PAD[dominant])
            for sign in found:
                if sign == dominant:
                    continue
                result = found[sign][1]
                for k in range(result.start.size):
                    # after the first pass all; in it, only the weaker sign's events apart from
                    # the stronger's (those beside them may be made by them)
                    span = padded_frames(times, result.start[k:k + 1], result.stop[k:k + 1],
                                         *EVENT_PAD[sign])
                    if attempt > 0 or not np.any(span & events):
                        events |= span
            starts, stops = (np.concatenate([getattr(r, name) for _, r in found.values()])
                              for name in ("start", "stop"))
            inside = padded_frames(times, starts, stops, NOISE_PAD, NOISE_PAD)
            if not np.any(events) or (exclude is not None and np.array_equal(events, exclude)
                                      and np.array_equal(inside, noisy)):
                break
            exclude, noisy = events, inside
    return found
