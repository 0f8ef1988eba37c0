"""The notebook API: ``spk = spelunker.load(pid=1534)``.

A `Spelunker` session holds one `~spelunker.GuideStarModel` and offers the
names of the original notebook tool (``fg_array``, ``fg_time``, ``fg_flux``,
``gauss2d_fit``, ``quick_fit``, ``optimize_photometry``, ``periodogram``,
``pgram_<parameter>``, ``fg_table``, ``object_properties``, ...).  Every
computation is the function the pipeline steps call, run on the session's
model, so a notebook and ``strun`` give the same numbers.
"""

import functools
import logging
import os
from pathlib import Path

import numpy as np

from spelunker._validate import check_cpus, check_int_range
from spelunker.archive import ArchiveQueryError, download_products, find_guidestar_products
from spelunker.archive.catalog import guide_star_properties
from spelunker.archive.download import cached_products
from spelunker.archive.engdb import mnemonics
from spelunker.archive.tokens import as_secret, resolve_token
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.datamodels import FIT_TABLES
from spelunker.errors import ParameterError
from spelunker.events import local_events
from spelunker.fitting import fit_table, run_fit, store_fit
from spelunker.io import read_guidestar
from spelunker.names import fg_table
from spelunker.periodogram import periodogram_peaks_table, run_periodogram
from spelunker.photometry import full_frame_flux, lightcurve_table, run_photometry, store_photometry
from spelunker.plotting import (
    flux_spatial_timelapse_animation,
    frame_plot,
    periodogram_plot,
    position_plot,
    timeseries_binned_plot,
    timeseries_list_plot,
    write_visit_report,
)
from spelunker.plotting.telemetry import plot_local_events, plot_mnemonic

__all__ = ["load", "Spelunker", "DEFAULT_DIRECTORY"]

log = logging.getLogger(__name__)

#: Where `load` downloads products when no ``dir`` is given (as the original tool).
DEFAULT_DIRECTORY = "spelunker_results"

def _folder_by_keyword(function):
    """Answer the original tool's ``load('/path/', pid=1534)`` with a clear error.

    The original took the folder as its first argument; here the first one
    is ``pid`` (``load(1534)``), so Python would only say "got multiple
    values for argument 'pid'".
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if args and "pid" in kwargs and isinstance(args[0], (str, os.PathLike)):
            msg = (f"spelunker.load: the first positional argument is the program ID, but "
                   f"{args[0]!r} was given with pid={kwargs['pid']!r}; give the download "
                   f"folder by keyword: spelunker.load(pid={kwargs['pid']!r}, "
                   f"dir={os.fspath(args[0])!r})")
            raise TypeError(msg)
        return function(*args, **kwargs)

    return wrapper


def _check_pid(pid):
    """Refuse a folder given where the program ID goes (``load('/path/')``)."""
    if isinstance(pid, os.PathLike) or (isinstance(pid, str) and pid.strip()
                                         and not pid.strip().isdigit()):
        msg = (f"spelunker.load: pid={os.fspath(pid)!r} is not a program ID; the download "
               f"folder is given by keyword: spelunker.load(pid=1534, dir={os.fspath(pid)!r})")
        raise TypeError(msg)


@_folder_by_keyword
def load(pid=None, obs_num=None, visit=None, calib_level=2, dir=None, token=None, *,  # noqa: A002
         progress=None):
    """Start a session, downloading and reading a program's guide-star data.

    Parameters
    ----------
    pid : int or str, optional
        JWST program ID.  Without it the session starts empty (use
        `Spelunker.download` or `Spelunker.readfile` later).
    obs_num, visit : int or str, optional
        Observation and visit numbers to restrict the download.
    calib_level : {2, 1}, optional
        2 for calibrated (``_cal``) products, which spelunker reads; 1 for
        uncalibrated (``_uncal``) ones, which are downloaded into ``dir``
        only (the session stays empty; see `Spelunker.download`).
    dir : str or path-like, optional
        Download folder (default ``spelunker_results``).  Give it by
        keyword: unlike the original tool's, the first positional argument
        is ``pid``.
    token : str, optional
        MAST API token for exclusive-access data (default: the
        ``MAST_API_TOKEN`` environment variable; an empty string counts as
        none).  Never logged or written.
    progress : bool or None, optional
        Progress bars (default: on an interactive terminal).

    Returns
    -------
    Spelunker

    Raises
    ------
    TypeError
        A folder given where the program ID goes, as in the original tool's
        ``load('/path/', pid=1534)``: the message says to pass ``dir=``.

    Examples
    --------
    >>> import spelunker
    >>> spk = spelunker.load()          # an empty session, nothing downloaded
    >>> spk.fg_array is None
    True
    """
    _check_pid(pid)
    session = Spelunker(dir, token=token, progress=progress)
    if pid is not None:
        session.download(pid, obs_num=obs_num, visit=visit, calib_level=calib_level)
    return session


class Spelunker:
    """A notebook session on the guide-star data of a program, visit or files.

    Create it with `spelunker.load`.  The data live in `model`, a
    `~spelunker.GuideStarModel` that the pipeline steps also read and write;
    `save` writes it.  As in the original tool, the single-panel figure
    methods and the telemetry overlays draw on the current pyplot Axes
    unless given ``ax``; ``fg_array``, ``fg_time`` and ``fg_flux`` are read
    from the model (use `select` for a subset of frames).

    Parameters
    ----------
    directory : str or path-like, optional
        Download folder (default ``spelunker_results``).
    token : str, optional
        MAST API token (default: ``MAST_API_TOKEN``).
    progress : bool or None, optional
        Progress bars.

    Attributes
    ----------
    model : GuideStarModel or None
        The session's data and results.
    files : list of str
        Names of the products ``model`` was read from, in time order
        (always the files of ``model``: uncalibrated downloads are not
        listed, see `download`).
    """

    def __init__(self, directory=None, *, token=None, progress=None):
        self.directory = Path(directory if directory is not None else DEFAULT_DIRECTORY)
        self._token = as_secret(token)
        self.progress = progress
        self.model = None
        self.files = []
        self._properties = None

    def __repr__(self):
        frames = 0 if self.model is None else len(self.model.data)
        token = "set" if self.mast_api_token else "not set"
        return (f"<Spelunker {frames} frames from {len(self.files)} file(s) in "
                f"{str(self.directory)!r}; MAST token {token}>")

    # -- token -------------------------------------------------------------

    @property
    def mast_api_token(self):
        """MAST API token: the one given, else ``MAST_API_TOKEN``.

        An empty (or blank) value counts as none: ``spk.mast_api_token = ""``
        falls back to ``MAST_API_TOKEN`` like ``None``.  Held in an object
        that hides it from reprs and refuses to be pickled; never logged or
        written to a file.
        """
        secret = resolve_token(self._token)
        return None if secret is None else secret.reveal()

    @mast_api_token.setter
    def mast_api_token(self, value):
        self._token = as_secret(value)

    # -- getting data ------------------------------------------------------

    def download(self, pid, obs_num=None, visit=None, calib_level=2):
        """Find, download and read the fine-guide products of a program.

        Files already complete in the download folder are not downloaded
        again.  With ``calib_level=2`` the session's data (`model`, `files`,
        ``fg_array``, ...) are replaced by the downloaded visit(s): for a
        program of several visits, the per-frame attributes run over all of
        them in time order; `visits` lists them and `select_visit` cuts one.

        Offline, a program downloaded before re-opens from the folder: when
        MAST cannot be reached (no network, nothing answering at its
        address, a timeout), the products of the program (observation,
        visit) already complete in `directory`, at any depth
        (`spelunker.archive.download.cached_products`: also the original
        tool's ``mastDownload/JWST/<obs_id>/`` tree), are used instead, with
        a logged warning that they come from the folder and MAST was not
        reached, so whether the folder holds every product was not checked.
        Other archive errors (no such program, a rejected token, a service
        answering with an HTTP error) are raised as they are.

        Uncalibrated products (``calib_level=1``) are only downloaded: they
        hold raw ramps, not count rates, so they are kept as files in
        `directory` and the session's data stay as they were (a log message
        says so).  Calibrate them with ``strun calwebb_guider <file>`` and
        read the ``_cal.fits`` products with `readfile`.

        Parameters
        ----------
        pid : int or str
            Program ID.
        obs_num, visit : int or str, optional
            Observation and visit numbers.
        calib_level : {2, 1}, optional
            Calibrated (2) or uncalibrated (1) products.

        Returns
        -------
        list of pathlib.Path
            The local files.

        Raises
        ------
        spelunker.errors.ArchiveQueryError
            MAST has no such products, failed, or could not be reached while
            the folder holds none of them (the message then says both).
        spelunker.errors.AuthenticationError
            MAST rejected the token.
        spelunker.errors.DownloadError
            Products could not be downloaded.

        Examples
        --------
        >>> import spelunker
        >>> spk = spelunker.load(dir="guidestars")             # doctest: +SKIP
        >>> paths = spk.download(1534, obs_num=2, visit=1)     # doctest: +SKIP
        >>> spk.visits                                          # doctest: +SKIP
        [(1534, 2, 1)]
        """
        if calib_level not in (1, 2):
            msg = f"calib_level={calib_level!r} must be 2 (calibrated) or 1 (uncalibrated)"
            raise ValueError(msg)
        try:
            products = find_guidestar_products(pid, observation=obs_num, visit=visit,
                                               calib_level=calib_level,
                                               token=self.mast_api_token)
        except ArchiveQueryError as error:
            if not self._mast_unreachable(error):
                raise
            paths = self._cached_instead(error, pid, obs_num, visit, calib_level)
        else:
            paths = download_products(products, self.directory, token=self.mast_api_token,
                                      progress=self.progress)
        if calib_level == 1:
            log.warning("downloaded %d uncalibrated product(s) into %s; they are kept as files "
                        "and not read (the session's data are unchanged): uncalibrated guider "
                        "products hold raw ramps and need calwebb_guider first: run `strun "
                        "calwebb_guider <file>` and read the _cal.fits files with readfile()",
                        len(paths), self.directory)
            return list(paths)
        self.readfile(paths)
        return list(paths)

    @staticmethod
    def _mast_unreachable(error):
        """Whether ``error`` (from `find_guidestar_products`) means MAST could not be reached."""
        return getattr(error, "reason", None) == "unreachable"

    def _cached_instead(self, error, pid, obs_num, visit, calib_level):
        """The products already in `directory`, used when MAST cannot be reached."""
        paths = cached_products(self.directory, pid, observation=obs_num, visit=visit,
                                calib_level=calib_level)
        what = ", ".join(f"{name} {value}" for name, value in
                         (("program", pid), ("observation", obs_num), ("visit", visit))
                         if value is not None)
        kind = "calibrated" if calib_level == 2 else "uncalibrated"
        if not paths:
            msg = (f"{error}; and nothing usable was found in the download folder "
                   f"{self.directory}: it holds no complete {kind} fine-guide product of "
                   f"{what} (looked in its sub-folders too)")
            raise ArchiveQueryError(msg) from error
        log.warning("MAST was not reached (%s): reading %d %s product(s) of %s from the "
                    "download folder %s instead; whether it holds every product could not "
                    "be checked", error, len(paths), kind, what, self.directory)
        return paths

    def readfile(self, path):
        """Read local fine-guide products (replacing the session's data).

        Parameters
        ----------
        path : str, path-like or list
            A file, a list, a glob pattern, a folder or an association (see
            `spelunker.read_guidestar`).

        Returns
        -------
        GuideStarModel
        """
        model = read_guidestar(path, progress=self.progress)
        self._set_model(model)
        return model

    def select(self, start=None, stop=None):
        """A new session on frames ``start:stop`` of this one (results are not carried over).

        The files and guide-star tables of the new session keep the rows of
        the selected frames (`spelunker.GuideStarModel.select`).

        The original tool let users assign slices to ``fg_array``,
        ``fg_time`` and ``fg_flux`` one by one; a session keeps them
        consistent instead.

        Parameters
        ----------
        start, stop : int, optional
            Frame indices (Python slice semantics).

        Returns
        -------
        Spelunker
        """
        model = self._require_model()
        other = Spelunker(self.directory, progress=self.progress)
        other._token = self._token
        other._set_model(model.select(slice(start, stop)))
        return other

    @property
    def visits(self):
        """The visits the session holds: ``[(program, observation, visit), ...]`` in time order.

        Empty for an empty session.  The per-frame attributes (``fg_array``,
        ``fg_time``, ``fg_flux``, the fit tables) run over all of them;
        `select_visit` gives a session on one.

        Examples
        --------
        >>> import spelunker
        >>> spelunker.load().visits
        []
        """
        return [] if self.model is None else self.model.visits()

    def select_visit(self, observation, visit, *, program=None):
        """A new session holding one visit, with its per-frame results.

        The frames, files and guide-star tables of the visit, and the
        per-frame results already computed (fit tables, light curve and
        apertures: `spelunker.GuideStarModel.select_visit` with
        ``keep_results=True``); periodograms, which describe a whole series,
        are not carried over.  This session is not modified.

        Parameters
        ----------
        observation, visit : int or str
            Observation and visit numbers (``1`` or ``'1'``, ``'001'``).
        program : int or str, optional
            Program number; by default the program of the only visit held
            with these numbers.

        Returns
        -------
        Spelunker

        Raises
        ------
        spelunker.errors.ParameterError
            A number that is not a positive integer (or digits), or no
            single visit held matches; the message lists the visits held.
        RuntimeError
            The session holds no data.

        Examples
        --------
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> program = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1,
        ...     visits=[datasets.VisitSpec(observation=1, n_frames=30, n_segments=1),
        ...             datasets.VisitSpec(observation=2, n_frames=20, n_segments=1)])
        >>> spk = spelunker.load(dir=tempfile.mkdtemp())
        >>> _ = spk.readfile(program.files)
        >>> spk.visits
        [(1534, 1, 1), (1534, 2, 1)]
        >>> second = spk.select_visit("2", 1)
        >>> second.visits, second.fg_array.shape
        ([(1534, 2, 1)], (20, 8, 8))
        """
        model = self._require_model()
        where = "Spelunker.select_visit"
        numbers = {}
        for name, value, digits in (("program", program, 5), ("observation", observation, 3),
                                    ("visit", visit, 3)):
            if value is None and name == "program":
                continue
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            numbers[name] = check_int_range(value, name, 1, 10**digits - 1, where=where)
        held = model.visits()
        matches = [key for key in held if key[1:] == (numbers["observation"], numbers["visit"])
                   and numbers.get("program", key[0]) == key[0]]
        if len(matches) != 1:
            asked = ", ".join(f"{name} {value}" for name, value in numbers.items())
            listed = "; ".join(f"program {p}, observation {o}, visit {v}" for p, o, v in held)
            problem = (f"is held in programs {', '.join(str(key[0]) for key in matches)}: give "
                       f"program=" if matches else "is not held")
            msg = (f"{where}: {asked} {problem}; the session holds "
                   f"{len(held)} visit(s): {listed or 'none'}")
            raise ParameterError(msg)
        other = Spelunker(self.directory, progress=self.progress)
        other._token = self._token
        other._set_model(model.select_visit(*matches[0], keep_results=True))
        return other

    def _set_model(self, model):
        self.model = model
        self.files = [str(name) for name in model.table("files")["file_name"]]
        self._properties = None

    def _require_model(self):
        if self.model is None:
            msg = "the session holds no data yet: call download(pid, ...) or readfile(path) first"
            raise RuntimeError(msg)
        return self.model

    def save(self, path):
        """Write the session's GuideStarModel (all data and results) to ``path``."""
        self._require_model().save(path)
        return Path(path)

    # -- arrays of the original tool ------------------------------------------

    @property
    def fg_array(self):
        """Frames, float32 (n_frames, 8, 8) in DN/s, time ordered (None if empty)."""
        return None if self.model is None else np.asarray(self.model.data)

    @fg_array.setter
    def fg_array(self, value):
        _refuse_assignment("fg_array")

    @property
    def fg_time(self):
        """Mid-frame times, `astropy.time.Time` (UTC), or None."""
        return None if self.model is None else self.model.frame_times

    @fg_time.setter
    def fg_time(self, value):
        _refuse_assignment("fg_time")

    @property
    def fg_flux(self):
        """Light curve in DN/s: the optimised aperture after `optimize_photometry`,
        else the sum of the usable pixels of each frame (`spelunker.photometry.full_frame_flux`:
        static bad pixels left out; frames with a flagged pixel NaN); None if empty."""
        if self.model is None:
            return None
        if self.model.hasattr("lightcurve"):
            return np.asarray(self.model.lightcurve["flux"])
        flux, _ = full_frame_flux(np.asarray(self.model.data), dq=np.asarray(self.model.dq))
        return flux

    @fg_flux.setter
    def fg_flux(self, value):
        _refuse_assignment("fg_flux")

    @property
    def photometry_mask(self):
        """Aperture mask(s) from `optimize_photometry`: bool (8, 8), or
        (n_guidestars, 8, 8) per guide star; None before."""
        if self.model is None or not self.model.hasattr("aperture_mask"):
            return None
        masks = np.asarray(self.model.aperture_mask).astype(bool)
        return masks[0] if len(masks) == 1 else masks

    @property
    def fg_table(self):
        """One row per file: program, observation, visit, visit group, parallel sequence,
        activity (from the header OBS_ID), segment, detector, guide star, times.

        See `spelunker.names.fg_table`; the exposure number, which
        only the MAST folder of a science exposure gives, is masked.
        """
        return fg_table(self._require_model())

    @property
    def object_properties(self):
        """One row per guide star from the Guide Star Catalog (header values as fallback)."""
        if self._properties is None:
            self._properties = guide_star_properties(self._require_model())
        return self._properties

    # -- analysis (the steps' functions) ----------------------------------------

    def gauss2d_fit(self, ncpus=None, *, max_iterations=50):
        """2-D Gaussian fit of every frame (as `~spelunker.GuideStarFitStep` method 'gauss').

        Parameters
        ----------
        ncpus : int, optional
            Threads (default: every CPU available to the process).
        max_iterations : int, optional
            Iteration limit per frame.

        Returns
        -------
        astropy.table.QTable
            `gaussfit_results`: one row per frame with units and a time
            column; ``flags != 0`` marks frames whose fit is not to be trusted.
        """
        self._fit("gauss", ncpus=ncpus, max_iterations=max_iterations)
        return self.gaussfit_results

    def quick_fit(self, ncpus=None):
        """Moments fit of every frame (as `~spelunker.GuideStarFitStep` method 'quick').

        Returns
        -------
        astropy.table.QTable
            `quickfit_results`.
        """
        self._fit("quick", ncpus=ncpus)
        return self.quickfit_results

    def _fit(self, method, **options):
        model = self._require_model()
        options["ncpus"] = check_cpus(options.get("ncpus"))
        result, elapsed = run_fit(model, method, progress=bool(self.progress), **options)
        store_fit(model, result, method, ncpus=options.get("ncpus"))
        log.info("%s fit of %d frames in %.2f s", method, len(model.data), elapsed)

    @property
    def gaussfit_results(self):
        """Table of the latest `gauss2d_fit` (None before)."""
        return self._fit_results("gauss")

    @property
    def quickfit_results(self):
        """Table of the latest `quick_fit` (None before)."""
        return self._fit_results("quick")

    def _fit_results(self, method):
        if self.model is None or not self.model.hasattr(FIT_TABLES[method]):
            return None
        return fit_table(self.model, method)

    def optimize_photometry(self, bin_size=None, *, per_guidestar=True, mask=None,
                            min_pixels=1, max_pixels=64):
        """Optimal-aperture photometry (as `~spelunker.PhotometryOptimizeStep`).

        Updates `fg_flux` and `photometry_mask`.

        Parameters
        ----------
        bin_size : float, optional
            Time bin (seconds) of the binned-scatter metric (default: the
            step's).
        per_guidestar : bool, optional
            One aperture per guide star when the session holds several (the
            default, as `~spelunker.PhotometryOptimizeStep`).
        mask : array_like of bool, optional
            A user aperture (8, 8): no search.
        min_pixels, max_pixels : int, optional
            Range of aperture sizes tried.

        Returns
        -------
        astropy.table.QTable
            The light curve (time, flux, flux_err in DN/s).
        """
        model = self._require_model()
        bin_size = DEFAULT_BIN_SIZE if bin_size is None else bin_size
        result = run_photometry(model, bin_size=bin_size, per_guidestar=per_guidestar,
                                mask=mask, n_pixels=np.arange(min_pixels, max_pixels + 1))
        store_photometry(model, result)
        return lightcurve_table(model)

    def periodogram(self, *, fit_table="auto", samples_per_peak=5.0, maximum_frequency=None,
                    n_peaks=5):
        """Lomb-Scargle periodograms of every series (as `~spelunker.PeriodogramStep`).

        Uses the Gaussian fit if there is one, else the quick fit (run now
        if needed); the flux series is the current `fg_flux` light curve
        when `optimize_photometry` has run.  One periodogram is computed per
        visit and guide star (`spelunker.periodogram.periodogram_groups`).
        Afterwards ``pgram_<series>`` holds (frequency, power) for each
        series, or, for a program of several visits or guide stars, a list
        of them in time order (``pgram_results`` says which visit and star
        each peak belongs to).

        Returns
        -------
        astropy.table.QTable
            `pgram_results`: the strongest peaks of every series.
        """
        run_periodogram(self._require_model(), fit_table=fit_table,
                        samples_per_peak=samples_per_peak,
                        maximum_frequency=maximum_frequency, n_peaks=n_peaks)
        return self.pgram_results

    @property
    def pgram_results(self):
        """Strongest periodogram peaks per series (None before `periodogram`)."""
        if self.model is None or not self.model.hasattr("periodogram_peaks"):
            return None
        return periodogram_peaks_table(self.model)

    def _pgram(self, series):
        """(frequency, power) of one periodogram; a list of them, one per visit and guide star."""
        if self.model is None or not self.model.hasattr("periodogram"):
            return None
        table = np.asarray(self.model.periodogram)
        keys = table["visit_index"].astype(np.int64) * 65536 + table["guidestar_index"]
        _, first = np.unique(keys, return_index=True)
        curves = [(np.asarray(table["frequency"][keys == keys[start]]),
                   np.asarray(table[series][keys == keys[start]])) for start in np.sort(first)]
        return curves[0] if len(curves) == 1 else curves

    pgram_amplitude = property(lambda self: self._pgram("amplitude"),
                               doc="(frequency [Hz], power) of the amplitude series")
    pgram_x_mean = property(lambda self: self._pgram("x_mean"),
                            doc="(frequency [Hz], power) of the x centroid series")
    pgram_y_mean = property(lambda self: self._pgram("y_mean"),
                            doc="(frequency [Hz], power) of the y centroid series")
    pgram_x_stddev = property(lambda self: self._pgram("x_stddev"),
                              doc="(frequency [Hz], power) of the x width series")
    pgram_y_stddev = property(lambda self: self._pgram("y_stddev"),
                              doc="(frequency [Hz], power) of the y width series")
    pgram_theta = property(lambda self: self._pgram("theta"),
                           doc="(frequency [Hz], power) of the angle series")
    pgram_offset = property(lambda self: self._pgram("offset"),
                            doc="(frequency [Hz], power) of the background series")
    pgram_flux = property(lambda self: self._pgram("flux"),
                          doc="(frequency [Hz], power) of the light curve")

    # -- figures, telemetry, animation, report (spelunker.plotting, spelunker.archive.engdb)

    def timeseries_binned_plot(self, bin_size=None, *, ax=None, show_frames=True):
        """Relative flux with time bins of ``bin_size`` seconds; returns the Axes.

        See `spelunker.plotting.timeseries_binned_plot`.
        """
        return timeseries_binned_plot(
            self._require_model(), bin_size=DEFAULT_BIN_SIZE if bin_size is None else bin_size,
            ax=_current_axes(ax), show_frames=show_frames)

    def timeseries_list_plot(self, *, fit="auto", fig=None, flagged="mark"):
        """The seven fit parameters and the flux in stacked panels; returns the Figure.

        See `spelunker.plotting.timeseries_list_plot`.
        """
        return timeseries_list_plot(self._require_model(), fit=fit, fig=fig, flagged=flagged)

    def periodogram_plot(self, *, fig=None, n_peaks=3):
        """Power against period of every series (after `periodogram`); returns the Figure."""
        return periodogram_plot(self._require_model(), fig=fig, n_peaks=n_peaks)

    def frame_plot(self, index=None, *, ax=None, show_aperture=True):
        """One frame (default: the median frame) with the aperture; returns the Axes."""
        return frame_plot(self._require_model(), index, ax=_current_axes(ax),
                          show_aperture=show_aperture)

    def position_plot(self, *, ax=None, fit="auto"):
        """Guide-star position from the fit; returns the Axes."""
        return position_plot(self._require_model(), ax=_current_axes(ax), fit=fit)

    def mnemonics(self, mnemonic, start, end, *, ax=None):
        """Engineering telemetry from the MAST engineering database, overlaid on ``ax``.

        Uses the session's `mast_api_token` (or ``MAST_API_TOKEN``) and
        ``ENG_BASE_URL``; see `spelunker.archive.engdb.mnemonics`.

        Returns
        -------
        astropy.table.QTable
            ``time`` (UTC) and ``value``.
        """
        table = mnemonics(mnemonic, start, end, token=self.mast_api_token)
        plot_mnemonic(table, _current_axes(ax))
        return table

    def mnemonics_local(self, kind, *, ax=None):
        """Events from the data themselves: 'GUIDESTAR', 'FILENAME' or 'HGA' (no token).

        Found by `spelunker.events.local_events`, drawn by
        `spelunker.plotting.telemetry.plot_local_events`.
        """
        table = local_events(self._require_model(), kind)
        plot_local_events(_current_axes(ax), table, kind)
        return table

    def flux_spatial_timelapse_animation(self, start=0, stop=None, filename="movie.gif", *,
                                         step=1, fps=10):
        """Frames ``start:stop`` next to the light curve, as GIF (or MP4 with ffmpeg).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        model = self._require_model()
        stop = min(len(model.data), start + 100) if stop is None else stop
        return flux_spatial_timelapse_animation(model, start, stop, filename, step=step, fps=fps)

    def report(self, directory=None, *, title=None):
        """Write the quick-look report (figures as PNG, one HTML page per visit).

        Returns the page to open: the visit's page, or for several visits
        the index page linking theirs (`spelunker.plotting.write_visit_report`).
        """
        return write_visit_report(self._require_model(),
                                  self.directory if directory is None else directory,
                                  title=title)


def _refuse_assignment(name):
    msg = (f"{name} is read from the session's GuideStarModel and cannot be assigned; to work "
           f"on frames 1000 to 2000 use `spk = spk.select(1000, 2000)`, which keeps fg_array, "
           f"fg_time and fg_flux consistent")
    raise AttributeError(msg)


def _current_axes(ax):
    """As the original notebook tool: draw on the current pyplot Axes unless told otherwise."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot loads only when a figure is drawn

    return plt.gca()
