"""The notebook session's data: finding, downloading and reading fine-guide products.

A mixin of `spelunker.Spelunker` (`spelunker.session`): ``download`` asks
`spelunker.archive.find_guidestar_products` and
`spelunker.archive.download_products` (or, with MAST unreachable,
`spelunker.archive.download.cached_products`), ``readfile`` calls
`spelunker.read_guidestar`; the original tool's file filters are
`spelunker.GuideStarModel.select_files`.
"""

import logging

from spelunker.session.args import (calib_level as check_calib_level, file_filters, given,
                                     interactive, is_program)
from spelunker.archive import ArchiveQueryError, download_products, find_guidestar_products
from spelunker.archive.download import cached_products
from spelunker.errors import ParameterError
from spelunker.io import read_guidestar
from spelunker.names import id_number
from spelunker.session.files import write_arrays

__all__ = ["SessionData"]

log = logging.getLogger(__name__)


class SessionData:
    """The session's methods that get data: `download`, `readfile` (a mixin of `Spelunker`)."""

    def download(self, pid, obs_num=None, visit=None, visit_group=None,
                 parallel_sequence_id=None, activity_number=None, exposure_number=None,
                 dir_seg=None, guider=None, calib_level=2, save=False, token=None):
        """Find, download and read the fine-guide products of a program.

        Found by `spelunker.archive.find_guidestar_products`, downloaded by
        `spelunker.archive.download_products` (files already complete in
        the download folder are not downloaded again), read by `readfile`;
        the filters cut the files with `spelunker.GuideStarModel.select_files`
        and ``save=True`` writes `spelunker.session.files.write_arrays`.
        With ``calib_level=2`` the session's data (`model`, `files`,
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
            (see `spelunker.load`).
        calib_level : {2, 1}, optional
            Calibrated (2) or uncalibrated (1) products.
        save : bool, optional
            Write the frames, times and flux as ``.npy`` files
            (`spelunker.session.files.write_arrays`).
        token : str, optional
            MAST API token for this session (as ``mast_api_token = token``).

        Returns
        -------
        list of pathlib.Path
            The local files.

        Raises
        ------
        spelunker.errors.ParameterError
            Another ``calib_level``, a filter that is not a number, or
            filters that leave no file.
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
        calib_level = check_calib_level(calib_level)
        if token is not None:
            self.mast_api_token = token
        filters = file_filters(visit_group=visit_group, parallel_sequence_id=parallel_sequence_id,
                               activity_number=activity_number, exposure_number=exposure_number,
                               dir_seg=dir_seg, guider=guider)
        obs_num = obs_num if given(obs_num) else None
        visit = visit if given(visit) else None
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
            self._set_model(self.model.select_files(**filters))
        if save:
            write_arrays(self.directory / "data_arrays", pid, {
                "fg_array": self.fg_array, "fg_time": self.fg_time, "fg_flux": self.fg_flux})
        return list(paths)

    def _progress(self):
        """Progress bars: as set, else on in interactive sessions."""
        return interactive() if self.progress is None else bool(self.progress)

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
        if not given(pid) and is_program(path):
            pid, path = path, None
        if given(pid):
            if given(path):
                msg = f"readfile: give files or pid={pid!r}, not both (got {path!r})"
                raise ParameterError(msg)
            pid = id_number(pid, "program", name="pid", where="readfile")
            observation = (id_number(obs_num, "observation", name="obs_num", where="readfile")
                           if given(obs_num) else None)
            number = id_number(visit, "visit", where="readfile") if given(visit) else None
            paths = cached_products(self.directory, pid, observation=observation, visit=number)
            if not paths:
                msg = (f"readfile: no complete calibrated fine-guide product of program {pid}"
                       + (f", observation {observation}" if observation is not None else "")
                       + (f", visit {number}" if number is not None else "")
                       + f" in {self.directory} (sub-folders included); download it with "
                       f"spk.download({pid!r}, ...)")
                raise ParameterError(msg)
            path = paths
        elif not given(path):
            msg = "readfile: give files (readfile(path)) or a program (readfile(pid=...))"
            raise ParameterError(msg)
        model = read_guidestar(path, progress=self._progress())
        self._set_model(model)
        return model
