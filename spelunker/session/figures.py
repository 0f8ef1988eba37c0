"""The notebook session's figures (time-domain ones too), telemetry, animation and report.

A mixin of `spelunker.Spelunker` (`spelunker.session`).  Each method reads
the original tool's arguments, cuts the session's model to the frames they
name (`spelunker.GuideStarModel.select`,
`spelunker.GuideStarModel.frames_between`) and calls the function named in
its docstring: `spelunker.plotting` for the figures, the animation and the
report, `spelunker.archive.engdb.mnemonics` for telemetry,
`spelunker.events.local_events` and `spelunker.events.events_table` for
the events in the data, `spelunker.plotting.timedomain` and
`spelunker.plotting.variability` for the flares, dips and variability of
`spelunker.Spelunker.find_flares`, `spelunker.plotting.pointing` and
`spelunker.plotting.sky` for the pointing (``jitter_plot``,
``guidestar_plot``).
"""

import numpy as np

from spelunker._validate import (check_float_array, check_int_range, check_positive_float,
                                 check_table)
from spelunker.archive.engdb import mnemonics
from spelunker.binning import DEFAULT_BIN_SIZE, bin_size_of_frames
from spelunker.errors import ParameterError
from spelunker.events import (EVENT_KINDS, HGA_MNEMONIC, LOCAL_KINDS, events_table,
                              hga_intervals, local_events)
from spelunker.fitting import store_fit
from spelunker.fitting.result import FitResult
from spelunker.plotting import (flux_spatial_timelapse_animation, folded_lightcurve_plot,
                                frame_plot, guidestar_plot, periodogram_plot, plot_event_table,
                                pointing_figure, position_plot, rms_binning_plot,
                                time_domain_figure, timeseries_binned_plot,
                                timeseries_list_plot, variability_lightcurve_plot,
                                write_visit_report)
from spelunker.plotting.sky import DEFAULT_SURVEY
from spelunker.plotting.telemetry import plot_local_events, plot_mnemonic
from spelunker.plotting.timedomain import best_period, curve_noise_model, time_domain_data
from spelunker.session.args import current_axes, given, mjd_list

__all__ = ["SessionFigures"]


class SessionFigures:
    """The session's figure, telemetry, animation and report methods (a mixin of `Spelunker`)."""

    def timelapse_animation(self, fg_array=None, start=0, stop=-1, interval=100,
                            filename="movie.gif"):
        """The original's frames-only animation: here frames with the light curve.

        Drawn as `flux_spatial_timelapse_animation` (the frames next to the
        light curve); ``stop=-1`` (the original's default) means 100 frames
        from ``start``.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        return self.flux_spatial_timelapse_animation(
            fg_array, None, None, start, None if stop == -1 else stop, interval, filename)

    def timeseries_binned_plot(self, fg_time=None, fg_flux=None, start_time=None, end_time=None,
                               n_bins=None, *, bin_size=None, ax=None, show_frames=True):
        """Relative flux with its time bins; returns the Axes.

        Drawn by `spelunker.plotting.timeseries_binned_plot` on the current
        pyplot Axes (or ``ax``).  The arguments are the original tool's.

        Parameters
        ----------
        fg_time, fg_flux : array_like, optional
            `fg_time` and `fg_flux` of this session, or of a selection of
            its frames (``spk.fg_time[100:200]``): the plot shows those
            frames.  Other values are refused.
        start_time, end_time : float, optional
            MJD (UTC) limits of the frames shown.
        n_bins : int, optional
            Frames per bin, as the original (the bin is ``n_bins`` times the
            median frame interval: `spelunker.binning.bin_size_of_frames`);
            default: ``bin_size``.
        bin_size : float, optional
            Bin width in seconds (default
            `spelunker.binning.DEFAULT_BIN_SIZE`); wins over ``n_bins``.
        ax : matplotlib.axes.Axes, optional
            Target (default: the current pyplot Axes).
        show_frames : bool, optional
            Draw the unbinned frames too.

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux, ax=ax) is ax
        True
        """
        model = self._frames_model(fg_time, fg_flux, start_time, end_time,
                                   where="timeseries_binned_plot")
        if bin_size is None and given(n_bins):
            bin_size = bin_size_of_frames(n_bins, model.frame_interval(), name="n_bins",
                                          where="timeseries_binned_plot")
        return timeseries_binned_plot(
            model, bin_size=DEFAULT_BIN_SIZE if bin_size is None else bin_size,
            ax=current_axes(ax), show_frames=show_frames)

    def _frames_model(self, fg_time, fg_flux, start_time, end_time, *, where,
                      keep_results=True):
        """The session's model cut to the frames the original's plot arguments name."""
        model = self._require_model()
        index = np.arange(len(model.data))
        if given(fg_time):
            index = self._frames_of("fg_time", fg_time, where=where)
        if given(fg_flux):
            flux = check_float_array(fg_flux, "fg_flux", where=where)
            ours = np.asarray(self.fg_flux, dtype=float)[index]
            if flux.shape != ours.shape or not np.array_equal(flux, ours, equal_nan=True):
                msg = (f"{where}: fg_flux must be the session's fg_flux of the frames shown "
                       f"(the flux of other frames or a changed flux is not drawn; see "
                       f"spk.select and spk.optimize_photometry)")
                raise ParameterError(msg)
        index = model.frames_between(*_limits(start_time, end_time), frames=index)
        if len(index) == len(model.data):
            return model
        return model.select(index, keep_results=keep_results)

    def timeseries_list_plot(self, table=None, fg_time=None, start_time=None, end_time=None, *,
                             fit="auto", fig=None, flagged="mark"):
        """The seven fit parameters and the flux in stacked panels; returns the Axes.

        Drawn by `spelunker.plotting.timeseries_list_plot`.

        Parameters
        ----------
        table : astropy.table.Table, optional
            A fit table with the columns ``amplitude``, ``x_mean``,
            ``y_mean``, ``x_stddev``, ``y_stddev``, ``theta``, ``offset``
            (one row per frame; units or none: DN/s, pixels, radians), as
            the original tool; default: the session's fit (``fit``).
        fg_time : array_like, optional
            The frames of ``table``: `fg_time` of this session or a
            selection of it; default: all frames.
        start_time, end_time : float, optional
            MJD (UTC) limits of the frames shown.
        fit : {'auto', 'gauss', 'quick'}, optional
            The session's fit to draw when ``table`` is not given.
        fig : matplotlib.figure.Figure, optional
            Target (default: a new pyplot figure).
        flagged : {'mark', 'hide', 'show'}, optional
            How flagged frames are drawn.

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes
            The panels.

        Examples
        --------
        >>> import tempfile, spelunker.datasets
        >>> from matplotlib.figure import Figure
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> _ = spk.quick_fit()
        >>> len(spk.timeseries_list_plot(fig=Figure())) >= 7
        True
        """
        where = "timeseries_list_plot"
        if given(table):
            check_table(table, "table", where=where)
            model = self._frames_model(fg_time, None, None, None, where=where,
                                       keep_results=False)
            if model is self.model:
                model = model.select(slice(None))
            if len(table) != len(model.data):
                msg = (f"{where}: the table has {len(table)} rows but {len(model.data)} "
                       f"frames were named (give fg_time of the table's frames)")
                raise ParameterError(msg)
            store_fit(model, FitResult.from_table(table, where=where), "gauss")
            fit = "gauss"
            if given(start_time) or given(end_time):
                model = model.select(model.frames_between(*_limits(start_time, end_time)),
                                     keep_results=True)
        else:
            model = self._frames_model(fg_time, None, start_time, end_time, where=where)
        figure = timeseries_list_plot(model, fit=fit, fig=fig, flagged=flagged)
        return np.asarray(figure.axes)

    def periodogram_plot(self, *, fig=None, n_peaks=3):
        """Power against period of every series (after `periodogram`); returns the Figure.

        Drawn by `spelunker.plotting.periodogram_plot`.
        """
        return periodogram_plot(self._require_model(), fig=fig, n_peaks=n_peaks)

    def frame_plot(self, index=None, *, ax=None, show_aperture=True):
        """One frame (default: the median frame) with the aperture; returns the Axes.

        Drawn by `spelunker.plotting.frame_plot` on the current pyplot Axes (or ``ax``).
        """
        return frame_plot(self._require_model(), index, ax=current_axes(ax),
                          show_aperture=show_aperture)

    def position_plot(self, *, ax=None, fit="auto"):
        """Guide-star position from the fit; returns the Axes.

        Drawn by `spelunker.plotting.position_plot` on the current pyplot Axes (or ``ax``).
        """
        return position_plot(self._require_model(), ax=current_axes(ax), fit=fit)

    # -- time domain: flares, dips, variability ------------------------------

    def plot_variability(self, *, visit_index=None, guidestar_index=None, fig=None,
                         bin_size="auto"):
        """The light curve with flares and dips, rms against bin size, the folded curve.

        Drawn by `spelunker.plotting.time_domain_figure` from the tables of
        `find_flares` (run now, with its defaults, if the session has none).

        Parameters
        ----------
        visit_index, guidestar_index : int, optional
            The visit (position in `visits`) and guide star (row of the
            guide-star table) to draw; default: the first row of
            `variability`.
        fig : matplotlib.figure.Figure, optional
            Target (default: a new pyplot figure).
        bin_size : float or 'auto', optional
            Display bin of the light curve (s).

        Returns
        -------
        matplotlib.figure.Figure
            Three Axes: light curve, rms against bin size, folded curve.

        Examples
        --------
        On the sample visit (`find_flares` runs first):

        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> from spelunker import datasets, load
        >>> spk = load(tempfile.mkdtemp())
        >>> spk.readfile(datasets.sample_visit(spk.directory).files) is not None
        True
        >>> len(spk.plot_variability(fig=Figure()).axes)
        3
        """
        self._variability_tables()
        return time_domain_figure(self.model, visit_index=visit_index,
                                  guidestar_index=guidestar_index, fig=fig, bin_size=bin_size)

    def variability_lightcurve_plot(self, *, visit_index=None, guidestar_index=None, ax=None,
                                    bin_size="auto", show_frames=True):
        """The light curve with its flares and dips marked; returns the Axes.

        Drawn by `spelunker.plotting.variability_lightcurve_plot` on the
        current pyplot Axes (or ``ax``), from the tables of `find_flares`
        (run now if the session has none) and the light curve of
        `spelunker.plotting.timedomain.group_light_curve`; see
        `plot_variability` for the arguments.
        """
        data = self._time_domain(visit_index, guidestar_index, "variability_lightcurve_plot")
        return variability_lightcurve_plot(data.times, data.curve.flux, flares=data.flares,
                                           dips=data.dips, mask=data.curve.mask,
                                           bin_size=bin_size, ax=current_axes(ax),
                                           show_frames=show_frames)

    def rms_binning_plot(self, *, visit_index=None, guidestar_index=None, ax=None):
        """rms of the binned light curve against bin size, beside white noise; returns the Axes.

        The noise model of `spelunker.variability.noise_model` (on the light
        curve `find_flares` analyses, run now if needed, its flares and dips
        left out: `spelunker.plotting.timedomain.curve_noise_model`), drawn by
        `spelunker.plotting.rms_binning_plot` on the current pyplot Axes (or
        ``ax``).
        """
        data = self._time_domain(visit_index, guidestar_index, "rms_binning_plot")
        return rms_binning_plot(curve_noise_model(data.curve, events=(data.flares, data.dips)),
                                ax=current_axes(ax))

    def folded_lightcurve_plot(self, period=None, *, visit_index=None, guidestar_index=None,
                               ax=None, n_bins=50):
        """The light curve folded at ``period`` (default: the best period); returns the Axes.

        Drawn by `spelunker.plotting.folded_lightcurve_plot` on the current
        pyplot Axes (or ``ax``).  Without ``period``, the period of the
        `variability` row with its error
        (`spelunker.plotting.timedomain.best_period`; `find_flares` runs
        now if needed).

        Raises
        ------
        spelunker.errors.ParameterError
            Without ``period`` when the row has no period.
        """
        where = "folded_lightcurve_plot"
        data = self._time_domain(visit_index, guidestar_index, where)
        error = None
        if period is None:
            best = best_period(data.row)
            if best is None:
                msg = (f"{where}: the variability row has no period (no significant "
                       "periodogram peak, no periodic dips); give period=")
                raise ParameterError(msg)
            period, error = best[0], best[1]
        return folded_lightcurve_plot(data.times, data.curve.flux, period=period,
                                      period_error=error, mask=data.curve.mask, n_bins=n_bins,
                                      ax=current_axes(ax))

    def _variability_tables(self):
        """Run `find_flares` when the session's model has no variability tables yet."""
        if not self._require_model().hasattr("variability"):
            self.find_flares()

    def _time_domain(self, visit_index, guidestar_index, where):
        """`spelunker.plotting.timedomain.time_domain_data` of the session's model."""
        self._variability_tables()
        return time_domain_data(self.model, visit_index=visit_index,
                                guidestar_index=guidestar_index, where=where)

    # -- pointing: jitter in mas, the guide star on the sky --------------------

    def jitter_plot(self, *, visit_index=None, guidestar_index=None, fig=None,
                    mask_events=True):
        """Pointing offsets in mas with the 15 s rms band, their spectrum and excursions.

        Drawn by `spelunker.plotting.pointing_figure` (`spelunker.plotting.jitter_plot`
        of `spelunker.pointing.pointing_series`) from the session's fit
        (run `gauss2d_fit` or `quick_fit` first).

        Parameters
        ----------
        visit_index, guidestar_index : int, optional
            The visit (position in `visits`) and guide star (row of the
            guide-star table); default the first.
        fig : matplotlib.figure.Figure, optional
            Target (default: a new pyplot figure).
        mask_events : bool, optional
            Leave the frames of technical events out.

        Returns
        -------
        matplotlib.figure.Figure
            Three Axes: offsets against time, spectrum, excursion histogram.

        Examples
        --------
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> from spelunker import datasets, load
        >>> spk = load(tempfile.mkdtemp())
        >>> _ = spk.readfile(datasets.sample_visit(spk.directory).files)
        >>> _ = spk.quick_fit()
        >>> len(spk.jitter_plot(fig=Figure()).axes)  # three panels and a colour bar
        4
        """
        return pointing_figure(self._require_model(), visit_index=visit_index,
                               guidestar_index=guidestar_index, fig=fig,
                               mask_events=mask_events)

    def guidestar_plot(self, *, visit_index=None, guidestar_index=None, pa_v3=None,
                       survey=DEFAULT_SURVEY, fov=None, url=None, timeout=30.0, fig=None):
        """The guide star on a sky image with the FGS aperture and the 8x8 window; returns the Axes.

        The original tool's figure, drawn by `spelunker.plotting.guidestar_plot`:
        a hips2fits image (astroquery; ``url`` or ``SPELUNKER_HIPS2FITS_URL``
        for a mirror), the guide star, the aperture outline from pysiaf and
        the 8x8 window, oriented by ``pa_v3`` (deg, V3 at V1), else the
        product's ``PA_V3``, else an assumed 0 stated on the figure.

        Raises
        ------
        spelunker.errors.SkyImageError
            When the sky-image service gives no image (its message names
            the service; an `~spelunker.errors.ArchiveError`).

        Examples
        --------
        The geometry it draws, without the network
        (`spelunker.plotting.sky.guidestar_sky`):

        >>> from spelunker.plotting.sky import guidestar_sky
        >>> sky = guidestar_sky(81.83, -69.96, detector="GUIDER1", xstart=1226, ystart=209,
        ...                     gs_v3_pa=159.2)
        >>> sky.aperture_name, sky.pa_v3_source
        ('FGS1_FULL', 'GS_V3_PA')

        The figure itself needs the hips2fits service (or a mirror)::

            spk.guidestar_plot(pa_v3=120.0)
        """
        return guidestar_plot(self._require_model(), visit_index=visit_index,
                              guidestar_index=guidestar_index, pa_v3=pa_v3, survey=survey,
                              fov=fov, url=url, timeout=timeout, fig=fig)

    def mnemonics(self, mnemonic, start, end, plot=True, *, ax=None):
        """Engineering telemetry from the MAST engineering database, drawn on the current Axes.

        Uses the session's `mast_api_token` (or ``MAST_API_TOKEN``) and
        ``ENG_BASE_URL``; see `spelunker.archive.engdb.mnemonics`.  The
        table is kept as ``mnemonics_event`` (also, as the original tool,
        ``mnemonics_event_hga`` for ``SA_ZHGAUPST``: the HGA moves, and
        ``mnemonics_event_nisfil`` for ``INIS_FWMTRCURR``).

        Parameters
        ----------
        mnemonic : str
            Engineering mnemonic, e.g. ``'SA_ZHGAUPST'``.
        start, end : float, str or astropy.time.Time
            Time range (MJD UTC numbers as the original, ISO strings or Time).
        plot : bool, optional
            Draw (`spelunker.plotting.telemetry.plot_mnemonic`): shaded HGA
            moves and text events on the Axes, numbers on a twin Axes.
        ax : matplotlib.axes.Axes, optional
            Target (default: the current pyplot Axes); with no spelunker
            time axis on it, x is MJD (UTC) as in the original tool.

        Returns
        -------
        matplotlib.axes.Axes or astropy.table.QTable
            The Axes drawn on (the twin for numeric telemetry); with
            ``plot=False`` the table (``time``, UTC, and ``value``).

        Examples
        --------
        >>> import spelunker
        >>> spk = spelunker.load(token="...")                        # doctest: +SKIP
        >>> ax = spk.mnemonics("SA_ZHGAUPST", 60067.84, 60067.9)     # doctest: +SKIP
        >>> spk.mnemonics_event_hga                                  # doctest: +SKIP
        """
        table = mnemonics(mnemonic, start, end, token=self.mast_api_token)
        self.mnemonics_event = table
        name = str(mnemonic).strip().upper()
        if name == HGA_MNEMONIC:
            self.mnemonics_event_hga = hga_intervals(table)
        elif name == "INIS_FWMTRCURR":
            self.mnemonics_event_nisfil = table
        if not plot:
            return table
        return plot_mnemonic(table, current_axes(ax))

    def mnemonics_local(self, mnemonic, plot=True, *, ax=None):
        """Events from the data themselves: 'GUIDESTAR', 'FILENAME' or 'HGA' (no token).

        Also ``'EVENTS'`` (every technical event of `find_events`, found now
        if the session has none) or one of its kinds (``'TILT'``,
        ``'CENTROID_JUMP'``, ``'FLUX_EXCURSION'``, ``'HGA_MOVE'``,
        ``'GUIDE_STAR_CHANGE'``, ``'GAP'``): the table is then that of
        `events` (of that kind: `spelunker.events.events_table`), drawn with
        a legend (`spelunker.plotting.plot_event_table`).

        Found by `spelunker.events.local_events`, drawn by
        `spelunker.plotting.telemetry.plot_local_events` on the current
        Axes.  As the original tool, the events are also kept as
        ``(times, values)`` tuples (MJD UTC): ``guidestar_mnemonics``
        (guide-star IDs), ``filename_mnemonics`` (file names) or
        ``hga_mnemonics`` (start and stop times); the table as
        ``local_events``.

        Parameters
        ----------
        mnemonic : {'GUIDESTAR', 'FILENAME', 'HGA'}
            The kind of events.
        plot : bool, optional
            Draw them.
        ax : matplotlib.axes.Axes, optional
            Target (default: the current pyplot Axes).

        Returns
        -------
        matplotlib.axes.Axes or astropy.table.Table
            The Axes drawn on; with ``plot=False`` the table.

        Examples
        --------
        >>> from matplotlib.figure import Figure
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> ax = spk.mnemonics_local("FILENAME", ax=Figure().add_subplot())
        >>> len(spk.filename_mnemonics[0])
        3
        """
        kind = str(mnemonic).strip().upper()
        if kind not in LOCAL_KINDS and (kind == "EVENTS" or kind.lower() in EVENT_KINDS):
            if not self._require_model().hasattr("events"):
                self.find_events()
            table = events_table(self.model, kind=None if kind == "EVENTS" else kind)
            self.local_events = table
            if not plot:
                return table
            axes = current_axes(ax)
            plot_event_table(axes, table)
            return axes
        table = local_events(self._require_model(), kind)
        self.local_events = table
        if kind == "HGA":
            self.hga_mnemonics = (mjd_list(table["start"]), mjd_list(table["stop"]))
        elif kind == "GUIDESTAR":
            self.guidestar_mnemonics = (mjd_list(table["time"]), [str(v) for v in table["gs_id"]])
        else:
            self.filename_mnemonics = (mjd_list(table["time"]),
                                       [str(v) for v in table["file_name"]])
        if not plot:
            return table
        axes = current_axes(ax)
        plot_local_events(axes, table, kind)
        return axes

    def flux_spatial_timelapse_animation(self, fg_array=None, fg_time=None, fg_flux=None,
                                         start=0, stop=None, interval=None,
                                         filename="movie.gif", *, step=1, fps=10):
        """Frames ``start:stop`` next to the light curve, as GIF (or MP4 with ffmpeg).

        Drawn by `spelunker.plotting.flux_spatial_timelapse_animation`.

        Parameters
        ----------
        fg_array, fg_time, fg_flux : array_like, optional
            The original tool's arrays: a selection of the session's frames
            (its `fg_array`, `fg_time`); ``start`` and ``stop`` count within
            it.  Default: all frames.
        start, stop : int, optional
            Frame range (default: 100 frames from ``start``).
        interval : float, optional
            Milliseconds per frame (> 0), as the original (sets ``fps``).
        filename : str or path-like, optional
            Output file.
        step : int, optional
            Every ``step``-th frame.
        fps : float, optional
            Frames per second (default 10).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        model = self._require_model()
        if isinstance(fg_array, (int, np.integer)) and not isinstance(fg_array, bool):
            # the former call flux_spatial_timelapse_animation(start, stop, filename)
            start, stop, filename = fg_array, fg_time if fg_time is not None else stop, (
                fg_flux if fg_flux is not None else filename)
            fg_array = fg_time = fg_flux = None
        where = "flux_spatial_timelapse_animation"
        index = np.arange(len(model.data))
        if given(fg_array):
            index = self._frames_of("fg_array", fg_array, where=where)
        elif given(fg_time):
            index = self._frames_of("fg_time", fg_time, where=where)
        if len(index) != len(model.data):
            model = model.select(index, keep_results=True)
        if given(interval):
            fps = 1000.0 / check_positive_float(interval, "interval", unit="milliseconds",
                                                where=where)
        if stop is None:
            start = check_int_range(start, "start", 0, len(model.data) - 1, where=where)
            stop = min(len(model.data), start + 100)
        return flux_spatial_timelapse_animation(model, start, stop, filename, step=step, fps=fps)

    def report(self, directory=None, *, title=None):
        """Write the quick-look report (figures as PNG, one HTML page per visit).

        Returns the page to open: the visit's page, or for several visits
        the index page linking theirs (`spelunker.plotting.write_visit_report`).
        """
        return write_visit_report(self._require_model(),
                                  self.directory if directory is None else directory,
                                  title=title)


def _limits(start_time, end_time):
    """The original's ``start_time``, ``end_time`` (MJD UTC), None where not given."""
    return (start_time if given(start_time) else None, end_time if given(end_time) else None)
