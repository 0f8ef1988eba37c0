"""The guider products of an input, each found and checked (headers, arrays, integrity).

Every input check of the reader lives here: a file that cannot be used
raises a `~spelunker.errors.GuideStarInputError` subclass naming the file
and the problem (`~spelunker.errors.WrongProductError`,
`~spelunker.errors.CorruptFileError`, `~spelunker.errors.MissingKeywordError`,
`~spelunker.errors.EmptySelectionError`,
`~spelunker.errors.InconsistentVisitError`), from the headers of every
product before any array is read.  `spelunker.io.reader` stitches the
products checked here.  Their arrays and tables are then read straight from
the files with the layout the header pass noted (`_load_raw`; astropy reads
anything unusual).
"""

import functools
import glob
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from stdatamodels.jwst.datamodels import JwstDataModel

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
from spelunker.instrument import FRAME_SHAPE
from spelunker.names import is_fine_guide_cal

__all__ = ["expand_glob", "open_complete_fits", "FINE_GUIDE_EXP_TYPE", "MJD_RANGE"]

log = logging.getLogger(__name__)

#: EXP_TYPE of the products spelunker reads.
FINE_GUIDE_EXP_TYPE = "FGS_FINEGUIDE"

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
    ("gs_v3_pa", "GS_V3_PA", "guidestar.gs_v3_pa_science", False),
    ("data_start", "DATASTRT", "guidestar.data_start", True),
    ("data_end", "DATAEND", "guidestar.data_end", True),
    ("xstart", "SUBSTRT1", "subarray.xstart", False),
    ("ystart", "SUBSTRT2", "subarray.ystart", False),
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
    #: EXTNAME -> (header, byte offset of the data) of the HDUs the arrays
    #: come from, noted by the header pass so that they are read without
    #: parsing the headers again (`_load_raw`).
    layout: dict = field(default_factory=dict)

    @property
    def n_frames(self):
        return self.sci.shape[0]


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


def _describe(inputs):
    """A few words naming ``inputs`` in a message."""
    if isinstance(inputs, (list, tuple)):
        return f"{len(inputs)} input(s)"
    return repr(os.fspath(inputs)) if isinstance(inputs, (str, os.PathLike)) else "the input"


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
    text = os.path.expanduser(os.fspath(_path_argument(pattern, "pattern")))
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
            layout = _layout(hdul)
        except fits.VerifyError as exc:
            msg = f"{path}: FITS header is damaged ({exc})"
            raise CorruptFileError(msg) from exc
    if problem is not None:
        raise problem
    return _Product(name=path.name, source=path, header=header, layout=layout)


def _layout(hdul):
    """EXTNAME -> (header, data offset, header offset) of the HDUs `_load_raw` reads, or {}."""
    try:
        return {hdu.name: (hdu.header, info["datLoc"], info["hdrLoc"]) for hdu in hdul
                if hdu.name in _RAW_HDUS for info in (hdu.fileinfo(),)}
    except (fits.VerifyError, KeyError, TypeError, ValueError, OSError):
        return {}  # a damaged header: the arrays are read through astropy, which says what


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
    for attribute, _keyword, meta_path, _required in _HEADER_FIELDS:
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


# --------------------------------------------------------------------------
# Headers and integrity


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
    return _open_fits(Path(_path_argument(path, "path")))


def _path_argument(value, name):
    """``value`` if it is a path (str or os.PathLike), else a ParameterError naming ``name``."""
    if isinstance(value, (str, os.PathLike)):
        return value
    msg = f"{name}={value!r:.60} must be a path (str or os.PathLike)"
    raise ParameterError(msg)


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
# Loading arrays


def _load_arrays(product, *, out=None):
    """Load SCI, ERR, DQ and the two tables of one product into ``product``.

    ``out`` may give float32 arrays of the product's shape for ``"SCI"``
    and ``"ERR"`` (the places they go in a stitched model): a file read
    without astropy fills them directly (``product.sci`` is then that
    array), else they are left alone.
    """
    if isinstance(product.source, JwstDataModel):
        model = product.source
        product.sci = np.asarray(model.data)
        product.err = None if model.err is None else np.asarray(model.err)
        product.dq = None if model.dq is None else np.asarray(model.dq)
        product.tables = {"pointing_table": _plain_table(getattr(model, "pointing_table", None)),
                          "centroid_table": _plain_table(getattr(model, "centroid_table", None))}
    elif not _load_raw(product, out or {}):
        path = product.source
        with _open_fits(path, check_complete=False) as hdul:
            try:
                product.sci = np.asarray(hdul["SCI"].data)
                product.err = np.asarray(hdul["ERR"].data) if "ERR" in hdul else None
                product.dq = np.asarray(hdul["DQ"].data) if "DQ" in hdul else None
                product.tables = {
                    "pointing_table": _fits_table(hdul, "POINTING", path),
                    "centroid_table": _fits_table(hdul, "FGS CENTROID PACKET", path),
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


#: HDUs a product's arrays and tables are read from: image extensions, then tables.
_RAW_IMAGES = {"SCI": "sci", "ERR": "err", "DQ": "dq"}
_RAW_TABLES = {"POINTING": "pointing_table", "FGS CENTROID PACKET": "centroid_table"}
_RAW_HDUS = {*_RAW_IMAGES, *_RAW_TABLES}

#: numpy types of FITS image BITPIX values an image is read raw with.
_BITPIX_TYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _load_raw(product, out):
    """Read a product's arrays and tables straight from its file, with the noted layout.

    Returns False (nothing loaded) when some HDU needs astropy: images
    without data or scaled (other than unsigned 32-bit DQ), tables of other
    column kinds or without rows, or a layout the header pass did not note;
    the caller then reads the file with astropy as before.  A file shorter
    than its headers announce is a `CorruptFileError`.
    """
    path, layout = product.source, product.layout
    if "SCI" not in layout:
        return False
    plans = _raw_plans(path, layout)
    if plans is None:
        return False
    arrays = {}
    for extname, (kind, shape, unsigned) in plans.items():
        offset = layout[extname][1]
        count = int(np.prod(shape))
        target = out.get(extname)
        if (target is not None and kind == np.dtype(">f4") and target.dtype == np.float32
                and target.shape == shape and target.flags.c_contiguous):
            arrays[extname] = _read_into(path, offset, target, extname)
            continue
        values = np.fromfile(path, dtype=kind, count=count, offset=offset)
        if values.size != count:
            msg = f"{path}: {extname} is truncated ({values.size} of {count} values)"
            raise CorruptFileError(msg)
        if unsigned:
            values = (values.view(">u4") ^ np.uint32(2**31))  # FITS's unsigned 32-bit ints
        arrays[extname] = values.reshape(shape)
    product.sci = arrays["SCI"]
    product.err = arrays.get("ERR")
    product.dq = arrays.get("DQ")
    product.tables = {table: arrays.get(extname) for extname, table in _RAW_TABLES.items()}
    return True


def _raw_plans(path, layout):
    """EXTNAME -> (dtype, shape, unsigned) of each HDU of ``layout``; None if astropy is needed.

    The dtype comes from the HDU's header (`_raw_image_dtype`,
    `_raw_table_dtype`), whose values astropy parses card by card (0.05 s
    for the 50 files of a visit).  The segments of a visit carry the same
    layout cards but for their lengths, so the dtype is kept by those cards
    (`_header_key`, read again from the file): a layout seen before is not
    parsed again, and every file keeps its own lengths.  A header whose
    lengths are not plain integers is read through astropy as before.
    """
    plans = {}
    with open(path, "rb") as handle:
        for extname, (header, data_offset, *header_offset) in layout.items():
            table = extname in _RAW_TABLES
            key = block = None
            size = data_offset - header_offset[0] if header_offset else 0
            if 0 < size <= _MAX_HEADER_BYTES:
                handle.seek(header_offset[0])
                block = handle.read(size)
                key = _header_key(block, table)
            if key is None:  # lengths not plain integers (or an older layout): astropy's reading
                plan = _header_plan(header, table)
                if plan is None:
                    return None
                plans[extname] = (plan[0], _header_shape(header, table), plan[1])
                continue
            cards, lengths = key
            if cards not in _PLANS:
                if len(_PLANS) >= 64:  # internal cache bound: a few kinds of header per session
                    _PLANS.clear()
                _PLANS[cards] = _header_plan(_parse_header(block), table)
            plan = _PLANS[cards]
            if plan is None:
                return None
            kind, unsigned, n_axes = plan
            shape = (lengths[1],) if table else tuple(reversed(lengths))
            if len(lengths) != n_axes or (table and shape[0] < 1):
                return None  # no rows or lengths astropy reads otherwise: astropy's reading
            plans[extname] = (kind, shape, unsigned)
    return plans


#: Layout cards of a header (`_header_key`) -> (dtype, unsigned, NAXIS) or None (`_raw_plans`).
_PLANS = {}
#: Longer headers than this (1,000 blocks) are not read again: astropy's parse is used.
_MAX_HEADER_BYTES = 2880 * 1000
_LENGTH_CARD = re.compile(rb"NAXIS([1-9][0-9]?) *= *([0-9]{1,18}) *(?:/.*)?")


def _header_key(block, table):
    """(cards, lengths) of a header's bytes: the cards the layout depends on, and NAXIS1..n.

    The cards kept are those the dtype is read from (`_LAYOUT_KEYWORDS`,
    with the CONTINUE cards after them and any HIERARCH card; other cards,
    such as a segment's statistics, are left out); NAXISn are taken out as
    the lengths, but for a table only NAXIS2 (its rows): NAXIS1, the row
    length, is part of the row's type.  None when a length card is not a
    plain integer or the lengths are not NAXIS1..n in order.
    """
    cards, lengths = [], []
    kept = False
    for start in range(0, len(block) - 79, 80):
        card = block[start:start + 80]
        if card.startswith(b"NAXIS") and card[5:6] != b" " and not (table and card[5:6] == b"1"):
            match = _LENGTH_CARD.fullmatch(card.rstrip())
            if match is None or int(match.group(1)) != len(lengths) + 1 + (1 if table else 0):
                return None
            lengths.append(int(match.group(2)))
            continue
        if card.startswith(b"END") and not card[3:].strip():
            break
        kept = (card[:9].upper().lstrip().startswith(_LAYOUT_KEYWORDS)
                or (kept and card.upper().startswith(b"CONTINUE")))
        if kept:
            cards.append(card)
    else:
        return None  # no END card: a header astropy read differently
    if table:
        if len(lengths) != 1:
            return None
        lengths.insert(0, None)  # NAXIS1 is among the cards
    return b"".join(cards), lengths


#: Starts of the cards a raw layout depends on (`_raw_image_dtype`, `_raw_table_dtype`).
_LAYOUT_KEYWORDS = (b"XTENSION", b"BITPIX", b"NAXIS", b"PCOUNT", b"GCOUNT", b"BSCALE", b"BZERO",
                    b"TFIELDS", b"TTYPE", b"TFORM", b"TZERO", b"TSCAL", b"TDIM", b"HIERARCH")


def _header_plan(header, table):
    """(dtype, unsigned, NAXIS) of an HDU read raw, from its astropy header; None: astropy."""
    if header is None:
        return None
    if table:
        kind = _raw_table_dtype(header)
        return None if kind is None else (kind, False, 2)
    kind = _raw_image_dtype(header)
    return None if kind is None else (kind, header.get("BZERO", 0) == 2**31, header["NAXIS"])


def _parse_header(block):
    """astropy's `~astropy.io.fits.Header` of a header's bytes; None if it cannot parse them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged header: the astropy reading says what
            return fits.Header.fromstring(block.decode("ascii"))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            fits.VerifyError):  # astropy's kinds for damaged headers
        return None


def _header_shape(header, table):
    """The data shape an HDU's astropy header gives."""
    if table:
        return (header["NAXIS2"],)
    return tuple(header[f"NAXIS{axis}"] for axis in range(header["NAXIS"], 0, -1))


def _read_into(path, offset, target, extname):
    """Fill the native float32 ``target`` with the big-endian float32 values at ``offset``.

    The file is read a chunk at a time into a small buffer that stays in the
    processor's cache, and each chunk is byte-swapped on its way into
    ``target``: ``target`` is written once instead of being filled and then
    swapped in place (a second pass over 512 MB for a 1,000,000-frame
    visit; about 0.06 s of its read).
    """
    flat = target.reshape(-1)
    buffer = np.empty(_CHUNK_BYTES, dtype=np.uint8)
    step = _CHUNK_BYTES // 4
    done = 0
    with open(path, "rb") as handle:  # buffered: readinto fills the chunk unless at the end
        handle.seek(offset)
        while done < flat.size:
            count = min(step, flat.size - done)
            size = handle.readinto(memoryview(buffer[:4 * count]))
            if size != 4 * count:
                got = 4 * done + (size or 0)
                msg = f"{path}: {extname} is truncated ({got} of {4 * flat.size} bytes)"
                raise CorruptFileError(msg)
            np.copyto(flat[done:done + count], buffer[:4 * count].view(">f4"))
            done += count
    return target


#: Bytes read at a time by `_read_into` (1 MB: fits in the cache, few system calls).
_CHUNK_BYTES = 1 << 20


def _raw_image_dtype(header):
    """The numpy dtype of an image's values from its header, or None if astropy is needed."""
    try:
        kind = _BITPIX_TYPES.get(header["BITPIX"])
        if kind is None or header["NAXIS"] < 1 or header.get("BSCALE", 1) != 1:
            return None
        zero = header.get("BZERO", 0)
        if zero != 0 and not (zero == 2**31 and header["BITPIX"] == 32):
            return None
        return np.dtype(kind)
    except (KeyError, TypeError, ValueError, fits.VerifyError):
        return None


#: numpy types of the FITS binary-table column codes a table is read raw with.
_TFORM_TYPES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_TFORM = re.compile(r"^\s*(\d*)([LBIJKEDA])\s*$")


def _fits_table(hdul, extname, path):
    """The rows of a product's table HDU as a plain structured array (strings as bytes).

    Read straight from the file in the FITS (big-endian) types its header
    declares: astropy's table machinery (column objects, a record array
    per table) costs more than the reading for the 50 files of a visit.
    Tables whose columns need astropy (scaled, variable-length,
    multi-dimensional, or a header that does not add up) are read by
    astropy as before (`_plain_table`).
    """
    if extname not in hdul:
        return None
    hdu = hdul[extname]
    dtype = _raw_table_dtype(hdu.header)
    if dtype is None:
        return None if hdu.data is None else _plain_table(hdu.data)
    n_rows = hdu.header["NAXIS2"]
    rows = np.fromfile(path, dtype=dtype, count=n_rows, offset=hdu.fileinfo()["datLoc"])
    if len(rows) != n_rows:
        msg = f"{path}: {extname} is truncated ({len(rows)} of its {n_rows} rows)"
        raise CorruptFileError(msg)
    return rows


def _raw_table_dtype(header):
    """The numpy dtype of a binary table's rows from its header, or None if astropy is needed."""
    try:
        n_fields, row_bytes, n_rows = header["TFIELDS"], header["NAXIS1"], header["NAXIS2"]
        if header.get("XTENSION") != "BINTABLE" or n_rows < 1 or n_fields < 1:
            return None
        fields = []
        for number in range(1, n_fields + 1):
            if any(f"{key}{number}" in header for key in ("TZERO", "TSCAL", "TDIM")):
                return None
            match = _TFORM.match(str(header[f"TFORM{number}"]))
            if match is None:
                return None
            repeat = int(match.group(1) or 1)
            if match.group(2) == "A":
                kind = np.dtype(f"S{repeat}")
            else:
                kind = np.dtype((_TFORM_TYPES[match.group(2)], (repeat,))) if repeat != 1 \
                    else np.dtype(_TFORM_TYPES[match.group(2)])
            fields.append((str(header[f"TTYPE{number}"]), kind))
        dtype = np.dtype(fields)
    except (KeyError, TypeError, ValueError, fits.VerifyError):  # left to astropy
        return None
    return dtype if dtype.itemsize == row_bytes else None


def _plain_table(table):
    """A plain structured array of ``table``, with string columns left as bytes.

    Going through the raw storage avoids astropy decoding every string of a
    FITS table (seconds for a long visit); scaled columns (TZERO/TSCAL, e.g.
    unsigned integers) are taken through astropy so their values are right.
    """
    if table is None or not isinstance(table, fits.FITS_rec):
        return table
    raw = table.view(np.ndarray)
    scaled = [c.name for c in table.columns
              if c.bzero not in (None, 0) or c.bscale not in (None, 1)]
    if not scaled:
        return raw
    out = np.empty(len(raw), dtype=[(n, raw.dtype[n] if n not in scaled else table.field(n).dtype)
                                    for n in raw.dtype.names])
    for name in raw.dtype.names:
        out[name] = table.field(name) if name in scaled else raw[name]
    return out
