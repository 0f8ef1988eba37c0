"""Read guider products and stitch them into one `GuideStarModel`.

This is where a frame's time is decided (`frame_mid_times`) and where every
input check lives: a file that cannot be used raises a `SpelunkerError`
subclass naming the file and the problem, before anything is returned.
"""

import functools
import glob
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import asdf
import numpy as np
from astropy.io import fits
from astropy.time import Time
from stdatamodels.jwst.datamodels import JwstDataModel, dqflags
from tqdm.auto import tqdm

from spelunker._version import __version__
from spelunker.datamodels import GuideStarModel
from spelunker.errors import (
    CorruptFileError,
    EmptySelectionError,
    GuideStarInputError,
    InconsistentVisitError,
    MissingKeywordError,
    ParameterError,
    WrongProductError,
)
from spelunker.names import is_fine_guide_cal, strip_segment

__all__ = ["read_guidestar", "read_visits", "open_visits", "VisitInput", "open_guidestar",
           "frame_mid_times", "iso_to_mjd", "expand_glob",
           "open_complete_fits", "FINE_GUIDE_EXP_TYPE"]

log = logging.getLogger(__name__)

FINE_GUIDE_EXP_TYPE = "FGS_FINEGUIDE"
DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
FRAME_SHAPE = (8, 8)

#: DATASTRT and DATAEND outside this MJD range (1995 to 2132) are refused.
MJD_RANGE = (50000.0, 100000.0)

# (attribute, primary-header keyword, datamodel meta path, required)
_HEADER_FIELDS = (
    ("exp_type", "EXP_TYPE", "exposure.type", True),
    ("model_type", "DATAMODL", "model_type", False),
    ("detector", "DETECTOR", "instrument.detector", False),
    ("program", "PROGRAM", "observation.program_number", False),
    ("observation", "OBSERVTN", "observation.observation_number", False),
    ("visit", "VISIT", "observation.visit_number", False),
    ("obs_id", "OBS_ID", "observation.obs_id", False),
    ("segment", "EXSEGNUM", "exposure.segment_number", False),
    ("nints", "NINTS", "exposure.nints", False),
    ("gs_id", "GDSTARID", "guidestar.gs_id", False),
    ("gs_ra", "GS_RA", "guidestar.gs_ra", False),
    ("gs_dec", "GS_DEC", "guidestar.gs_dec", False),
    ("gs_mag", "GS_MAG", "guidestar.gs_mag", False),
    ("gs_order", "GS_ORDER", "guidestar.gs_order", False),
    ("data_start", "DATASTRT", "guidestar.data_start", True),
    ("data_end", "DATAEND", "guidestar.data_end", True),
)


@dataclass
class _Product:
    """One guider product: its header fields and a way to load its arrays."""

    name: str
    source: object  # a Path or an open datamodel
    header: dict
    sci: np.ndarray = None
    err: np.ndarray = None
    dq: np.ndarray = None
    tables: dict = field(default_factory=dict)

    @property
    def n_frames(self):
        return self.sci.shape[0]


def read_guidestar(inputs, *, visit=None, progress=None):
    """Read fine-guide products into one time-ordered `GuideStarModel`.

    Parameters
    ----------
    inputs : str, path-like, GuiderCalModel, dict or list of these
        A product path, a glob pattern, a directory (searched recursively
        for ``*.fits``), an association (``.json`` path or loaded dict), an
        open ``GuiderCalModel``, or a list mixing them.  Products named
        explicitly must be calibrated fine-guide products; products found
        through a glob or directory that are not (acquisition, track,
        uncalibrated, science files) are skipped with a log message.
    visit : tuple of int, optional
        ``(program, observation, visit)``: read only that visit's products
        (the others are not opened beyond their headers).  Without it,
        every product is stitched into one series, whatever visits they
        belong to; `read_visits` gives one model per visit instead.
    progress : bool or None, optional
        Show a progress bar while reading; None (default) shows it on an
        interactive terminal only.

    Returns
    -------
    GuideStarModel
        Frames in DN/s in time order with mid-frame UTC times, the files and
        guide-star tables and the concatenated POINTING and CENTROID tables.
        Duplicate copies of the same file name are read once.  No frame is
        dropped or rescaled; non-finite pixels are flagged ``DO_NOT_USE``.
        Products of several programs are stitched with a logged warning
        (several visits of one program with an INFO message).

    Raises
    ------
    spelunker.errors.SpelunkerError
        `WrongProductError` (other EXP_TYPE, uncalibrated product, wrong
        shape), `CorruptFileError`, `MissingKeywordError`,
        `EmptySelectionError` (also for an empty path ``''``),
        `InconsistentVisitError` (overlapping segments, mixed detectors in
        one guide-star interval); the message names the file and the
        problem.  A floating-point DQ holding values that are not whole
        non-negative numbers (NaN, -1, 1.5) is a `CorruptFileError`;
        DATASTRT/DATAEND outside MJD 50000..100000 a `MissingKeywordError`;
        a spelunker product (a saved `GuideStarModel`) a `WrongProductError`
        saying to open it with `open_guidestar`.  `ParameterError` for a ``visit``
        the inputs do not hold (the message lists those they hold).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> model = read_guidestar(visit.files)
    >>> model.data.shape
    (6000, 8, 8)
    """
    products = _checked_products(inputs)
    if visit is not None:
        groups = dict(_visit_groups(products))
        key = _visit_key(visit)
        if key not in groups:
            msg = (f"visit={visit!r}: {_describe(inputs)} holds no product of program "
                   f"{key[0]}, observation {key[1]}, visit {key[2]}; it holds "
                   f"{sorted(groups)}")
            raise ParameterError(msg)
        products = groups[key]
    elif len({_product_visit(p) for p in products}) > 1:
        programs = sorted({_product_visit(p)[0] for p in products})
        if len(programs) > 1:
            log.warning("stitching products of %d programs (%s) into one series; "
                        "read_visits gives one model per visit", len(programs),
                        ", ".join(str(program) for program in programs))
        else:
            log.info("stitching %d visits into one series; read_visits gives one model per "
                     "visit", len({_product_visit(p) for p in products}))
    return _read_products(products, progress=progress)


def read_visits(inputs, *, progress=None):
    """Read fine-guide products into one `GuideStarModel` per visit, in time order.

    A visit is (program, observation, visit).  Every product is checked
    (headers) before any is read, as by `read_guidestar`.  The models are
    read one after the other; use `open_visits` to hold only one visit in
    memory at a time.

    Parameters
    ----------
    inputs : str, path-like, GuiderCalModel, dict or list of these
        As for `read_guidestar`.
    progress : bool or None, optional
        Progress bar while reading.

    Returns
    -------
    list of GuideStarModel

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.io import read_visits
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=1),
    ...                                 datasets.VisitSpec(visit=2, n_frames=200, n_segments=2)],
    ...     seed=1)
    >>> [(model.visits()[0], len(model.data)) for model in read_visits(visit.files)]
    [((1534, 1, 1), 300), ((1534, 1, 2), 200)]
    """
    return [visit.read(progress=progress) for visit in open_visits(inputs)]


class VisitInput:
    """One visit of an input, not yet read: what `open_visits` returns.

    Attributes
    ----------
    key : tuple of int
        ``(program, observation, visit)``.
    names : list of str
        The products of the visit, in time order.
    n_frames : int
        Frames of the visit.
    """

    def __init__(self, key, names, n_frames, reader):
        self.key = key
        self.names = names
        self.n_frames = n_frames
        self._reader = reader

    def __repr__(self):
        program, observation, visit = self.key
        return (f"<VisitInput program {program} observation {observation} visit {visit}: "
                f"{len(self.names)} file(s), {self.n_frames} frames>")

    @property
    def name(self):
        """File name of the visit's stitched series (the first product's, without ``-segNNN``)."""
        return strip_segment(self.names[0]) if len(self.names) > 1 else self.names[0]

    def read(self, *, progress=None):
        """Read the visit's frames into a new `GuideStarModel`."""
        return self._reader(progress)


def open_visits(inputs, *, progress=None):
    """The visits of an input, checked but not read: one `VisitInput` per visit.

    Guider products are checked from their headers (as by `read_guidestar`)
    and grouped by (program, observation, visit); each `VisitInput.read`
    reads one visit's arrays, so a program can be processed one visit at a
    time in the memory of its largest visit.  A `GuideStarModel` (in memory
    or saved) is cut into its visits with
    `GuideStarModel.select_visit` (results carried over); it is not
    modified.

    Parameters
    ----------
    inputs : object
        Anything `open_guidestar` accepts.
    progress : bool or None, optional
        Progress bar while reading a saved product.

    Returns
    -------
    list of VisitInput
        In time order.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.io import open_visits
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=1),
    ...                                 datasets.VisitSpec(visit=2, n_frames=200, n_segments=2)],
    ...     seed=1)
    >>> [(v.key, v.n_frames) for v in open_visits(visit.files)]
    [((1534, 1, 1), 300), ((1534, 1, 2), 200)]
    """
    if isinstance(inputs, GuideStarModel) or (
            isinstance(inputs, (str, os.PathLike)) and _is_guidestar_product(Path(inputs))):
        model = open_guidestar(inputs, progress=progress)
        keys = model.visits()
        names = [str(name) for name in model.table("files")["file_name"]] if keys else []
        if len(keys) <= 1:
            return [VisitInput(keys[0] if keys else (-1, -1, -1),
                               [model.meta.filename or "model"], len(model.data),
                               lambda progress: model)]
        visits = []
        for position, key in enumerate(keys):
            frames = np.count_nonzero(model.frame_visits() == position)
            mine = [name for name, row in zip(names, model.table("files"), strict=True)
                    if (int(row["program"]), int(row["observation"]), int(row["visit"])) == key]
            visits.append(VisitInput(key, mine, int(frames),
                                     lambda progress, key=key: model.select_visit(
                                         *key, keep_results=True)))
        return visits
    products = _checked_products(inputs)
    return [VisitInput(key, [p.name for p in group], sum(p.header["frames"] for p in group),
                       lambda progress, group=group: _read_products(group, progress=progress))
            for key, group in _visit_groups(products)]


def _checked_products(inputs):
    """The products of ``inputs`` after the header checks, in time order."""
    products = _deduplicate(_collect_products(inputs))
    if not products:
        msg = f"no calibrated fine-guide (FGS_FINEGUIDE) product found in {_describe(inputs)}"
        raise EmptySelectionError(msg)
    products.sort(key=lambda p: (p.header["data_start"], p.name))
    _check_overlaps(products)
    _check_detectors(products)
    return products


def _product_visit(product):
    header = product.header
    return (_as_int(header.get("program")), _as_int(header.get("observation")),
            _as_int(header.get("visit")))


def _visit_groups(products):
    """``[(key, products)]`` by visit, in time order of each visit's first product."""
    groups = {}
    for product in products:
        groups.setdefault(_product_visit(product), []).append(product)
    return list(groups.items())


def _visit_key(visit):
    try:
        key = tuple(int(str(part).strip()) for part in visit)
    except (TypeError, ValueError):
        key = ()
    if len(key) != 3:
        msg = f"visit={visit!r} must be (program, observation, visit), e.g. (1534, 1, 1)"
        raise ParameterError(msg)
    return key


def _read_products(products, *, progress=None):
    """Read and stitch checked ``products`` (time ordered) into a new model."""
    n_total = sum(p.header["frames"] for p in products)
    data = np.empty((n_total, *FRAME_SHAPE), dtype=np.float32)
    err = np.empty((n_total, *FRAME_SHAPE), dtype=np.float32)
    # Zero pages cost no memory until a file or a bad pixel writes to them.
    dq = np.zeros((n_total, *FRAME_SHAPE), dtype=np.uint32)
    mid_times = np.empty(n_total, dtype=np.float64)
    time_sources = []
    tables = {"pointing_table": [], "centroid_table": []}

    start = 0
    bar = tqdm(products, desc="reading guider products", unit="file", disable=_no_bar(progress))
    for index, product in enumerate(bar):
        _load_arrays(product)
        stop = start + product.n_frames
        data[start:stop] = product.sci
        err[start:stop] = product.err
        if product.dq is not None and np.any(product.dq):
            dq[start:stop] |= product.dq.astype(np.uint32)
        bad = ~np.isfinite(product.sci)
        if bad.any():
            dq[start:stop][bad] |= DO_NOT_USE
            n_nan = int(bad.all(axis=(1, 2)).sum())
            if n_nan:
                log.warning("%s: %d frame(s) entirely non-finite, kept and flagged DO_NOT_USE",
                            product.name, n_nan)
        mid_times[start:stop], source = frame_mid_times(
            product.header["data_start"], product.header["data_end"], product.n_frames,
            centroid_times=_centroid_times(product), name=product.name,
        )
        time_sources.append(source)
        for key in tables:
            if product.tables.get(key) is not None:
                tables[key].append((index, product.tables[key]))
        # Release the file's arrays: only the stitched copy is kept.
        product.sci = product.err = product.dq = None
        product.tables = {}
        start = stop

    model = GuideStarModel()
    with model.trusted_assignment():
        model.data = data
        model.err = err
        model.dq = dq
        _fill_tables(model, products, mid_times, time_sources, tables)
    _fill_meta(model, products, time_sources)
    first_last = Time(mid_times[[0, -1]], format="mjd", scale="utc").isot
    log.info("read %d frames from %d file(s) of %d guide star(s), %s to %s (UTC)",
             n_total, len(products), len(model.guidestars), first_last[0], first_last[1])
    return model


def open_guidestar(inputs, *, progress=None):
    """Return a `GuideStarModel` for any input a spelunker step accepts.

    Parameters
    ----------
    inputs : GuideStarModel, str, path-like, GuiderCalModel, dict or list
        A GuideStarModel (returned as a deep copy, so the caller's model is
        never modified), the path of a saved GuideStarModel product, or
        anything `read_guidestar` reads.
    progress : bool or None, optional
        Passed to `read_guidestar`.

    Returns
    -------
    GuideStarModel
        A model the caller owns.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.io import open_guidestar
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> model = open_guidestar(visit.files)
    >>> open_guidestar(model) is model
    False
    """
    if isinstance(inputs, GuideStarModel):
        return inputs.copy()
    if isinstance(inputs, (str, os.PathLike)) and _is_guidestar_product(Path(inputs)):
        return _open_saved_product(Path(inputs))
    return read_guidestar(inputs, progress=progress)


def _is_guidestar_product(path):
    """True for a saved GuideStarModel (FITS with DATAMODL, or any ASDF file)."""
    if path.suffix.lower() == ".asdf":
        return True
    if not path.is_file() or path.suffix.lower() != ".fits":
        return False
    try:
        return fits.getval(path, "DATAMODL") == "GuideStarModel"
    except (OSError, KeyError, ValueError):
        return False


def _open_saved_product(path):
    """Open a saved GuideStarModel, turning every failure into a clear error."""
    if not path.is_file():
        msg = f"{path}: no such file"
        raise GuideStarInputError(msg)
    if path.suffix.lower() == ".asdf":
        try:
            with asdf.open(path, lazy_load=True) as handle:
                model_type = handle.tree.get("meta", {}).get("model_type")
        except Exception as exc:  # asdf raises many kinds for damaged files
            msg = f"{path}: not a readable ASDF file ({exc})"
            raise CorruptFileError(msg) from exc
        if model_type != "GuideStarModel":
            msg = (f"{path}: an ASDF file but not a saved GuideStarModel "
                   f"(meta.model_type={model_type!r}); parameter files go to strun, not to a step")
            raise WrongProductError(msg)
    try:
        model = GuideStarModel(path)
        frames = model.frames
        # A pipeline product may leave the frames out (they are in its input files).
        data = model.data if model.hasattr("data") else None
    except GuideStarInputError:
        raise  # GuideStarModel(path) has named the file and the problem
    except Exception as exc:  # stdatamodels and astropy raise many kinds for damaged files
        msg = f"{path}: saved GuideStarModel cannot be read ({type(exc).__name__}: {exc})"
        raise CorruptFileError(msg) from exc
    if frames is None or len(frames) == 0 or (
            data is not None and (np.ndim(data) != 3 or len(frames) != len(data))):
        model.close()
        msg = f"{path}: saved GuideStarModel has no frames table or one inconsistent with its frames"
        raise CorruptFileError(msg)
    if data is None:
        log.info("%s: a product without frames (results and tables only); the frames are in "
                 "the files of its files table", path.name)
    return model


def frame_mid_times(data_start, data_end, n_frames, *, centroid_times=None, name="product"):
    """Mid-frame times (MJD, UTC) of the frames of one guider product.

    Guider products have no per-integration time table.  When the FGS
    centroid packet table has exactly one time per frame, consistent with
    the product's DATASTRT..DATAEND interval, those times are used.
    Otherwise frame ``i`` of ``n`` is placed at
    ``DATASTRT + (i + 0.5) * (DATAEND - DATASTRT) / n``: frames are taken to
    fill the interval evenly, so the frame time is measured per file
    rather than assumed.

    Parameters
    ----------
    data_start, data_end : float
        DATASTRT and DATAEND (MJD, UTC).
    n_frames : int
        Number of frames in the product.
    centroid_times : numpy.ndarray, optional
        The centroid packet's ``centroid_time`` column as MJD (UTC), see
        `iso_to_mjd`.
    name : str
        File name used in log messages.

    Returns
    -------
    mid_times : numpy.ndarray
        float64 MJD (UTC), one per frame.
    source : str
        ``"centroid_packet"`` or ``"datastrt_dataend"``.

    Examples
    --------
    >>> from spelunker.io import frame_mid_times
    >>> t, source = frame_mid_times(60000.0, 60000.0 + 4 * 0.0538 / 86400, 4)
    >>> source, round(float(t[1] - t[0]) * 86400, 4)
    ('datastrt_dataend', 0.0538)
    """
    frame = (data_end - data_start) / n_frames
    if centroid_times is not None and len(centroid_times) == n_frames:
        mjd = np.asarray(centroid_times, dtype=np.float64)
        inside = (mjd >= data_start - frame) & (mjd <= data_end + frame)
        if np.all(np.isfinite(mjd)) and np.all(np.diff(mjd) > 0) and np.all(inside):
            return mjd.astype(np.float64), "centroid_packet"
        log.warning("%s: centroid packet has one time per frame but they are not increasing "
                    "within DATASTRT..DATAEND; using the DATASTRT/DATAEND mid-frame formula", name)
    return data_start + (np.arange(n_frames) + 0.5) * frame, "datastrt_dataend"


# --------------------------------------------------------------------------
# Collecting products


def _collect_products(inputs):
    """Expand ``inputs`` into `_Product` objects holding header fields only."""
    if isinstance(inputs, GuideStarModel):
        msg = "input is already a GuideStarModel; read_guidestar takes guider products"
        raise GuideStarInputError(msg)
    if isinstance(inputs, JwstDataModel):
        return [_product_from_model(inputs)]
    if isinstance(inputs, dict):
        return _collect_association(inputs, Path.cwd(), "association")
    if isinstance(inputs, (list, tuple)):
        return [p for item in inputs for p in _collect_products(item)]
    if isinstance(inputs, (str, os.PathLike)):
        text = os.fspath(inputs)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if not text.strip():
            msg = (f"an empty path ({text!r}) names no product; give a file, a glob pattern "
                   "or a folder (use '.' for the current folder)")
            raise EmptySelectionError(msg)
        path = Path(text).expanduser()
        if any(char in text for char in "*?["):
            matches = expand_glob(text)
            return _collect_selection([Path(m) for m in matches if os.path.isfile(m)], text)
        if path.is_dir():
            return _collect_selection(sorted(path.rglob("*.fits")), str(path))
        if path.suffix.lower() == ".json":
            return _collect_association(_load_json(path), path.parent, str(path))
        if not path.exists():
            msg = f"{path}: no such file"
            raise GuideStarInputError(msg)
        return [_product_from_path(path)]
    msg = f"cannot read guide-star data from an object of type {type(inputs).__name__}"
    raise GuideStarInputError(msg)


def expand_glob(pattern):
    """The paths a glob pattern matches, sorted; ``**`` never follows symbolic links.

    `glob.glob` with ``recursive=True`` descends into symbolic links to
    folders, so a link loop (a link to a parent folder) makes it run
    forever.  Here the part of the pattern from its first wildcard on is
    matched with `pathlib.Path.glob`, whose ``**`` does not enter linked
    folders (as reading a folder does); a link named by the pattern's
    fixed part, or by a single-level wildcard, is still followed.

    Parameters
    ----------
    pattern : str or os.PathLike
        A glob pattern (``~`` is expanded); ``**`` matches any number of
        folders.

    Returns
    -------
    list of str
        Matching paths (files and folders), sorted.

    Examples
    --------
    >>> import os, tempfile
    >>> from spelunker.io import expand_glob
    >>> top = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(top, "a", "b"))
    >>> open(os.path.join(top, "a", "b", "x_cal.fits"), "w").close()
    >>> os.symlink(top, os.path.join(top, "a", "loop"))  # a link loop
    >>> [os.path.relpath(p, top) for p in expand_glob(os.path.join(top, "**", "*_cal.fits"))]
    ['a/b/x_cal.fits']
    """
    text = os.path.expanduser(os.fspath(pattern))
    if "**" not in text:
        return sorted(glob.glob(text))  # no recursion: no link loop to fall into
    parts = Path(text).parts
    fixed = 0
    while fixed < len(parts) and not any(char in parts[fixed] for char in "*?["):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = Path(*parts[fixed:])
    if not root.is_dir():
        return []
    matches = []
    for match in root.glob(str(rest)):
        # glob.glob's convention: names starting with '.' match only a pattern saying so.
        if any(part.startswith(".") for part in match.relative_to(root).parts) and not any(
                part.startswith(".") for part in rest.parts):
            continue
        matches.append(str(match))
    return sorted(matches)


def _collect_selection(paths, description):
    """Products found by a glob or directory: skip what is not fine-guide data."""
    products, reasons = [], []
    for path in paths:
        try:
            products.append(_product_from_path(path))
        except GuideStarInputError as exc:
            if is_fine_guide_cal(path.name):
                raise  # a damaged fine-guide segment must not vanish from a visit
            reasons.append(str(exc))
            log.debug("skipped %s", exc)
    if reasons:
        log.info("%s: skipped %d file(s) that are not calibrated fine-guide products",
                 description, len(reasons))
    if not products:
        examples = "; ".join(reasons[:3]) or "the selection is empty"
        msg = (f"{description}: no calibrated fine-guide (FGS_FINEGUIDE) product among "
               f"{len(paths)} FITS file(s) ({examples})")
        raise EmptySelectionError(msg)
    return products


def _load_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read association: {exc}"
        raise GuideStarInputError(msg) from exc


def _collect_association(asn, directory, description):
    try:
        members = [m for product in asn["products"] for m in product["members"]]
        names = [m["expname"] for m in members]
    except (KeyError, TypeError) as exc:
        msg = f"{description}: not an association (needs products[].members[].expname)"
        raise GuideStarInputError(msg) from exc
    if not names:
        msg = f"{description}: association has no members"
        raise EmptySelectionError(msg)
    return [_product_from_path(Path(directory) / name) for name in names]


def _describe(inputs):
    if isinstance(inputs, (list, tuple)):
        return f"{len(inputs)} input(s)"
    return repr(os.fspath(inputs)) if isinstance(inputs, (str, os.PathLike)) else "the input"


def _product_from_path(path):
    """Read a product's headers; raise if it is not usable fine-guide data."""
    _check_file_name(path)
    if path.suffix.lower() == ".asdf":
        raise _spelunker_product_error(path)
    with _open_fits(path) as hdul:
        try:
            if str(hdul[0].header.get("DATAMODL", "")).strip() == "GuideStarModel":
                raise _spelunker_product_error(path)
            for extname in ("SCI", "ERR", "DQ"):
                _check_image_hdu(path.name, hdul, extname)
            header = _header_from_fits(path, hdul)
            problem = _product_problem(path.name, header, sci_shape=_hdu_shape(hdul, "SCI"),
                                       sci_kind=_hdu_kind(hdul, "SCI"))
        except fits.VerifyError as exc:
            msg = f"{path}: FITS header is damaged ({exc})"
            raise CorruptFileError(msg) from exc
    if problem is not None:
        raise problem
    return _Product(name=path.name, source=path, header=header)


def _spelunker_product_error(path):
    msg = (f"{path}: this is a spelunker product (a saved GuideStarModel or an ASDF file), "
           "not a guider product: open it with spelunker.io.open_guidestar(path) or "
           "spelunker.GuideStarModel(path) (spelunker.load and the steps accept it too)")
    return WrongProductError(msg)


def _check_file_name(path):
    """Refuse file names the ``files`` table cannot hold (ASCII, its column width)."""
    name = path.name
    if not name.isascii():
        msg = (f"{path}: the file name is not ASCII; FITS tables (the files table of the "
               f"model) hold ASCII names only: rename the file (its folder may be non-ASCII)")
        raise GuideStarInputError(msg)
    width = _file_name_width()
    if len(name) > width:
        msg = (f"{path}: the file name has {len(name)} characters, the files table holds "
               f"{width}; rename the file (MAST names have about 45)")
        raise GuideStarInputError(msg)


@functools.lru_cache(maxsize=1)
def _file_name_width():
    """Width of the ``file_name`` column of the files table (the schema's)."""
    return GuideStarModel().table_dtype("files")["file_name"].itemsize


def _check_image_hdu(name, hdul, extname):
    """Refuse a SCI, ERR or DQ extension that is not an image (e.g. a table)."""
    if extname in hdul and not isinstance(hdul[extname], (fits.ImageHDU, fits.PrimaryHDU,
                                                          fits.CompImageHDU)):
        msg = (f"{name}: the {extname} extension is a {type(hdul[extname]).__name__}, not an "
               "image; a fine-guide product holds (n_frames, 8, 8) images")
        raise WrongProductError(msg)


def _product_from_model(model):
    name = Path(model.meta.filename or "<GuiderCalModel>").name
    header = {}
    for attribute, keyword, meta_path, _required in _HEADER_FIELDS:
        value = model.meta
        for part in meta_path.split("."):
            value = getattr(value, part, None)
            if value is None:
                break
        header[attribute] = value
    _check_file_name(Path(name))
    _check_required(name, header)
    sci = np.asarray(model.data) if model.data is not None else None
    problem = _product_problem(
        name, header, sci_shape=None if sci is None else sci.shape,
        sci_kind=None if sci is None else sci.dtype.kind,
    )
    if problem is not None:
        raise problem
    header["frames"] = sci.shape[0]
    return _Product(name=name, source=model, header=header)


def open_complete_fits(path):
    """Open a FITS file that must be whole: readable headers, every HDU's data inside it.

    The reader's own integrity check, for other modules that must know a
    file is complete before using it (e.g. a cached download).  Only the
    headers are read.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    astropy.io.fits.HDUList
        The open file; close it (use it in a ``with`` block).

    Raises
    ------
    spelunker.errors.CorruptFileError
        The file is not FITS, is truncated (also at an HDU boundary inside
        an HDU's data) or is damaged.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from spelunker.io import open_complete_fits
    >>> path = Path(tempfile.mkdtemp()) / "small.fits"
    >>> fits.PrimaryHDU([[1, 2], [3, 4]]).writeto(path)
    >>> with open_complete_fits(path) as hdul:
    ...     print(hdul[0].data.shape)
    (2, 2)
    >>> _ = path.write_bytes(path.read_bytes()[:2900])
    >>> open_complete_fits(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.CorruptFileError: ...
    """
    return _open_fits(Path(path))


def _open_fits(path, *, check_complete=True):
    """Open a FITS file, turning every kind of damage into `CorruptFileError`.

    With ``check_complete`` every HDU header is read and the file must hold
    all the data they announce; without it HDUs are read on access (for the
    second pass over a file already checked).
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(path, memmap=False, lazy_load_hdus=not check_complete)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        msg = f"{path}: not a readable FITS file ({exc})"
        raise CorruptFileError(msg) from exc
    for warning in caught:
        text = str(warning.message)
        if "truncated" in text.lower() or "corrupt" in text.lower():
            hdul.close()
            msg = f"{path}: FITS file is truncated or damaged ({text})"
            raise CorruptFileError(msg)
    if not check_complete:
        return hdul
    size = path.stat().st_size
    for index, hdu in enumerate(hdul):
        # The HDU's own fileinfo: HDUList.fileinfo also re-serialises every
        # header to look for resized HDUs (half the time of a header pass).
        info = hdu.fileinfo()
        if info is not None and info["datLoc"] + info["datSpan"] > size:
            hdul.close()
            msg = (f"{path}: FITS file is truncated: HDU {index} needs "
                   f"{info['datLoc'] + info['datSpan']} bytes, the file has {size}")
            raise CorruptFileError(msg)
    return hdul


def _header_from_fits(path, hdul):
    primary = hdul[0].header
    header = {attribute: primary.get(keyword) for attribute, keyword, _, _ in _HEADER_FIELDS}
    _check_required(path.name, header)
    return header


def _check_required(name, header):
    for attribute, keyword, _, required in _HEADER_FIELDS:
        if required and (header.get(attribute) is None or header.get(attribute) == ""):
            msg = f"{name}: header keyword {keyword} is missing"
            raise MissingKeywordError(msg)
    for key, keyword in (("data_start", "DATASTRT"), ("data_end", "DATAEND")):
        try:
            header[key] = float(header[key])
        except (TypeError, ValueError) as exc:
            msg = f"{name}: header keyword {keyword} = {header[key]!r} is not a number (MJD)"
            raise MissingKeywordError(msg) from exc
        if not np.isfinite(header[key]):
            msg = f"{name}: header keyword {keyword} = {header[key]!r} is not finite"
            raise MissingKeywordError(msg)
        low, high = MJD_RANGE
        if not low <= header[key] <= high:
            msg = (f"{name}: header keyword {keyword} = {header[key]!r} is not an MJD of "
                   f"the JWST era ({low:g} to {high:g})")
            raise MissingKeywordError(msg)
    if header["data_end"] <= header["data_start"]:
        msg = (f"{name}: DATAEND ({header['data_end']}) is not after DATASTRT "
               f"({header['data_start']})")
        raise MissingKeywordError(msg)


def _hdu_shape(hdul, name):
    return hdul[name].shape if name in hdul else None


def _hdu_kind(hdul, name):
    if name not in hdul or hdul[name].header.get("BITPIX") is None:
        return None
    return "f" if hdul[name].header["BITPIX"] < 0 else "i"


def _product_problem(name, header, *, sci_shape, sci_kind):
    """Return the error that makes a product unusable, or None."""
    exp_type = str(header["exp_type"]).strip().upper()
    if exp_type != FINE_GUIDE_EXP_TYPE:
        msg = (f"{name}: EXP_TYPE is {exp_type}, not {FINE_GUIDE_EXP_TYPE}; spelunker reads "
               "fine-guide products (gs-fg) only")
        return WrongProductError(msg)
    uncalibrated = (
        str(header.get("model_type") or "") == "GuiderRawModel"
        or name.endswith("_uncal.fits")
        or (sci_shape is not None and len(sci_shape) == 4)
    )
    if uncalibrated:
        msg = (f"{name}: uncalibrated (level 1b) guider product; calibrate it first with "
               f"`strun calwebb_guider {name}` and read the _cal.fits product")
        return WrongProductError(msg)
    if sci_shape is None or len(sci_shape) != 3 or tuple(sci_shape[1:]) != FRAME_SHAPE:
        msg = (f"{name}: SCI has shape {sci_shape}; a fine-guide product has "
               f"(n_frames, {FRAME_SHAPE[0]}, {FRAME_SHAPE[1]})")
        return WrongProductError(msg)
    if sci_shape[0] == 0:
        msg = f"{name}: SCI holds no frames"
        return WrongProductError(msg)
    if sci_kind is not None and sci_kind != "f":
        msg = f"{name}: SCI is integer data, not a calibrated count rate (DN/s)"
        return WrongProductError(msg)
    header["frames"] = sci_shape[0]
    if header.get("nints") not in (None, sci_shape[0]):
        log.warning("%s: NINTS=%s but SCI holds %d frames; using the %d frames present",
                    name, header["nints"], sci_shape[0], sci_shape[0])
    return None


def _deduplicate(products):
    """Keep one copy of each file name; refuse two different files of one name."""
    kept = {}
    for product in products:
        previous = kept.get(product.name)
        if previous is None:
            kept[product.name] = product
            continue
        same = (previous.header["data_start"] == product.header["data_start"]
                and previous.header["frames"] == product.header["frames"])
        if not same:
            msg = (f"{product.name}: two different files carry this name "
                   f"({previous.source} and {product.source})")
            raise InconsistentVisitError(msg)
        log.info("%s: duplicate copy %s ignored", product.name, product.source)
    return list(kept.values())


def _check_overlaps(products):
    for before, after in zip(products[:-1], products[1:]):
        frame = (before.header["data_end"] - before.header["data_start"]) / before.header["frames"]
        if after.header["data_start"] < before.header["data_end"] - 0.5 * frame:
            msg = (f"{after.name}: overlaps {before.name} (starts at MJD "
                   f"{after.header['data_start']:.8f}, before {before.name} ends at MJD "
                   f"{before.header['data_end']:.8f}); overlapping segments cannot be stitched")
            raise InconsistentVisitError(msg)


def _interval_key(header):
    return (str(header.get("gs_id")), header.get("program"), header.get("observation"),
            header.get("visit"))


def _check_detectors(products):
    """One guide-star interval (consecutive files of one star and visit) uses one guider."""
    for before, after in zip(products[:-1], products[1:]):
        if _interval_key(before.header) != _interval_key(after.header):
            continue
        if before.header.get("detector") != after.header.get("detector"):
            msg = (f"{after.name}: detector {after.header.get('detector')} differs from "
                   f"{before.header.get('detector')} of {before.name} within one guide-star "
                   f"interval (star {before.header.get('gs_id')})")
            raise InconsistentVisitError(msg)


# --------------------------------------------------------------------------
# Loading arrays and building the model


def _load_arrays(product):
    """Load SCI, ERR, DQ and the two tables of one product into ``product``."""
    if isinstance(product.source, JwstDataModel):
        model = product.source
        product.sci = np.asarray(model.data)
        product.err = None if model.err is None else np.asarray(model.err)
        product.dq = None if model.dq is None else np.asarray(model.dq)
        product.tables = {"pointing_table": _plain_table(getattr(model, "pointing_table", None)),
                          "centroid_table": _plain_table(getattr(model, "centroid_table", None))}
    else:
        path = product.source
        with _open_fits(path, check_complete=False) as hdul:
            try:
                product.sci = np.asarray(hdul["SCI"].data)
                product.err = np.asarray(hdul["ERR"].data) if "ERR" in hdul else None
                product.dq = np.asarray(hdul["DQ"].data) if "DQ" in hdul else None
                product.tables = {
                    "pointing_table": _fits_table(hdul, "POINTING"),
                    "centroid_table": _fits_table(hdul, "FGS CENTROID PACKET"),
                }
            except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                    fits.VerifyError) as exc:
                # astropy's kinds for damaged extensions (a table header it cannot
                # parse gives a KeyError, an unrecognised extension no ``data``).
                msg = f"{path}: data cannot be read ({type(exc).__name__}: {exc})"
                raise CorruptFileError(msg) from exc
    name = product.name
    if product.sci.shape[0] != product.header["frames"]:
        msg = f"{name}: SCI changed shape while reading ({product.sci.shape})"
        raise CorruptFileError(msg)
    if product.err is None or product.err.size == 0:
        msg = f"{name}: has no ERR array; a calibrated fine-guide product carries one"
        raise WrongProductError(msg)
    if product.err.shape != product.sci.shape:
        msg = f"{name}: ERR shape {product.err.shape} differs from SCI shape {product.sci.shape}"
        raise WrongProductError(msg)
    if product.dq is not None and product.dq.size == 0:
        product.dq = None
    if product.dq is not None:
        product.dq = _dq_bits(name, product.dq)
    if product.dq is not None and product.dq.shape not in (FRAME_SHAPE, product.sci.shape):
        msg = f"{name}: DQ shape {product.dq.shape} fits neither a frame nor SCI"
        raise WrongProductError(msg)


def _dq_bits(name, dq):
    """DQ as uint32 bit flags; refuse values that are not flags.

    Integer arrays are taken as they are (a negative int32 is the flag word
    with bit 31 set).  Floating-point arrays are accepted when every value
    is a whole number in ``0 .. 2**32 - 1``; a fraction, a NaN or a
    negative value has no meaning as flags, so the file is refused rather
    than cast (NaN and -1 would become 'every flag set').
    """
    kind = dq.dtype.kind
    if kind in "ui" or kind == "b":
        return dq.astype(np.uint32)
    if kind == "f":
        values = dq.astype(np.float64)
        bad = ~np.isfinite(values) | (values < 0) | (values > 0xFFFFFFFF) | (
            np.mod(np.where(np.isfinite(values), values, 0.0), 1.0) != 0)
        if bad.any():
            examples = ", ".join(repr(float(v)) for v in np.unique(values[bad])[:3])
            msg = (f"{name}: DQ is a floating-point array with {int(bad.sum())} value(s) that "
                   f"are not bit flags (whole numbers 0 to 2**32-1), e.g. {examples}; "
                   "the DQ extension is damaged")
            raise CorruptFileError(msg)
        return values.astype(np.uint32)
    msg = f"{name}: DQ has data type {dq.dtype}, not integer bit flags"
    raise CorruptFileError(msg)


def _fits_table(hdul, extname):
    if extname not in hdul or hdul[extname].data is None:
        return None
    return _plain_table(hdul[extname].data)


def _plain_table(table):
    """A plain structured array of ``table``, with string columns left as bytes.

    Going through the raw storage avoids astropy decoding every string of a
    FITS table (seconds for a long visit); scaled columns (TZERO/TSCAL, e.g.
    unsigned integers) are taken through astropy so their values are right.
    """
    if table is None or not isinstance(table, fits.FITS_rec):
        return table
    raw = table.view(np.ndarray)
    scaled = [c.name for c in table.columns if c.bzero not in (None, 0) or c.bscale not in (None, 1)]
    if not scaled:
        return raw
    out = np.empty(len(raw), dtype=[(n, raw.dtype[n] if n not in scaled else table.field(n).dtype)
                                    for n in raw.dtype.names])
    for name in raw.dtype.names:
        out[name] = table.field(name) if name in scaled else raw[name]
    return out


def _centroid_times(product):
    """The centroid packet's ``centroid_time`` as MJD (UTC) when it has one per frame."""
    table = product.tables.get("centroid_table")
    if table is None or len(table) != product.n_frames:
        return None
    names = {n.lower(): n for n in table.dtype.names}
    if "centroid_time" not in names:
        return None
    mjd = iso_to_mjd(table[names["centroid_time"]])
    if not np.all(np.isfinite(mjd)):
        log.warning("%s: centroid_time values are not ISO times; ignoring them", product.name)
        return None
    return mjd


def iso_to_mjd(values):
    """MJD (float64, same scale) of ISO time strings such as ``2022-05-22 18:12:17.320``.

    Parameters
    ----------
    values : array_like of str or bytes
        ISO 8601 date-times (space or ``T`` between date and time).

    Returns
    -------
    numpy.ndarray
        float64 MJD; NaN for values that are not ISO times.

    Examples
    --------
    >>> from spelunker.io import iso_to_mjd
    >>> iso_to_mjd(["1858-11-18 00:00:00.000", "not a time"]).tolist()
    [1.0, nan]
    """
    values = np.asarray(values)
    if values.dtype.kind not in "SU":
        values = values.astype(str)
    # numpy parses bytes directly: decoding a million FITS strings first
    # would cost more than the parsing itself.
    values = np.char.strip(values)
    epoch = np.datetime64("1858-11-17T00:00:00", "us")
    try:
        return (values.astype("datetime64[us]") - epoch) / np.timedelta64(86400, "s")
    except ValueError:
        out = np.full(values.shape, np.nan)
        for index, value in enumerate(values.ravel()):
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            try:
                out.flat[index] = (np.datetime64(text, "us") - epoch) / np.timedelta64(86400, "s")
            except ValueError:
                pass
        return out


def _flag_values(values):
    """``TRUE``/``FALSE`` strings of the centroid packet as 1/0 (255 for anything else)."""
    values = np.asarray(values)
    if values.dtype.kind not in "SU":
        values = values.astype(str)
    words = np.char.upper(np.char.strip(values))  # bytes stay bytes: no decoding
    true, false = ("TRUE", "FALSE") if words.dtype.kind == "U" else (b"TRUE", b"FALSE")
    return np.where(words == true, 1, np.where(words == false, 0, 255)).astype(np.uint8)


def _stack_tables(model, name, pieces):
    """Concatenate per-file tables into the schema's dtype, adding ``file_index``.

    Time strings become ``<column>_mjd`` floats and TRUE/FALSE flags 1/0, so
    that a million-row table saves without encoding millions of strings.
    """
    dtype = model.table_dtype(name)
    total = sum(len(table) for _, table in pieces)
    out = np.zeros(total, dtype=dtype)
    start = 0
    for file_index, table in pieces:
        stop = start + len(table)
        names = {n.lower(): n for n in table.dtype.names}
        for column in dtype.names:
            kind = out.dtype[column].kind
            source = column.lower()
            if column == "file_index":
                out[column][start:stop] = file_index
            elif source.endswith("_mjd") and source[:-4] in names:
                out[column][start:stop] = iso_to_mjd(table[names[source[:-4]]])
            elif source in names:
                values = np.asarray(table[names[source]])
                if kind == "u" and values.dtype.kind in "SU":
                    values = _flag_values(values)
                elif values.dtype.kind == "U":
                    values = np.char.encode(values, "ascii")
                out[column][start:stop] = values
            elif kind == "f":
                out[column][start:stop] = np.nan
            elif kind == "u" and out.dtype[column].itemsize == 1:
                out[column][start:stop] = 255
        start = stop
    return out


def _fill_tables(model, products, mid_times, time_sources, tables):
    gs_ids = []
    for product in products:
        gs_id = str(product.header.get("gs_id") or "UNKNOWN").strip()
        product.header["gs_id"] = gs_id
        if gs_id not in gs_ids:
            gs_ids.append(gs_id)

    files = np.zeros(len(products), dtype=model.table_dtype("files"))
    frames = np.zeros(len(mid_times), dtype=model.table_dtype("frames"))
    frames["mid_time_mjd"] = mid_times
    first = 0
    for index, (product, source) in enumerate(zip(products, time_sources)):
        h = product.header
        n = h["frames"]
        files[index] = (
            product.name, _as_int(h.get("program")), _as_int(h.get("observation")),
            _as_int(h.get("visit")), str(h.get("obs_id") or "").strip(),
            _as_int(h.get("segment")), str(h.get("detector") or ""),
            h["gs_id"], str(h["exp_type"]), h["data_start"], h["data_end"], n, first, source,
        )
        frames["file_index"][first:first + n] = index
        frames["guidestar_index"][first:first + n] = gs_ids.index(h["gs_id"])
        frames["frame_in_file"][first:first + n] = np.arange(n)
        first += n

    guidestars = np.zeros(len(gs_ids), dtype=model.table_dtype("guidestars"))
    for index, gs_id in enumerate(gs_ids):
        mine = [p for p in products if p.header["gs_id"] == gs_id]
        h = mine[0].header
        guidestars[index] = (
            gs_id, _as_float(h.get("gs_ra")), _as_float(h.get("gs_dec")),
            _as_float(h.get("gs_mag")), _as_int(h.get("gs_order")),
            str(h.get("detector") or ""), min(p.header["data_start"] for p in mine),
            max(p.header["data_end"] for p in mine), len(mine),
            sum(p.header["frames"] for p in mine),
        )
    model.frames = frames
    model.files = files
    model.guidestars = guidestars
    for name, pieces in tables.items():
        if pieces:
            setattr(model, name, _stack_tables(model, name, pieces))


def _fill_meta(model, products, time_sources):
    first = products[0].header
    model.meta.telescope = "JWST"
    model.meta.instrument.name = "FGS"
    detectors = {p.header.get("detector") for p in products}
    if len(detectors) == 1 and first.get("detector"):
        model.meta.instrument.detector = first["detector"]
    model.meta.exposure.type = FINE_GUIDE_EXP_TYPE
    programs = {p.header.get("program") for p in products}
    if len(programs) == 1 and first.get("program"):
        model.meta.observation.program_number = str(first["program"])
    model.meta.filename = _stitched_name(products)
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    model.meta.spelunker.version = __version__
    model.meta.spelunker.time_scale = "utc"
    sources = set(time_sources)
    model.meta.spelunker.time_source = sources.pop() if len(sources) == 1 else "mixed"
    model.meta.spelunker.n_files = len(products)
    model.meta.spelunker.n_guidestars = len({p.header["gs_id"] for p in products})


def _stitched_name(products):
    """Name of the stitched product: the first file's, without ``-segNNN`` if several."""
    name = products[0].name
    return strip_segment(name) if len(products) > 1 else name


def _as_int(value):
    """An int32 table value of a header field; -1 (unknown) for anything else."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return -1
    return number if -2**31 <= number < 2**31 else -1


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _no_bar(progress):
    return None if progress is None else not progress
