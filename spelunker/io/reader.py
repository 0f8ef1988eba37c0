"""Read guider products (or a saved model) into `~spelunker.GuideStarModel`: stitched or per visit.

`read_guidestar` stitches the products of an input into one time-ordered
model; `open_visits` and `read_visits` give one per visit; `open_guidestar`
opens anything a spelunker step accepts (a model, a saved product, guider
products).  The products are found and checked by `spelunker.io.products`
and their frames timed by `spelunker.io.frame_times` first.
"""

import contextlib
import ctypes
import functools
import logging
import os
import sys
from pathlib import Path

import asdf
import numpy as np
from astropy.io import fits
from astropy.time import Time
from stdatamodels.jwst.datamodels import dqflags

from spelunker._version import __version__
from spelunker.datamodels import GuideStarModel
from spelunker.errors import (
    CorruptFileError,
    GuideStarInputError,
    ParameterError,
    WrongProductError,
)
from spelunker.instrument import FRAME_SHAPE
from spelunker.io.frame_times import _centroid_times, frame_mid_times, iso_to_mjd
from spelunker.io.products import (
    FINE_GUIDE_EXP_TYPE,
    _checked_products,
    _describe,
    _load_arrays,
)
from spelunker.names import id_number_or_none, parse_selection, strip_segment

try:  # numpy's switch of its huge-page advice for new arrays (numpy 2)
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:
    _set_madvise_hugepage = None

__all__ = ["read_guidestar", "read_visits", "open_visits", "VisitInput", "open_guidestar"]

log = logging.getLogger(__name__)

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]


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
    >>> specs = [datasets.VisitSpec(visit=number, n_frames=150, n_segments=1) for number in (1, 2)]
    >>> files = datasets.make_guidestar_files(tempfile.mkdtemp(), visits=specs, seed=1).files
    >>> [model.visits() for model in read_visits(files)]
    [[(1534, 1, 1)], [(1534, 1, 2)]]
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
        frame_visits = model.frame_visits()  # the model's own grouping of frames by visit
        file_index = np.asarray(model.frames["file_index"])
        for position, key in enumerate(keys):
            in_visit = frame_visits == position
            mine = [names[row] for row in np.unique(file_index[in_visit])]
            visits.append(VisitInput(key, mine, int(np.count_nonzero(in_visit)),
                                     lambda progress, key=key: model.select_visit(
                                         *key, keep_results=True)))
        return visits
    products = _checked_products(inputs)
    return [VisitInput(key, [p.name for p in group], sum(p.header["frames"] for p in group),
                       lambda progress, group=group: _read_products(group, progress=progress))
            for key, group in _visit_groups(products)]


def _product_visit(product):
    """(program, observation, visit) of a product's header; -1 for a number it lacks."""
    return tuple(_header_id(product.header, kind) for kind in ("program", "observation", "visit"))


def _header_id(header, kind):
    """The header's program, observation or visit number (`id_number_or_none`), else -1."""
    number = id_number_or_none(header.get(kind), kind)
    return -1 if number is None else number


def _visit_groups(products):
    """``[(key, products)]`` by visit, in time order of each visit's first product."""
    groups = {}
    for product in products:
        groups.setdefault(_product_visit(product), []).append(product)
    return list(groups.items())


def _visit_key(visit):
    """The ``visit`` argument as (program, observation, visit) (`parse_selection`)."""
    try:
        return parse_selection(visit.tolist() if isinstance(visit, np.ndarray) else visit, 3,
                               name="visit")
    except ParameterError as exc:
        msg = (f"visit={visit!r} must be (program, observation, visit), e.g. (1534, 1, 1) "
               f"({exc})")
        raise ParameterError(msg) from None


def _read_products(products, *, progress=None):
    """Read and stitch checked ``products`` (time ordered) into a new model."""
    n_total = sum(p.header["frames"] for p in products)
    with _ordinary_pages():
        data = np.empty((n_total, *FRAME_SHAPE), dtype=np.float32)
        err = np.empty((n_total, *FRAME_SHAPE), dtype=np.float32)
        _populate(data)
        _populate(err)
        # Zero pages cost no memory until a file or a bad pixel writes to them.
        dq = np.zeros((n_total, *FRAME_SHAPE), dtype=np.uint32)
        mid_times = np.empty(n_total, dtype=np.float64)
    time_sources = []
    tables = {"pointing_table": [], "centroid_table": []}

    start = 0
    # heavy: tqdm.auto loads asyncio (~12 ms together), which a command's --help need not pay
    from tqdm.auto import tqdm

    bar = tqdm(products, desc="reading guider products", unit="file", disable=_no_bar(progress))
    for index, product in enumerate(bar):
        stop = start + product.header["frames"]
        # Read straight into the stitched arrays when the file allows it.
        places = {"SCI": data[start:stop], "ERR": err[start:stop]}
        _load_arrays(product, out=places)
        if product.sci is not places["SCI"]:
            data[start:stop] = product.sci
        if product.err is not places["ERR"]:
            err[start:stop] = product.err
        if product.dq is not None and np.any(product.dq):
            dq[start:stop] |= product.dq.astype(np.uint32)
        bad = ~np.isfinite(data[start:stop])  # the native copy: FITS data are big-endian
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
        with _ordinary_pages():  # the frames and centroid tables: 100 MB for 1,000,000 frames
            _fill_tables(model, products, mid_times, time_sources, tables)
    _fill_meta(model, products, time_sources)
    first_last = Time(mid_times[[0, -1]], format="mjd", scale="utc").isot
    log.info("read %d frames from %d file(s) of %d guide star(s), %s to %s (UTC)",
             n_total, len(products), len(model.guidestars), first_last[0], first_last[1])
    return model


@contextlib.contextmanager
def _ordinary_pages():
    """Allocate inside the block without numpy's huge-page advice (``MADV_HUGEPAGE``).

    With the advice, Linux compacts memory to find 2 MB pages when the
    stitched arrays and tables are first written (transparent huge pages
    with ``defrag=madvise``, the usual setting): on a machine whose memory is
    fragmented that stalls the read in the kernel, 0.8-1.4 s of system time
    for the 768 MB of a 1,000,000-frame visit against 0.45 s with ordinary
    pages (issue 23; ``benchmarks/bench_read.py``); the 64 MB of the
    stitched centroid table stall 0.1-0.15 s where ordinary pages take
    0.02 s longer than free huge pages would.  The kernel may still
    use huge pages it has free.  numpy's setting is restored on exit.
    """
    if _set_madvise_hugepage is None:  # a numpy without the switch: nothing to change
        yield
        return
    previous = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(previous)


#: Linux's ``MADV_POPULATE_WRITE`` (5.14 and later): map an area's pages in one call.
_MADV_POPULATE_WRITE = 23


def _populate(array):
    """Map the pages of a new array that is about to be written whole, in one system call.

    Otherwise the kernel maps each 4 kB page when it is first written, one
    page fault each: for the 512 MB of SCI and ERR of a 1,000,000-frame
    visit that costs about 0.05 s more.  Only on Linux, for arrays of 64 MB
    and more; where the call is not available (an older kernel) or fails
    (no memory to map now) the pages are mapped on first write as before.
    """
    if not sys.platform.startswith("linux") or array.nbytes < 64 * 2**20:
        return
    try:
        madvise = _libc().madvise
    except (OSError, AttributeError):  # no C library to call: pages mapped on first write
        return
    start = array.ctypes.data & ~4095  # madvise takes whole pages
    madvise(start, array.nbytes + array.ctypes.data - start, _MADV_POPULATE_WRITE)


@functools.lru_cache(maxsize=1)
def _libc():
    """The process's C library (`ctypes`), its ``madvise`` typed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise.restype = ctypes.c_int
    return libc


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
        msg = (f"{path}: saved GuideStarModel has no frames table or one inconsistent with its "
               "frames")
        raise CorruptFileError(msg)
    if data is None:
        log.info("%s: a product without frames (results and tables only); the frames are in "
                 "the files of its files table", path.name)
    return model


# --------------------------------------------------------------------------
# Building the model


def _flag_values(values):
    """``TRUE``/``FALSE`` strings of the centroid packet as 1/0 (255 for anything else)."""
    values = np.asarray(values)
    if values.dtype.kind not in "SU":
        values = values.astype(str)
    true, false = ("TRUE", "FALSE") if values.dtype.kind == "U" else (b"TRUE", b"FALSE")
    # The words as written (nearly all of them) compared as they are; only
    # the others are stripped and upper-cased (string functions cost ~3 us
    # per thousand values).
    is_true = values == true
    is_false = values == false
    flags = np.where(is_true, 1, np.where(is_false, 0, 255)).astype(np.uint8)
    rest = ~(is_true | is_false)
    if rest.any():
        words = np.char.upper(np.char.strip(values[rest]))  # bytes stay bytes: no decoding
        flags[rest] = np.where(words == true, 1, np.where(words == false, 0, 255))
    return flags


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
            product.name, *_product_visit(product), str(h.get("obs_id") or "").strip(),
            _as_int(h.get("segment")), str(h.get("detector") or ""),
            h["gs_id"], str(h["exp_type"]), h["data_start"], h["data_end"], n, first, source,
            _window_start(h.get("xstart")), _window_start(h.get("ystart")),
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
            sum(p.header["frames"] for p in mine), _as_float(h.get("gs_v3_pa")),
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


def _window_start(value):
    """The window's 1-based science-frame start (SUBSTRT1/2); 0 when absent or not >= 1."""
    number = _as_int(value)
    return number if number >= 1 else 0


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _no_bar(progress):
    """tqdm's ``disable`` for a ``progress`` option (None: on an interactive terminal only)."""
    if progress is None:
        return None
    if not isinstance(progress, (bool, np.bool_, int, np.integer)):
        msg = f"progress={progress!r:.60} must be True, False or None"
        raise ParameterError(msg)
    return not progress
