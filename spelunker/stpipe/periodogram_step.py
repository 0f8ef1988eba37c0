"""PeriodogramStep: Lomb-Scargle periodograms of the PSF parameters and the flux.

The step is thin: it opens its input as a `~spelunker.GuideStarModel` (a
copy: the caller's model is never modified), runs the fit first if the
model has no fit table (through `run_fit` / `store_fit`, the same code as
`~spelunker.GuideStarFitStep`), reads the series with
`spelunker.periodogram.series_from_model`, computes them with
`spelunker.periodogram.lomb_scargle` and stores the result with
`spelunker.periodogram.store_periodogram`.
"""

import logging

import numpy as np

from spelunker.periodogram import (
    ENGINES,
    _finite_float,
    lomb_scargle,
    series_from_model,
    store_periodogram,
)
from spelunker.stpipe.core import SpelunkerStep
from spelunker.stpipe.guide_star_fit_step import run_fit, store_fit

__all__ = ["PeriodogramStep", "run_periodogram"]

log = logging.getLogger(__name__)

_FIT_TABLE_OPTIONS = ("auto", "gauss_fit", "quick_fit")


class PeriodogramStep(SpelunkerStep):
    """Lomb-Scargle periodograms of every PSF parameter and of the flux.

    The input is anything `spelunker.io.open_guidestar` reads, usually the
    output of `~spelunker.GuideStarFitStep` (a saved or in-memory
    `~spelunker.GuideStarModel`; it is copied, never modified).  The seven
    parameters of the ``gauss_fit`` (or ``quick_fit``) table, leaving out
    frames whose fit flags are set, and the ``flux`` of the ``lightcurve``
    table if there is one, get a standard-normalised Lomb-Scargle
    periodogram on one frequency grid (`spelunker.periodogram.frequency_grid`:
    ``1 / baseline`` to the Nyquist frequency of the median cadence).  The
    output adds the ``periodogram`` table (frequency in Hz, one power column
    per series, NaN for a series that is not available) and the
    ``periodogram_peaks`` table (the ``n_peaks`` strongest peaks of each
    series: frequency, period, power, false-alarm probability).

    A model without the fit table asked for is fitted first (moments,
    ``quick``, for ``fit_table='auto'``), with a warning; the fit table is
    kept in the output.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.periodogram import periodogram_peaks_table
    >>> from spelunker.stpipe.periodogram_step import PeriodogramStep
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=400, n_segments=1)],
    ...     signals=[datasets.CentroidWobble(period=2.0, amplitude=0.05)], seed=1)
    >>> result = PeriodogramStep.call(visit.files)   # runs the quick fit first
    >>> result.meta.spelunker.periodogram_source
    'quick_fit'
    >>> peaks = periodogram_peaks_table(result)
    >>> best = peaks[(peaks["series"] == "x_mean") & (peaks["rank"] == 1)][0]
    >>> float(best["period"].value.round(1)), bool(best["false_alarm_probability"] < 1e-3)
    (2.0, True)
    """

    class_alias = "spelunker_periodogram"

    spec = """
    fit_table = option('auto', 'gauss_fit', 'quick_fit', default='auto')  # Fit table whose PSF parameters get periodograms; 'auto' prefers gauss_fit, then quick_fit, and runs the quick (moments) fit if the model has neither
    samples_per_peak = float(min=1, default=5)  # Frequency grid points per peak width (1 / baseline): spacing is 1 / (samples_per_peak * baseline)
    maximum_frequency = float(default=None)  # Highest frequency of the grid (Hz); None: the Nyquist frequency of the median cadence (about 9 Hz for 53.8 ms frames)
    n_peaks = integer(min=1, default=5)  # Number of strongest peaks reported per series in the periodogram_peaks table
    engine = option('nifty', 'astropy', default='nifty')  # 'nifty': nifty-ls non-uniform FFT, batched over series (fast, ~1e-9 accurate); 'astropy': astropy's exact method='cython', slow, a reference for small inputs
    suffix = string(default='gspgram')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Compute the periodograms of ``input_data`` and return a new GuideStarModel.

        Parameters
        ----------
        input_data : object
            Anything `spelunker.io.open_guidestar` accepts.

        Returns
        -------
        GuideStarModel
            A copy of the input with the ``periodogram`` and
            ``periodogram_peaks`` tables and ``meta.spelunker.periodogram_*``
            filled in (and a fit table if one had to be computed).
        """
        fit_table, samples_per_peak, maximum_frequency, n_peaks, engine = (
            self._checked_parameters())
        model = self.open_input(input_data, progress=False)
        run_periodogram(model, fit_table=fit_table, samples_per_peak=samples_per_peak,
                        maximum_frequency=maximum_frequency, n_peaks=n_peaks, engine=engine)
        return model

    def _checked_parameters(self):
        """Return the parameters, checked, or raise ValueError.

        The spec validates parameters given to ``call``, ``strun`` or the
        constructor; attributes set on an instance afterwards are checked
        here.
        """
        fit_table = str(self.fit_table).strip().lower()
        if fit_table not in _FIT_TABLE_OPTIONS:
            msg = (f"{self.name}: fit_table={self.fit_table!r} is not one of "
                   f"{list(_FIT_TABLE_OPTIONS)}")
            raise ValueError(msg)
        engine = str(self.engine).strip().lower()
        if engine not in ENGINES:
            msg = f"{self.name}: engine={self.engine!r} is not one of {list(ENGINES)}"
            raise ValueError(msg)
        samples_per_peak = _number(self.name, "samples_per_peak", self.samples_per_peak)
        if samples_per_peak < 1:
            msg = f"{self.name}: samples_per_peak={self.samples_per_peak!r} must be >= 1"
            raise ValueError(msg)
        maximum_frequency = self.maximum_frequency
        if maximum_frequency is not None:
            maximum_frequency = _number(self.name, "maximum_frequency", maximum_frequency)
            if maximum_frequency <= 0:
                msg = (f"{self.name}: maximum_frequency={self.maximum_frequency!r} must be "
                       f"positive (Hz), or None for the Nyquist frequency")
                raise ValueError(msg)
        n_peaks = self.n_peaks
        if (isinstance(n_peaks, (bool, np.bool_)) or not isinstance(n_peaks, (int, np.integer))
                or n_peaks < 1):
            msg = f"{self.name}: n_peaks={self.n_peaks!r} must be an integer >= 1"
            raise ValueError(msg)
        return fit_table, samples_per_peak, maximum_frequency, int(n_peaks), engine


def run_periodogram(model, *, fit_table="auto", samples_per_peak=5.0, maximum_frequency=None,
                    n_peaks=5, engine="nifty"):
    """Periodograms of every series of ``model``, stored in the model.

    The computation behind `PeriodogramStep`, shared with the notebook API:
    the fit table is computed first (quick fit, with a warning) if the model
    has none, then `spelunker.periodogram.lomb_scargle` runs on the series of
    `spelunker.periodogram.series_from_model` and
    `spelunker.periodogram.store_periodogram` writes the tables.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place.
    fit_table : {'auto', 'gauss_fit', 'quick_fit'}, optional
        Fit table whose parameters are analysed ('auto' prefers gauss_fit).
    samples_per_peak, maximum_frequency, n_peaks, engine
        As in `spelunker.periodogram.lomb_scargle`.

    Returns
    -------
    spelunker.periodogram.PeriodogramResult
    """
    fit_table = _ensure_fit_table(model, fit_table)
    times, series, errors, source = series_from_model(model, fit_table=fit_table)
    result = lomb_scargle(times, series, errors=errors, samples_per_peak=samples_per_peak,
                          maximum_frequency=maximum_frequency, engine=engine, n_peaks=n_peaks)
    store_periodogram(model, result, source=source, samples_per_peak=samples_per_peak)
    _log_summary(result, source)
    return result


def _ensure_fit_table(model, fit_table):
    """Fit table to use; fits the frames first (with a warning) if the model lacks it."""
    present = [name for name in ("gauss_fit", "quick_fit") if model.hasattr(name)]
    if fit_table == "auto":
        if present:
            return present[0]
        method, fit_table = "quick", "quick_fit"
    elif fit_table in present:
        return fit_table
    else:
        method = "gauss" if fit_table == "gauss_fit" else "quick"
    log.warning("the input has no %s table: running the %s fit first (GuideStarFitStep "
                "method=%r); the table is kept in the output", fit_table,
                "moments (quick)" if method == "quick" else "2-D Gaussian", method)
    result, elapsed = run_fit(model, method)
    table = store_fit(model, result, method, ncpus=1)
    log.info("%s fit of %d frames in %.2f s; %d flagged", method, len(table), elapsed,
             int(np.count_nonzero(np.asarray(table["flags"]))))
    return fit_table


def _log_summary(result, source):
    log.info("periodograms of %d series (parameters from %s) on %d frequencies, "
             "%.4g to %.4g Hz", len(result.power), source, len(result.frequency),
             result.frequency[0], result.frequency[-1])
    peaks = result.peaks
    for name in result.power:
        rows = peaks[(peaks["series"] == name) & (peaks["rank"] == 1)]
        if len(rows):
            row = rows[0]
            log.info("  %-9s strongest peak: period %.6g s (%.6g Hz), power %.3g, FAP %.2g",
                     name, row["period"].value, row["frequency"].value, row["power"],
                     row["false_alarm_probability"])
        else:
            log.info("  %-9s no peak (%d valid points)", name, result.n_points.get(name, 0))


def _number(step_name, parameter, value):
    try:
        return _finite_float(value, parameter)
    except ValueError as exc:
        msg = f"{step_name}: {exc}"
        raise ValueError(msg) from None