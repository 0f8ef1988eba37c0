"""Classes of a guide star's light curve in one visit, and the numbers that decide them.

`classify` gives a visit and guide star any of `CLASSES` but ``'constant'``
that apply, or ``'constant'`` when none does, from the numbers of its
``variability`` row (`spelunker.variability.find_variability`):

- ``'periodic'``: a Lomb-Scargle peak of the relative light curve (binned
  in `PERIOD_BIN` seconds, coarser for visits longer than `PERIOD_POINTS`
  bins; flares, dips and masked frames left out), searched
  from 2 cycles per visit (``minimum_frequency = 2 / baseline``: a period
  of three cycles is then inside the grid, not at its edge) up, refined
  by a least-squares sinusoid (`spelunker.periodogram.refine_period`) to a
  good fit (``refine_flag == 0``) with a false-alarm probability
  ``period_fap <= PERIODIC_FAP`` (1e-3), an amplitude at least
  `MIN_PERIOD_SIGMA` (5) times its error with the error inflated by the red
  noise of the residual at a quarter period (beta there: the false-alarm
  probability assumes white noise, and red noise makes low-frequency peaks
  of tiny probability), and at least `MIN_CYCLES` cycles in
  the visit (of the period less three times its error);
- ``'flaring'``: at least one astrophysical flare (``n_flares >= 1``;
  `spelunker.variability.origin`);
- ``'dipping'``: at least one astrophysical dip (``n_dips >= 1``), or
  periodic dips (astropy's BoxLeastSquares,
  `spelunker.variability.periodic_dips`) with ``bls_snr >= MIN_BLS_SNR``
  (10; eight 5-hour white-noise light curves at the guider cadence gave
  1.0-3.1, and red noise raises it: 7, the usual threshold, leaves less
  room);
- ``'stochastic'``: red noise, ``beta_10min`` or ``beta_1h`` above
  `MAX_BETA` (2).  The noise columns are measured on the light curve with
  the flares, dips and masked frames left out and the periodic sinusoid
  subtracted, so neither the flares nor the period explain it.  For white
  noise beta is 1 with a scatter of about ``1 / sqrt(2 n_bins)``: with the
  3 bins a 30-minute visit holds at 10 min, beta > 2 has a chance of about
  2 % (chi-square with 2 degrees of freedom above 8); over 10 hours it is
  negligible.

A red-noise star may also show a significant period (its power is not
white); ``'stochastic'`` beside ``'periodic'`` says so.
"""

import math
from collections.abc import Mapping

from spelunker.errors import ParameterError

__all__ = ["CLASSES", "PERIODIC_FAP", "MIN_CYCLES", "MIN_PERIOD_SIGMA", "MIN_BLS_SNR",
           "MAX_BETA", "PERIOD_BIN", "PERIOD_POINTS", "classify", "is_periodic"]

#: The classes, in the order of the ``classes`` column.
CLASSES = ("constant", "periodic", "flaring", "dipping", "stochastic")

#: Largest false-alarm probability of a periodic star's refined period.
PERIODIC_FAP = 1e-3
#: Fewest cycles of the period in the visit.
MIN_CYCLES = 3.0
#: Smallest amplitude of the sinusoid over its error, the error inflated by the red
#: noise of the residual at a quarter period (on clean frame-level visits with red
#: noise of 0.05-0.1 % on 10-30 min, 25 of 27 got a false period of 1400-5100 s at a
#: false-alarm probability below 1e-3 without this test).
MIN_PERIOD_SIGMA = 5.0
#: Smallest BoxLeastSquares signal-to-noise of periodic dips.
MIN_BLS_SNR = 10.0
#: Largest red-noise factor (beta at 10 min or 1 h) of a star that is not stochastic.
MAX_BETA = 2.0
#: Shortest bin (s) of the light curve searched for a period: periods down to 2 s.
PERIOD_BIN = 1.0
#: Most bins of the light curve searched for a period: a visit longer than this many
#: `PERIOD_BIN` (2.8 hours) is binned coarser, ``baseline / PERIOD_POINTS``, and its
#: shortest period is two such bins (11 s for 15 hours); this bounds the search to
#: about 0.02 s for any visit.
PERIOD_POINTS = 10000


def _above(value, limit):
    return value is not None and math.isfinite(value) and value > limit


def is_periodic(period, fap, flag, hours, *, error=0.0, significance=math.inf):
    """Whether a refined period makes a star periodic (see the module for the rule).

    The visit holds `MIN_CYCLES` cycles of the period less three times its
    1-sigma ``error`` (s): a sinusoid of exactly three cycles is measured a
    little longer or shorter than its true period, half the time.

    Examples
    --------
    >>> from spelunker.variability.classes import is_periodic
    >>> is_periodic(600.0, 1e-9, 0, 1.0), is_periodic(600.0, 0.01, 0, 1.0)
    (True, False)
    >>> is_periodic(1201.0, 1e-9, 0, 1.0), is_periodic(1201.0, 1e-9, 0, 1.0, error=0.5)
    (False, True)
    >>> is_periodic(600.0, 1e-9, 0, 1.0, significance=3.0)  # red noise at P / 4
    False
    """
    error = error if error is not None and math.isfinite(error) and error > 0 else 0.0
    significant = significance is None or not math.isfinite(significance) or (
        significance >= MIN_PERIOD_SIGMA)
    return bool(flag == 0 and _above(period, 0) and fap is not None and math.isfinite(fap)
                and fap <= PERIODIC_FAP and significant
                and hours * 3600.0 >= MIN_CYCLES * (period - 3.0 * error))


def classify(row):
    """The classes of one visit and guide star from its variability numbers.

    Parameters
    ----------
    row : mapping
        ``n_flares``, ``n_dips`` (astrophysical), ``period``, ``period_fap``,
        ``period_flag`` (the refinement flag, 0 for a good fit), ``hours``,
        ``bls_snr``, ``beta_10min``, ``beta_1h`` (NaN where unknown); a
        ``variability`` row plus ``period_flag``.

    Returns
    -------
    tuple of str
        The classes that apply, in the order of `CLASSES`; ``('constant',)``
        when none.

    Examples
    --------
    >>> from spelunker.variability.classes import classify
    >>> quiet = dict(n_flares=0, n_dips=0, period=float("nan"), period_fap=1.0, period_flag=4,
    ...              hours=2.0, bls_snr=3.0, beta_10min=1.1, beta_1h=float("nan"))
    >>> classify(quiet)
    ('constant',)
    >>> classify({**quiet, "n_flares": 2, "beta_1h": 3.5})
    ('flaring', 'stochastic')
    >>> classify({**quiet, "period": 600.0, "period_fap": 1e-9, "period_flag": 0})
    ('periodic',)
    >>> classify({**quiet, "period": 3000.0, "period_fap": 1e-9, "period_flag": 0})  # 2.4 cycles
    ('constant',)
    """
    if not isinstance(row, Mapping):
        msg = f"classify: row={row!r:.60} must be a mapping of the variability numbers"
        raise ParameterError(msg)
    found = []
    if is_periodic(row.get("period"), row.get("period_fap"), row.get("period_flag", 0),
                   row.get("hours", 0.0), error=row.get("period_error", 0.0),
                   significance=row.get("period_significance", math.inf)):
        found.append("periodic")
    if row.get("n_flares", 0) >= 1:
        found.append("flaring")
    snr = row.get("bls_snr")
    if row.get("n_dips", 0) >= 1 or (snr is not None and math.isfinite(snr)
                                      and snr >= MIN_BLS_SNR):
        found.append("dipping")
    if _above(row.get("beta_10min"), MAX_BETA) or _above(row.get("beta_1h"), MAX_BETA):
        found.append("stochastic")
    return tuple(found) or ("constant",)
