"""The session itself: `spelunker.load`, `Spelunker`, its data and the original's arrays.

A `Spelunker` session holds one `~spelunker.GuideStarModel` and offers the
names of the original notebook tool (``fg_array``, ``fg_time``, ``fg_flux``,
``gauss2d_fit``, ``quick_fit``, ``optimize_photometry``, ``periodogram``,
``pgram_<parameter>``, ``fg_table``, ``object_properties``, ...).  Its
methods come from the mixins of `spelunker.session.data`,
`spelunker.session.analysis` and `spelunker.session.figures`.
"""

import logging
import os
from pathlib import Path

import numpy as np
from astropy.time import Time

from spelunker._validate import check_path
from spelunker.archive.catalog import guide_star_properties
from spelunker.archive.tokens import as_secret, resolve_token
from spelunker.datamodels.rows import TIME_MATCH_DAYS, locate_rows
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.filetable import fg_table
from spelunker.photometry import full_frame_flux
from spelunker.session.analysis import SessionAnalysis
from spelunker.session.args import (DEFAULT_DIRECTORY, FILTER_KEYWORDS, ORIGINAL_DIRECTORY,
                                    default_directory, given)
from spelunker.session.data import SessionData
from spelunker.session.figures import SessionFigures
from spelunker.session.files import write_star_series
from spelunker.times import seconds_since_first

__all__ = ["load", "Spelunker", "DEFAULT_DIRECTORY", "FILTER_KEYWORDS", "ORIGINAL_DIRECTORY"]

log = logging.getLogger(__name__)


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
        or exposure (`spelunker.filetable.fg_table`).  ``parallel_sequnence_id``
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
        The session; empty without ``pid``.

    Raises
    ------
    spelunker.errors.ParameterError
        A ``dir`` that is not a folder path, a filter value that is not a
        number, or filters that leave no file.

    Examples
    --------
    >>> import spelunker
    >>> spk = spelunker.load()          # an empty session, nothing downloaded
    >>> spk.fg_array is None
    True
    """
    if isinstance(dir, (int, np.integer)) and not isinstance(dir, bool) and not given(pid):
        log.info("spelunker.load(%d): read as the program ID", dir)
        dir, pid = None, dir  # noqa: A001
    if given(parallel_sequnence_id):
        if given(parallel_sequence_id):
            msg = "give parallel_sequence_id or parallel_sequnence_id (the same filter), not both"
            raise ParameterError(msg)
        parallel_sequence_id = parallel_sequnence_id
    if given(dir):
        check_path(dir, "dir", kind="folder", where="spelunker.load")
    session = Spelunker(dir if given(dir) else None, token=token, progress=progress)
    if given(pid):
        session.download(pid, obs_num=obs_num, visit=visit, visit_group=visit_group,
                         parallel_sequence_id=parallel_sequence_id,
                         activity_number=activity_number, exposure_number=exposure_number,
                         dir_seg=dir_seg, guider=guider, calib_level=calib_level, save=save)
    return session


class Spelunker(SessionData, SessionAnalysis, SessionFigures):
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

    Raises
    ------
    spelunker.errors.ParameterError
        A ``directory`` that is not a folder path (str or path-like).

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
        self.directory = (check_path(directory, "directory", kind="folder", where="Spelunker")
                          if directory is not None else default_directory())
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

        Resolved by `spelunker.archive.tokens.resolve_token` (and held by
        `spelunker.archive.tokens.as_secret`).  An empty (or blank) value
        counts as none: ``spk.mast_api_token = ""``
        falls back to ``MAST_API_TOKEN`` like ``None``.  Held in an object
        that hides it from reprs and refuses to be pickled; never logged or
        written to a file.
        """
        secret = resolve_token(self._token)
        return None if secret is None else secret.reveal()

    @mast_api_token.setter
    def mast_api_token(self, value):
        self._token = as_secret(value)

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

        `spelunker.GuideStarModel.visits` of the session's model; empty for
        an empty session.  The per-frame attributes (``fg_array``,
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
        are not carried over.  This session is not modified.  The numbers
        are read and the visit found by `spelunker.GuideStarModel.select_visit`.

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
        spelunker.errors.GuideStarInputError
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
        part = self._require_model().select_visit(program, observation, visit, keep_results=True,
                                                  where="Spelunker.select_visit")
        other = Spelunker(self.directory, progress=self.progress)
        other._token = self._token
        other._set_model(part)
        return other

    def _set_model(self, model):
        self.model = model
        self._partial_fits = {}
        self.files = [str(name) for name in model.table("files")["file_name"]]
        self._properties = None

    def _require_model(self):
        if self.model is None:
            msg = "the session holds no data yet: call download(pid, ...) or readfile(path) first"
            raise GuideStarInputError(msg)
        return self.model

    def save(self, path=None, *, suffix=None):
        """Write the session: the whole model to ``path``, or the original tool's outputs.

        ``spk.save('session_gs.fits')`` (a path-like, or a name ending in
        ``.fits`` or ``.asdf``) writes the session's GuideStarModel, all
        data and results (`spelunker.GuideStarModel.save`); it reopens with
        `readfile` or ``jwst.datamodels.open``.

        ``spk.save()`` or ``spk.save('prefix')`` (the original tool's
        ``save(suffix)``) writes, per guide star, into `directory`
        (`spelunker.session.files.write_star_series`):
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
        >>> import tempfile, spelunker.datasets
        >>> spk = spelunker.load(tempfile.mkdtemp())
        >>> _ = spk.readfile(spelunker.datasets.sample_visit(spk.directory).files)
        >>> [path.suffix for path in spk.save("run1")]
        ['.ecsv']
        """
        model = self._require_model()
        if given(path) and not isinstance(path, (str, os.PathLike)):
            msg = (f"save: path={path!r:.60} must be a model file (.fits, .asdf) or the "
                   f"original's file-name prefix (a string)")
            raise ParameterError(msg)
        if given(path) and (isinstance(path, os.PathLike)
                            or str(path).lower().endswith((".fits", ".asdf"))):
            if suffix is not None:
                msg = "save: give a model file (path) or the original's prefix (suffix), not both"
                raise ParameterError(msg)
            model.save(path)
            return Path(path)
        prefix = suffix if suffix is not None else (path if given(path) else None)
        if prefix is not None and not isinstance(prefix, str):
            msg = f"save: suffix={prefix!r:.60} must be a string (the original's file-name prefix)"
            raise ParameterError(msg)
        return write_star_series(model, self.directory, self.fg_flux, prefix=prefix,
                                 gauss=self.gaussfit_results, quick=self.quickfit_results,
                                 peaks=self.pgram_results)

    # -- arrays of the original tool ------------------------------------------

    @property
    def fg_array(self):
        """Frames, float32 (n_frames, 8, 8) in DN/s, time ordered (None if empty).

        Assigning a selection of the frames (``spk.fg_array =
        spk.fg_array[0:10000]``, as the original tool's notebooks do) cuts the
        whole session to those frames: ``fg_time``, ``fg_flux``, the files and
        the per-frame results follow (`select`; the frames are found by
        `spelunker.datamodels.rows.locate_rows`).  Values that are not frames
        of the session are refused with `~spelunker.errors.ParameterError`.
        """
        return None if self.model is None else np.asarray(self.model.data)

    @fg_array.setter
    def fg_array(self, value):
        self._assign("fg_array", value)

    @property
    def fg_time(self):
        """Mid-frame times as MJD (UTC) floats, as the original tool (None if empty).

        `spelunker.GuideStarModel.frame_times` of the session's model; the
        same times as an `astropy.time.Time` are `fg_time_utc`.
        Assigning a selection of them cuts the session (see `fg_array`).
        """
        return None if self.model is None else np.asarray(self.model.frame_times.mjd,
                                                          dtype=np.float64)

    @fg_time.setter
    def fg_time(self, value):
        self._assign("fg_time", value)

    @property
    def fg_time_utc(self):
        """Mid-frame times, `astropy.time.Time` (UTC), or None.

        `spelunker.GuideStarModel.frame_times` of the session's model.
        """
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
        index = locate_rows(current, value, atol=TIME_MATCH_DAYS if name == "fg_time" else None)
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
        (n_guidestars, 8, 8) per guide star; None before.

        The model's ``aperture_mask``, written by
        `spelunker.photometry.store_photometry` (the aperture
        `spelunker.photometry.run_photometry` chose, or the mask given)."""
        if self.model is None or not self.model.hasattr("aperture_mask"):
            return None
        masks = np.asarray(self.model.aperture_mask).astype(bool)
        return masks[0] if len(masks) == 1 else masks

    @property
    def fg_table(self):
        """One row per file: program, observation, visit, visit group, parallel sequence,
        activity (from the header OBS_ID), segment, detector, guide star, times.

        See `spelunker.filetable.fg_table`; the exposure number, which
        only the MAST folder of a science exposure gives, is masked.
        """
        return fg_table(self._require_model())

    @property
    def object_properties(self):
        """One row per guide star from the Guide Star Catalog (header values as fallback).

        Asked once per session, of `spelunker.archive.catalog.guide_star_properties`.
        """
        if self._properties is None:
            self._properties = guide_star_properties(self._require_model())
        return self._properties

    def time_to_sec(self, fg_time=None):
        """Seconds since the first time (the original's ``time_to_sec``).

        `spelunker.times.seconds_since_first` of the times given, else
        `spelunker.GuideStarModel.frame_seconds` of the session's frames.

        Parameters
        ----------
        fg_time : array_like or astropy.time.Time, optional
            MJD (UTC) floats or Times; default: the session's frames.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import spelunker
        >>> spelunker.load().time_to_sec([60000.0, 60000.5]).tolist()
        [0.0, 43200.0]
        """
        if not given(fg_time):
            return np.asarray(self._require_model().frame_seconds(), dtype=float)
        return seconds_since_first(fg_time)

    def object_properties_func(self):
        """The original's name of `object_properties` (a table, one row per guide star)."""
        return self.object_properties

    def table(self):
        """The original's name of `fg_table` (one row per file)."""
        return self.fg_table

