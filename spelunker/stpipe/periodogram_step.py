"""PeriodogramStep: Lomb-Scargle periodograms of the PSF parameters and the flux.

Glue in the manner of jwst's small steps: open the input (a copy), check the
parameters, call `spelunker.periodogram.run_periodogram` (which fits first
when the model has no fit table), return the model.
"""

import logging

from spelunker._validate import check_choice, check_cpus, check_finite_float, check_positive_int
from spelunker.errors import ParameterError
from spelunker.periodogram import ENGINES, run_periodogram
from spelunker.stpipe.core import SpelunkerStep

__all__ = ["PeriodogramStep"]

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
    per series, NaN for a series that is not available; ``samples_per_peak``
    grid points per ``1 / baseline``, 2 by default) and the
    ``periodogram_peaks`` table (the ``n_peaks`` strongest peaks of each
    series: frequency, period, power, false-alarm probability), found on
    the finer grid of ``peak_samples_per_peak`` (5), whose power is
    computed around the candidate peaks only (`spelunker.periodogram.zoom`).
    ``ncpus`` caps the threads (None: every CPU of the process; the zoomed
    peaks compute at most two series at once, 1 computes them in the
    calling thread); the results do not depend on it.

    A model without the fit table asked for is fitted first (moments,
    ``quick``, for ``fit_table='auto'``), with a warning; the fit table is
    kept in the output.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.periodogram import periodogram_peaks_table
    >>> from spelunker import PeriodogramStep
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
    samples_per_peak = float(min=1, default=2)  # Frequency grid points per peak width (1 / baseline) of the stored periodogram table: spacing 1 / (samples_per_peak * baseline)
    peak_samples_per_peak = float(min=1, default=5)  # Grid points per peak width of the grid the peaks are found on; finer than samples_per_peak, its power is computed around the candidate peaks only (the same peaks as on that grid in full)
    maximum_frequency = float(default=None)  # Highest frequency of the grid (Hz); None: the Nyquist frequency of the median cadence (about 9 Hz for 53.8 ms frames)
    n_peaks = integer(min=1, default=5)  # Number of strongest peaks reported per series in the periodogram_peaks table
    ncpus = integer(min=1, default=None)  # Number of threads (capped at the CPUs available; the zoomed peaks compute at most 2 series at once); default: every CPU this process may use; results do not depend on it
    engine = option('nifty', 'astropy', default='nifty')  # 'nifty': non-uniform FFTs (nifty-ls, or finufft directly when the peaks are zoomed; fast, ~1e-9 accurate); 'astropy': astropy's exact method='cython', slow, a reference for small inputs
    suffix = string(default='gspgram')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Periodograms of ``input_data`` (anything `spelunker.io.open_guidestar` reads).

        Returns a copy of the input with the ``periodogram`` and
        ``periodogram_peaks`` tables and ``meta.spelunker.periodogram_*``
        filled in (and a fit table if one had to be computed).
        """
        fit_table, samples_per_peak, maximum_frequency, n_peaks, engine, peak_samples = (
            self._checked_parameters())
        # None stays None: the engines' own default (every CPU, nifty-ls's own choice).
        ncpus = None if self.ncpus is None else check_cpus(self.ncpus, where=self.name, log=log)
        model = self.open_input(input_data, progress=False)
        run_periodogram(model, fit_table=fit_table, samples_per_peak=samples_per_peak,
                        maximum_frequency=maximum_frequency, n_peaks=n_peaks, engine=engine,
                        peak_samples_per_peak=peak_samples, ncpus=ncpus)
        return model

    def _checked_parameters(self):
        """Return the parameters, checked, or raise ParameterError.

        The spec validates parameters given to ``call``, ``strun`` or the
        constructor; attributes set on an instance afterwards are checked
        here.
        """
        name = self.name
        fit_table = check_choice(self.fit_table, "fit_table", _FIT_TABLE_OPTIONS, where=name)
        engine = check_choice(self.engine, "engine", ENGINES, where=name)
        samples_per_peak, peak_samples = (
            check_finite_float(getattr(self, option), option, minimum=1, where=name)
            for option in ("samples_per_peak", "peak_samples_per_peak"))
        maximum_frequency = self.maximum_frequency
        if maximum_frequency is not None:
            maximum_frequency = check_finite_float(maximum_frequency, "maximum_frequency",
                                                   where=name)
            if maximum_frequency <= 0:
                msg = (f"{name}: maximum_frequency={self.maximum_frequency!r} must be "
                       f"positive (Hz), or None for the Nyquist frequency")
                raise ParameterError(msg)
        n_peaks = check_positive_int(self.n_peaks, "n_peaks", where=name)
        return fit_table, samples_per_peak, maximum_frequency, n_peaks, engine, peak_samples

