"""Flares and dips of one light curve from one joint search (what `find_variability` runs).

`find_transients` gives the tables of `~spelunker.variability.find_flares`
and `~spelunker.variability.find_dips` (the same rows) from one
`spelunker.variability.search.transient_search`, so the trend of each
search leaves out the events of both and the searches run once.
"""

import logging

from spelunker._validate import check_cpus, check_positive_float
from spelunker.variability.dips import dip_table
from spelunker.variability.flares import flare_table
from spelunker.variability.noise import cadence_of, check_series
from spelunker.variability.search import (DIP_DURATIONS, DIP_THRESHOLD, FLARE_DURATIONS,
                                          FLARE_THRESHOLD, check_durations, searches,
                                          transient_search)

__all__ = ["find_transients"]

log = logging.getLogger(__name__)


def find_transients(times, flux, *, mask=None, flare_threshold=FLARE_THRESHOLD,
                    dip_threshold=DIP_THRESHOLD, flare_durations=FLARE_DURATIONS,
                    dip_durations=DIP_DURATIONS, threads=None):
    """Flares and dips of a relative light curve: ``(flares, dips)`` QTables.

    Parameters
    ----------
    times, flux, mask : array_like
        As for `~spelunker.variability.find_flares`.
    flare_threshold, dip_threshold : float, optional
        Significance thresholds (sigma).
    flare_durations, dip_durations : tuple of float, optional
        ``(min_duration, max_duration)`` (s) of each search.
    threads : int or None, optional
        Most threads (the flare and dip searches run at once); None: the
        CPUs this process may use.  The result does not depend on it.

    Returns
    -------
    flares, dips : astropy.table.QTable
        The tables of `~spelunker.variability.find_flares` and
        `~spelunker.variability.find_dips` with the same arguments.

    Raises
    ------
    spelunker.errors.ParameterError
        A bad series, mask, threshold or duration range (named).

    Examples
    --------
    A flare and a transit of the datasets, at magnitude 14:

    >>> from spelunker.datasets import Flare, Transit, synthetic_light_curve
    >>> from spelunker.variability import find_transients
    >>> signals = [Flare(peak_time=300.0, fwhm=5.0, amplitude=0.02),
    ...            Transit(mid_time=615.0, duration=30.0, depth=0.01)]
    >>> times, flux = synthetic_light_curve(1076.0, fgs_mag=14.0, signals=signals, seed=2)
    >>> flares, dips = find_transients(times, flux)
    >>> [round(t) for t in flares["peak"].value], [round(t) for t in dips["mid"].value]
    ([300], [615])
    """
    where = "find_transients"
    times, flux, valid = check_series(times, flux, mask, where=where, short_ok=True)
    flare_low, flare_high = check_durations(*flare_durations, where)
    dip_low, dip_high = check_durations(*dip_durations, where)
    flare_threshold = check_positive_float(flare_threshold, "flare_threshold", where=where)
    dip_threshold = check_positive_float(dip_threshold, "dip_threshold", where=where)
    threads = check_cpus(threads, name="threads", where=where)
    cadence = cadence_of(times) if times.size >= 2 else 0.0
    found = transient_search(times, flux, valid, cadence, searches(
        flares=(flare_low, flare_high, flare_threshold),
        dips=(dip_low, dip_high, dip_threshold)), threads)
    flares = flare_table(times, found[1][0], valid, cadence, found[1][1])
    dips = dip_table(times, found[-1][0], valid, cadence, found[-1][1])
    log.debug("%s: %d flares, %d dips", where, len(flares), len(dips))
    return flares, dips
