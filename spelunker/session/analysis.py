"""The session's analysis: fits, photometry, periodograms, events, variability, science, pointing.

A mixin of `spelunker.Spelunker` (`spelunker.session`).  Each method runs
the function the pipeline step runs, on the session's model, and names it
in its docstring: `spelunker.fitting.run_fit` and
`spelunker.fitting.store_fit`, `spelunker.photometry.run_photometry`,
`spelunker.periodogram.run_periodogram`, `spelunker.events.find_events`,
`spelunker.variability.find_variability` and
`spelunker.variability.store_variability`,
`spelunker.science.bin_to_integrations`,
`spelunker.pointing.pointing_stability` and
`spelunker.pointing.exposure.exposure_stability` with
`spelunker.pointing.exposure.write_jitter_file`.
"""

import logging

import numpy as np

from spelunker._validate import check_cpus, check_int_range
from spelunker.binning import DEFAULT_BIN_SIZE, bin_size_of_frames
from spelunker.datamodels import FIT_TABLES
from spelunker.errors import ParameterError, ScienceInputError
from spelunker.events import events_table, find_events, store_events
from spelunker.fitting import (ensure_fit_table, fit_table, fit_target, run_fit, store_fit,
                               which_fit)
from spelunker.instrument import FRAME_SHAPE
from spelunker.periodogram import periodogram_peaks_table, run_periodogram
from spelunker.photometry import lightcurve_table, run_photometry, store_photometry
from spelunker.pointing.core import pointing_stability
from spelunker.pointing.exposure import exposure_stability, jitter_path, write_jitter_file
from spelunker.plotting import periodogram_plot
from spelunker.plotting.science import science_regressors_plot
from spelunker.science import (DEFAULT_REGRESSORS, bin_to_integrations, science_light_curve,
                               to_lightkurve, to_timeseries)
from spelunker.session.args import detached_figure, given
from spelunker.session.files import program_label, write_periodogram, write_result_table
from spelunker.variability import (dips_table, find_variability, flares_table,
                                   store_variability, variability_table)

__all__ = ["SessionAnalysis"]

log = logging.getLogger(__name__)


class _PeriodogramOf:
    """The original's read-only ``pgram_<series>``: (frequency [Hz], power) of one series.

    For a session of several visits or guide stars, a list of them in time
    order (`spelunker.GuideStarModel.periodogram_curves`); None before
    `SessionAnalysis.periodogram`.
    """

    def __init__(self, what):
        self.what = what

    def __set_name__(self, owner, name):
        self.name, self.series = name, name[len("pgram_"):]
        self.__doc__ = (f"(frequency [Hz], power) of {self.what}: "
                        f"`spelunker.GuideStarModel.periodogram_curves` of "
                        f"{self.series!r}; a list of them, one per visit and guide star, "
                        f"for several; None before `periodogram` (read-only).")

    def __get__(self, session, owner=None):
        return self if session is None else session._pgram(self.series)

    def __set__(self, session, value):
        # AttributeError, not a SpelunkerError: Python's protocol for a read-only
        # attribute (as every property without a setter of the session raises, and as
        # hasattr/setattr/copy expect).
        msg = f"{self.name} is read-only: it is the periodogram of the session's model"
        raise AttributeError(msg)


class SessionAnalysis:
    """The session's analysis methods (a mixin of `Spelunker`)."""

    def gauss2d_fit(self, fg_array=None, ncpus=None, save=False, *, max_iterations=50):
        """2-D Gaussian fit of every frame (as `~spelunker.GuideStarFitStep` method 'gauss').

        Fitted by `spelunker.fitting.run_fit` and stored by
        `spelunker.fitting.store_fit`, the step's functions; the table is
        `spelunker.fitting.fit_table`.

        Parameters
        ----------
        fg_array : array_like, optional
            Frames to fit instead of all of the session's, as the original
            tool: a selection of `fg_array` (``spk.fg_array[0:47000]``) is
            fitted as those frames of the session (with their errors, DQ
            and times: the step's result on the same frames); any other
            (n, 8, 8) array is fitted on its own (no errors, DQ or times).
            The session keeps its frames; `gaussfit_results` is this fit.
        ncpus : int, optional
            Threads (default: every CPU available to the process).
        save : bool, optional
            Also write the table to ``<directory>/gaussfits/<pid>_gaussfits.ecsv``
            (the original's ``.dat``, as ECSV with units;
            `spelunker.session.files.write_result_table`).
        max_iterations : int, optional
            Iteration limit per frame.

        Returns
        -------
        astropy.table.QTable
            `gaussfit_results`: one row per frame with units and a time
            column; ``flags != 0`` marks frames whose fit is not to be trusted.

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> len(spk.gauss2d_fit(spk.fg_array[0:10], ncpus=1))
        10
        """
        return self._fit("gauss", fg_array, save, ncpus=ncpus, max_iterations=max_iterations)

    def quick_fit(self, fg_array=None, save=False, *, ncpus=None):
        """Moments fit of every frame (as `~spelunker.GuideStarFitStep` method 'quick').

        `spelunker.fitting.run_fit` and `spelunker.fitting.store_fit` with
        method 'quick' (see `gauss2d_fit`).

        Parameters
        ----------
        fg_array : array_like, optional
            Frames to fit instead of all of the session's (see `gauss2d_fit`).
        save : bool, optional
            Also write ``<directory>/quickfits/<pid>_quickfits.ecsv``.
        ncpus : int, optional
            Threads (default: every CPU available to the process).

        Returns
        -------
        astropy.table.QTable
            `quickfit_results`.

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> len(spk.quick_fit())
        6000
        """
        return self._fit("quick", fg_array, save, ncpus=ncpus)

    def _fit(self, method, fg_array, save, **options):
        model = self._require_model()
        if isinstance(fg_array, (int, np.integer)) and not isinstance(fg_array, bool):
            if options.get("ncpus") is not None:
                msg = f"{method} fit: fg_array={fg_array!r} is a number; give frames or ncpus"
                raise ParameterError(msg)
            options["ncpus"], fg_array = fg_array, None  # the former fit(ncpus) call
        options["ncpus"] = check_cpus(options.get("ncpus"))
        self._partial_fits.pop(method, None)
        if given(fg_array) and not (isinstance(fg_array, np.ndarray)
                                    and fg_array.shape == model.data.shape
                                    and np.shares_memory(fg_array, model.data)):
            target = fit_target(model, fg_array, where=f"{method} fit")
        else:
            target = model
        result, elapsed = run_fit(target, method, progress=self._progress(), **options)
        store_fit(target, result, method, ncpus=options.get("ncpus"))
        log.info("%s fit of %d frames in %.2f s", method, len(target.data), elapsed)
        if target is not model:
            self._partial_fits[method] = fit_table(target, method,
                                                   time=target.hasattr("frames"))
        table = self._fit_results(method)
        if save:
            write_result_table(table, self.directory, f"{method}fits", program_label(model))
        return table

    @property
    def gaussfit_results(self):
        """Table of the latest `gauss2d_fit` (`spelunker.fitting.fit_table`; None before)."""
        return self._fit_results("gauss")

    @property
    def quickfit_results(self):
        """Table of the latest `quick_fit` (`spelunker.fitting.fit_table`; None before)."""
        return self._fit_results("quick")

    def _fit_results(self, method):
        if method in self._partial_fits:
            return self._partial_fits[method]
        if self.model is None or not self.model.hasattr(FIT_TABLES[method]):
            return None
        return fit_table(self.model, method)

    def optimize_photometry(self, mask=None, min_pixel=None, max_pixel=None, n_bin=None, *,
                            bin_size=None, per_guidestar=True, min_pixels=1, max_pixels=64):
        """Optimal-aperture photometry (as `~spelunker.PhotometryOptimizeStep`).

        Computed by `spelunker.photometry.run_photometry` and stored by
        `spelunker.photometry.store_photometry`, the step's functions:
        updates `fg_flux` and `photometry_mask`.  The positional arguments
        are the original tool's (``n_bin`` frames are
        `spelunker.GuideStarModel.frame_interval` seconds each).

        Parameters
        ----------
        mask : array_like of bool, optional
            A user aperture (8, 8): no search.
        min_pixel, max_pixel : int, optional
            The original's names of ``min_pixels`` and ``max_pixels``.
        n_bin : int, optional
            The original's bin of the scatter metric, in frames (the bin is
            ``n_bin`` times the median frame interval:
            `spelunker.binning.bin_size_of_frames`); ``bin_size`` wins.
        bin_size : float, optional
            Time bin (seconds) of the binned-scatter metric (default: the
            step's).
        per_guidestar : bool, optional
            One aperture per guide star when the session holds several (the
            default, as `~spelunker.PhotometryOptimizeStep`).
        min_pixels, max_pixels : int, optional
            Range of aperture sizes tried.

        Returns
        -------
        astropy.table.QTable
            The light curve (time, flux, flux_err in DN/s;
            `spelunker.photometry.lightcurve_table`).

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> curve = spk.optimize_photometry(None, 1, 30, 100)
        >>> spk.photometry_mask.shape, str(curve["flux"].unit)
        ((8, 8), 'DN / s')
        """
        model = self._require_model()
        where = "optimize_photometry"
        pixels = FRAME_SHAPE[0] * FRAME_SHAPE[1]
        min_pixels = check_int_range(min_pixel if given(min_pixel) else min_pixels,
                                     "min_pixels", 1, pixels, where=where)
        max_pixels = check_int_range(max_pixel if given(max_pixel) else max_pixels,
                                     "max_pixels", 1, pixels, where=where)
        if bin_size is None and given(n_bin):
            bin_size = bin_size_of_frames(n_bin, model.frame_interval(), name="n_bin",
                                          where=where)
        bin_size = DEFAULT_BIN_SIZE if bin_size is None else bin_size
        result = run_photometry(model, bin_size=bin_size, per_guidestar=per_guidestar,
                                mask=mask if given(mask) else None,
                                n_pixels=np.arange(min_pixels, max_pixels + 1))
        store_photometry(model, result)
        return lightcurve_table(model)

    def periodogram(self, table=None, time=None, save=False, plot=True, *, fit_table="auto",
                    samples_per_peak=2.0, maximum_frequency=None, n_peaks=5):
        """Lomb-Scargle periodograms of every series (as `~spelunker.PeriodogramStep`).

        Computed by `spelunker.periodogram.run_periodogram` (the step's
        function), drawn by `spelunker.plotting.periodogram_plot`.  Uses the
        Gaussian fit if there is one, else the quick fit (run now
        if needed); the flux series is the current `fg_flux` light curve
        when `optimize_photometry` has run.  One periodogram is computed per
        visit and guide star (`spelunker.periodogram.periodogram_groups`).
        Afterwards `pgram_results` holds the strongest peaks and
        ``pgram_<series>`` holds (frequency, power) for each series, or, for
        a program of several visits or guide stars, a list of them in time
        order.

        Parameters
        ----------
        table : astropy.table.Table, optional
            The original tool's fit table argument: `gaussfit_results` or
            `quickfit_results` of this session (the periodogram of that
            fit); another table is refused.
        time : array_like, optional
            The times of ``table``: `fg_time` (the session's).
        save : bool, optional
            Also write the figure and the peaks into `directory`
            (``<program>_pgram_results.png`` and ``.ecsv``;
            `spelunker.session.files.write_periodogram`).
        plot : bool, optional
            Draw the periodograms (`spelunker.plotting.periodogram_plot`).
        fit_table : {'auto', 'gauss', 'quick'}, optional
            Which fit to use when ``table`` is not given.
        samples_per_peak, maximum_frequency, n_peaks : optional
            As `~spelunker.PeriodogramStep`.

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes or None
            The figure's Axes, one per series (None with ``plot=False``),
            as the original tool.

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> ax = spk.periodogram()
        >>> len(spk.pgram_results) > 0, ax[0].get_xscale()
        (True, 'log')
        """
        model = self._require_model()
        if given(table):
            fit_table = self._method_of_table(table, time)
        run_periodogram(model, fit_table=fit_table, samples_per_peak=samples_per_peak,
                        maximum_frequency=maximum_frequency, n_peaks=n_peaks)
        axes = None
        if plot or save:
            figure = periodogram_plot(model, fig=None if plot else detached_figure())
            axes = np.asarray(figure.axes)
            if save:
                write_periodogram(figure, self.pgram_results, self.directory,
                                  program_label(model))
        return axes if plot else None

    def _method_of_table(self, table, time):
        """Which of the session's fits ``table`` is (`spelunker.fitting.which_fit`).

        A fit of part of the frames (the latest `gauss2d_fit` or `quick_fit`
        of an ``fg_array``) is not the model's: that method is not looked at.
        """
        method = which_fit(self.model, table, time=time if given(time) else None,
                           methods=[m for m in ("gauss", "quick") if m not in self._partial_fits],
                           where="periodogram")
        if method is not None:
            return method
        msg = ("periodogram: table must be the session's gaussfit_results or quickfit_results "
               "of all its frames; run gauss2d_fit() or quick_fit() first (a fit of part of "
               "the frames: spk.select(...) then fit)")
        raise ParameterError(msg)

    @property
    def pgram_results(self):
        """Strongest periodogram peaks per series (`spelunker.periodogram.periodogram_peaks_table`).

        None before `periodogram`.
        """
        if self.model is None or not self.model.hasattr("periodogram_peaks"):
            return None
        return periodogram_peaks_table(self.model)

    def _pgram(self, series):
        """(frequency, power) of one periodogram; a list of them, one per visit and guide star."""
        if self.model is None or not self.model.hasattr("periodogram"):
            return None
        curves = self.model.periodogram_curves(series)
        return curves[0] if len(curves) == 1 else curves

    pgram_amplitude = _PeriodogramOf("the amplitude series")
    pgram_x_mean = _PeriodogramOf("the x centroid series")
    pgram_y_mean = _PeriodogramOf("the y centroid series")
    pgram_x_stddev = _PeriodogramOf("the x width series")
    pgram_y_stddev = _PeriodogramOf("the y width series")
    pgram_theta = _PeriodogramOf("the angle series")
    pgram_offset = _PeriodogramOf("the background series")
    pgram_flux = _PeriodogramOf("the light curve")

    def find_events(self, *, fit_table="auto", **options):
        """Technical events of the session's frames (as `~spelunker.GuideStarEventStep`).

        Tilts, centroid jumps, flux excursions, HGA moves, guide-star changes
        and gaps (`spelunker.events.find_events`; ``options`` are its
        ``bin_size``, ``window``, ``threshold``, ``gap``, ``coincidence``),
        stored by `spelunker.events.store_events`.  The quick fit runs first
        if the session has no fit (`spelunker.fitting.ensure_fit_table`).

        Returns
        -------
        astropy.table.QTable
            `events`: one row per event.
        """
        model = self._require_model()
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
        store_events(model, find_events(model, fit_table=fit_table, **options))
        return self.events

    @property
    def events(self):
        """The events found by `find_events` or read (`spelunker.events.events_table`), or None."""
        if self.model is None or not self.model.hasattr("events"):
            return None
        return events_table(self.model)

    def find_flares(self, *, fit_table="auto", **options):
        """Flares, dips and variability of each visit and guide star (as the variability step).

        As `~spelunker.GuideStarVariabilityStep`: found by
        `spelunker.variability.find_variability` (``options`` are its own:
        ``mask_events``, ``flare_threshold``, ``dip_threshold``, ...) on the
        optimal-aperture light curve, frames with flagged fits
        or inside technical events masked, and stored by
        `spelunker.variability.store_variability`.  What it needs and the
        session lacks runs first, with the steps' defaults: the quick fit
        (`spelunker.fitting.ensure_fit_table`), the photometry
        (`optimize_photometry`) and the technical events (`find_events`).
        Afterwards `flares`, `dips` and `variability` hold the tables and
        `plot_variability` draws them.

        Parameters
        ----------
        fit_table : {'auto', 'gauss', 'quick'}, optional
            The fit whose flags mask frames (and that `find_events` reads).
        **options
            Options of `spelunker.variability.find_variability`.

        Returns
        -------
        astropy.table.QTable
            `flares`: one row per flare (peak time, amplitude, equivalent
            duration with errors, significance, astrophysical or technical).

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> flares = spk.find_flares()
        >>> len(spk.variability), "equivalent_duration" in flares.colnames
        (1, True)
        """
        model = self._require_model()
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
            if not model.hasattr("lightcurve"):
                self.optimize_photometry()
        if not model.hasattr("events"):
            self.find_events(fit_table=fit_table)
        store_variability(model, find_variability(model, fit_table=fit_table, **options))
        return self.flares

    @property
    def flares(self):
        """The flares found by `find_flares` or read, or None.

        `spelunker.variability.flares_table` of the session's model.
        """
        return self._stored_table("flares", flares_table)

    @property
    def dips(self):
        """The dips (eclipses, transits, occultations) found by `find_flares` or read, or None.

        `spelunker.variability.dips_table` of the session's model.
        """
        return self._stored_table("dips", dips_table)

    @property
    def variability(self):
        """One row per visit and guide star: noise, beta, flares, dips, period, classes; or None.

        `spelunker.variability.variability_table` of the session's model
        (after `find_flares`, or read from a product of the variability
        step): the white noise, rms and red-noise factor beta at 1 min,
        10 min and 1 h, the astrophysical flares per hour and dips, the best
        period with its 1-sigma error and false-alarm probability, and the
        classes (`spelunker.variability.CLASSES`).
        """
        return self._stored_table("variability", variability_table)

    def _stored_table(self, name, reader):
        """``reader(model)`` when the session's model has the table ``name``, else None."""
        if self.model is None or not self.model.hasattr(name):
            return None
        return reader(self.model)

    def bin_to_science(self, science, *, series=None, fit_table="auto", plot=True, flux=None,
                       regressors=DEFAULT_REGRESSORS, fig=None, **options):
        """Bin the guide-star series onto a science exposure's integrations, in BJD_TDB.

        What the original tool's TSO tutorial did by hand
        (``bin_fgs_to_science``), with the times right: the frames are
        binned in UTC onto the integrations of the science product's
        ``INT_TIMES`` and each row is timed at its integration's mid-time in
        BJD_TDB (`spelunker.science.bin_to_integrations`).  The quick fit
        runs first if the session has no fit.

        Parameters
        ----------
        science : str, os.PathLike, stdatamodels model, table or tuple
            A science product with ``INT_TIMES`` (``*_rateints.fits``,
            ``*_calints.fits``, ``*_x1dints.fits``), or ``(start, end)``
            times with ``scale``, ``target`` and ``observer`` in ``options``.
        series : sequence of str, optional
            The series to bin (default: all).
        fit_table : {'auto', 'gauss', 'quick'}, optional
        plot : bool, optional
            Draw `spelunker.plotting.science.science_regressors_plot` (stored
            as ``science_figure``) with the science light curve: ``flux``,
            or the sum of each integration of a ``*ints`` image product.
        flux : array_like, optional
            The science light curve, one value per integration.
        regressors : sequence of str, optional
            The guide-star series of the figure.
        fig : matplotlib.figure.Figure, optional
        **options
            ``median``, ``events``, ``scale``, ``target``, ``observer`` of
            `~spelunker.science.bin_to_integrations`.

        Returns
        -------
        astropy.timeseries.TimeSeries
            One row per integration (also kept as ``science_binned``).
        """
        model = self._require_model()
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
        binned = bin_to_integrations(model, science, series=series, fit=fit_table, **options)
        self.science_binned = binned
        self.science_figure = None
        if plot and (flux is not None or not isinstance(science, tuple)):
            flux_given = flux is not None
            try:
                if not flux_given:
                    flux = science_light_curve(science)
                self.science_figure = science_regressors_plot(binned, flux,
                                                              regressors=regressors, fig=fig)
            except ScienceInputError as exc:
                if flux_given:
                    raise
                # The product's own light curve cannot be drawn (no finite value...):
                # the binned series are still the result asked for.
                log.warning("no science light curve to draw (%s); pass flux=", exc)
        return binned

    def to_timeseries(self, *, fit_table="auto", **options):
        """The guide-star series, one row per frame (`spelunker.science.to_timeseries`)."""
        return to_timeseries(self._require_model(), fit=fit_table, **options)

    def to_lightkurve(self, *, fit_table="auto", binned=False, **options):
        """The guide-star light curve as a lightkurve ``LightCurve``.

        One row per frame, or per science integration with ``binned=True``
        (after `bin_to_science`); see `spelunker.science.to_lightkurve`.
        """
        if binned:
            if self.science_binned is None:
                msg = "binned=True needs bin_to_science(...) first"
                raise ParameterError(msg)
            return to_lightkurve(self.science_binned)
        return to_lightkurve(self._require_model(), fit=fit_table, **options)

    def pointing_stability(self, science=None, *, write=True, output_dir=None, fit_table="auto",
                           mask_events=True):
        """The pointing stability in milliarcseconds: per visit, or over a science exposure.

        Without ``science``: one row per visit and guide star
        (`spelunker.pointing.pointing_stability`: NEA, JWST's 15 s
        stability metric, rms, drift, the strongest jitter line, fitted
        minus on-board).  With a science product: the metrics over that
        exposure and each of its integrations
        (`spelunker.pointing.exposure.exposure_stability`), and, with
        ``write``, its jitter file ``<science rootname>_gsjit.fits`` in
        `directory` (or ``output_dir``), replacing an earlier one
        (`spelunker.pointing.exposure.write_jitter_file`): the same file
        as ``spelunker-jitter``.  The quick fit runs first if the session
        has no fit.

        Parameters
        ----------
        science : str, os.PathLike, stdatamodels model or table, optional
            A science product with ``INT_TIMES`` (``*_rateints.fits``,
            ``*_calints.fits``, ``*_x1dints.fits``) or an open model of it.
        write : bool, optional
            Write the jitter file (science products only).
        output_dir : str or os.PathLike, optional
            Folder of the jitter file (default: `directory`).
        fit_table : {'auto', 'gauss', 'quick'}, optional
        mask_events : bool, optional
            Leave the frames of technical events out of the statistics.

        Returns
        -------
        astropy.table.QTable or spelunker.pointing.exposure.ExposureStability
            The per-visit table, or the exposure's result (its ``path``:
            the jitter file written, None without ``write``).

        Raises
        ------
        spelunker.errors.ParameterError
            ``write`` for something without a file name (a table), or an
            unwritable ``output_dir``; checked before any work.
        spelunker.errors.ScienceInputError
            An unusable science product, or an exposure the session's
            guide-star data do not cover.
        """
        model = self._require_model()
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
        if science is None:
            return pointing_stability(model, fit_table=fit_table, mask_events=mask_events)
        path = None
        if write:
            folder = self.directory if output_dir is None else output_dir
            path = jitter_path(science, output_dir=folder, overwrite=True,
                               where="pointing_stability")
        result = exposure_stability(model, science, fit_table=fit_table,
                                    mask_events=mask_events)
        if write:
            result.path = write_jitter_file(result, path, overwrite=True)
        return result
