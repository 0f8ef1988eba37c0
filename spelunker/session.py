"""The notebook API: ``spk = spelunker.load(pid=1534)``, a drop-in for the original tool.

A `Spelunker` session holds one `~spelunker.GuideStarModel` and offers the
names of the original notebook tool (``fg_array``, ``fg_time``, ``fg_flux``,
``gauss2d_fit``, ``quick_fit``, ``optimize_photometry``, ``periodogram``,
``pgram_<parameter>``, ``fg_table``, ``object_properties``, ...).  Every
computation is the function the pipeline steps call, run on the session's
model, so a notebook and ``strun`` give the same numbers.
"""

import bisect
import logging
import os
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import check_cpus, check_int_range
from spelunker.archive import ArchiveQueryError, download_products, find_guidestar_products
from spelunker.archive.catalog import guide_star_properties
from spelunker.archive.download import cached_products
from spelunker.archive.engdb import mnemonics
from spelunker.archive.tokens import as_secret, resolve_token
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.datamodels import FIT_TABLES, GuideStarModel
from spelunker.errors import ParameterError, ScienceInputError
from spelunker.events import (
    EVENT_KINDS,
    HGA_MNEMONIC,
    LOCAL_KINDS,
    events_table,
    find_events,
    hga_intervals,
    local_events,
    store_events,
)
from spelunker.fitting import ensure_fit_table, fit_table, run_fit, store_fit
from spelunker.fitting.model import PARAMETER_NAMES
from spelunker.fitting.result import PARAMETER_UNITS, FitResult
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
from spelunker.plotting import plot_event_table
from spelunker.plotting.science import science_regressors_plot
from spelunker.plotting.telemetry import plot_local_events, plot_mnemonic
from spelunker.science import (DEFAULT_REGRESSORS, bin_to_integrations, science_light_curve,
                               to_lightkurve, to_timeseries)
from spelunker.times import as_utc_time

__all__ = ["load", "Spelunker", "DEFAULT_DIRECTORY", "FILTER_KEYWORDS"]

log = logging.getLogger(__name__)

#: Where `load` downloads products when no ``dir`` is given (as the original tool).
DEFAULT_DIRECTORY = "spelunker_results"

#: The original tool's download folder (``./spelunker_outputs``), used when it exists and
#: `DEFAULT_DIRECTORY` does not.
ORIGINAL_DIRECTORY = "spelunker_outputs"


def _default_directory():
    """``./spelunker_results``, or the original tool's ``./spelunker_outputs`` if only it exists."""
    if not os.path.isdir(DEFAULT_DIRECTORY) and os.path.isdir(ORIGINAL_DIRECTORY):
        log.info("using the original tool's download folder %s (no %s here)",
                 ORIGINAL_DIRECTORY, DEFAULT_DIRECTORY)
        return Path(ORIGINAL_DIRECTORY)
    return Path(DEFAULT_DIRECTORY)


#: The original tool's filter keywords of `load` and `Spelunker.download`, and the
#: `spelunker.names.fg_table` column each one filters on.
FILTER_KEYWORDS = {
    "visit_group": "visit_group",
    "parallel_sequence_id": "parallel_sequence",
    "activity_number": "activity",
    "exposure_number": "exposure",
    "dir_seg": "segment",
    "guider": "detector",
}


def _given(value):
    """Whether an argument was given: the original tool's default was the string 'None'."""
    return value is not None and not (isinstance(value, str) and value.strip() == "None")


def _interactive():
    """Whether Python runs interactively (Jupyter/IPython kernel, a REPL or a terminal)."""
    if "ipykernel" in sys.modules or hasattr(sys, "ps1"):
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def load(dir=None, pid=None, obs_num=None, visit=None, visit_group=None,  # noqa: A002
         parallel_sequence_id=None, activity_number=None, exposure_number=None, dir_seg=None,
         guider=None, calib_level=2, save=False, token=None, *, progress=None,
         parallel_sequnence_id=None):
    """Start a session, downloading and reading a program's guide-star data.

    The arguments are the original tool's, in its order: the download folder
    first (``spelunker.load('/path/', pid=1534)``), then the program and its
    filters.  ``spelunker.load(1534)`` (an integer first) is read as the
    program ID.

    Parameters
    ----------
    dir : str or path-like, optional
        Download folder (default ``spelunker_results``, or the original
        tool's ``spelunker_outputs`` when only that one exists in the
        current directory).  Products already there, also in the original
        tool's ``mastDownload/JWST/<obs_id>/`` layout, are not downloaded
        again.
    pid : int or str, optional
        JWST program ID.  Without it the session starts empty (use
        `Spelunker.download` or `Spelunker.readfile` later).
    obs_num, visit : int or str, optional
        Observation and visit numbers to restrict the download.
    visit_group, parallel_sequence_id, activity_number, exposure_number : int or str, optional
        Keep only the files of this visit group, parallel sequence, activity
        or exposure (`spelunker.names.fg_table`).  ``parallel_sequnence_id``
        (sic) is accepted as the same filter.
    dir_seg : int or str, optional
        Keep only the files of this segment.
    guider : int or str, optional
        Keep only the files of this guider (1 or 2).
    calib_level : {2, 1}, optional
        2 for calibrated (``_cal``) products, which spelunker reads; 1 for
        uncalibrated (``_uncal``) ones, which are downloaded into ``dir``
        only (the session stays empty; see `Spelunker.download`).
    save : bool, optional
        Also write the frames, times and flux as the original tool did
        (``<dir>/data_arrays/pid_<pid>_fg_array.npy``, ``..._fg_time.npy``,
        ``..._fg_flux.npy``; DN/s, MJD UTC mid-frame).
    token : str, optional
        MAST API token for exclusive-access data (default: the
        ``MAST_API_TOKEN`` environment variable; an empty string counts as
        none).  Never logged or written.
    progress : bool or None, optional
        Progress bars (default: on in interactive sessions: Jupyter,
        IPython, a terminal).

    Returns
    -------
    Spelunker

    Raises
    ------
    spelunker.errors.ParameterError
        A filter value that is not a number, or filters that leave no file.

    Examples
    --------
    >>> import spelunker
    >>> spk = spelunker.load()          # an empty session, nothing downloaded
    >>> spk.fg_array is None
    True
    """
    if isinstance(dir, (int, np.integer)) and not isinstance(dir, bool) and not _given(pid):
        log.info("spelunker.load(%d): read as the program ID", dir)
        dir, pid = None, dir  # noqa: A001
    if _given(parallel_sequnence_id):
        if _given(parallel_sequence_id):
            msg = "give parallel_sequence_id or parallel_sequnence_id (the same filter), not both"
            raise ParameterError(msg)
        parallel_sequence_id = parallel_sequnence_id
    session = Spelunker(dir if _given(dir) else None, token=token, progress=progress)
    if _given(pid):
        session.download(pid, obs_num=obs_num, visit=visit, visit_group=visit_group,
                         parallel_sequence_id=parallel_sequence_id,
                         activity_number=activity_number, exposure_number=exposure_number,
                         dir_seg=dir_seg, guider=guider, calib_level=calib_level, save=save)
    return session


class Spelunker:
    """A notebook session on the guide-star data of a program, visit or files.

    Create it with `spelunker.load`.  The data live in `model`, a
    `~spelunker.GuideStarModel` that the pipeline steps also read and write;
    `save` writes it.  As in the original tool, the single-panel figure
    methods and the telemetry overlays draw on the current pyplot Axes
    unless given ``ax`` and return the Axes they drew on (the tables stay on
    attributes); ``fg_array``, ``fg_time`` and ``fg_flux`` are read from the
    model, and assigning a selection of one of them cuts the whole session
    (as `select`).  docs/migrating.rst lists every call of the original.

    Parameters
    ----------
    directory : str or path-like, optional
        Download folder (default ``spelunker_results``, or the original's
        ``spelunker_outputs`` when only that one exists).
    token : str, optional
        MAST API token (default: ``MAST_API_TOKEN``).
    progress : bool or None, optional
        Progress bars (default: on in interactive sessions).

    Attributes
    ----------
    model : GuideStarModel or None
        The session's data and results.
    files : list of str
        Names of the products ``model`` was read from, in time order
        (always the files of ``model``: uncalibrated downloads are not
        listed, see `download`).
    mnemonics_event, mnemonics_event_hga, mnemonics_event_nisfil : astropy.table.QTable
        Set by `mnemonics`: the telemetry, the HGA moves, the NIRISS filter
        wheel current (as the original's attributes).
    guidestar_mnemonics, filename_mnemonics, hga_mnemonics : tuple
        Set by `mnemonics_local`: (times in MJD, values), as the original.
    local_events : astropy.table.QTable
        Set by `mnemonics_local`: the events found.
    science_binned : astropy.timeseries.TimeSeries
        Set by `bin_to_science`: the guide-star series per science integration.
    science_figure : matplotlib.figure.Figure
        Set by `bin_to_science`: the science light curve against the regressors.
    """

    def __init__(self, directory=None, *, token=None, progress=None):
        self.directory = Path(directory) if directory is not None else _default_directory()
        self._token = as_secret(token)
        self.progress = progress
        self.model = None
        self.files = []
        self._properties = None
        self._partial_fits = {}
        self.mnemonics_event = self.mnemonics_event_hga = self.mnemonics_event_nisfil = None
        self.guidestar_mnemonics = self.filename_mnemonics = self.hga_mnemonics = None
        self.local_events = None
        self.science_binned = self.science_figure = None

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

    def download(self, pid, obs_num=None, visit=None, visit_group=None,
                 parallel_sequence_id=None, activity_number=None, exposure_number=None,
                 dir_seg=None, guider=None, calib_level=2, save=False, token=None):
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
        visit_group, parallel_sequence_id, activity_number, exposure_number, dir_seg, guider : \
int or str, optional
            The original tool's filters: keep only the files of this visit
            group, parallel sequence, activity, exposure, segment or guider
            (see `load`).
        calib_level : {2, 1}, optional
            Calibrated (2) or uncalibrated (1) products.
        save : bool, optional
            Write the frames, times and flux as ``.npy`` files (see `load`).
        token : str, optional
            MAST API token for this session (as ``mast_api_token = token``).

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
        if isinstance(calib_level, str) and calib_level.strip() in ("1", "2"):
            calib_level = int(calib_level)
        if calib_level not in (1, 2):
            msg = f"calib_level={calib_level!r} must be 2 (calibrated) or 1 (uncalibrated)"
            raise ValueError(msg)
        if token is not None:
            self.mast_api_token = token
        filters = _filters(visit_group=visit_group, parallel_sequence_id=parallel_sequence_id,
                           activity_number=activity_number, exposure_number=exposure_number,
                           dir_seg=dir_seg, guider=guider)
        obs_num = obs_num if _given(obs_num) else None
        visit = visit if _given(visit) else None
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
                                      progress=self._progress())
        if calib_level == 1:
            log.warning("downloaded %d uncalibrated product(s) into %s; they are kept as files "
                        "and not read (the session's data are unchanged): uncalibrated guider "
                        "products hold raw ramps and need calwebb_guider first: run `strun "
                        "calwebb_guider <file>` and read the _cal.fits files with readfile()",
                        len(paths), self.directory)
            return list(paths)
        self.readfile(paths)
        if filters:
            self._set_model(_filter_model(self.model, filters))
        if save:
            self._save_arrays(pid)
        return list(paths)

    def _progress(self):
        """Progress bars: as set, else on in interactive sessions."""
        return _interactive() if self.progress is None else bool(self.progress)

    def _save_arrays(self, pid):
        """The original tool's ``save=True`` of `load`: frames, times and flux as .npy files."""
        folder = self.directory / "data_arrays"
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, values in (("fg_array", self.fg_array), ("fg_time", self.fg_time),
                             ("fg_flux", self.fg_flux)):
            path = folder / f"pid_{pid}_{name}.npy"
            np.save(path, values)
            written.append(path)
        log.info("wrote %s", ", ".join(str(path) for path in written))
        return written

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

    def readfile(self, path=None, obs_num=None, visit=None, *, pid=None):
        """Read local fine-guide products (replacing the session's data).

        Either files (``readfile('file_cal.fits')``, a list, a folder, ...)
        or, as the original tool, a program already downloaded into
        `directory`: ``readfile(pid=2079, obs_num=4, visit=1)`` (also
        ``readfile(2079, 4, 1)``) reads the complete products of that program
        (observation, visit) found there at any depth, the original's
        ``mastDownload/JWST/<obs_id>/`` tree included
        (`spelunker.archive.download.cached_products`), without asking MAST.

        Parameters
        ----------
        path : str, path-like, list or int, optional
            A file, a list, a glob pattern, a folder or an association (see
            `spelunker.read_guidestar`); an integer (or a string of digits
            that is no existing path) is the program ID.
        obs_num, visit : int or str, optional
            With a program ID: the observation and visit.
        pid : int or str, optional
            Program ID (the original tool's keyword).

        Returns
        -------
        GuideStarModel

        Raises
        ------
        spelunker.errors.ParameterError
            Neither files nor a program given, or nothing of the program in
            `directory`.

        Examples
        --------
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> folder = tempfile.mkdtemp()
        >>> _ = datasets.make_guidestar_files(
        ...     folder, seed=1, visits=[datasets.VisitSpec(observation=4, n_frames=30,
        ...                                                n_segments=1)])
        >>> spk = spelunker.load(folder)
        >>> _ = spk.readfile(pid=1534, obs_num=4, visit=1)
        >>> spk.fg_array.shape
        (30, 8, 8)
        """
        if not _given(pid) and _is_program(path):
            pid, path = path, None
        if _given(pid):
            if _given(path):
                msg = f"readfile: give files or pid={pid!r}, not both (got {path!r})"
                raise ParameterError(msg)
            observation = obs_num if _given(obs_num) else None
            number = visit if _given(visit) else None
            paths = cached_products(self.directory, pid, observation=observation, visit=number)
            if not paths:
                msg = (f"readfile: no complete calibrated fine-guide product of program {pid}"
                       + (f", observation {observation}" if observation is not None else "")
                       + (f", visit {number}" if number is not None else "")
                       + f" in {self.directory} (sub-folders included); download it with "
                       f"spk.download({pid!r}, ...)")
                raise ParameterError(msg)
            path = paths
        elif not _given(path):
            msg = "readfile: give files (readfile(path)) or a program (readfile(pid=...))"
            raise ParameterError(msg)
        model = read_guidestar(path, progress=self._progress())
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
        self._partial_fits = {}
        self.files = [str(name) for name in model.table("files")["file_name"]]
        self._properties = None

    def _require_model(self):
        if self.model is None:
            msg = "the session holds no data yet: call download(pid, ...) or readfile(path) first"
            raise RuntimeError(msg)
        return self.model

    def save(self, path=None, *, suffix=None):
        """Write the session: the whole model to ``path``, or the original tool's outputs.

        ``spk.save('session_gs.fits')`` (a path-like, or a name ending in
        ``.fits`` or ``.asdf``) writes the session's GuideStarModel, all
        data and results; it reopens with `readfile` or
        ``jwst.datamodels.open``.

        ``spk.save()`` or ``spk.save('prefix')`` (the original tool's
        ``save(suffix)``) writes, per guide star, into `directory`:
        ``[<prefix>_]<gs_id>_<start>.ecsv`` with the time (MJD UTC,
        mid-frame), the flux (DN/s) and, after `gauss2d_fit`, the Gaussian
        fit of every frame; ``..._quickfit.ecsv`` after `quick_fit`; and
        ``..._pgram.ecsv`` (the periodogram peaks) after `periodogram`.
        ECSV keeps units and flags, which the original's text files lost.

        Parameters
        ----------
        path : str or path-like, optional
            File of the model, or the original's file-name prefix.
        suffix : str, optional
            The prefix by keyword, as the original's ``save(suffix=...)``.

        Returns
        -------
        pathlib.Path or list of pathlib.Path
            The file(s) written.

        Examples
        --------
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=40, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> [path.suffix for path in spk.save("run1")]
        ['.ecsv']
        """
        model = self._require_model()
        if _given(path) and (isinstance(path, os.PathLike)
                             or str(path).lower().endswith((".fits", ".asdf"))):
            if suffix is not None:
                msg = "save: give a model file (path) or the original's prefix (suffix), not both"
                raise ParameterError(msg)
            model.save(path)
            return Path(path)
        prefix = suffix if suffix is not None else (path if _given(path) else None)
        return self._save_outputs(model, prefix)

    def _save_outputs(self, model, prefix):
        """The original tool's ``save(suffix)``: per guide star series, in ECSV."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stars = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
        table = model.table("guidestars") if model.hasattr("guidestars") else None
        times, flux = self.fg_time_utc, self.fg_flux
        gauss, quick = self.gaussfit_results, self.quickfit_results
        n = len(model.data)
        written = []
        for star in np.unique(stars):
            rows = stars == star
            gs_id = str(table["gs_id"][star]).strip() if table is not None else f"star{star}"
            start = times[rows][0].strftime("%Y%m%dT%H%M%S")
            stem = f"{prefix + '_' if prefix else ''}{gs_id}_{start}"
            series = QTable({"time": times[rows], "flux": flux[rows] * u.DN / u.s})
            if gauss is not None and len(gauss) == n:
                for name in gauss.colnames:
                    if name != "time":
                        series[name] = gauss[name][rows]
            written.append(self._write(series, f"{stem}.ecsv"))
            if quick is not None and len(quick) == n:
                written.append(self._write(quick[rows], f"{stem}_quickfit.ecsv"))
            peaks = self.pgram_results
            if peaks is not None:
                written.append(self._write(peaks, f"{stem}_pgram.ecsv"))
        return written

    def _write(self, table, name):
        path = self.directory / name
        table.write(path, format="ascii.ecsv", overwrite=True)
        log.info("wrote %s", path)
        return path

    # -- arrays of the original tool ------------------------------------------

    @property
    def fg_array(self):
        """Frames, float32 (n_frames, 8, 8) in DN/s, time ordered (None if empty).

        Assigning a selection of the frames (``spk.fg_array =
        spk.fg_array[0:10000]``, as the original tool's notebooks do) cuts the
        whole session to those frames: ``fg_time``, ``fg_flux``, the files and
        the per-frame results follow (`select`).  Values that are not frames
        of the session are refused with `~spelunker.errors.ParameterError`.
        """
        return None if self.model is None else np.asarray(self.model.data)

    @fg_array.setter
    def fg_array(self, value):
        self._assign("fg_array", value)

    @property
    def fg_time(self):
        """Mid-frame times as MJD (UTC) floats, as the original tool (None if empty).

        The same times as an `astropy.time.Time` are `fg_time_utc`.
        Assigning a selection of them cuts the session (see `fg_array`).
        """
        return None if self.model is None else np.asarray(self.model.frame_times.mjd,
                                                          dtype=np.float64)

    @fg_time.setter
    def fg_time(self, value):
        self._assign("fg_time", value)

    @property
    def fg_time_utc(self):
        """Mid-frame times, `astropy.time.Time` (UTC), or None."""
        return None if self.model is None else self.model.frame_times

    @property
    def fg_flux(self):
        """Light curve in DN/s: the optimised aperture after `optimize_photometry`,
        else the sum of the usable pixels of each frame (`spelunker.photometry.full_frame_flux`:
        static bad pixels left out; frames with a flagged pixel NaN); None if empty.

        Assigning a selection of it cuts the session (see `fg_array`)."""
        if self.model is None:
            return None
        if self.model.hasattr("lightcurve"):
            return np.asarray(self.model.lightcurve["flux"])
        flux, _ = full_frame_flux(np.asarray(self.model.data), dq=np.asarray(self.model.dq))
        return flux

    @fg_flux.setter
    def fg_flux(self, value):
        self._assign("fg_flux", value)

    def _assign(self, name, value):
        """``spk.<name> = selection``: cut the session to the frames selected."""
        index = self._frames_of(name, value, where=f"spk.{name} = ...")
        if len(index) == len(self.model.data) and np.array_equal(index,
                                                                 np.arange(len(index))):
            return
        log.info("spk.%s = ...: the session now holds %d of its %d frames (fg_array, fg_time, "
                 "fg_flux and the per-frame results cut alike)", name, len(index),
                 len(self.model.data))
        self._set_model(self.model.select(index, keep_results=True))

    def _frames_of(self, name, value, *, where):
        """Indices of the session's frames whose ``name`` values are ``value`` (in order)."""
        self._require_model()
        current = getattr(self, name)
        if name == "fg_time" and isinstance(value, Time):
            value = value.utc.mjd
        index = _locate(current, value, atol=_TIME_MATCH_DAYS if name == "fg_time" else None)
        if index is None:
            msg = (f"{where}: the values given are not {name} values of this session's "
                   f"frames (nor a selection of them, in order); the session keeps fg_array, "
                   f"fg_time and fg_flux consistent, so only selections of its frames can be "
                   f"assigned or passed, e.g. spk.{name}[0:10000] (or use spk.select(start, "
                   f"stop))")
            raise ParameterError(msg)
        return index

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

    def gauss2d_fit(self, fg_array=None, ncpus=None, save=False, *, max_iterations=50):
        """2-D Gaussian fit of every frame (as `~spelunker.GuideStarFitStep` method 'gauss').

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
            (the original's ``.dat``, as ECSV with units).
        max_iterations : int, optional
            Iteration limit per frame.

        Returns
        -------
        astropy.table.QTable
            `gaussfit_results`: one row per frame with units and a time
            column; ``flags != 0`` marks frames whose fit is not to be trusted.

        Examples
        --------
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=40, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> len(spk.gauss2d_fit(spk.fg_array[0:10], ncpus=1))
        10
        """
        return self._fit("gauss", fg_array, save, ncpus=ncpus, max_iterations=max_iterations)

    def quick_fit(self, fg_array=None, save=False, *, ncpus=None):
        """Moments fit of every frame (as `~spelunker.GuideStarFitStep` method 'quick').

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
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=40, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> len(spk.quick_fit())
        40
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
        if _given(fg_array) and not (isinstance(fg_array, np.ndarray)
                                     and fg_array.shape == model.data.shape
                                     and np.shares_memory(fg_array, model.data)):
            target = self._fit_target(fg_array)
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
            self._save_table(table, f"{'gauss' if method == 'gauss' else 'quick'}fits")
        return table

    def _fit_target(self, fg_array):
        """The model to fit for ``fg_array``: the session's frames it selects, or the array."""
        frames = np.asarray(fg_array)
        if frames.ndim == 2:
            frames = frames[np.newaxis]
        if frames.ndim != 3 or frames.shape[1:] != (8, 8):
            msg = f"fg_array of shape {np.shape(fg_array)} is not frames (n, 8, 8)"
            raise ParameterError(msg)
        index = _locate(np.asarray(self.model.data), frames)
        if index is not None:
            return self.model.select(index)
        log.info("fitting %d frames that are not the session's own: no errors, DQ or times",
                 len(frames))
        return GuideStarModel(data=frames.astype(np.float32))

    def _save_table(self, table, kind):
        """Write a result table as the original tool's ``save=True`` (in ECSV, with units)."""
        folder = self.directory / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self._program_label()}_{kind}.ecsv"
        table.write(path, format="ascii.ecsv", overwrite=True)
        log.info("wrote %s", path)
        return path

    def _program_label(self):
        programs = sorted({str(key[0]) for key in self.visits})
        return "_".join(programs) or "session"

    @property
    def gaussfit_results(self):
        """Table of the latest `gauss2d_fit` (None before)."""
        return self._fit_results("gauss")

    @property
    def quickfit_results(self):
        """Table of the latest `quick_fit` (None before)."""
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

        Updates `fg_flux` and `photometry_mask`.  The positional arguments
        are the original tool's.

        Parameters
        ----------
        mask : array_like of bool, optional
            A user aperture (8, 8): no search.
        min_pixel, max_pixel : int, optional
            The original's names of ``min_pixels`` and ``max_pixels``.
        n_bin : int, optional
            The original's bin of the scatter metric, in frames (the bin is
            ``n_bin`` times the median frame interval); ``bin_size`` wins.
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
            The light curve (time, flux, flux_err in DN/s).

        Examples
        --------
        >>> import tempfile
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=300, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> curve = spk.optimize_photometry(None, 1, 30, 100)
        >>> spk.photometry_mask.shape, str(curve["flux"].unit)
        ((8, 8), 'DN / s')
        """
        model = self._require_model()
        min_pixels = min_pixel if _given(min_pixel) else min_pixels
        max_pixels = max_pixel if _given(max_pixel) else max_pixels
        if bin_size is None and _given(n_bin):
            bin_size = check_int_range(n_bin, "n_bin", 1, 10**9,
                                       where="optimize_photometry") * _frame_interval(model)
        bin_size = DEFAULT_BIN_SIZE if bin_size is None else bin_size
        result = run_photometry(model, bin_size=bin_size, per_guidestar=per_guidestar,
                                mask=mask if _given(mask) else None,
                                n_pixels=np.arange(min_pixels, max_pixels + 1))
        store_photometry(model, result)
        return lightcurve_table(model)

    def time_to_sec(self, fg_time=None):
        """Seconds since the first time (the original's ``time_to_sec``).

        Parameters
        ----------
        fg_time : array_like or astropy.time.Time, optional
            MJD (UTC) floats or Times; default: the session's frames
            (`spelunker.GuideStarModel.frame_seconds`).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import spelunker
        >>> spelunker.load().time_to_sec([60000.0, 60000.5]).tolist()
        [0.0, 43200.0]
        """
        if not _given(fg_time):
            return np.asarray(self._require_model().frame_seconds(), dtype=float)
        times = as_utc_time(fg_time)
        return np.atleast_1d((times - times[0]).to_value(u.s)).astype(float)

    def object_properties_func(self):
        """The original's name of `object_properties` (a table, one row per guide star)."""
        return self.object_properties

    def table(self):
        """The original's name of `fg_table` (one row per file)."""
        return self.fg_table

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

    def periodogram(self, table=None, time=None, save=False, plot=True, *, fit_table="auto",
                    samples_per_peak=5.0, maximum_frequency=None, n_peaks=5):
        """Lomb-Scargle periodograms of every series (as `~spelunker.PeriodogramStep`).

        Uses the Gaussian fit if there is one, else the quick fit (run now
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
            (``<program>_pgram_results.png`` and ``.ecsv``).
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
        >>> import tempfile
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=300, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> ax = spk.periodogram()
        >>> len(spk.pgram_results) > 0, ax[0].get_xscale()
        (True, 'log')
        """
        model = self._require_model()
        if _given(table):
            fit_table = self._method_of_table(table, time)
        run_periodogram(model, fit_table=fit_table, samples_per_peak=samples_per_peak,
                        maximum_frequency=maximum_frequency, n_peaks=n_peaks)
        axes = None
        if plot or save:
            figure = periodogram_plot(model, fig=None if plot else _detached_figure())
            axes = np.asarray(figure.axes)
            if save:
                stem = f"{self._program_label()}_pgram_results"
                self.directory.mkdir(parents=True, exist_ok=True)
                figure.savefig(self.directory / f"{stem}.png")
                self.pgram_results.write(self.directory / f"{stem}.ecsv", format="ascii.ecsv",
                                         overwrite=True)
        return axes if plot else None

    def _method_of_table(self, table, time):
        """Which of the session's fits ``table`` is (the original's ``periodogram(table)``)."""
        if _given(time):
            times = time.utc.mjd if isinstance(time, Time) else np.asarray(time, dtype=float)
            if times.shape != (len(self.model.data),) or not np.allclose(
                    times, self.fg_time, rtol=0.0, atol=_TIME_MATCH_DAYS):
                msg = ("periodogram: time must be the session's fg_time (use spk.select(...) "
                       "for a part of the frames)")
                raise ParameterError(msg)
        for method in ("gauss", "quick"):
            ours = self._fit_results(method)
            if (ours is not None and method not in self._partial_fits
                    and len(ours) == len(table) and "x_mean" in table.colnames
                    and np.array_equal(_values(ours["x_mean"]), _values(table["x_mean"]),
                                       equal_nan=True)):
                return method
        msg = ("periodogram: table must be the session's gaussfit_results or quickfit_results "
               "of all its frames; run gauss2d_fit() or quick_fit() first (a fit of part of "
               "the frames: spk.select(...) then fit)")
        raise ParameterError(msg)

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
            median frame interval); default: ``bin_size``.
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
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=300, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> ax = Figure().add_subplot()
        >>> spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux, ax=ax) is ax
        True
        """
        model = self._frames_model(fg_time, fg_flux, start_time, end_time,
                                   where="timeseries_binned_plot")
        if bin_size is None and _given(n_bins):
            n_bins = check_int_range(n_bins, "n_bins", 1, 10**9, where="timeseries_binned_plot")
            bin_size = n_bins * _frame_interval(model)
        return timeseries_binned_plot(
            model, bin_size=DEFAULT_BIN_SIZE if bin_size is None else bin_size,
            ax=_current_axes(ax), show_frames=show_frames)

    def _frames_model(self, fg_time, fg_flux, start_time, end_time, *, where,
                      keep_results=True):
        """The session's model cut to the frames the original's plot arguments name."""
        model = self._require_model()
        index = np.arange(len(model.data))
        if _given(fg_time):
            index = self._frames_of("fg_time", fg_time, where=where)
        if _given(fg_flux):
            flux = np.asarray(fg_flux, dtype=float)
            ours = np.asarray(self.fg_flux, dtype=float)[index]
            if flux.shape != ours.shape or not np.array_equal(flux, ours, equal_nan=True):
                msg = (f"{where}: fg_flux must be the session's fg_flux of the frames shown "
                       f"(the flux of other frames or a changed flux is not drawn; see "
                       f"spk.select and spk.optimize_photometry)")
                raise ParameterError(msg)
        if _given(start_time) or _given(end_time):
            times = self.fg_time[index]
            keep = np.ones(len(index), dtype=bool)
            if _given(start_time):
                keep &= times >= float(as_utc_time(start_time).mjd)
            if _given(end_time):
                keep &= times <= float(as_utc_time(end_time).mjd)
            index = index[keep]
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
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=300, n_segments=1)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> _ = spk.quick_fit()
        >>> len(spk.timeseries_list_plot(fig=Figure())) >= 7
        True
        """
        where = "timeseries_list_plot"
        if _given(table):
            model = self._frames_model(fg_time, None, None, None, where=where,
                                       keep_results=False)
            if model is self.model:
                model = model.select(slice(None))
            if len(table) != len(model.data):
                msg = (f"{where}: the table has {len(table)} rows but {len(model.data)} "
                       f"frames were named (give fg_time of the table's frames)")
                raise ParameterError(msg)
            store_fit(model, _result_of_table(table, where), "gauss")
            fit = "gauss"
            if _given(start_time) or _given(end_time):
                times = np.asarray(model.frame_times.mjd)
                keep = np.ones(len(times), dtype=bool)
                if _given(start_time):
                    keep &= times >= float(as_utc_time(start_time).mjd)
                if _given(end_time):
                    keep &= times <= float(as_utc_time(end_time).mjd)
                model = model.select(np.flatnonzero(keep), keep_results=True)
        else:
            model = self._frames_model(fg_time, None, start_time, end_time, where=where)
        figure = timeseries_list_plot(model, fit=fit, fig=fig, flagged=flagged)
        return np.asarray(figure.axes)

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
        return plot_mnemonic(table, _current_axes(ax))

    def find_events(self, *, fit_table="auto", **options):
        """Technical events of the session's frames (as `~spelunker.GuideStarEventStep`).

        Tilts, centroid jumps, flux excursions, HGA moves, guide-star changes
        and gaps (`spelunker.events.find_events`; ``options`` are its
        ``bin_size``, ``window``, ``threshold``, ``gap``, ``coincidence``).
        The quick fit runs first if the session has no fit.

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
        """The technical events found by `find_events` (or in a product read), None before."""
        if self.model is None or not self.model.hasattr("events"):
            return None
        return events_table(self.model)

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
        if plot:
            if flux is None and not isinstance(science, tuple):
                try:
                    flux = science_light_curve(science)
                except ScienceInputError as exc:
                    log.warning("no science light curve to draw (%s); pass flux=", exc)
            if flux is not None:
                self.science_figure = science_regressors_plot(binned, flux,
                                                              regressors=regressors, fig=fig)
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

    def mnemonics_local(self, mnemonic, plot=True, *, ax=None):
        """Events from the data themselves: 'GUIDESTAR', 'FILENAME' or 'HGA' (no token).

        Also ``'EVENTS'`` (every technical event of `find_events`, found now
        if the session has none) or one of its kinds (``'TILT'``,
        ``'CENTROID_JUMP'``, ``'FLUX_EXCURSION'``, ``'HGA_MOVE'``,
        ``'GUIDE_STAR_CHANGE'``, ``'GAP'``): the table is then that of
        `events`, drawn with a legend.

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
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> import spelunker
        >>> from spelunker import datasets
        >>> visit = datasets.make_guidestar_files(
        ...     tempfile.mkdtemp(), seed=1, visits=[datasets.VisitSpec(n_frames=300, n_segments=2)])
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(visit.files)
        >>> ax = spk.mnemonics_local("FILENAME", ax=Figure().add_subplot())
        >>> len(spk.filename_mnemonics[0])
        2
        """
        kind = str(mnemonic).strip().upper()
        if kind not in LOCAL_KINDS and (kind == "EVENTS" or kind.lower() in EVENT_KINDS):
            table = self.events if self.events is not None else self.find_events()
            if kind != "EVENTS":
                table = table[table["kind"] == kind.lower()]
            self.local_events = table
            if not plot:
                return table
            axes = _current_axes(ax)
            plot_event_table(axes, table)
            return axes
        table = local_events(self._require_model(), kind)
        self.local_events = table
        if kind == "HGA":
            self.hga_mnemonics = (list(_mjd(table["start"])), list(_mjd(table["stop"])))
        elif kind == "GUIDESTAR":
            self.guidestar_mnemonics = (list(_mjd(table["time"])),
                                        [str(v) for v in table["gs_id"]])
        else:
            self.filename_mnemonics = (list(_mjd(table["time"])),
                                       [str(v) for v in table["file_name"]])
        if not plot:
            return table
        axes = _current_axes(ax)
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
            Milliseconds per frame, as the original (sets ``fps``).
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
        index = np.arange(len(model.data))
        if _given(fg_array):
            index = self._frames_of("fg_array", fg_array,
                                    where="flux_spatial_timelapse_animation")
        elif _given(fg_time):
            index = self._frames_of("fg_time", fg_time, where="flux_spatial_timelapse_animation")
        if len(index) != len(model.data):
            model = model.select(index, keep_results=True)
        if _given(interval):
            fps = 1000.0 / float(interval)
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


#: Times given for frames match a frame within this many days (1 ms).
_TIME_MATCH_DAYS = 1e-3 / 86400.0


def _is_program(value):
    """Whether a ``readfile`` argument is a program ID (an integer, or digits naming no path)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return True
    return (isinstance(value, str) and value.strip().isdigit()
            and not os.path.exists(value))


def _filters(**given):
    """The original tool's filters given, as {fg_table column: value}."""
    filters = {}
    for keyword, value in given.items():
        if not _given(value):
            continue
        column = FILTER_KEYWORDS[keyword]
        text = str(value).strip().upper()
        if keyword == "guider" and text.startswith("GUIDER"):
            text = text[len("GUIDER"):]
        if not text.isdigit():
            msg = f"{keyword}={value!r} must be a number (or digits)"
            raise ParameterError(msg)
        filters[column] = f"GUIDER{int(text)}" if keyword == "guider" else int(text)
    return filters


def _filter_model(model, filters):
    """The frames of the files of ``model`` whose `fg_table` fields match ``filters``."""
    table = fg_table(model)
    keep = np.ones(len(table), dtype=bool)
    for column, value in filters.items():
        values = table[column]
        mask = np.ma.getmaskarray(values)
        keep &= ~mask & (np.ma.getdata(values) == value)
    if not keep.any():
        held = "; ".join(f"{column}: " + ", ".join(sorted({str(v) for v in table[column]}))
                         for column in filters)
        msg = (f"the filters {filters} leave none of the {len(table)} file(s) read "
               f"(the files hold {held})")
        raise ParameterError(msg)
    frames = np.flatnonzero(np.isin(np.asarray(model.frames["file_index"]),
                                    np.flatnonzero(keep)))
    log.info("filters %s keep %d of %d file(s), %d frames", filters, int(keep.sum()),
             len(table), len(frames))
    return model.select(frames)


def _rows(values):
    """The bits of each row of an array, as an (n, words) unsigned array (NaN-safe equality)."""
    values = np.ascontiguousarray(values)
    n = len(values)
    flat = values.reshape(n, -1)
    word = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}[values.dtype.itemsize]
    return flat.view(word)


def _locate(current, value, *, atol=None):
    """Indices of ``current`` rows equal to the rows of ``value``, in order; None if not all.

    Rows are compared bit for bit (NaN matches NaN), or, with ``atol``, as
    sorted numbers within ``atol``.  A run of consecutive rows (a slice) is
    found first; otherwise each row is matched to the next equal row.
    """
    current = np.asarray(current)
    try:
        value = np.asarray(value, dtype=current.dtype)
    except (TypeError, ValueError):
        return None
    if value.ndim == current.ndim - 1:
        value = value[np.newaxis]
    if value.shape[1:] != current.shape[1:] or not len(value) or len(value) > len(current):
        return None
    if atol is not None:
        order = np.argsort(current, kind="stable")
        where = np.clip(np.searchsorted(current[order], value), 0, len(current) - 1)
        before = np.clip(where - 1, 0, len(current) - 1)
        pick = np.where(np.abs(current[order][before] - value)
                        < np.abs(current[order][where] - value), before, where)
        index = order[pick]
        if not np.all(np.abs(current[index] - value) <= atol):
            return None
        return index
    ours, theirs = _rows(current), _rows(value)
    n = len(theirs)
    for first in np.flatnonzero(np.all(ours == theirs[0], axis=1)):
        if first + n <= len(ours) and np.array_equal(ours[first:first + n], theirs):
            return np.arange(first, first + n)
    positions = {}
    for row, key in enumerate(map(bytes, ours)):
        positions.setdefault(key, []).append(row)
    index, last = np.empty(n, dtype=np.int64), -1
    for j, key in enumerate(map(bytes, theirs)):
        rows = positions.get(key, [])
        k = bisect.bisect_right(rows, last)
        if k == len(rows):
            return None
        index[j] = last = rows[k]
    return index


def _frame_interval(model):
    """Median seconds between frames (1 for a single frame)."""
    seconds = np.asarray(model.frame_seconds(), dtype=float)
    return float(np.nanmedian(np.diff(seconds))) if len(seconds) > 1 else 1.0


def _values(column):
    """Plain float values of a table column (a Quantity's value)."""
    return np.asarray(getattr(column, "value", column), dtype=float)


def _mjd(times):
    """MJD (UTC) floats of a time column."""
    return [float(x) for x in as_utc_time(times).mjd] if len(times) else []


def _result_of_table(table, where):
    """A fit result from a user's fit table (the original tool's seven columns)."""
    missing = [name for name in PARAMETER_NAMES if name not in table.colnames]
    if missing:
        msg = (f"{where}: the table lacks the column(s) {', '.join(missing)} (it needs "
               f"{', '.join(PARAMETER_NAMES)})")
        raise ParameterError(msg)
    n = len(table)
    result = FitResult()
    for name in PARAMETER_NAMES:
        column = table[name]
        unit = getattr(column, "unit", None)
        if unit is not None and unit != "" and hasattr(column, "to_value"):
            result[name] = np.asarray(column.to_value(PARAMETER_UNITS[name]), dtype=np.float64)
        else:
            result[name] = np.asarray(column, dtype=np.float64)
    for name in PARAMETER_NAMES:
        result[name + "_err"] = (_values(table[name + "_err"]) if name + "_err" in table.colnames
                                 else np.full(n, np.nan))
    result["chi2"] = _values(table["chi2"]) if "chi2" in table.colnames else np.full(n, np.nan)
    result["dof"] = np.zeros(n, dtype=np.int32)
    result["iterations"] = np.zeros(n, dtype=np.int32)
    result["flags"] = (np.asarray(table["flags"], dtype=np.uint32) if "flags" in table.colnames
                       else np.zeros(n, dtype=np.uint32))
    return result


def _detached_figure():
    """A figure outside pyplot (saved, never shown)."""
    from matplotlib.figure import Figure  # matplotlib loads only when a figure is drawn

    return Figure(figsize=(11, 10), layout="constrained")


def _current_axes(ax):
    """As the original notebook tool: draw on the current pyplot Axes unless told otherwise."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot loads only when a figure is drawn

    return plt.gca()
