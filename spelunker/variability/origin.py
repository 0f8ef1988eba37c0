"""Technical or astrophysical: the origin of each flare and dip of a guide star's light curve.

An astrophysical flare or dip changes the star's flux and nothing else; a
technical one comes with something the telescope did.  A flare or dip is
``'technical'`` when

- a technical event of the events table (`spelunker.variability.lightcurve.MASKED_KINDS`:
  tilt, centroid jump, high-gain-antenna move, guide-star change) overlaps
  it or lies within `COINCIDENCE` seconds of it (for a signal longer than
  ``4 * COINCIDENCE``, an event strictly inside its middle, more than a
  quarter of its duration from both ends, does not count: a tilt in the
  middle of a two-hour transit does not make the transit); the kind goes
  into ``technical_event``;
- or the PSF width changes inside it (``psf_change``): the aperture flux of a
  star whose PSF widens drops (a mirror-segment tilt moves light out of the
  optimal aperture), so a flux step at a width step is technical.  The
  median width inside is compared with the level around it, interpolated
  between the medians of the frames just before and just after (windows of
  the signal's duration, 5 s to 30 min), so a slow drift of the width is not
  a change; errors are robust (1.2533 x 1.4826 x MAD / sqrt(n) per median).
  A change counts at `PSF_SIGMA` (5 sigma: about 3e-7 per Gaussian test)
  and at least `MIN_WIDTH_CHANGE` of the width (0.3 %; tilts change it by
  per cent, a model whose width follows the flux at 1e-3 would otherwise
  make every long, deep dip technical);
- or the centroid moves (``centroid_change``, the same statistic for
  ``x_mean`` and ``y_mean`` added in quadrature): at `CENTROID_SIGMA` and at
  least `MIN_CENTROID_SHIFT` pixels (0.1 px: the pointing's smooth wobble
  does not count).

For a flare, "it" is its rise and the first part of its decay, from one
FWHM before its peak to `FLARE_CORE` FWHM after it (the FWHM of a template
flare, `spelunker.variability.template`, of its amplitude and equivalent
duration; without them from its start to `FLARE_JUDGED` rise times after
its peak), within its start and stop: the tail of a flare
can last minutes (it is followed until the residual returns to the trend
or the data stop, e.g. at a masked high-gain-antenna move), and what the
telescope did during the tail did not make the flare.

Otherwise it is ``'astrophysical'``.  Without a fit table the PSF and
centroid changes are NaN and only the events decide.
"""

import logging
import math

import astropy.units as u
import numpy as np

from spelunker._validate import check_finite_float, check_float_array, check_int_range
from spelunker.errors import ParameterError
from spelunker.variability.template import FLARE_AREA

__all__ = ["ORIGINS", "COINCIDENCE", "PSF_SIGMA", "CENTROID_SIGMA", "MIN_WIDTH_CHANGE",
           "MIN_CENTROID_SHIFT", "FLARE_CORE", "FLARE_JUDGED", "assign_origin", "coinciding_event",
           "series_change"]

log = logging.getLogger(__name__)

#: The values of the ``origin`` column.
ORIGINS = ("astrophysical", "technical")

#: An event this close (s) to a flare or dip coincides with it.
COINCIDENCE = 5.0
#: Significance (sigma) of a PSF width change that makes a signal technical.
PSF_SIGMA = 5.0
#: Smallest relative PSF width change that makes a signal technical.
MIN_WIDTH_CHANGE = 0.003
#: Significance (sigma) of a centroid change that makes a signal technical.
CENTROID_SIGMA = 5.0
#: Smallest centroid shift (px) that makes a signal technical: above what a smooth
#: periodic wobble of the pointing gives (up to 0.03 px, 0.06 px from crest to trough;
#: at 0.003 px a 0.01 px wobble made transits and flares of frame-level visits
#: technical, ``benchmarks/variability_frames.py``).  A move that takes flux out of
#: the aperture is a centroid jump of the events table (found from 0.02 px), which
#: makes the signal technical by coincidence.
MIN_CENTROID_SHIFT = 0.1

#: A flare is judged from one FWHM before its peak to this many FWHM after it (the
#: template is at 10 % of its peak 4.3 FWHM after it); the FWHM is that of a template
#: flare of the row's amplitude and equivalent duration.
FLARE_CORE = 4.0
#: Without amplitude and equivalent duration, from its start to this many rise times
#: (start to peak) after its peak.
FLARE_JUDGED = 2.0

#: Windows around a signal: its duration, within these limits (s).
_AROUND = (5.0, 1800.0)
#: Robust error of a median: sqrt(pi / 2) x (MAD to sigma).
_MEDIAN_ERROR = 1.2533 * 1.4826
#: Fewest valid frames for a median in a window.
_MIN_FRAMES = 3


def _flare_core(table, row, times, first, last):
    """First and last frame of a flare's rise and early decay (see the module)."""
    peak = int(table["frame_peak"][row])
    width = math.nan
    if "equivalent_duration" in table.colnames and "amplitude" in table.colnames:
        ed = float(u.Quantity(table["equivalent_duration"][row], u.s).value)
        amplitude = float(table["amplitude"][row])
        if ed > 0 and amplitude > 0:
            width = ed / (amplitude * FLARE_AREA)    # the FWHM of a template flare
    if math.isfinite(width):
        low, high = times[peak] - width, times[peak] + FLARE_CORE * width
    else:   # a table without sizes: from its start to two rise times after the peak
        rise = max(times[peak] - times[first], times[min(peak + 1, last)] - times[peak])
        low, high = times[first], times[peak] + FLARE_JUDGED * rise
    first = max(first, min(peak, int(np.searchsorted(times, low, side="left"))))
    last = min(last, max(peak, int(np.searchsorted(times, high, side="right")) - 1))
    return first, last


def coinciding_event(events, start, stop, *, coincidence=COINCIDENCE):
    """Kind of the first event that coincides with the interval ``[start, stop]`` ('' if none).

    Parameters
    ----------
    events : numpy.ndarray
        Records ``kind``, ``start``, ``end`` (s), as
        `spelunker.variability.lightcurve.model_events` gives them.
    start, stop : float
        The flare or dip (s).
    coincidence : float, optional
        Margin (s); see the module for the rule of long signals.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability.origin import coinciding_event
    >>> events = np.array([("tilt", 100.0, 100.0)],
    ...                   dtype=[("kind", "U24"), ("start", "f8"), ("end", "f8")])
    >>> coinciding_event(events, 103.0, 200.0), coinciding_event(events, 110.0, 200.0)
    ('tilt', '')
    >>> coinciding_event(events, -1700.0, 1900.0)  # a tilt in the middle of an hour-long dip
    ''
    """
    where = "coinciding_event"
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    if not {"kind", "start", "end"} <= set(names):
        msg = (f"{where}: events={events!r:.60} must be records with kind, start and end "
               "(spelunker.variability.lightcurve.model_events)")
        raise ParameterError(msg)
    start = check_finite_float(start, "start", where=where)
    stop = check_finite_float(stop, "stop", where=where)
    coincidence = check_finite_float(coincidence, "coincidence", minimum=0, where=where)
    if len(events) == 0:
        return ""
    first = np.asarray(events["start"], dtype=float) - coincidence
    last = np.asarray(events["end"], dtype=float) + coincidence
    overlap = (last >= start) & (first <= stop)
    edge = max(coincidence, 0.25 * (stop - start))
    middle = (first > start + edge) & (last < stop - edge)
    hit = np.flatnonzero(overlap & ~middle)
    return str(events["kind"][hit[0]]) if hit.size else ""


def _median_and_error(values):
    """Median of the finite values and its robust error (NaN for fewer than 3)."""
    values = values[np.isfinite(values)]
    if values.size < _MIN_FRAMES:
        return np.nan, np.nan
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return median, _MEDIAN_ERROR * mad / np.sqrt(values.size)


def series_change(times, values, first, last):
    """Change of ``values`` inside frames ``first..last`` against the level around them.

    The level is interpolated at the inside's mean time between the medians
    of the windows just before and just after (one side when the other
    holds fewer than 3 valid frames); windows last the inside's duration,
    5 s to 30 min.

    Parameters
    ----------
    times, values : numpy.ndarray
        The series (s; NaN allowed).
    first, last : int
        Positions of the first and last frame inside.

    Returns
    -------
    change, error : float
        Inside minus around, and its robust 1-sigma error (NaN when a
        median cannot be formed).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.variability.origin import series_change
    >>> t = np.arange(0, 100, 0.1)
    >>> noise = np.random.default_rng(1).normal(0, 0.005, t.size)
    >>> width = 0.7 + np.where(t >= 50, 0.02, 0.0) + noise
    >>> change, error = series_change(t, width, 500, 599)  # 10 s starting at the step
    >>> round(change, 3), bool(change / error > 5)
    (0.01, True)
    >>> change, error = series_change(t, width, 200, 299)
    >>> bool(abs(change / error) < 5)
    True
    """
    where = "series_change"
    times = check_float_array(times, "times", where=where)
    values = check_float_array(values, "values", shape=times.shape, needed="one value per time",
                               where=where)
    if times.ndim != 1:
        msg = f"{where}: times must be 1-D, got shape {times.shape}"
        raise ParameterError(msg)
    first = check_int_range(first, "first", 0, max(times.size - 1, 0), where=where)
    last = check_int_range(last, "last", first, max(times.size - 1, 0), where=where)
    return _change(times, values, first, last)


def _change(times, values, first, last):
    """`series_change` of checked arrays and positions."""
    start, stop = float(times[first]), float(times[last])
    window = float(np.clip(stop - start, *_AROUND))
    inside, inside_error = _median_and_error(values[first:last + 1])
    low = np.searchsorted(times, start - window, side="left")
    high = np.searchsorted(times, stop + window, side="right")
    before = _median_and_error(values[low:first])
    after = _median_and_error(values[last + 1:high])
    sides = [(side, float(np.mean(times[a:b])))
             for side, (a, b) in ((before, (low, first)), (after, (last + 1, high)))
             if np.isfinite(side[0])]
    if not sides or not np.isfinite(inside):
        return np.nan, np.nan
    if len(sides) == 1:
        level, level_error = sides[0][0]
    else:
        ((b, b_error), t_b), ((a, a_error), t_a) = sides
        fraction = float(np.clip((np.mean(times[first:last + 1]) - t_b) / (t_a - t_b), 0, 1))
        level = b + fraction * (a - b)
        level_error = float(np.hypot((1 - fraction) * b_error, fraction * a_error))
    error = float(np.hypot(inside_error, level_error))
    return float(inside - level), error


def _significance(change, error):
    """``change / error``; 0 for an exactly zero change, NaN when unknown."""
    if not (np.isfinite(change) and np.isfinite(error)):
        return np.nan
    if change == 0:
        return 0.0
    return change / error if error > 0 else np.copysign(np.inf, change)


def assign_origin(table, lc, *, coincidence=COINCIDENCE):
    """Give each flare or dip of ``table`` its origin and the numbers that decided it.

    Parameters
    ----------
    table : astropy.table.QTable
        Flares or dips of ``lc`` (columns ``frame_start`` and ``frame_stop``,
        positions in ``lc``'s arrays, as `spelunker.variability.find_flares`
        and `~spelunker.variability.find_dips` give them).
    lc : spelunker.variability.lightcurve.VisitLightCurve
        The light curve searched.
    coincidence : float, optional
        Margin (s) of `coinciding_event`.

    Returns
    -------
    astropy.table.QTable
        A copy with ``origin``, ``technical_event``, ``psf_change`` and
        ``centroid_change`` (sigma) added; see the module for the rule.

    Raises
    ------
    spelunker.errors.ParameterError
        ``table`` lacks ``frame_start`` or ``frame_stop``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from spelunker.variability.lightcurve import VisitLightCurve
    >>> from spelunker.variability.origin import assign_origin
    >>> t = np.arange(0, 200, 0.0625)
    >>> rng = np.random.default_rng(2)
    >>> width = 0.7 * np.where(t >= 100, 1.05, 1.0) + rng.normal(0, 0.003, t.size)
    >>> none = np.zeros(0, dtype=[("kind", "U24"), ("start", "f8"), ("end", "f8")])
    >>> centroid = rng.normal(4, 0.01, (2, t.size))
    >>> lc = VisitLightCurve(0, 0, np.arange(t.size), t, 60000.0, np.ones(t.size),
    ...                      np.zeros(t.size, bool), none,
    ...                      psf=(width, width, *centroid, np.zeros(t.size, int)))
    >>> dips = QTable({"frame_start": [1600, 800], "frame_stop": [1700, 900]})  # 100 s, 50 s
    >>> result = assign_origin(dips, lc)
    >>> result["origin"].tolist(), [bool(abs(s) > 5) for s in result["psf_change"]]
    (['technical', 'astrophysical'], [True, False])
    """
    missing = [c for c in ("frame_start", "frame_stop") if c not in getattr(table, "colnames", ())]
    if missing:
        msg = (f"assign_origin: table must be a flares or dips table; it lacks "
               f"{', '.join(missing)}")
        raise ParameterError(msg)
    result = table.copy()
    n = len(result)
    kinds, psf, centroid, technical = [], np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    for row in range(n):
        first = int(result["frame_start"][row])
        last = int(result["frame_stop"][row])
        if "frame_peak" in result.colnames:  # a flare: its rise and early decay
            first, last = _flare_core(result, row, lc.times, first, last)
        start, stop = float(lc.times[first]), float(lc.times[last])
        kind = coinciding_event(lc.events, start, stop, coincidence=coincidence)
        window = float(np.clip(stop - start, *_AROUND))
        low = int(np.searchsorted(lc.times, start - window, side="left"))
        high = int(np.searchsorted(lc.times, stop + window, side="right"))
        times = lc.times[low:high]
        width, x, y = lc.psf_window(low, high)
        change, change_error = _change(times, width, first - low, last - low)
        dx, dx_error = _change(times, x, first - low, last - low)
        dy, dy_error = _change(times, y, first - low, last - low)
        psf[row] = _significance(change, change_error)
        centroid[row] = float(np.hypot(_significance(dx, dx_error), _significance(dy, dy_error)))
        level = float(np.nanmedian(width)) if np.isfinite(width).any() else np.nan
        wide = abs(psf[row]) >= PSF_SIGMA and abs(change) >= MIN_WIDTH_CHANGE * level
        moved = centroid[row] >= CENTROID_SIGMA and float(np.hypot(dx, dy)) >= MIN_CENTROID_SHIFT
        technical[row] = bool(kind) or bool(wide) or bool(moved)
        kinds.append(kind)
    result["origin"] = np.where(technical, "technical", "astrophysical").astype("U16")
    result["technical_event"] = np.array(kinds, dtype="U24")
    result["psf_change"] = psf
    result["centroid_change"] = centroid
    return result
